"""Scope and tool checks, compiled once per effective policy so each call is a few dict
lookups and one set difference.

Everything the checks need is precomputed from the ``authentication`` section; the required
scopes for an (operation, model, route) triple are memoised, so the hot path never scans the
model or route patterns twice for the same names.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._context import CallContext
from ..errors import InvalidRequestError, MissingScopeError, ToolNotAllowedError
from .authentication import AuthenticationSpec
from .matching import compile_values

__all__ = ["Authorizer"]

_OPERATIONS = frozenset({"chat", "embeddings"})
_MEMO_LIMIT = 4096


class Authorizer:
    __slots__ = (
        "_allow",
        "_base",
        "_checks",
        "_deny",
        "_memo",
        "_models",
        "_ops",
        "_routes",
        "_tool_memo",
    )

    def __init__(self, spec: AuthenticationSpec) -> None:
        self._checks = spec.checks_scopes
        self._base = frozenset(spec.scopes)
        self._ops: dict[str, frozenset[str]] = {
            op: frozenset(s) for op, s in spec.operations.items()
        }
        self._models = [(k, compile_values(k), frozenset(v)) for k, v in spec.models.items()]
        self._routes = [(k, compile_values(k), frozenset(v)) for k, v in spec.routes.items()]
        self._allow = compile_values(spec.tools.allow) if spec.tools.allow else None
        self._deny = compile_values(spec.tools.deny) if spec.tools.deny else None
        self._memo: dict[tuple[str, str | None, str | None], frozenset[str]] = {}
        self._tool_memo: dict[str, bool] = {}

    @property
    def checks_scopes(self) -> bool:
        return self._checks

    def required(self, operation: str, model: str | None, route: str | None) -> frozenset[str]:
        """Every scope a call of this shape needs (empty when scopes are not checked)."""
        key = (operation, model, route)
        found = self._memo.get(key)
        if found is not None:
            return found
        if operation not in _OPERATIONS:
            raise InvalidRequestError(
                f"unknown operation {operation!r}; expected one of {sorted(_OPERATIONS)}"
            )
        need = set(self._base) | self._ops.get(operation, frozenset())
        if model is not None:
            for _, test, scopes in self._models:
                if test(model):
                    need |= scopes
        if route is not None:
            for _, test, scopes in self._routes:
                if test(route):
                    need |= scopes
        result = frozenset(need) if self._checks else frozenset()
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = result
        return result

    def authorize(
        self,
        operation: str,
        context: CallContext,
        model: str | None = None,
        route: str | None = None,
        tools: Iterable[str] = (),
    ) -> None:
        if route is None:
            route = context.route
        need = self.required(operation, model, route)
        if need and not need <= context.scopes:
            missing = sorted(need - context.scopes)
            raise MissingScopeError(missing, self._describe(operation, model, route))
        for name in tools:
            self.check_tool(name, "input")

    def tool_allowed(self, name: str) -> bool:
        allowed = self._tool_memo.get(name)
        if allowed is None:
            allowed = not (self._deny is not None and self._deny(name)) and (
                self._allow is None or self._allow(name)
            )
            if len(self._tool_memo) >= _MEMO_LIMIT:
                self._tool_memo.clear()
            self._tool_memo[name] = allowed
        return allowed

    def check_tool(self, name: str, direction: str = "input") -> None:
        if not self.tool_allowed(name):
            raise ToolNotAllowedError(name, direction)

    def _describe(self, operation: str, model: str | None, route: str | None) -> str:
        parts = [f"operation {operation!r}"]
        if model is not None and any(t(model) for _, t, _ in self._models):
            parts.append(f"model {model!r}")
        if route is not None and any(t(route) for _, t, _ in self._routes):
            parts.append(f"route {route!r}")
        return ", ".join(parts)
