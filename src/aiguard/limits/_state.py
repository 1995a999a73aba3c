"""The counting rules, as pure functions over small state records.

The memory and SQLite stores run exactly these functions inside their critical section; the
Redis store runs a Lua transcription of them (``_lua.py``), and the store tests run every
scenario against all three. Three algorithms:

* bucket (per minute / per hour): a leaky bucket, the meter form of GCRA. ``level`` drains at
  ``amount / period`` per second; a call fits when ``level + cost <= amount``. Integer costs
  against a frozen clock are counted exactly.
* window (per day / per month): UTC calendar windows with ``used`` and ``reserved``; a call
  fits when ``used + reserved + cost <= amount``. A new window starts from zero; a settlement
  for a window that has ended is dropped (it was charged to the window it was admitted in).
* lease (concurrent): one lease per call in flight, each with an expiry so that a crashed
  process's slots come back after ``lease_seconds``.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence
from datetime import datetime, timezone

from ._model import ALGO_GCRA, ALGO_WINDOW, WINDOW_DAY

__all__ = [
    "DENY",
    "OK",
    "RETRY",
    "AdmitItem",
    "Outcome",
    "SettleItem",
    "State",
    "admit_all",
    "settle_all",
    "window_of",
]

OK = 0
"""Admitted; ``seconds`` > 0 means admitted for a later slot: wait that long, then send."""
RETRY = 1
"""Not now, nothing reserved; ask again after ``seconds`` (wait mode, within its deadline)."""
DENY = 2
"""Refused; ``seconds`` is the retry-after hint, negative when no wait could ever help."""

EPS = 1e-9
LEASE_POLL = 0.05


class State:
    """One counter. bucket: a=level, b=last update; window: a=window id, b=used;
    both: c=reserved. lease: ``leases`` maps lease id -> expiry. ``expires``: when the record
    holds nothing worth keeping if nothing is reserved (stores prune or TTL on it)."""

    __slots__ = ("a", "b", "c", "expires", "leases")

    def __init__(self, a: float = 0.0, b: float = 0.0, c: float = 0.0) -> None:
        self.a = a
        self.b = b
        self.c = c
        self.expires = 0.0
        self.leases: dict[str, float] | None = None


class AdmitItem:
    """One limit applied to one call."""

    __slots__ = ("algo", "amount", "cost", "index", "key", "max_wait", "period")

    def __init__(
        self,
        index: int,
        key: str,
        algo: int,
        amount: float,
        period: float,
        cost: float,
        max_wait: float,
    ) -> None:
        self.index = index
        self.key = key
        self.algo = algo
        self.amount = amount
        self.period = period
        self.cost = cost
        self.max_wait = max_wait


class SettleItem:
    """Undo a reservation (``reserved``) and charge what was really used (``actual``)."""

    __slots__ = ("actual", "algo", "amount", "key", "period", "reserved", "token")

    def __init__(
        self,
        key: str,
        algo: int,
        amount: float,
        period: float,
        reserved: float,
        actual: float,
        token: float | str,
    ) -> None:
        self.key = key
        self.algo = algo
        self.amount = amount
        self.period = period
        self.reserved = reserved
        self.actual = actual
        self.token = token


class Outcome:
    __slots__ = ("index", "now", "seconds", "status", "tokens")

    def __init__(
        self, status: int, seconds: float, index: int, tokens: list[float | str], now: float
    ) -> None:
        self.status = status
        self.seconds = seconds
        self.index = index
        """Position in the item list of the limit that decided a RETRY or DENY."""
        self.tokens = tokens
        """Per item: the window id (window), the lease id (lease), 0 (bucket)."""
        self.now = now


def window_of(kind: float, now: float) -> tuple[int, float]:
    """The UTC calendar window containing ``now``: its id and its end (epoch seconds)."""
    days = math.floor(now / 86400.0)
    if kind == WINDOW_DAY:
        return days, (days + 1) * 86400.0
    d = datetime.fromtimestamp(days * 86400, tz=timezone.utc)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    end = datetime(y, m, 1, tzinfo=timezone.utc).timestamp()
    return d.year * 12 + d.month - 1, end


def _check(item: AdmitItem, st: State | None, now: float, lease_id: str) -> tuple[int, float]:
    algo = item.algo
    cost = item.cost
    amount = item.amount
    if algo == ALGO_GCRA:
        if cost > amount + EPS:
            return DENY, -1.0
        level = 0.0
        if st is not None:
            level = st.a - (now - st.b) * amount / item.period
            if level < 0.0:
                level = 0.0
        over = level + cost - amount
        if over <= EPS * amount:
            return OK, 0.0
        wait = over * item.period / amount
        if wait <= item.max_wait:
            return OK, wait
        return DENY, wait
    if algo == ALGO_WINDOW:
        if cost > amount + EPS:
            return DENY, -1.0
        if item.period == WINDOW_DAY:  # window_of's day case, inline: every admission asks
            wid = math.floor(now / 86400.0)
            end = (wid + 1) * 86400.0
        else:
            wid, end = window_of(item.period, now)
        if st is None or st.a != wid:
            return OK, 0.0
        if st.b + st.c + cost <= amount * (1 + EPS):
            return OK, 0.0
        wait = end - now
        return (RETRY, wait) if wait <= item.max_wait else (DENY, wait)
    # lease
    leases = st.leases if st is not None else None
    if not leases or len(leases) + 1 <= amount:
        return OK, 0.0  # fits even counting leases that may have expired
    live = [e for e in leases.values() if e > now]
    if len(live) + 1 <= amount:
        return OK, 0.0
    if item.max_wait > 0:
        return RETRY, min(LEASE_POLL, item.max_wait)
    return DENY, min(live) - now


def _apply(
    item: AdmitItem, st: State | None, now: float, lease_id: str
) -> tuple[State, float | str]:
    algo = item.algo
    if st is None:
        st = State()
    if algo == ALGO_GCRA:
        level = st.a - (now - st.b) * item.amount / item.period
        st.a = (level if level > 0.0 else 0.0) + item.cost
        st.b = now
        st.c += item.cost
        st.expires = now + st.a * item.period / item.amount
        return st, 0.0
    if algo == ALGO_WINDOW:
        if item.period == WINDOW_DAY:
            wid = math.floor(now / 86400.0)
            end = (wid + 1) * 86400.0
        else:
            wid, end = window_of(item.period, now)
        if st.a != wid:
            st.a, st.b, st.c = wid, 0.0, 0.0
        st.c += item.cost
        st.expires = end
        return st, wid
    leases = st.leases
    if leases is None:
        leases = st.leases = {}
    if len(leases) >= item.amount:  # only then can expired leases be in the way
        for k in [k for k, e in leases.items() if e <= now]:
            del leases[k]
    expiry = now + item.period
    leases[lease_id] = expiry
    if expiry > st.expires:
        st.expires = expiry
    return st, lease_id


def admit_all(
    items: Sequence[AdmitItem],
    states: MutableMapping[str, State],
    now: float,
    lease_id: str,
) -> Outcome:
    """All items admit or none does; the first refusal (in limit order) is reported."""
    longest = 0.0
    for i, item in enumerate(items):
        status, seconds = _check(item, states.get(item.key), now, lease_id)
        if status != OK:
            return Outcome(status, seconds, i, [], now)
        if seconds > longest:
            longest = seconds
    tokens: list[float | str] = []
    for item in items:
        st, token = _apply(item, states.get(item.key), now, lease_id)
        states[item.key] = st
        tokens.append(token)
    return Outcome(OK, longest, -1, tokens, now)


def settle_all(items: Sequence[SettleItem], states: MutableMapping[str, State], now: float) -> None:
    for item in items:
        st = states.get(item.key)
        if st is None:
            continue  # expired (Redis TTL) or never written: nothing to give back
        if item.algo == ALGO_GCRA:
            level = st.a - (now - st.b) * item.amount / item.period
            level = (level if level > 0.0 else 0.0) + item.actual - item.reserved
            st.a = level if level > 0.0 else 0.0
            st.b = now
            st.expires = now + st.a * item.period / item.amount
            held = st.c - item.reserved
            st.c = held if held > 0.0 else 0.0
        elif item.algo == ALGO_WINDOW:
            if st.a == item.token:
                st.b += item.actual
                held = st.c - item.reserved
                st.c = held if held > 0.0 else 0.0
        elif st.leases is not None:
            st.leases.pop(str(item.token), None)
            if not st.leases:
                st.expires = 0.0
