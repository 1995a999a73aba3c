"""The metric instruments, created once per ``Telemetry`` and shared by every call.

The GenAI histograms go through the SDK on every call, as the conventions expect. aiguard's
own counters do not: each SDK measurement costs about 10 us (attribute cleaning and hashing)
and a call touches up to eight counters. They are summed here under a lock, keyed by a tuple
of attribute pairs, and handed to the SDK as observable counters when a reader collects, which
is the same cumulative sum an exporter would see from a synchronous counter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from . import _semconv as sc

__all__ = ["CallTotals", "Instruments", "LocalCounter"]

AttrKey = tuple[tuple[str, Any], ...]


class LocalCounter:
    """A monotonic sum per attribute set, observed by the SDK at collection time."""

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[AttrKey, float] = {}

    def add(self, amount: float, key: AttrKey) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def observe(self, _: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            items = list(self._values.items())
        return [Observation(v, dict(k)) for k, v in items]

    def value(self, key: AttrKey) -> float:
        with self._lock:
            return self._values.get(key, 0)


class CallTotals:
    """Calls and their cost per attribute set: one lock round-trip per call for both."""

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[AttrKey, list[float]] = {}

    def add(self, key: AttrKey, cost: float) -> None:
        with self._lock:
            v = self._values.get(key)
            if v is None:
                v = self._values[key] = [0, 0.0]
            v[0] += 1
            v[1] += cost

    def observe_calls(self, _: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            items = [(k, v[0]) for k, v in self._values.items()]
        return [Observation(n, dict(k)) for k, n in items]

    def observe_cost(self, _: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            items = [(k, v[1]) for k, v in self._values.items() if v[1]]
        return [Observation(c, dict(k)) for k, c in items]


class Instruments:
    """GenAI histograms with the conventions' buckets, plus aiguard's own counters."""

    __slots__ = (
        "cache",
        "calls",
        "duration",
        "failovers",
        "first_chunk",
        "rate_limit",
        "retries",
        "tokens",
        "violations",
    )

    def __init__(
        self,
        meter: Meter,
        names: sc.SemconvNames,
        dropped: Callable[[], int] | None = None,
    ) -> None:
        self.tokens = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(sc.TOKEN_USAGE_BUCKETS),
        )
        self.duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.first_chunk = (
            meter.create_histogram(
                names.time_to_first_chunk_metric,
                unit="s",
                description="Time to receive the first chunk of a streamed answer.",
                explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
            )
            if names.time_to_first_chunk_metric
            else None
        )

        def counter(name: str, unit: str, description: str) -> LocalCounter:
            c = LocalCounter()
            meter.create_observable_counter(
                name, callbacks=[c.observe], unit=unit, description=description
            )
            return c

        self.calls = CallTotals()
        meter.create_observable_counter(
            sc.METRIC_CALLS,
            callbacks=[self.calls.observe_calls],
            unit="{call}",
            description="Calls through aiguard, by outcome.",
        )
        meter.create_observable_counter(
            sc.METRIC_COST,
            callbacks=[self.calls.observe_cost],
            unit="USD",
            description="Estimated spend of answered calls.",
        )
        self.violations = counter(
            sc.METRIC_VIOLATIONS,
            "{violation}",
            "Policy findings, by category and action (never the matched text).",
        )
        self.cache = counter(sc.METRIC_CACHE, "{lookup}", "Cache lookups, by hit or miss.")
        self.retries = counter(
            sc.METRIC_RETRIES, "{retry}", "Attempts repeated on the same endpoint."
        )
        self.failovers = counter(
            sc.METRIC_FAILOVERS, "{failover}", "Attempts moved to another endpoint."
        )
        self.rate_limit = counter(sc.METRIC_RATE_LIMIT, "{event}", "Rate-limit waits and refusals.")
        if dropped is not None:
            read = dropped

            def observe(_: CallbackOptions) -> Iterable[Observation]:
                yield Observation(read())

            meter.create_observable_counter(
                sc.METRIC_AUDIT_DROPPED,
                callbacks=[observe],
                unit="{record}",
                description="Audit records dropped because the writer queue was full.",
            )
