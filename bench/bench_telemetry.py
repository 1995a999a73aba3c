"""What telemetry and audit add to one call, in microseconds (issue 8 targets).

    .venv/bin/python bench/bench_telemetry.py

Prints three figures, each the median over repeats of the per-call cost of the telemetry a
call goes through (start, one attempt, a policy decision, end), minus the same loop without
telemetry:

- no OpenTelemetry SDK configured (the global no-op providers)      target <= 5 us
- SDK with an in-memory span exporter and metric reader              target <= 60 us
- audit to SQLite on the call path (enqueue; the write is off it)    target <= 20 us
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiguard._context import CallContext
from aiguard._types import ChatRequest, ChatResponse, Message, Usage
from aiguard.telemetry import AuditLog, SQLiteAuditStore, Telemetry

CTX = CallContext.build(user="u-42", tenant="acme", region="EU", route="bot")
REQUEST = ChatRequest(
    messages=(Message(role="user", content="Hello there, how are you?"),),
    model="cloud-llm",
    max_tokens=100,
    temperature=0.2,
)
RESPONSE = ChatResponse(
    text="Fine, thanks.",
    usage=Usage(input_tokens=12, output_tokens=5),
    model="gpt-4o-mini-2024-07-18",
    id="chatcmpl-1",
    endpoint="cloud-llm",
    provider="openai",
    request_id="req-1",
    cost=0.0001,
)


def one_call(tel: Telemetry) -> None:
    rec = tel.start_call("chat", REQUEST, CTX)
    rec.decision("pii.email", "redact")
    rec.input_redacted(REQUEST)
    att = rec.attempt_start(
        endpoint="cloud-llm",
        provider="openai",
        model="gpt-4o-mini",
        server_address="api.openai.com",
        server_port=443,
    )
    att.end()
    rec.end(response=RESPONSE)


def nothing(_: object) -> None:
    return None


def per_call_us(fn: Callable[[], None], n: int, repeats: int = 7) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter_ns() - t0) / n / 1000.0)
    return statistics.median(samples)


def main() -> int:
    n = 20_000
    base = per_call_us(lambda: nothing(None), n)

    # 1. No SDK: Telemetry on the global (unconfigured) providers.
    plain = Telemetry(capture_content=False)
    no_sdk = per_call_us(lambda: one_call(plain), n) - base

    # 2. SDK with in-memory exporter and reader.
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    sdk = Telemetry(tracer_provider=tp, meter_provider=mp, capture_content=False)

    def sdk_call() -> None:
        one_call(sdk)
        if len(exporter._finished_spans) > 10_000:  # keep memory flat between repeats
            exporter.clear()

    with_sdk = per_call_us(sdk_call, n // 4) - base
    spans = len(exporter.get_finished_spans())

    # 3. Audit enqueue to SQLite (no SDK, so the difference is the audit path alone).
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteAuditStore(Path(tmp) / "audit.db", retention_days=90)
        log = AuditLog(store, queue_size=200_000)
        audited = Telemetry(audit=log, capture_content=False)
        m = 10_000
        audit = per_call_us(lambda: one_call(audited), m, repeats=5) - (no_sdk + base)
        t0 = time.perf_counter()
        log.flush(120)
        drain_s = time.perf_counter() - t0
        written, dropped = log.written, log.dropped
        log.close()
        rows = SQLiteAuditStore(Path(tmp) / "audit.db").count()

    def verdict(v: float, target: float) -> str:
        return "ok" if v <= target else "OVER"

    print(f"python {sys.version.split()[0]}, per call (median of repeats, loop overhead removed)")
    print(
        f"  telemetry, no SDK configured      : {no_sdk:7.2f} us   target <=  5 us  "
        f"{verdict(no_sdk, 5)}"
    )
    print(
        f"  telemetry, SDK + in-memory export : {with_sdk:7.2f} us   target <= 60 us  "
        f"{verdict(with_sdk, 60)}  ({spans} spans kept at the end)"
    )
    print(
        f"  audit enqueue (SQLite writer)     : {audit:7.2f} us   target <= 20 us  "
        f"{verdict(audit, 20)}"
    )
    print(
        f"  audit writer: {written} written, {dropped} dropped, {rows} rows in the store; "
        f"drain after the loop took {drain_s * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
