"""Turn an ``endpointRouting`` section and a client's endpoints into ready-to-run targets.

All checking happens here, once, when the client is built: a rule that routes nowhere, an
empty group, weights that cannot pick anything, aliases that loop. Every problem is reported
with its path in the document (``spec.endpointRouting.rules[2].routeTo``) in one
``PolicyError``, so a user fixes the whole section in one pass instead of one error per run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal

from .._context import CallContext
from ..errors import ConfigError, PolicyError
from ..policy.routing import EndpointRoutingSpec
from ._capabilities import lacks
from ._strategies import Member, Strategy, make_strategy

if TYPE_CHECKING:
    from .._call import Endpoint
    from ..policy.matching import Match
    from ._health import EndpointHealth

__all__ = ["CompiledRouting", "GroupOptions", "Rule", "Target", "compile_routing"]

FailoverReason = Literal["context_window", "content_filter"]
_FAILOVER_REASONS = frozenset({"context_window", "content_filter"})
_CONTEXT_FIELDS = frozenset(CallContext.__dataclass_fields__) - {"scopes", "tags"}
_RULE_MEMO = 4096


@dataclass(frozen=True, slots=True)
class GroupOptions:
    """Group settings the policy document has no field for (yet); given to the router.

    ``sticky_key`` is the context attribute a ``sticky`` group hashes (``user``, ``tenant``,
    ``tags.<name>``...). ``failover_on`` lists the non-retryable errors after which the next
    member is still worth trying: ``context_window`` (a bigger-context member may take the
    prompt) and ``content_filter`` (another provider's filter may not refuse).
    ``exploration`` is the share of ``lowest-latency`` calls sent to a random member.
    """

    sticky_key: str = "user"
    failover_on: frozenset[str] = frozenset()
    exploration: float = 0.05

    def problems(self, path: str) -> list[str]:
        out = []
        key = self.sticky_key
        if not (key in _CONTEXT_FIELDS or (key.startswith("tags.") and len(key) > 5)):
            fields = ", ".join(sorted(_CONTEXT_FIELDS))
            out.append(f"{path}.stickyKey: {key!r} is not a context attribute ({fields}, tags.X)")
        bad = sorted(set(self.failover_on) - _FAILOVER_REASONS)
        if bad:
            out.append(
                f"{path}.failoverOn: unknown {', '.join(map(repr, bad))}; "
                "choose from 'context_window', 'content_filter'"
            )
        if not 0 <= self.exploration <= 1:
            out.append(f"{path}.exploration: must be between 0 and 1, got {self.exploration!r}")
        return out


@dataclass(slots=True, eq=False)
class Target:
    """Where a name routes: one endpoint (a group of one) or a group with its strategy."""

    name: str
    group: str | None
    strategy: Strategy
    members: tuple[Member, ...]
    failover_on: frozenset[str]
    windowed: bool = False
    """Some member declares a context window (so prompts may need counting)."""
    by_endpoint: dict[str, Member] = field(default_factory=dict)
    lacks_any: int = 0
    """Features some member cannot serve; a request needing none of them skips the check."""

    def __post_init__(self) -> None:
        for m in self.members:
            self.lacks_any |= m.lacks


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    name: str | None
    match: Match
    target: Target
    mandatory: bool
    reads_model: bool
    """The rule's match looks at ``model=``, so it decides even over an explicit model."""

    @property
    def label(self) -> str:
        return self.name or f"rules[{self.index}]"


class CompiledRouting:
    """The section, resolved: every usable name -> ``Target``, rules with their targets."""

    __slots__ = (
        "_fields",
        "_memo",
        "_tags",
        "default",
        "endpoints",
        "known",
        "reads",
        "rules",
        "spec",
        "targets",
    )

    def __init__(
        self,
        spec: EndpointRoutingSpec,
        endpoints: Mapping[str, Endpoint],
        targets: dict[str, Target],
        rules: tuple[Rule, ...],
        default: Target | None,
    ) -> None:
        self.spec = spec
        self.endpoints = endpoints
        self.targets = targets
        self.rules = rules
        self.default = default
        self.known = tuple(sorted(targets))
        attrs = dict.fromkeys(a for r in rules for a in r.match.attributes)
        self.reads = tuple(attrs)
        fields = [a for a in attrs if a in _CONTEXT_FIELDS]
        self._fields = attrgetter(*fields) if fields else None
        self._tags = tuple(a[5:] for a in attrs if a.startswith("tags."))
        self._memo: dict[Any, int] = {}

    def rule_for(self, context: CallContext, model: str | None) -> Rule | None:
        """The first matching rule, memoised per distinct value of what the rules read."""
        if not self.rules:
            return None
        f = self._fields
        tags = context.tags
        key = (
            f(context) if f is not None else None,
            tuple(map(tags.get, self._tags)) if self._tags else None,
            model,
        )
        memo = self._memo
        found = memo.get(key)
        if found is None:
            found = -1
            for rule in self.rules:
                if rule.match.matches(context, model=model):
                    found = rule.index
                    break
            if len(memo) >= _RULE_MEMO:
                memo.clear()
            memo[key] = found
        return self.rules[found] if found >= 0 else None


def _member(endpoint: Endpoint, weight: float, index: int) -> Member:
    caps = endpoint.provider.capabilities
    return Member(endpoint, float(weight), index, lacks(caps), caps.context_window)


def compile_routing(
    spec: EndpointRoutingSpec | Mapping[str, Any] | None,
    endpoints: Mapping[str, Endpoint],
    *,
    health: EndpointHealth,
    rng: random.Random,
    groups: Mapping[str, GroupOptions] | None = None,
    path: str = "endpointRouting",
    source: str | None = None,
) -> CompiledRouting:
    """Check ``spec`` against ``endpoints`` and build its targets; ``PolicyError`` lists every
    problem with its path."""
    if spec is None:
        spec = EndpointRoutingSpec()
    elif not isinstance(spec, EndpointRoutingSpec):
        try:
            spec = EndpointRoutingSpec.model_validate(spec)
        except ValueError as e:
            raise PolicyError([f"{path}: {e}"], source=source) from None
    check_group_options(groups)
    options = dict(groups or {})
    problems: list[str] = []
    names = ", ".join(map(repr, sorted(endpoints))) or "(none)"
    targets: dict[str, Target] = {}

    def single(name: str) -> Target:
        t = targets.get(name)
        if t is None:
            ep = endpoints[name]
            m = _member(ep, 1.0, 0)
            strategy = make_strategy(
                "fallback", (m,), health=health, rng=rng, sticky_key="user", exploration=0
            )
            t = Target(name, None, strategy, (m,), frozenset(), m.window is not None, {name: m})
        return t

    for name in endpoints:
        targets[name] = single(name)

    for gname, group in spec.groups.items():
        gpath = f"{path}.groups.{gname}"
        opts = options.get(gname, GroupOptions())
        problems.extend(opts.problems(gpath))
        if gname in endpoints:
            problems.append(f"{gpath}: the name is also an endpoint's; rename the group")
        members: list[Member] = []
        seen: set[str] = set()
        for i, m in enumerate(group.members):
            mpath = f"{gpath}.members[{i}]"
            if m.endpoint not in endpoints:
                problems.append(f"{mpath}: unknown endpoint {m.endpoint!r}; endpoints: {names}")
            elif m.endpoint in seen:
                problems.append(f"{mpath}: {m.endpoint!r} is listed twice")
            elif not (isinstance(m.weight, (int, float)) and math.isfinite(m.weight)):
                problems.append(f"{mpath}.weight: must be a number, got {m.weight!r}")
            elif m.weight < 0:
                problems.append(f"{mpath}.weight: must be >= 0, got {m.weight!r}")
            else:
                seen.add(m.endpoint)
                members.append(_member(endpoints[m.endpoint], m.weight, len(members)))
        if not group.members:
            problems.append(f"{gpath}.members: a group needs at least one endpoint")
        elif group.strategy == "weighted" and members and sum(m.weight for m in members) <= 0:
            problems.append(f"{gpath}.members: weights are all zero; nothing could be picked")
        if members:
            strategy = make_strategy(
                group.strategy,
                members,
                health=health,
                rng=rng,
                sticky_key=opts.sticky_key,
                exploration=opts.exploration,
            )
            targets[gname] = Target(
                gname,
                gname,
                strategy,
                tuple(members),
                frozenset(opts.failover_on),
                any(m.window is not None for m in members),
                {m.name: m for m in members},
            )
    for gname in sorted(set(options) - set(spec.groups)):
        problems.append(f"{path}.groups.{gname}: group options given for an undefined group")

    for alias in spec.aliases:
        apath = f"{path}.aliases.{alias}"
        if alias in endpoints or alias in spec.groups:
            problems.append(f"{apath}: the alias hides an endpoint or group of that name")
            continue
        chain = [alias]
        name = spec.aliases[alias]
        while name in spec.aliases and name not in chain:
            chain.append(name)
            name = spec.aliases[name]
        if name in chain:
            loop = " -> ".join([*chain, name])
            problems.append(f"{apath}: alias cycle {loop}")
        elif name in targets:
            targets[alias] = targets[name]
        elif name not in spec.groups:  # a broken group was reported already
            problems.append(
                f"{apath}: {name!r} is not an endpoint or group; endpoints: {names}; "
                f"groups: {', '.join(map(repr, spec.groups)) or '(none)'}"
            )

    def resolve(name: str, where: str) -> Target | None:
        t = targets.get(name)
        if t is None and name not in spec.groups and name not in spec.aliases:
            known = ", ".join(map(repr, sorted({*endpoints, *spec.groups, *spec.aliases})))
            problems.append(
                f"{where}: {name!r} is not an endpoint, group or alias; known: {known or '-'}"
            )
        return t

    rules: list[Rule] = []
    for i, r in enumerate(spec.rules):
        t = resolve(r.route_to, f"{path}.rules[{i}].routeTo")
        if t is not None:
            reads_model = "model" in r.match.attributes
            rules.append(Rule(i, r.name, r.match, t, r.mandatory, reads_model))
    default = resolve(spec.default, f"{path}.default") if spec.default else None
    if problems:
        raise PolicyError(problems, source=source)
    return CompiledRouting(spec, endpoints, targets, tuple(rules), default)


def check_group_options(groups: Mapping[str, GroupOptions] | None) -> None:
    for name, opts in (groups or {}).items():
        if not isinstance(opts, GroupOptions):
            raise ConfigError(f"groups[{name!r}]: expected GroupOptions, got {type(opts).__name__}")
