"""The limits engine: turn a call into demands on counters, admit atomically, settle once.

``Limiter`` knows nothing about the pipeline: it takes a ``CallContext`` plus the endpoint
and model strings and an estimate, and speaks to one store. The pipeline stage
(``_stage.py``) is a thin adapter over it.
"""

from __future__ import annotations

import itertools
import logging
import math
import operator
import os
from collections.abc import Sequence
from typing import Any, Protocol

from .._context import CallContext
from .._tokens._chat import chat_tokens
from .._types import ChatRequest, EmbeddingRequest, Usage
from ..errors import BudgetExceeded, ConfigError, LimitExceeded, RateLimited
from ..tokens import PriceTable, count_text
from ._errors import LimitStoreUnavailable
from ._memory import MemoryStore
from ._model import ALGO_GCRA, ALGO_LEASE, ALGO_WINDOW, Limit
from ._records import Admission, Demand, LimiterStats, LimitUsage, Reservation
from ._state import DENY, OK, AdmitItem, Outcome, SettleItem, State, window_of

__all__ = ["Limiter", "Store"]

log = logging.getLogger("aiguard.limits")


class Store(Protocol):
    """Where counters live. Implemented by ``MemoryStore``, ``SQLiteStore``, ``RedisStore``."""

    native_async: bool

    def admit(self, items: Sequence[AdmitItem], lease_id: str) -> Outcome: ...
    def settle(self, items: Sequence[SettleItem]) -> None: ...
    def peek(self, keys: Sequence[str]) -> tuple[list[State | None], float]: ...
    async def aadmit(self, items: Sequence[AdmitItem], lease_id: str) -> Outcome: ...
    async def asettle(self, items: Sequence[SettleItem]) -> None: ...
    async def apeek(self, keys: Sequence[str]) -> tuple[list[State | None], float]: ...
    def close(self) -> None: ...


