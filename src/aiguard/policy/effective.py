"""The policy as it applies to one call, after scoped overrides are merged.

Resolution is memoised twice: per distinct tuple of the context values the overrides read
(so a hot path with the same tenant and region is one dict lookup), and per set of matched
overrides (so a thousand users of one tenant share one merged spec).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import ValidationError

from .._context import CallContext
from ..errors import PolicyError
from ..inspect.spec import ModerationSpec
from ._authorize import Authorizer
from ._errors import problems_from
from ._merge import deep_merge
from .audit import LoggingSpec
from .authentication import AuthenticationSpec
from .cache import CacheSpec
from .matching import read_attribute
from .rate_limit import RateLimitSpec
from .routing import EndpointRoutingSpec

if TYPE_CHECKING:
    from .document import Policy, PolicySpec

__all__ = ["EffectivePolicy", "Resolver"]

_MEMO_LIMIT = 4096


class EffectivePolicy:
    """One resolved spec plus the compiled checks for it. Immutable; shared between calls."""

    __slots__ = ("_authorizer", "matched", "name", "policy_hash", "spec")

    def __init__(
        self, spec: PolicySpec, *, name: str, policy_hash: str, matched: tuple[str, ...]
    ) -> None:
        self.spec = spec
        self.name = name
        """``metadata.name`` of the policy."""
        self.policy_hash = policy_hash
        """The document's :attr:`Policy.hash`; audit records and cache keys carry it."""
        self.matched = matched
        """Names of the overrides merged in, in the order they applied."""
        self._authorizer = Authorizer(spec.authentication)

    @property
    def authentication(self) -> AuthenticationSpec:
        return self.spec.authentication

    @property
    def rate_limit(self) -> RateLimitSpec:
        return self.spec.rate_limit

    @property
    def content_moderation(self) -> ModerationSpec:
        return self.spec.content_moderation

    @property
    def logging(self) -> LoggingSpec:
        return self.spec.logging

    @property
    def endpoint_routing(self) -> EndpointRoutingSpec:
        return self.spec.endpoint_routing

    @property
    def cache(self) -> CacheSpec:
        return self.spec.cache

    def required_scopes(
        self, operation: str, model: str | None = None, route: str | None = None
    ) -> frozenset[str]:
        return self._authorizer.required(operation, model, route)

    def authorize(
        self,
        operation: str,
        context: CallContext,
        model: str | None = None,
        route: str | None = None,
        tools: Iterable[str] = (),
    ) -> None:
        """See :meth:`Policy.authorize`."""
        self._authorizer.authorize(operation, context, model, route, tools)

    def tool_allowed(self, name: str) -> bool:
        return self._authorizer.tool_allowed(name)

    def check_tool_calls(self, names: Iterable[str]) -> None:
        """Refuse an answer whose tool calls name a tool the policy does not allow
        (``ToolNotAllowedError`` with direction ``"output"``)."""
        for name in names:
            self._authorizer.check_tool(name, "output")

    def __repr__(self) -> str:
        return f"EffectivePolicy(name={self.name!r}, matched={self.matched!r})"


class Resolver:
    __slots__ = ("_attrs", "_base", "_by_key", "_by_matched", "_policy", "_rules")

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._rules = policy.spec.overrides
        self._attrs = tuple(dict.fromkeys(a for r in self._rules for a in r.match.attributes))
        self._base = EffectivePolicy(
            policy.spec, name=policy.metadata.name, policy_hash=policy.hash, matched=()
        )
        self._by_key: dict[tuple[str | None, ...], EffectivePolicy] = {}
        self._by_matched: dict[tuple[int, ...], EffectivePolicy] = {(): self._base}

    def resolve(
        self, context: CallContext, model: str | None, endpoint: str | None
    ) -> EffectivePolicy:
        if not self._rules:
            return self._base
        key = tuple(read_attribute(context, a, model, endpoint) for a in self._attrs)
        found = self._by_key.get(key)
        if found is not None:
            return found
        matched = tuple(
            i
            for i, rule in enumerate(self._rules)
            if rule.match.matches(context, model=model, endpoint=endpoint)
        )
        eff = self._by_matched.get(matched)
        if eff is None:
            eff = EffectivePolicy(
                self.spec_for(matched),
                name=self._policy.metadata.name,
                policy_hash=self._policy.hash,
                matched=tuple(self._rules[i].label(i) for i in matched),
            )
            self._by_matched[matched] = eff
        if len(self._by_key) >= _MEMO_LIMIT:
            self._by_key.clear()
        self._by_key[key] = eff
        return eff

    def spec_for(self, matched: tuple[int, ...]) -> PolicySpec:
        """The spec with the given overrides merged in order. Each override was validated
        alone at load time; a combination that is invalid together fails closed here."""
        from .document import PolicySpec

        spec = self._policy.spec
        if not matched:
            return spec
        data = spec.model_dump(by_alias=True, exclude_unset=True, exclude={"overrides"})
        for i in matched:
            data = deep_merge(data, self._rules[i].spec)
        try:
            return PolicySpec.model_validate(data)
        except ValidationError as e:
            names = ", ".join(self._rules[i].label(i) for i in matched)
            raise PolicyError(
                [f"overrides {names} together: {p}" for p in problems_from(e, PolicySpec)],
                source=self._policy.metadata.name,
            ) from None
