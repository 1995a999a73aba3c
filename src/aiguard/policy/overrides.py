"""Scoped overrides: partial ``spec`` changes that apply when a call matches.

An override's ``spec`` is merged into the policy's with the layering rules (mappings key by
key, lists and scalars replaced). Every override is validated at load time as if it applied
alone, so a typo in a rarely matching override is still caught before the first call.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, field_validator

from ._errors import problems_from
from ._model import Section
from .matching import Match

__all__ = ["OverrideRule"]

_CROSS_FIELD = frozenset({"value_error", "assertion_error"})


class OverrideRule(Section):
    """``match`` -> partial ``spec``. Later matching overrides win over earlier ones."""

    name: str | None = None
    """Shown by ``explain`` and in audit records; defaults to ``overrides[<index>]``."""
    match: Match = Field(default_factory=Match)
    """Conditions on tenant, region, route, endpoint, model, tags...; empty: every call."""
    spec: dict[str, Any] = Field(default_factory=dict)
    """Any part of ``spec`` except ``overrides``, in the same camelCase form."""

    @field_validator("spec")
    @classmethod
    def _valid_alone(cls, spec: dict[str, Any]) -> dict[str, Any]:
        """Catch typos and wrong types even when the rest of the document has errors too.
        Rules between fields (``maxWait`` needs ``mode: wait``) depend on the policy's own
        spec, so they are checked on the merged spec once that spec is valid."""
        from .document import PolicySpec

        if "overrides" in spec:
            raise ValueError(".overrides: overrides cannot be nested")
        try:
            alone = PolicySpec.model_validate(spec)
        except ValidationError as e:
            problems = problems_from(e, PolicySpec, skip=_CROSS_FIELD)
            if problems:
                raise ValueError("\n".join("." + p for p in problems)) from None
            return spec
        # The document's own spelling (camelCase), whatever the author used, so that the
        # merge onto the policy's spec and the hash do not depend on it.
        return alone.model_dump(by_alias=True, exclude_unset=True)

    def label(self, index: int) -> str:
        return self.name or f"overrides[{index}]"
