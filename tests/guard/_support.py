"""Shared pieces of the guard and SDK tests: recorded telemetry, policies, SDK clients."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiguard.telemetry import AuditLog, AuditRecord, Telemetry

SEED = Path(__file__).resolve().parent.parent / "policy" / "seed_policy.yaml"
GRANTED: dict[str, Any] = {"user": "u-1", "scopes": {"ai.read", "ai.write"}}
REDACT: dict[str, Any] = {
    "spec": {
        "contentModeration": {
            "enabled": True,
            "blockList": ["PII", "investment advice"],
            "pii": {"action": "redact"},
        },
        "logging": {"enabled": False},
    }
}


def api_key() -> str:
    """Built at run time so no literal in the repository looks like a credential."""
    return "-".join(("sk", "test", "0" * 8))


class ListSink:
    """An audit sink that keeps records in memory."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, records: Sequence[AuditRecord]) -> None:
        self.records.extend(records)

    def purge(self) -> int:
        return 0

    def close(self) -> None:
        return None


class Recorded:
    """A ``Telemetry`` whose spans and audit records the test can read."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.sink = ListSink()
        self.log = AuditLog(self.sink)
        self.telemetry = Telemetry(
            tracer_provider=self.provider, audit=self.log, capture_content=False
        )

    def records(self) -> list[AuditRecord]:
        self.log.flush(10.0)
        return list(self.sink.records)

    def spans(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.parent is None]

    def close(self) -> None:
        self.log.close()
        self.provider.shutdown()
