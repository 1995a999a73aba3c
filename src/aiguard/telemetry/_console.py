"""A one-call console setup for demos: spans and metrics printed to a stream.

Real deployments configure OpenTelemetry themselves (usually OTLP to a collector); aiguard
then exports through the global providers without any code here. This helper needs the
``opentelemetry-sdk`` package and builds *new* providers, returning a ``Telemetry`` bound to
them instead of replacing the application's global ones.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from ..errors import ConfigError
from ._telemetry import Telemetry

__all__ = ["console"]


def console(
    out: IO[str] | None = None,
    *,
    metrics_interval_s: float = 60.0,
    **telemetry_options: Any,
) -> Telemetry:
    """A ``Telemetry`` that prints each span as it ends and metrics every interval.

    ``telemetry_options`` go to ``Telemetry`` (``audit=``, ``capture_content=``...).
    """
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
    except ImportError as e:  # pragma: no cover - the SDK is a dependency today
        raise ConfigError(
            "aiguard.telemetry.console() needs the OpenTelemetry SDK: pip install opentelemetry-sdk"
        ) from e
    stream = out if out is not None else sys.stdout
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=stream)))
    reader = PeriodicExportingMetricReader(
        ConsoleMetricExporter(out=stream),
        export_interval_millis=metrics_interval_s * 1000.0,
    )
    meter_provider = MeterProvider(metric_readers=[reader])
    return Telemetry(
        tracer_provider=tracer_provider, meter_provider=meter_provider, **telemetry_options
    )
