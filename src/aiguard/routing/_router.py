"""``PolicyRouter``: the pipeline's *route* step, driven by the policy's ``endpointRouting``.

Who decides, in order:

1. the first rule whose ``match`` holds, if it is ``mandatory`` (data residency: an explicit
   ``model=`` cannot move the call elsewhere) or if it matches on ``model`` itself;
2. otherwise an explicit ``model=`` naming an endpoint, group or alias;
3. otherwise the first matching rule, then ``default``;
4. otherwise nothing: ``NoRouteError``.

The chosen target's members are filtered (capabilities, open breakers; each skip recorded
with its reason) and ordered by the group's strategy. A non-mandatory rule's plan is followed
by the default route's endpoints as spares; a mandatory rule's plan never is.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import (
    AllEndpointsFailedError,
    CircuitOpenError,
    NoRouteError,
    UnknownEndpointError,
)
from ..policy.routing import EndpointRoutingSpec
from ..policy.stage import effective_policy
from ._capabilities import describe, needs, window_reason
from ._compile import CompiledRouting, GroupOptions, Rule, Target, compile_routing
from ._health import EndpointHealth
from ._strategies import Fallback

if TYPE_CHECKING:
    from .._call import Call, Endpoint
    from ..policy.document import Policy

__all__ = ["NOTES_KEY", "CircuitOpenError", "PolicyRouter", "RouteDecision", "route_decision"]

NOTES_KEY = "routing"
"""Where the router leaves its :class:`RouteDecision` in ``call.notes``."""


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Why a call goes where it goes; audit records and ``explain`` read it. Frozen: the
    router hands the same decision to every call its steady state decides alike."""

    source: str
    """``rule``, ``model`` (the caller's ``model=``), ``default`` or ``rule+default``."""
    target: str
    requested: str | None
    rule: int | None
    rule_name: str | None
    mandatory: bool
    group: str | None
    strategy: str
    plan: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    """``(endpoint, reason)`` for every member left out of the plan."""
    failover_on: frozenset[str]
    model_overridden: bool = False
    """A mandatory rule sent the call elsewhere than the ``model=`` the caller named."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "requested": self.requested,
            "rule": self.rule,
            "ruleName": self.rule_name,
            "mandatory": self.mandatory,
            "group": self.group,
            "strategy": self.strategy,
            "plan": list(self.plan),
            "skipped": [{"endpoint": e, "reason": r} for e, r in self.skipped],
            "modelOverridden": self.model_overridden,
        }


def _override_problems(
    policy: Policy, endpoints: Mapping[str, Endpoint], base: CompiledRouting
) -> list[str]:
    """Names an override's ``endpointRouting`` uses that are no endpoint, group or alias.

    Overrides are partial documents merged per call, so only the names are checked here,
    against everything the merged section could define; the merged section itself is
    compiled (and fully checked) the first time a call resolves to it.
    """
    known = set(endpoints) | set(base.spec.groups) | set(base.spec.aliases)
    raw_sections = []
    for i, rule in enumerate(policy.spec.overrides):
        section = rule.spec.get("endpointRouting")
        if isinstance(section, Mapping):
            raw_sections.append((i, section))
            known |= set(section.get("groups") or {}) | set(section.get("aliases") or {})
    problems = []
    listed = ", ".join(map(repr, sorted(endpoints)))
    for i, section in raw_sections:
        path = f"spec.overrides[{i}].spec.endpointRouting"
        refs: list[tuple[str, Any]] = [("default", section.get("default"))]
        refs += [(f"rules[{j}].routeTo", r.get("routeTo")) for j, r in
                 enumerate(section.get("rules") or ()) if isinstance(r, Mapping)]  # fmt: skip
        refs += [(f"aliases.{a}", t) for a, t in (section.get("aliases") or {}).items()]
        for g, group in (section.get("groups") or {}).items():
            for j, m in enumerate((group or {}).get("members") or ()):
                name = m.get("endpoint") if isinstance(m, Mapping) else m
                if name not in endpoints:
                    problems.append(
                        f"{path}.groups.{g}.members[{j}]: unknown endpoint {name!r}; "
                        f"endpoints: {listed}"
                    )
        for where, name in refs:
            if isinstance(name, str) and name not in known:
                problems.append(
                    f"{path}.{where}: {name!r} is not an endpoint, group or alias; "
                    f"endpoints: {listed}"
                )
    return problems


def route_decision(call: Call) -> RouteDecision | None:
    found = call.notes.get(NOTES_KEY)
    return found if isinstance(found, RouteDecision) else None


class PolicyRouter:
    """Implements the pipeline's ``Router`` protocol from an ``endpointRouting`` section.

    Build it with :meth:`from_policy` (honours scoped overrides of the section) or directly
    from a section (an ``EndpointRoutingSpec`` or its camelCase dict). ``groups`` carries the
    group settings the document has no field for; ``health`` is shared with the retry policy
    and the observer; ``rng`` makes weighted and exploring picks reproducible in tests.
    Configuration mistakes raise ``PolicyError`` here, never at call time.
    """

    __slots__ = (
        "_base",
        "_group_options",
        "_overrides",
        "_policy",
        "_source",
        "_steady_memo",
        "endpoints",
        "health",
        "rng",
    )

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        routing: EndpointRoutingSpec | Mapping[str, Any] | None = None,
        *,
        groups: Mapping[str, GroupOptions] | None = None,
        health: EndpointHealth | None = None,
        rng: random.Random | None = None,
        path: str = "endpointRouting",
        source: str | None = None,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.health = health or EndpointHealth(self.endpoints)
        self.rng = rng or random.Random()
        self._group_options = dict(groups or {})
        self._source = source
        self._policy: Policy | None = None
        self._overrides: dict[int, tuple[EndpointRoutingSpec, CompiledRouting]] = {}
        self._steady_memo: dict[
            tuple[int, int, str, str | None, bool],
            tuple[Target, Rule | None, RouteDecision, list[Endpoint]],
        ] = {}
        self._base = self._compile(routing, path)

    @classmethod
    def from_policy(
        cls,
        policy: Policy,
        endpoints: Mapping[str, Endpoint],
        **kwargs: Any,
    ) -> PolicyRouter:
        """A router for ``policy.spec.endpointRouting``; overrides that change the section
        take effect per call (read from the authorize stage's resolution)."""
        kwargs.setdefault("source", policy.metadata.name)
        router = cls(endpoints, policy.spec.endpoint_routing, path="spec.endpointRouting", **kwargs)
        if policy.spec.overrides:
            router._policy = policy
            problems = _override_problems(policy, endpoints, router._base)
            if problems:
                from ..errors import PolicyError

                raise PolicyError(problems, source=kwargs["source"])
        return router

    def _compile(
        self, routing: EndpointRoutingSpec | Mapping[str, Any] | None, path: str
    ) -> CompiledRouting:
        if len(self.endpoints) == 1:
            # A lone endpoint takes calls that name none, with or without a policy.
            if isinstance(routing, EndpointRoutingSpec):
                routing = routing.model_dump(by_alias=True, exclude_none=True)
            if not (routing or {}).get("default"):
                routing = {**(routing or {}), "default": next(iter(self.endpoints))}
        return compile_routing(
            routing,
            self.endpoints,
            health=self.health,
            rng=self.rng,
            groups=self._group_options,
            path=path,
            source=self._source,
        )

    def _routing_for(self, call: Call) -> CompiledRouting:
        base = self._base
        if self._policy is None:
            return base
        eff = effective_policy(call) or self._policy.resolve(call.context, model=call.model)
        spec = eff.endpoint_routing
        if spec is base.spec:
            return base
        found = self._overrides.get(id(spec))
        if found is None or found[0] is not spec:
            path = f"spec.endpointRouting (with overrides {', '.join(eff.matched)})"
            found = (spec, self._compile(spec, path))
            if len(self._overrides) >= 256:
                self._overrides.clear()
            self._overrides[id(spec)] = found
        return found[1]

    # ------------------------------------------------------------------ the decision

    def route(self, call: Call) -> list[Endpoint]:
        c = self._routing_for(call)
        model = call.request.model
        rule = c.rule_for(call.context, model)
        overridden = False
        if rule is not None and (rule.mandatory or rule.reads_model):
            target, source = rule.target, "rule"
            if model is not None and rule.mandatory:
                chosen = c.targets.get(model)
                if (
                    chosen is not None
                    and chosen.group is None
                    and chosen.name in target.by_endpoint
                ):
                    target = chosen  # the caller narrowed within what the rule allows
                    source = "rule+model"
                elif chosen is not target:
                    overridden = True
        elif model is not None:
            found = c.targets.get(model)
            if found is None:
                raise UnknownEndpointError(model, c.known)
            target, source = found, "model"
        elif rule is not None:
            target, source = rule.target, "rule"
        elif c.default is not None:
            target, source = c.default, "default"
        else:
            raise self._no_route(c, call)

        want = needs(call)
        decided = rule if source[0] == "r" else None  # the rule that chose the target
        spares = c.default
        extend = (
            decided is not None
            and not decided.mandatory
            and spares is not None
            and spares is not target
        )
        steady = not extend and type(target.strategy) is Fallback and target.members
        if steady and not (want & target.lacks_any or target.windowed or self.health.tripped):
            # The healthy day decides the same way every time for the same target and rule.
            return self._steady(call, target, source, model, decided, overridden)
        plan, skipped, circuit = self._usable(target, call, want)
        if extend and decided is not None and spares is not None:  # (narrowing for mypy)
            primary = len(plan)
            more, more_skipped, more_circuit = self._usable(spares, call, want)
            seen = {e.name for e in plan} | {n for n, _ in skipped}
            plan.extend(e for e in more if e.name not in seen)
            skipped.extend(s for s in more_skipped if s[0] not in seen)
            circuit.extend(n for n in more_circuit if n not in seen)
            if primary == 0 and plan:
                source = "rule+default"
        decision = RouteDecision(
            source,
            target.name,
            model,
            decided.index if decided is not None else None,
            decided.name if decided is not None else None,
            decided is not None and decided.mandatory,
            target.group,
            target.strategy.name,
            tuple([e.name for e in plan]),
            tuple(skipped) if skipped else (),
            target.failover_on,
            overridden,
        )
        call.notes[NOTES_KEY] = decision
        if not plan:
            raise self._nothing_usable(decision, circuit)
        return plan

    def _steady(
        self,
        call: Call,
        target: Target,
        source: str,
        model: str | None,
        rule: Rule | None,
        overridden: bool,
    ) -> list[Endpoint]:
        key = (id(target), id(rule), source, model, overridden)
        found = self._steady_memo.get(key)
        if found is None or found[0] is not target or found[1] is not rule:
            plan = target.strategy.order(target.members, call, True)
            names = tuple([e.name for e in plan])
            decision = RouteDecision(
                source, target.name, model,
                rule.index if rule is not None else None,
                rule.name if rule is not None else None,
                rule is not None and rule.mandatory,
                target.group, target.strategy.name, names, (), target.failover_on, overridden,
            )  # fmt: skip
            if len(self._steady_memo) >= 256:
                self._steady_memo.clear()
            found = self._steady_memo[key] = (target, rule, decision, plan)
        call.notes[NOTES_KEY] = found[2]
        return found[3].copy()

    def _usable(
        self, target: Target, call: Call, want: int
    ) -> tuple[list[Endpoint], list[tuple[str, str]], list[str]]:
        """The target's members that can serve ``call`` now, ordered by its strategy."""
        members = target.members
        health = self.health
        if not (want & target.lacks_any or target.windowed or health.tripped):
            return target.strategy.order(members, call, True), [], []  # the healthy day
        skipped: list[tuple[str, str]] = []
        circuit: list[str] = []
        usable = []
        for m in members:
            missing = want & m.lacks
            if missing:
                skipped.append((m.name, describe(missing)))
                continue
            if m.window is not None:
                why = window_reason(call, m.endpoint.model, m.window)
                if why is not None:
                    skipped.append((m.name, why))
                    continue
            why = health.admit(m.name, call)
            if why is not None:
                skipped.append((m.name, why))
                circuit.append(m.name)
                continue
            usable.append(m)
        plan = target.strategy.order(usable, call, len(usable) == len(members))
        return plan, skipped, circuit

    # ------------------------------------------------------------------ refusals

    def _no_route(self, c: CompiledRouting, call: Call) -> NoRouteError:
        seen = ", ".join(f"{a}={call.context.get(a)!r}" for a in c.reads if a != "model")
        why = f"no endpointRouting rule matched ({seen})" if c.rules else "there are no rules"
        known = ", ".join(map(repr, c.known))
        return NoRouteError(
            f"no route for this call: {why}, there is no default route and no model= was "
            f"given; pass model= (one of {known}) or add a default to endpointRouting"
        )

    def _nothing_usable(self, d: RouteDecision, circuit: list[str]) -> Exception:
        reasons = "; ".join(f"{e}: {r}" for e, r in d.skipped)
        if circuit:
            errors = [
                (
                    name,
                    CircuitOpenError(
                        f"circuit open for endpoint {name!r}; nothing sent",
                        endpoint=name,
                        provider=self.endpoints[name].provider.name,
                        retry_after=self.health.retry_in(name),
                    ),
                )
                for name in circuit
            ]
            if len(errors) == 1 and len(d.skipped) == 1:
                return errors[0][1]
            return AllEndpointsFailedError(errors)
        return NoRouteError(f"no endpoint of {d.target!r} can serve this call: {reasons}")

    # ------------------------------------------------------------------ introspection

    @property
    def routing(self) -> CompiledRouting:
        return self._base

    def rule_for(self, call: Call) -> Rule | None:
        return self._routing_for(call).rule_for(call.context, call.request.model)
