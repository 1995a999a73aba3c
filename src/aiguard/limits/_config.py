"""Build a ``Limiter`` from a policy's ``rateLimit`` section.

Each rule's counts become one ``Limit`` each, named ``<rule>.<camelCaseCount>`` (for example
``default.requestsPerMinute``) so that errors and ``usage()`` point back at the line of the
policy that set them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..tokens import PriceTable
from ._engine import Limiter, Store
from ._memory import MemoryStore
from ._model import Limit, Metric, Period

if TYPE_CHECKING:
    from ..policy import RateLimitSpec

__all__ = ["limiter_from_policy"]

_COUNTS: dict[str, tuple[Metric, Period | None, str]] = {
    "requests_per_minute": ("requests", "minute", "requestsPerMinute"),
    "requests_per_day": ("requests", "day", "requestsPerDay"),
    "tokens_per_minute": ("tokens", "minute", "tokensPerMinute"),
    "tokens_per_day": ("tokens", "day", "tokensPerDay"),
    "cost_per_day": ("cost", "day", "costPerDay"),
    "cost_per_month": ("cost", "month", "costPerMonth"),
    "max_concurrent": ("concurrent", None, "maxConcurrent"),
}


def limits_from_policy(spec: RateLimitSpec) -> list[Limit]:
    """The ``Limit`` objects a ``rateLimit`` section describes, in policy order."""
    out: list[Limit] = []
    wait = spec.mode == "wait"
    for rule in spec.rules():
        for field, (metric, per, camel) in _COUNTS.items():
            amount = getattr(rule, field, None)
            if amount is None:
                continue
            out.append(
                Limit(
                    metric,
                    amount,
                    per,
                    key=tuple(rule.key),
                    name=f"{rule.name}.{camel}",
                    mode=spec.mode,
                    max_wait=spec.effective_max_wait if wait else 30.0,
                    fail_open=spec.fail_mode == "open",
                )
            )
    return out


def store_from_policy(spec: RateLimitSpec, *, clock: Callable[[], float] | None = None) -> Store:
    """The store ``rateLimit.store`` names (``clock`` is for tests; Redis uses server time)."""
    s = spec.store
    if s.type == "sqlite":
        from ._sqlite import SQLiteStore

        assert s.path is not None  # the policy model requires it
        return SQLiteStore(s.path, clock=clock) if clock else SQLiteStore(s.path)
    if s.type == "redis":
        from ._redis import RedisStore

        return RedisStore(url=s.url, clock=clock)
    return MemoryStore(clock=clock) if clock else MemoryStore()


def limiter_from_policy(
    spec: RateLimitSpec,
    *,
    prices: PriceTable | None = None,
    store: Store | None = None,
    clock: Callable[[], float] | None = None,
) -> Limiter | None:
    """A ``Limiter`` for ``spec``, or ``None`` when it sets no limit at all."""
    limits = limits_from_policy(spec)
    if not limits:
        return None
    return Limiter(
        limits, store if store is not None else store_from_policy(spec, clock=clock), prices=prices
    )
