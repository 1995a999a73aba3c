"""Which calls a rule applies to: one matcher shared by overrides and routing rules.

A condition names a context attribute and the values it may take: an exact string, a list
(any of them), or a pattern where ``*`` stands for any run of characters. Every condition of
a rule must hold. An attribute the call does not carry never matches (``"*"`` means "set to
anything", not "possibly absent"). Matching is case-sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, TypeAlias

from pydantic import Field, PrivateAttr

from .._context import CallContext
from ._model import Section

__all__ = ["Match", "MatchValue", "compile_values"]

MatchValue: TypeAlias = str | tuple[Annotated[str, Field(min_length=1)], ...]

_Test: TypeAlias = Callable[[str], bool]


def compile_values(value: MatchValue) -> _Test:
    """A predicate for one condition; exact values become a set lookup, patterns a regex."""
    values = (value,) if isinstance(value, str) else value
    exact = frozenset(v for v in values if "*" not in v)
    globs = [v for v in values if "*" in v]
    if not globs:
        return exact.__contains__
    rx = re.compile(
        "|".join("(?:" + ".*".join(re.escape(p) for p in g.split("*")) + ")" for g in globs),
        re.DOTALL,
    )

    def test(v: str) -> bool:
        return v in exact or rx.fullmatch(v) is not None

    return test


class Match(Section):
    """Conditions on the call; all must hold. An empty match applies to every call."""

    user: MatchValue | None = None
    """The principal (``CallContext.user``)."""
    tenant: MatchValue | None = None
    region: MatchValue | None = None
    """Where the caller or its data is (``EU``, ``US``...)."""
    route: MatchValue | None = None
    """The application feature making the call (``CallContext.route``)."""
    run_id: MatchValue | None = None
    """The agent run the call belongs to."""
    data_classification: MatchValue | None = None
    """How sensitive the data is (``private``, ``public``...), as the application labels it."""
    model: MatchValue | None = None
    """The model name or alias the caller asked for."""
    endpoint: MatchValue | None = None
    """The endpoint routing chose (known only after routing; routing rules cannot use it)."""
    tags: dict[str, MatchValue] = Field(default_factory=dict)
    """Tag conditions: ``{app: bot}`` matches a context whose tag ``app`` is ``bot``."""

    _tests: tuple[tuple[str, _Test], ...] = PrivateAttr(default=())

    def model_post_init(self, context: object, /) -> None:
        tests: list[tuple[str, _Test]] = []
        for name in _ATTRS:
            v = getattr(self, name)
            if v is not None:
                tests.append((name, compile_values(v)))
        for tag, v in self.tags.items():
            tests.append(("tags." + tag, compile_values(v)))
        self._tests = tuple(tests)

    @property
    def attributes(self) -> tuple[str, ...]:
        """The attributes this match reads (``tags.<name>`` for tags); cache keys use them."""
        return tuple(name for name, _ in self._tests)

    def matches(
        self, context: CallContext, *, model: str | None = None, endpoint: str | None = None
    ) -> bool:
        for name, test in self._tests:
            value = _read(context, name, model, endpoint)
            if value is None or not test(value):
                return False
        return True

    def matches_values(self, values: Mapping[str, str | None]) -> bool:
        """Match against plain attribute values (``tags.<name>`` keys for tags)."""
        for name, test in self._tests:
            value = values.get(name)
            if value is None or not test(value):
                return False
        return True


_ATTRS = (
    "user",
    "tenant",
    "region",
    "route",
    "run_id",
    "data_classification",
    "model",
    "endpoint",
)


def _read(context: CallContext, name: str, model: str | None, endpoint: str | None) -> str | None:
    if name == "model":
        return model
    if name == "endpoint":
        return endpoint
    if name.startswith("tags."):
        return context.tags.get(name[5:])
    value = getattr(context, name)
    return value if isinstance(value, str) else None


def read_attribute(
    context: CallContext, name: str, model: str | None = None, endpoint: str | None = None
) -> str | None:
    """The value a condition on ``name`` sees; cache keys are built from these."""
    return _read(context, name, model, endpoint)
