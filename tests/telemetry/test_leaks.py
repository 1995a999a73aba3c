"""A known API key and known PII go through every path; no exported byte may contain them.

Content capture is ON here (the riskiest setting): what is recorded must be the redacted
text only. Error bodies that echo the key (as real providers do on a 401) must not leak
through error messages either.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from aiguard import errors
from aiguard._stages import NO_RETRY
from aiguard.telemetry import JSONLinesSink, LoggingSink, OTelLogSink, SQLiteAuditStore

from ._fakes import FakeClock, Otel
from ._harness import KEY, Harness
from ._wire import MemoryCache, Redactor, RetryOnce, chat_body, sse_body

EMAIL = "jane.doe" + "@" + "example.com"
PHONE = "+1 415 555 " + "0100"
SECRETS = (KEY, EMAIL, PHONE, KEY[-12:])
PROMPT = f"My key is {KEY}, mail me at {EMAIL} or call {PHONE}."


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_no_key_or_pii_in_any_span_metric_log_or_audit_row(
    kind: str,
    otel: Otel,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SQLiteAuditStore(tmp_path / "audit.db", retention_days=90, clock=clock.time)
    jsonl = JSONLinesSink(tmp_path / "audit.jsonl", max_bytes=4096, backups=5)
    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    h = Harness(
        otel,
        clock,
        store,
        kind,
        capture_content=True,
        sinks=(jsonl, LoggingSink(), OTelLogSink(logger_provider)),
    )
    redact = Redactor(SECRETS)
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}; input was {PROMPT}"}}
    caplog.set_level(logging.DEBUG)

    # success
    h.chat(PROMPT, inspector=redact)
    # provider error whose body echoes the key and the prompt
    h.script.replies = [(401, echo, {})]
    with pytest.raises(errors.AuthenticationError):
        h.chat(PROMPT, inspector=redact)
    # retries, then failover, each failure echoing the prompt
    h.script.replies = [(503, echo, {}), (503, echo, {}), (200, chat_body(), {})]
    h.chat(PROMPT, inspector=redact, router=h.plan("cloud-llm", "backup-llm"), retry=RetryOnce())
    # all endpoints failing
    h.script.replies = [(500, echo, {}), (500, echo, {})]
    with pytest.raises(errors.ProviderError):
        h.chat(PROMPT, inspector=redact, router=h.plan("cloud-llm", "backup-llm"), retry=NO_RETRY)
    # blocked before sending
    with pytest.raises(errors.ContentBlockedError):
        h.chat(PROMPT, inspector=Redactor(SECRETS, block=True))
    # cached (second call answered from the cache)
    cache = MemoryCache()
    h.chat(PROMPT, inspector=redact, cache=cache)
    h.chat(PROMPT, inspector=redact, cache=cache)
    # streamed
    h.script.replies = [(200, sse_body("Noted, thanks"), {})]
    h.stream(PROMPT, inspector=redact)

    h.log.close()
    logger_provider.shutdown()

    rows = list(SQLiteAuditStore(tmp_path / "audit.db", clock=clock.time).records())
    assert [r.outcome for r in rows] == [
        "ok", "error", "ok", "error", "blocked", "ok", "cached", "ok",
    ]  # fmt: skip
    # Capture really was on: the redacted prompt is there, so the scan below is not vacuous.
    assert all("[REDACTED]" in (r.content or "") for r in rows if r.outcome != "blocked")

    haystacks: dict[str, str] = {
        "spans": "\n".join(s.to_json() for s in otel.spans()),
        "metrics": otel.reader.get_metrics_data().to_json(),  # type: ignore[union-attr]
        "log lines": "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records),
        "otel logs": "\n".join(
            f"{x.log_record.body} {dict(x.log_record.attributes or {})}"
            for x in log_exporter.get_finished_logs()
        ),
        "audit rows": "\n".join(repr(r) + (r.content or "") for r in rows),
    }
    for f in sorted(tmp_path.iterdir()):  # the SQLite file, its WAL, the JSONL files
        haystacks[f.name] = f.read_bytes().decode("utf-8", "replace")
    assert "[REDACTED]" in haystacks["spans"]
    assert "[REDACTED]" in haystacks["audit.jsonl"]
    assert "[REDACTED]" in haystacks["otel logs"]
    assert "[REDACTED]" in haystacks["log lines"]
    assert "Incorrect API key" not in haystacks["spans"]  # error messages never exported
    for where, text in haystacks.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret[:6]}... leaked into {where}"
