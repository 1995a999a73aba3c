"""The ``endpointRouting`` section: which endpoint a call goes to.

Rules are tried in order and the first whose ``match`` holds decides (``routeTo`` an endpoint,
a group or an alias). Endpoint names are the client's, so they are checked when a client
adopts the policy (``referenced_endpoints``), not here. The routing engine
(``aiguard.routing``) turns this into an ordered plan; ``rule_for`` is the shared matcher.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field, model_validator

from .._context import CallContext
from ._model import PositiveFloat, Section
from .matching import Match

__all__ = ["EndpointGroup", "EndpointRoutingSpec", "GroupMember", "RouteRule", "Strategy"]

Strategy: TypeAlias = Literal["fallback", "weighted", "least-busy", "lowest-latency", "sticky"]
_Name: TypeAlias = Annotated[str, Field(min_length=1)]


class RouteRule(Section):
    """``match`` -> ``routeTo``. ``mandatory`` rules never fall through to another target."""

    name: str | None = None
    match: Match = Field(default_factory=Match)
    """Conditions on the context and the requested model; empty: every call."""
    route_to: _Name
    """An endpoint, a group or an alias."""
    mandatory: bool = False
    """If the target cannot serve the call, fail with ``NoRouteError`` instead of trying the
    default route (data residency: EU traffic must stay on EU endpoints)."""


class GroupMember(Section):
    """An endpoint in a group; a bare name is ``{endpoint: name, weight: 1}``."""

    endpoint: _Name
    weight: PositiveFloat = 1
    """Share of traffic under ``weighted``; ignored by other strategies."""

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"endpoint": data} if isinstance(data, str) else data


class EndpointGroup(Section):
    """Endpoints that serve the same purpose, and how a call picks among them."""

    strategy: Strategy = "fallback"
    """``fallback``: in order; ``weighted``: random by weight; ``least-busy``: fewest calls in
    flight; ``lowest-latency``: best recent latency; ``sticky``: same endpoint per user."""
    members: tuple[GroupMember, ...] = Field(min_length=1)


class EndpointRoutingSpec(Section):
    """Rules, groups and aliases. No rule matching and no ``default``: the model asked for."""

    rules: tuple[RouteRule, ...] = ()
    default: _Name | None = None
    """Where calls go when no rule matches (an endpoint, group or alias)."""
    groups: dict[_Name, EndpointGroup] = Field(default_factory=dict)
    aliases: dict[_Name, _Name] = Field(default_factory=dict)
    """Names callers may use for an endpoint or group: ``{fast: cloud-llm}``."""

    @model_validator(mode="after")
    def _valid(self) -> EndpointRoutingSpec:
        problems = []
        for name in sorted(set(self.groups) & set(self.aliases)):
            problems.append(f".aliases.{name}: is also a group name")
        for g, group in self.groups.items():
            for i, m in enumerate(group.members):
                if m.endpoint in self.groups or m.endpoint in self.aliases:
                    problems.append(
                        f".groups.{g}.members[{i}]: {m.endpoint!r} is a group or alias; "
                        "members must be endpoints"
                    )
        for a, target in self.aliases.items():
            if target in self.aliases:
                problems.append(f".aliases.{a}: points at alias {target!r}; name the target")
        for i, r in enumerate(self.rules):
            if r.match.endpoint is not None:
                problems.append(
                    f".rules[{i}].match.endpoint: routing decides the endpoint, so a routing "
                    "rule cannot match on it"
                )
        names = [r.name for r in self.rules if r.name]
        if len(set(names)) != len(names):
            problems.append(".rules: rule names must be unique")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def rule_for(self, context: CallContext, model: str | None = None) -> int | None:
        """The index of the first rule matching the call, if any."""
        for i, rule in enumerate(self.rules):
            if rule.match.matches(context, model=model):
                return i
        return None

    def referenced_endpoints(self) -> frozenset[str]:
        """Endpoint names the section uses (rule targets, default, members, aliases) that are
        not groups or aliases; a client checks them against its endpoints."""
        names = {r.route_to for r in self.rules}
        names.update(self.aliases.values())
        if self.default:
            names.add(self.default)
        for g in self.groups.values():
            names.update(m.endpoint for m in g.members)
        return frozenset(n for n in names if n not in self.groups and n not in self.aliases)
