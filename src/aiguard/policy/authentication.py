"""The ``authentication`` section: which scopes a caller must hold, and which tools a model
may be offered or may call.

aiguard runs inside the application, so it does not validate tokens itself: the application
authenticates the principal (``type`` records how) and passes the scopes it was granted in
the call context. The policy decides whether those scopes are enough.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Field, model_validator

from ._model import ScopeList, Section

__all__ = ["AuthenticationSpec", "Operation", "ToolPolicy"]

Operation: TypeAlias = Literal["chat", "embeddings"]
_Name: TypeAlias = Annotated[str, Field(min_length=1)]


class ToolPolicy(Section):
    """Tool governance for agents. Names may use ``*`` (``"search_*"``).

    A tool is allowed when it matches no ``deny`` entry and, if ``allow`` is not empty,
    matches an ``allow`` entry: deny wins. Checked for the tools a request offers the model
    and for the tool calls a model makes.
    """

    allow: tuple[_Name, ...] = ()
    """Only these tools may be offered or called (empty: every tool not denied)."""
    deny: tuple[_Name, ...] = ()
    """These tools may never be offered or called."""


class AuthenticationSpec(Section):
    """Who may call. Every scope that applies must be held; there is no "any of".

    With ``type: oauth2`` or ``apiKey`` the scopes in ``scopes`` are required for every call
    (the seed's ``["ai.read", "ai.write"]`` means a caller needs both), plus those listed for
    the call's operation, model and route. A call whose context carries no scopes is refused.
    With ``type: none`` no scope is checked; tool rules still apply.
    """

    type: Literal["oauth2", "apiKey", "none"] = "none"
    """How the application authenticates callers; ``none`` turns scope checks off."""
    scopes: ScopeList = ()
    """Scopes every call requires."""
    operations: dict[Operation, ScopeList] = Field(default_factory=dict)
    """Extra scopes per operation: ``{chat: [ai.write], embeddings: [ai.read]}``."""
    models: dict[_Name, ScopeList] = Field(default_factory=dict)
    """Extra scopes per requested model or alias; keys may use ``*`` (``"gpt-4*"``)."""
    routes: dict[_Name, ScopeList] = Field(default_factory=dict)
    """Extra scopes per application route (``CallContext.route``); keys may use ``*``."""
    tools: ToolPolicy = Field(default_factory=ToolPolicy)
    """Which tools a model may be offered or may call."""

    @model_validator(mode="after")
    def _consistent(self) -> AuthenticationSpec:
        if self.type == "none":
            named = [k for k in ("scopes", "operations", "models", "routes") if getattr(self, k)]
            if named:
                raise ValueError(
                    f".type: is 'none' (no scope checks) but {', '.join(named)} "
                    "require scopes; set type to 'oauth2' or 'apiKey'"
                )
        return self

    @property
    def checks_scopes(self) -> bool:
        return self.type != "none"
