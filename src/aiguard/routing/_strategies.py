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
    __slots__ = ("_all",)

    def __init__(self, members: Sequence[Member]) -> None:
        self._all = [m.endpoint for m in members]

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        return self._all.copy() if full else [m.endpoint for m in members]


class Weighted:
    """Random by weight (canaries, gradual migrations); spares follow in listed order."""

    name = "weighted"
    __slots__ = ("_cum", "_orders", "_rng", "_total")

    def __init__(self, members: Sequence[Member], rng: random.Random) -> None:
        self._rng = rng
        self._cum = list(accumulate(m.weight for m in members))
        self._total = self._cum[-1]
        self._orders = [_first(members, m) for m in members]

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        n = len(members)
        if n < 2:
            return [m.endpoint for m in members]
        if full:
            i = bisect_right(self._cum, self._rng.random() * self._total)
            return self._orders[i if i < n else n - 1].copy()
        cum = list(accumulate(m.weight for m in members))
        i = bisect_right(cum, self._rng.random() * cum[-1])
        return _first(members, members[i if i < n else n - 1])


def _first(members: Sequence[Member], chosen: Member) -> list[Endpoint]:
    """``chosen`` first, the others in listed order."""
    return [chosen.endpoint, *[m.endpoint for m in members if m is not chosen]]


class LeastBusy:
    """Fewest attempts in flight first; ties keep the listed order."""

    name = "least-busy"
    __slots__ = ("_all", "_health", "_stats")

    def __init__(self, members: Sequence[Member], health: EndpointHealth) -> None:
        self._health = health
        self._all = [m.endpoint for m in members]
        self._stats = [health.stats(m.name) for m in members]

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        if full:
            counts = [s.inflight for s in self._stats]
            if max(counts) == 0:
                return self._all.copy()
            return [
                e for _, _, e in sorted(zip(counts, range(len(counts)), self._all, strict=True))
            ]
        inflight = self._health.inflight
        ranked = sorted([(inflight(m.name), m.index, m) for m in members])
        return [r[2].endpoint for r in ranked]


class LowestLatency:
    """Best moving-average latency first, unmeasured members before measured ones.

    With probability ``exploration`` a random member goes first instead, so an endpoint that
    was slow once is measured again rather than starved forever.
    """

    name = "lowest-latency"
    __slots__ = ("_all", "_exploration", "_health", "_rng", "_stats")

    def __init__(
        self,
        members: Sequence[Member],
        health: EndpointHealth,
        rng: random.Random,
        exploration: float,
    ) -> None:
        self._health = health
        self._rng = rng
        self._exploration = exploration
        self._all = [m.endpoint for m in members]
        self._stats = [health.stats(m.name) for m in members]

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        if full:
            lat = [-1.0 if (v := s.ewma) is None else v for s in self._stats]
            ranked = [e for _, _, e in sorted(zip(lat, range(len(lat)), self._all, strict=True))]
        else:
            latency = self._health.latency
            scored = [(_unmeasured_first(latency(m.name)), m.index, m) for m in members]
            ranked = [r[2].endpoint for r in sorted(scored)]
        if len(ranked) > 1 and self._rng.random() < self._exploration:
            ranked.insert(0, ranked.pop(self._rng.randrange(len(ranked))))
        return ranked


def _unmeasured_first(v: float | None) -> float:
    return -1.0 if v is None else v


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
        self._memo: dict[str, list[Member]] = {}

    def ranking(self, key: str) -> list[Member]:
        """Every member, best first, for this key (memoised: hashing costs a few us)."""
        found = self._memo.get(key)
        if found is None:
            scored = []
            for m in self._members:
                h = hashlib.blake2b(f"{m.name}\0{key}".encode(), digest_size=8).digest()
                u = (int.from_bytes(h, "big") + 0.5) / 2.0**64
                scored.append((-m.weight / math.log(u), -m.index, m))
            found = [r[2] for r in sorted(scored, key=lambda r: (r[0], r[1]), reverse=True)]
            if len(self._memo) >= _STICKY_MEMO:
                self._memo.clear()
            self._memo[key] = found
        return found

    def order(self, members: Sequence[Member], call: Call, full: bool) -> list[Endpoint]:
        key = _read(call.context, self._attribute)
        if key is None:
            return [m.endpoint for m in members]
        ranked = self.ranking(key)
        if full:
            return [m.endpoint for m in ranked]
        usable = set(map(id, members))
        return [m.endpoint for m in ranked if id(m) in usable]


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
        return LeastBusy(members, health)
    if kind == "lowest-latency":
        return LowestLatency(members, health, rng, exploration)
    if kind == "sticky":
        return Sticky(members, sticky_key)
    return Fallback(members)
