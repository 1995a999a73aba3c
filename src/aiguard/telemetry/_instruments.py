"""The metric instruments, created once per ``Telemetry`` and shared by every call."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from . import _semconv as sc

__all__ = ["Instruments"]


class Instruments:
    """GenAI histograms with the conventions' buckets, plus aiguard's own counters."""

    __slots__ = (
        "cache",
        "calls",
        "cost",
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
        self.calls = meter.create_counter(
            sc.METRIC_CALLS, unit="{call}", description="Calls through aiguard, by outcome."
        )
        self.violations = meter.create_counter(
            sc.METRIC_VIOLATIONS,
            unit="{violation}",
            description="Policy findings, by category and action (never the matched text).",
        )
        self.cache = meter.create_counter(
            sc.METRIC_CACHE, unit="{lookup}", description="Cache lookups, by hit or miss."
        )
        self.retries = meter.create_counter(
            sc.METRIC_RETRIES, unit="{retry}", description="Attempts repeated on one endpoint."
        )
        self.failovers = meter.create_counter(
            sc.METRIC_FAILOVERS,
            unit="{failover}",
            description="Attempts moved to another endpoint.",
        )
        self.cost = meter.create_counter(
            sc.METRIC_COST, unit="USD", description="Estimated spend of answered calls."
        )
        self.rate_limit = meter.create_counter(
            sc.METRIC_RATE_LIMIT, unit="{event}", description="Rate-limit waits and refusals."
        )
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
