"""Hand-made values and in-memory OpenTelemetry for the telemetry tests."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiguard._types import ChatRequest, ChatResponse, Message, Usage


class FakeClock:
    """Epoch seconds for records and a monotonic timer, both moved only by ``advance``."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start
        self.mono = 100.0

    def time(self) -> float:
        return self.now

    def timer(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def metrics(self) -> dict[str, list[Any]]:
        """Metric name -> its data points."""
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).extend(m.data.data_points)
        return out

    def metric_objects(self) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


def request(text: str = "Hello", model: str = "cloud-llm", **kw: Any) -> ChatRequest:
    return ChatRequest(messages=(Message(role="user", content=text),), model=model, **kw)


def response(text: str = "Hi there", **kw: Any) -> ChatResponse:
    base: dict[str, Any] = {
        "text": text,
        "finish_reason": "stop",
        "usage": Usage(input_tokens=12, output_tokens=5),
        "model": "gpt-4o-mini-2024-07-18",
        "id": "chatcmpl-123",
        "endpoint": "cloud-llm",
        "provider": "openai",
        "request_id": "req-abc",
        "cost": 0.0021,
    }
    base.update(kw)
    return ChatResponse(**base)
