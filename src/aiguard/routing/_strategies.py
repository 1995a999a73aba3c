"""How a group orders its members for one call.

Every strategy returns *all* usable members, best first: the first is the one the call goes
to, the rest are its failover order. Members that cannot be used (an open breaker, a missing
capability) were removed before the strategy runs, so weights and hashes spread traffic over
what is actually available instead of piling a skipped member's share onto its neighbour.
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Protocol

from .._context import CallContext

if TYPE_CHECKING:
    from .._call import Call, Endpoint
    from ._health import EndpointHealth

__all__ = ["Member", "Strategy", "make_strategy"]

_STICKY_MEMO = 4096


@dataclass(frozen=True, slots=True)
class Member:
    """A group member, with what routing needs precomputed."""

    endpoint: Endpoint
    weight: float
    index: int
    lacks: int
    window: int | None

    @property
    def name(self) -> str:
        return self.endpoint.name


class Strategy(Protocol):
    name: str

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        """``members`` are the usable ones in listed order; ``full``: none were removed."""
        ...


class Fallback:
    """In the order listed: the first is primary, the others are spares."""

    name = "fallback"

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        return [m.endpoint for m in members]


class Weighted:
    """Random by weight (canaries, gradual migrations); spares follow in listed order."""

    name = "weighted"
    __slots__ = ("_cum", "_rng", "_total")

    def __init__(self, members: Sequence[Member], rng: random.Random) -> None:
        self._rng = rng
        self._cum = list(accumulate(m.weight for m in members))
        self._total = self._cum[-1]

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        if len(members) < 2:
            return [m.endpoint for m in members]
        if full:
            cum, total = self._cum, self._total
        else:
            cum = list(accumulate(m.weight for m in members))
            total = cum[-1]
        i = bisect_right(cum, self._rng.random() * total)
        if i >= len(members):  # random() * total rounding up to total
            i = len(members) - 1
        chosen = members[i]
        return [chosen.endpoint, *(m.endpoint for m in members if m is not chosen)]


class LeastBusy:
    """Fewest attempts in flight first; ties keep the listed order."""

    name = "least-busy"
    __slots__ = ("_health",)

    def __init__(self, health: EndpointHealth) -> None:
        self._health = health

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        inflight = self._health.inflight
        ranked = sorted(members, key=lambda m: (inflight(m.name), m.index))
        return [m.endpoint for m in ranked]


class LowestLatency:
    """Best moving-average latency first, unmeasured members before measured ones.

    With probability ``exploration`` a random member goes first instead, so an endpoint that
    was slow once is measured again rather than starved forever.
    """

    name = "lowest-latency"
    __slots__ = ("_exploration", "_health", "_rng")

    def __init__(self, health: EndpointHealth, rng: random.Random, exploration: float) -> None:
        self._health = health
        self._rng = rng
        self._exploration = exploration

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        latency = self._health.latency

        def key(m: Member) -> tuple[float, int]:
            v = latency(m.name)
            return (-1.0 if v is None else v, m.index)

        ranked = sorted(members, key=key)
        if len(ranked) > 1 and self._rng.random() < self._exploration:
            pick = ranked.pop(self._rng.randrange(len(ranked)))
            ranked.insert(0, pick)
        return [m.endpoint for m in ranked]


class Sticky:
    """The same member for the same value of a context attribute (rendezvous hashing).

    Why rendezvous hashing: when a member is skipped or removed only the keys it owned move,
    each to its own next choice, so a tenant keeps hitting a warm provider-side prompt cache
    and the others are undisturbed. The hash is BLAKE2b, not ``hash()``, so every process and
    replica agrees. Weights scale each member's share. A call without the attribute gets the
    listed order.
    """

    name = "sticky"
    __slots__ = ("_attribute", "_members", "_memo")

    def __init__(self, members: Sequence[Member], attribute: str) -> None:
        self._attribute = attribute
        self._members = tuple(members)
        self._memo: dict[str, tuple[str, ...]] = {}

    def ranking(self, key: str) -> tuple[str, ...]:
        found = self._memo.get(key)
        if found is None:
            scored = []
            for m in self._members:
                h = hashlib.blake2b(f"{m.name}\0{key}".encode(), digest_size=8).digest()
                u = (int.from_bytes(h, "big") + 0.5) / 2.0**64
                scored.append((-m.weight / math.log(u), -m.index, m.name))
            found = tuple(name for *_, name in sorted(scored, reverse=True))
            if len(self._memo) >= _STICKY_MEMO:
                self._memo.clear()
            self._memo[key] = found
        return found

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        key = _read(call.context, self._attribute)
        if key is None:
            return [m.endpoint for m in members]
        by_name = {m.name: m.endpoint for m in members}
        return [by_name[n] for n in self.ranking(key) if n in by_name]


def _read(context: CallContext, attribute: str) -> str | None:
    value = context.get(attribute)
    return value if isinstance(value, str) and value else None


def make_strategy(
    kind: str,
    members: Sequence[Member],
    *,
    health: EndpointHealth,
    rng: random.Random,
    sticky_key: str,
    exploration: float,
) -> Strategy:
    if kind == "weighted":
        return Weighted(members, rng)
    if kind == "least-busy":
        return LeastBusy(health)
    if kind == "lowest-latency":
        return LowestLatency(health, rng, exploration)
    if kind == "sticky":
        return Sticky(members, sticky_key)
    return Fallback()