class Limiter:
    """Admission and settlement for a set of limits sharing one store.

    >>> limiter = Limiter([Limit.requests(100), Limit.tokens(100_000, key=("tenant",))])
    >>> d = limiter.demand(ctx, endpoint="cloud-llm", model="gpt-4o-mini", request=req)
    >>> a = limiter.admit(d)                 # raises RateLimited / BudgetExceeded
    >>> limiter.settle(a.reservation, usage)  # or limiter.release(a.reservation)
    """

    def __init__(
        self,
        limits: Sequence[Limit],
        store: Store | None = None,
        *,
        prices: PriceTable | None = None,
        default_output_tokens: int = 1024,
    ) -> None:
        limits = tuple(limits)
        for lim in limits:
            if not isinstance(lim, Limit):
                raise ConfigError(f"limits must be Limit objects, got {type(lim).__name__}")
        names = [lim.name for lim in limits]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"limit names must be unique; repeated: {', '.join(dupes)}")
        if isinstance(default_output_tokens, bool) or not (
            isinstance(default_output_tokens, int) and default_output_tokens > 0
        ):
            raise ConfigError(
                f"default_output_tokens must be a positive int, got {default_output_tokens!r}"
            )
        self.limits = limits
        self.store: Store = store if store is not None else MemoryStore()
        self.prices = prices if prices is not None else PriceTable()
        self.default_output_tokens = default_output_tokens
        self.stats = LimiterStats()
        self._needs_tokens = any(lim.metric in ("tokens", "cost") for lim in limits)
        self._fail_open = bool(limits) and all(lim.fail_open for lim in limits)
        # What the items of one call need of each limit, looked up once here. Admit: (index,
        # algorithm, amount, period, the wait it allows in all: 0 when it refuses instead).
        # Settle: (index, algorithm, amount, period, metric).
        self._admit_static = tuple(
            (
                i,
                lim.algorithm,
                lim.amount,
                lim.period_code,
                lim.max_wait if lim.mode == "wait" else 0.0,
            )
            for i, lim in enumerate(limits)
        )
        self._settle_static = tuple(
            (i, lim.algorithm, lim.amount, lim.period_code, lim.metric)
            for i, lim in enumerate(limits)
        )
        self._has_lease = any(lim.algorithm == ALGO_LEASE for lim in limits)
        self._metrics = tuple(lim.metric for lim in limits)
        self._has_cost = "cost" in self._metrics
        attrs = dict.fromkeys(
            a for lim in limits for a in lim._parts if a not in ("endpoint", "model")
        )
        plain = tuple(a for a in attrs if not a.startswith("tags."))
        self._key_fields = operator.attrgetter(*plain) if plain else None
        self._key_multi = len(plain) > 1  # attrgetter of several names answers a tuple
        self._key_tags = tuple(a[5:] for a in attrs if a.startswith("tags."))
        self._keys_memo: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._lease_prefix = f"{os.getpid()}-{id(self):x}-"
        self._lease_seq = itertools.count()

    # ------------------------------------------------------------------ demand (pure)

    def demand(
        self,
        context: CallContext | None = None,
        *,
        endpoint: str | None = None,
        model: str | None = None,
        request: ChatRequest | EmbeddingRequest | None = None,
        tokens: int | None = None,
        prompt_tokens: int | None = None,
    ) -> Demand:
        """What this call asks of each limit. ``tokens`` overrides the estimate (prompt tokens
        counted for ``model`` plus ``max_tokens`` or ``default_output_tokens``);
        ``prompt_tokens`` is the chat prompt's count for ``model`` when the caller already
        has it (it is not counted again)."""
        ctx = context if context is not None else CallContext()
        est = prompt = 0
        dollars: float | None = None
        if self._needs_tokens:
            if tokens is not None:
                est = prompt = tokens
            else:
                est, prompt = self._estimate(request, model, prompt_tokens)
        if self._has_cost:
            costs: list[float] = []
            for lim in self.limits:
                m = lim.metric
                if m == "tokens":
                    costs.append(float(est))
                elif m == "cost":
                    if dollars is None:
                        dollars = self._estimate_dollars(lim, request, model, est)
                    costs.append(dollars)
                else:
                    costs.append(1.0)
        else:
            n = float(est)
            costs = [n if m == "tokens" else 1.0 for m in self._metrics]
        return Demand(
            self._storage_keys(ctx, endpoint, model),
            tuple(costs),
            model,
            est,
            dollars,
            0.0,
            prompt,
        )

    def _storage_keys(
        self, ctx: CallContext, endpoint: str | None, model: str | None
    ) -> tuple[str, ...]:
        """Every limit's counter key for this call, remembered per distinct set of key
        values (a handful of tenants and users make most calls; quoting is the dear part)."""
        getter = self._key_fields
        values: tuple[Any, ...]
        if getter is None:
            values = (endpoint, model)
        elif self._key_multi:
            values = (endpoint, model, *getter(ctx))
        else:
            values = (endpoint, model, getter(ctx))
        if self._key_tags:
            tags = ctx.tags
            values += tuple([tags.get(t) for t in self._key_tags])
        for v in values:
            # Only plain strings (and absent values) are remembered: values equal as dict
            # keys (1, 1.0, True, a str enum) can be spelled differently in a counter key.
            if v is not None and v.__class__ is not str:
                return tuple(lim.storage_key(ctx, endpoint, model) for lim in self.limits)
        keys = self._keys_memo.get(values)
        if keys is None:
            keys = tuple(lim.storage_key(ctx, endpoint, model) for lim in self.limits)
            if len(self._keys_memo) >= _KEYS_MEMO_SIZE:
                self._keys_memo.clear()
            self._keys_memo[values] = keys
        return keys

    def _estimate(
        self,
        request: ChatRequest | EmbeddingRequest | None,
        model: str | None,
        known: int | None = None,
    ) -> tuple[int, int]:
        """(total, prompt) tokens to reserve; ``known``: the chat prompt's count, if taken."""
        if request is None:
            return self.default_output_tokens, 0
        # An exact-type test first: an isinstance that fails against a pydantic model class
        # goes through ABCMeta's hook (a few hundred ns); a chat request never needs it.
        if type(request) is not ChatRequest and isinstance(request, EmbeddingRequest):
            n = sum(count_text(t, model or "").tokens for t in request.inputs)
            return n, n
        if known is not None:
            prompt = known
        else:
            name = model or request.model or "unknown"
            prompt = chat_tokens(request.messages, name, request.tools)[0]
        return prompt + (request.max_tokens or self.default_output_tokens), prompt

    def _estimate_dollars(
        self,
        lim: Limit,
        request: ChatRequest | EmbeddingRequest | None,
        model: str | None,
        est: int,
    ) -> float:
        price = self.prices.price(model) if model else None
        if price is None:
            raise ConfigError(
                f"limit {lim.name!r} caps cost but model {model!r} has no price, so the cost "
                "cannot be enforced; add it: PriceTable(overrides={model: Price(input=..., "
                "output=...)})"
            )
        out = 0
        if isinstance(request, ChatRequest):
            out = request.max_tokens or self.default_output_tokens
        prompt = max(est - out, 0)
        return (prompt * price.input + out * price.output) / 1_000_000

    # ------------------------------------------------------------------ admit

    def _items(self, demand: Demand) -> list[AdmitItem]:
        keys, costs, waited = demand.keys, demand.costs, demand.waited
        return [
            AdmitItem(
                i,
                keys[i],
                algo,
                amount,
                period,
                costs[i],
                allowed - waited if allowed > waited else 0.0,
            )
            for i, algo, amount, period, allowed in self._admit_static
        ]

    def _lease(self) -> str:
        if not self._has_lease:
            return ""
        return f"{self._lease_prefix}{next(self._lease_seq)}"

    def admit(self, demand: Demand) -> Admission:
        """Reserve ``demand`` on every limit or on none. Raises ``RateLimited``,
        ``BudgetExceeded`` or ``LimitStoreError`` (store down, fail-closed)."""
        if not self.limits:
            return Admission(Reservation(demand, [], "", enforced=False))
        lease = self._lease() if self._has_lease else ""
        try:
            outcome = self.store.admit(self._items(demand), lease)
        except LimitStoreUnavailable as e:
            return self._store_down(demand, e)
        if outcome.status == OK:  # the common case, without another call
            return Admission(Reservation(demand, outcome.tokens, lease), outcome.seconds)
        return self._decide(demand, outcome, lease)

    async def aadmit(self, demand: Demand) -> Admission:
        if not self.limits:
            return Admission(Reservation(demand, [], "", enforced=False))
        lease = self._lease()
        try:
            outcome = await self.store.aadmit(self._items(demand), lease)
        except LimitStoreUnavailable as e:
            return self._store_down(demand, e)
        return self._decide(demand, outcome, lease)

    def _store_down(self, demand: Demand, e: LimitStoreUnavailable) -> Admission:
        if not self._fail_open:
            raise e
        self.stats.fail_open_admits += 1
        log.warning("limit store unavailable, admitting without limits (fail-open): %s", e)
        return Admission(Reservation(demand, [], "", enforced=False))

    def _decide(self, demand: Demand, outcome: Outcome, lease: str) -> Admission:
        if outcome.status == OK:
            return Admission(Reservation(demand, outcome.tokens, lease), outcome.seconds)
        if outcome.status != DENY:
            return Admission(None, outcome.seconds)
        raise self._refusal(demand, outcome)

    def _refusal(self, demand: Demand, outcome: Outcome) -> LimitExceeded:
        lim = self.limits[outcome.index]
        key = demand.keys[outcome.index]
        need = demand.costs[outcome.index]
        unit = {
            "requests": "requests",
            "tokens": "tokens",
            "cost": "USD",
            "concurrent": "calls in flight",
        }[lim.metric]
        what = f"{_fmt(lim.amount)} {unit}" + (f" per {lim.per}" if lim.per else "")
        cls = (
            BudgetExceeded
            if lim.metric in ("tokens", "cost") and lim.algorithm == ALGO_WINDOW
            else RateLimited
        )
        if lim.metric == "concurrent":
            # When a slot frees depends on calls in flight, not on time: no honest hint exists
            # (the lease expiry is only the latest moment, after a crash).
            return cls(
                f"limit {lim.name!r} ({what}) reached for {key}; retry when a call ends",
                limit=lim.name,
                retry_after=None,
            )
        if outcome.seconds < 0:
            return cls(
                f"limit {lim.name!r} ({what}) can never admit this call: it needs "
                f"{_fmt(need)} {unit}; lower max_tokens or raise the limit (key {key})",
                limit=lim.name,
                retry_after=None,
            )
        retry = math.ceil(outcome.seconds * 1000) / 1000
        return cls(
            f"limit {lim.name!r} ({what}) exceeded for {key}; retry after {retry:.3f}s",
            limit=lim.name,
            retry_after=retry,
        )

    # ------------------------------------------------------------------ settle / release

    def _settle_items(
        self, res: Reservation, usage: Usage | None, model: str | None, sent: bool
    ) -> list[SettleItem]:
        d = res.demand
        keys, costs, tokens = d.keys, d.costs, res.tokens
        items = []
        used = float(usage.input_tokens + usage.output_tokens) if usage is not None else 0.0
        dollars: float | None = None
        for i, algo, amount, period, metric in self._settle_static:
            reserved = costs[i]
            if metric == "tokens":
                actual = used
            elif metric == "requests":
                actual = 1.0 if sent else 0.0
            elif metric == "cost":
                actual = 0.0
                if usage is not None:
                    if dollars is None:
                        dollars = self.prices.cost(model or d.model or "", usage)
                    actual = reserved if dollars is None else dollars
            else:
                actual = 0.0
            token = res.lease_id if algo == ALGO_LEASE else tokens[i]
            items.append(SettleItem(keys[i], algo, amount, period, reserved, actual, token))
        return items

    def settle(
        self,
        reservation: Reservation,
        usage: Usage | None,
        *,
        model: str | None = None,
        sent: bool = True,
    ) -> None:
        """Replace the reservation with real usage; ``usage=None`` charges no tokens or cost.

        ``model`` is the model that answered (it prices the usage); ``sent=False`` also gives
        the request back (the call never reached a provider). Only the first call for a
        reservation counts. A store failure here (unreachable, or even corrupted) is logged at
        ERROR and counted in ``stats.settle_failures``, never raised: the answer is already
        paid for, and the unsettled reservation errs on the safe side.
        """
        if not reservation.enforced or not reservation._claim():
            return
        try:
            self.store.settle(self._settle_items(reservation, usage, model, sent))
        except Exception as e:
            self._settle_failed(e)

    async def asettle(
        self,
        reservation: Reservation,
        usage: Usage | None,
        *,
        model: str | None = None,
        sent: bool = True,
    ) -> None:
        if not reservation.enforced or not reservation._claim():
            return
        try:
            await self.store.asettle(self._settle_items(reservation, usage, model, sent))
        except Exception as e:
            self._settle_failed(e)

    def _settle_failed(self, e: Exception) -> None:
        self.stats.settle_failures += 1
        log.error(
            "limit store failed while settling; the reservation stays held: %r", e, exc_info=e
        )

    def release(self, reservation: Reservation) -> None:
        """The call was refused or failed before anything was sent: give everything back."""
        self.settle(reservation, None, sent=False)

    async def arelease(self, reservation: Reservation) -> None:
        await self.asettle(reservation, None, sent=False)

    # ------------------------------------------------------------------ usage

    def usage(
        self,
        context: CallContext | None = None,
        *,
        endpoint: str | None = None,
        model: str | None = None,
    ) -> list[LimitUsage]:
        """Consumption and remaining quota of every limit, for the key this context maps to."""
        keys = self._keys(context, endpoint, model)
        states, now = self.store.peek(keys)
        return self._report(keys, states, now)

    async def ausage(
        self,
        context: CallContext | None = None,
        *,
        endpoint: str | None = None,
        model: str | None = None,
    ) -> list[LimitUsage]:
        keys = self._keys(context, endpoint, model)
        states, now = await self.store.apeek(keys)
        return self._report(keys, states, now)

    def _keys(
        self, context: CallContext | None, endpoint: str | None, model: str | None
    ) -> list[str]:
        ctx = context if context is not None else CallContext()
        return [lim.storage_key(ctx, endpoint, model) for lim in self.limits]

    def _report(self, keys: list[str], states: list[State | None], now: float) -> list[LimitUsage]:
        out = []
        for lim, key, st in zip(self.limits, keys, states, strict=True):
            used = reserved = 0.0
            resets: float | None = None
            if lim.algorithm == ALGO_GCRA:
                level = 0.0
                if st is not None:
                    level = max(0.0, st.a - (now - st.b) * lim.amount / lim.period_code)
                    reserved = min(st.c, level)
                used = level - reserved
                resets = now + level * lim.period_code / lim.amount
            elif lim.algorithm == ALGO_WINDOW:
                wid, resets = window_of(lim.period_code, now)
                if st is not None and st.a == wid:
                    used, reserved = st.b, st.c
            else:
                live = [e for e in (st.leases or {}).values() if e > now] if st else []
                used = float(len(live))
            out.append(
                LimitUsage(
                    lim.name,
                    key,
                    lim.metric,
                    lim.per,
                    lim.amount,
                    used,
                    reserved,
                    max(lim.amount - used - reserved, 0.0),
                    resets,
                )
            )
        return out

    def close(self) -> None:
        """Close the store's connections (SQLite files, the sync Redis pool)."""
        self.store.close()

    async def aclose(self) -> None:
        """Close the store's connections, including an async Redis pool."""
        self.store.close()
        aclose = getattr(self.store, "aclose", None)
        if aclose is not None:
            await aclose()


_KEYS_MEMO_SIZE = 4096


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) else f"{v:.6g}"
