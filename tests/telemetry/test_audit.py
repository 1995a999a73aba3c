"""The audit log: one record per call, written off the call path, kept as long as policy says."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from aiguard import errors
from aiguard._context import CallContext
from aiguard.telemetry import (
    AuditLog,
    AuditRecord,
    JSONLinesSink,
    LoggingSink,
    OTelLogSink,
    SQLiteAuditStore,
    Telemetry,
    Violation,
    _writer,
    usage_summary,
)
from aiguard.telemetry import _semconv as sc

from ._fakes import FakeClock, Otel, request, response

CTX = CallContext.build(user="u-42", tenant="acme", region="EU", route="support-bot")
DAY = 86400.0


def _record(t: float, **kw: object) -> AuditRecord:
    base: dict[str, object] = {"time": t, "operation": "chat", "outcome": "ok", "tenant": "acme"}
    base.update(kw)
    return AuditRecord(**base)  # type: ignore[arg-type]


class _BlockingSink:
    """Holds the writer thread until released, so a test can fill the queue."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.records: list[AuditRecord] = []

    def write(self, records: Sequence[AuditRecord]) -> None:
        self.entered.set()
        self.release.wait(10)
        self.records.extend(records)

    def purge(self) -> int:
        return 0

    def close(self) -> None:
        return None


class _BrokenSink:
    def write(self, records: Sequence[AuditRecord]) -> None:
        raise OSError("disk full")

    def purge(self) -> int:
        raise OSError("disk full")

    def close(self) -> None:
        return None


def test_one_record_per_call_with_the_facts_of_the_call(
    audited: Telemetry, store: SQLiteAuditStore, clock: FakeClock
) -> None:
    rec = audited.start_call("chat", request(), CTX, policy_hash="sha256:pol")
    rec.decision("pii.email", "redact")
    rec.input_redacted(request("Mail [EMAIL]"))
    rec.cache(hit=False)
    a = rec.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini")
    a.end(errors.ServerError("overloaded", status_code=503))
    a = rec.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini")
    clock.advance(0.3)
    a.end()
    rec.end(response=response())
    assert audited.audit is not None and audited.audit.flush(10)
    (row,) = list(store.records())
    assert row.time == clock.now - 0.3
    assert (row.principal, row.tenant, row.region, row.route) == (
        "u-42",
        "acme",
        "EU",
        "support-bot",
    )
    assert (row.endpoint, row.provider, row.model) == (
        "cloud-llm",
        "openai",
        "gpt-4o-mini-2024-07-18",
    )
    assert row.requested_model == "cloud-llm"
    assert row.outcome == "ok" and row.error_type is None
    assert row.violations == (Violation("pii.email", "redact", "input"),)
    assert (row.input_tokens, row.output_tokens, row.cost) == (12, 5, 0.0021)
    assert row.latency_ms == pytest.approx(300.0)
    assert row.attempts == 2 and row.cache_hit is False
    assert row.request_id == "req-abc" and row.response_id == "chatcmpl-123"
    assert row.policy_hash == "sha256:pol"
    assert row.input_hash is not None and row.input_hash.startswith("sha256:")
    assert row.output_hash is not None
    assert row.content is None  # content is opt-in


class _ListSink:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, records: Sequence[AuditRecord]) -> None:
        self.records.extend(records)

    def purge(self) -> int:
        return 0

    def close(self) -> None:
        return None


def test_the_record_of_a_call_is_the_one_the_constructor_builds(clock: FakeClock) -> None:
    """The call path builds its record positionally, without the frozen ``__init__``: every
    value must land in its own field, and the writer's copy only adds the hashes."""
    ctx = CallContext.build(user="u-42", tenant="acme", region="EU", route="bot", run_id="r-7")
    sink = _ListSink()
    log = AuditLog(sink)
    tel = Telemetry(audit=log, clock=clock.time, timer=clock.timer)
    rec = tel.start_call("chat", request(), ctx, stream=True, policy_hash="sha256:pol")
    rec.decision("pii.email", "redact", direction="output")
    rec.input_redacted(request())
    rec.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini").end()
    clock.advance(0.25)
    got = rec.end(response=response())
    assert got is not None
    expected = AuditRecord(
        time=clock.now - 0.25,
        operation="chat",
        outcome="ok",
        record_id=got.record_id,
        principal="u-42",
        tenant="acme",
        region="EU",
        route="bot",
        run_id="r-7",
        requested_model="cloud-llm",
        endpoint="cloud-llm",
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        error_type=None,
        violations=(Violation("pii.email", "redact", "output"),),
        input_tokens=12,
        output_tokens=5,
        cost=0.0021,
        latency_ms=got.latency_ms,
        cache_hit=False,
        attempts=1,
        stream=True,
        request_id="req-abc",
        response_id="chatcmpl-123",
        policy_hash="sha256:pol",
    )
    assert got == expected and hash(got) == hash(expected)
    assert got.latency_ms == pytest.approx(250.0) and len(got.record_id) == 24
    with pytest.raises(AttributeError):
        got.outcome = "error"  # type: ignore[misc]  # still frozen
    log.close()
    (written,) = sink.records
    assert written.input_hash and written.output_hash
    assert written == dataclasses.replace(
        got, input_hash=written.input_hash, output_hash=written.output_hash
    )


def test_blocked_call_records_the_violation_and_error_type(
    audited: Telemetry, store: SQLiteAuditStore
) -> None:
    rec = audited.start_call("chat", request(), CTX)
    rec.decision("topic.investment_advice", "block")
    rec.end(error=errors.ContentBlockedError("topic.investment_advice", "input"))
    assert audited.audit is not None and audited.audit.flush(10)
    (row,) = list(store.records())
    assert row.outcome == "blocked"
    assert row.error_type == "aiguard.errors.ContentBlockedError"
    assert row.violations == (Violation("topic.investment_advice", "block", "input"),)
    assert row.attempts == 0 and row.input_tokens == 0


def test_content_is_kept_only_when_opted_in_and_only_redacted(
    otel: Otel, clock: FakeClock, store: SQLiteAuditStore
) -> None:
    with AuditLog(store) as log:
        tel = Telemetry(
            tracer_provider=otel.tracer_provider,
            meter_provider=otel.meter_provider,
            audit=log,
            capture_content=True,
            clock=clock.time,
            timer=clock.timer,
        )
        rec = tel.start_call("chat", request("my mail is x@y.z"), CTX)
        rec.input_redacted(request("my mail is [EMAIL]"))
        rec.end(response=response("noted [EMAIL]"))
        log.flush(10)
        (row,) = list(store.records())
    assert row.content is not None
    content = json.loads(row.content)
    assert content["input"] == [{"role": "user", "content": "my mail is [EMAIL]"}]
    assert content["output"]["text"] == "noted [EMAIL]"
    assert "x@y.z" not in row.content


def test_keyed_content_hashes_cannot_be_confirmed_without_the_key(
    store: SQLiteAuditStore, clock: FakeClock
) -> None:
    key = os.urandom(32)
    with AuditLog(store, hash_key=key) as log:
        log.submit(_record(clock.now), request=request("same"))
        log.submit(_record(clock.now), request=request("same"))
        log.flush(10)
        rows = list(store.records())
    assert rows[0].input_hash == rows[1].input_hash
    assert rows[0].input_hash is not None and rows[0].input_hash.startswith("hmac-sha256:")


def test_records_out_of_retention_are_never_returned_and_are_purged(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "audit.db"
    store = SQLiteAuditStore(path, retention_days=90, clock=clock.time)
    now = clock.now
    store.write([_record(now - 100 * DAY), _record(now - 10 * DAY), _record(now)])
    # The old one was written after the start-up purge: queries still never return it.
    assert [r.time for r in store.records()] == [now - 10 * DAY, now]
    assert store.count() == 2
    clock.advance(85 * DAY)  # now the 10-day-old record is 95 days old
    assert [r.time for r in store.records()] == [now]
    assert store.purge() == 2
    assert [r.time for r in store.records(since=0)] == [now]
    store.close()
    # Start-up purge: a store opened later drops what aged out meanwhile.
    clock.advance(30 * DAY)
    reopened = SQLiteAuditStore(path, retention_days=90, clock=clock.time)
    (n,) = reopened._db.execute("SELECT COUNT(*) FROM audit").fetchone()
    assert n == 0
    reopened.close()


def test_the_writer_purges_periodically(tmp_path: Path, clock: FakeClock) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db", retention_days=1, clock=clock.time)
    store.write([_record(clock.now)])
    with AuditLog(store, purge_interval_s=60, clock=clock.timer) as log:
        clock.advance(2 * DAY)  # past retention and past the purge interval
        log.submit(_record(clock.now))
        assert log.flush(10)
        (n,) = store._db.execute("SELECT COUNT(*) FROM audit").fetchone()
    assert n == 1


def test_queries_filter_by_tenant_and_reject_unknown_filters(store: SQLiteAuditStore) -> None:
    t = store.cutoff() or 0.0
    store.write([_record(t + 10, tenant="acme"), _record(t + 20, tenant="globex")])
    assert [r.tenant for r in store.records(tenant="globex")] == ["globex"]
    with pytest.raises(errors.ConfigError, match=r"unknown audit filter.*valid:"):
        list(store.records(password="x"))


def test_overflow_is_counted_reported_and_never_blocks(caplog: pytest.LogCaptureFixture) -> None:
    sink = _BlockingSink()
    otel = Otel()
    log = AuditLog(sink, queue_size=2, batch_size=1)
    Telemetry(meter_provider=otel.meter_provider, audit=log)
    try:
        assert log.submit(_record(1.0))
        assert sink.entered.wait(10)  # the writer holds record 1; the queue is empty
        with caplog.at_level(logging.WARNING, logger="aiguard.telemetry"):
            results = [log.submit(_record(float(i))) for i in range(2, 7)]
        assert results == [True, True, False, False, False]
        assert log.dropped == 3
        assert "dropped 1 record" in caplog.text
        (point,) = otel.metrics()[sc.METRIC_AUDIT_DROPPED]
        assert point.value == 3
    finally:
        sink.release.set()
        log.close()
    assert [r.time for r in sink.records] == [1.0, 2.0, 3.0]  # everything accepted was written
    assert log.written == 3


def test_full_wait_s_waits_for_room_instead_of_dropping() -> None:
    sink = _BlockingSink()
    log = AuditLog(sink, queue_size=2, batch_size=1, full_wait_s=30)
    try:
        assert log.submit(_record(1.0))
        assert sink.entered.wait(10)  # the writer holds record 1
        assert log.submit(_record(2.0)) and log.submit(_record(3.0))  # the queue is full
        results: list[bool] = []
        waiting = threading.Thread(target=lambda: results.append(log.submit(_record(4.0))))
        waiting.start()
        waiting.join(0.2)
        assert waiting.is_alive() and not results  # waiting for room, not dropped
        sink.release.set()
        waiting.join(10)
        assert results == [True]
    finally:
        sink.release.set()
        log.close()
    assert [r.time for r in sink.records] == [1.0, 2.0, 3.0, 4.0]
    assert log.dropped == 0
    with pytest.raises(errors.ConfigError, match="full_wait_s"):
        AuditLog(sink, full_wait_s=-1)


def test_closing_releases_a_submit_waiting_for_room() -> None:
    sink = _BlockingSink()
    log = AuditLog(sink, queue_size=1, batch_size=1, full_wait_s=30)
    assert log.submit(_record(1.0))
    assert sink.entered.wait(10)
    assert log.submit(_record(2.0))
    results: list[bool] = []
    waiting = threading.Thread(target=lambda: results.append(log.submit(_record(3.0))))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive()
    closing = threading.Thread(target=log.close)
    closing.start()
    waiting.join(10)
    assert results == [False]  # the log closed while it waited: dropped, and counted
    sink.release.set()
    closing.join(10)
    assert [r.time for r in sink.records] == [1.0, 2.0] and log.dropped == 1


class _BatchSink:
    """Keeps each batch it is handed and signals the first one."""

    def __init__(self) -> None:
        self.batches: list[list[float]] = []
        self.wrote = threading.Event()

    def write(self, records: Sequence[AuditRecord]) -> None:
        self.batches.append([r.time for r in records])
        self.wrote.set()

    def purge(self) -> int:
        return 0

    def close(self) -> None:
        return None


@pytest.fixture
def endless_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that would wait an hour for a partial batch: only a hurry ends its wait."""
    monkeypatch.setattr(_writer, "_LINGER_S", 3600.0)


@pytest.mark.usefixtures("endless_linger")
def test_flush_and_close_do_not_wait_for_the_linger() -> None:
    sink = _BatchSink()
    log = AuditLog(sink)
    try:
        assert log.submit(_record(1.0))
        assert log.flush(30)  # would time out if the writer were left lingering
        assert sink.batches == [[1.0]]
        assert log.submit(_record(2.0)) and log.submit(_record(3.0))
    finally:
        log.close(30)
    assert sink.batches == [[1.0], [2.0, 3.0]]  # close wrote them, not the join's timeout
    assert log.written == 3


@pytest.mark.usefixtures("endless_linger")
def test_a_full_batch_is_written_without_waiting_for_more() -> None:
    sink = _BatchSink()
    log = AuditLog(sink, batch_size=3)
    try:
        assert all(log.submit(_record(float(i))) for i in range(1, 4))
        assert sink.wrote.wait(30)
        assert sink.batches == [[1.0, 2.0, 3.0]]
    finally:
        log.close(30)


@pytest.mark.usefixtures("endless_linger")
def test_a_full_queue_ends_the_linger_for_a_submit_waiting_for_room() -> None:
    sink = _BatchSink()
    log = AuditLog(sink, queue_size=2, batch_size=8, full_wait_s=30)
    try:
        # The writer lingers holding record 1 with two queued: the queue is full, so it
        # writes at once and the third submit finds room instead of waiting out its 30 s.
        assert all(log.submit(_record(float(i))) for i in range(1, 5))
        assert log.flush(30)
    finally:
        log.close(30)
    assert [t for batch in sink.batches for t in batch] == [1.0, 2.0, 3.0, 4.0]
    assert log.dropped == 0


def test_a_failing_sink_never_fails_the_call() -> None:
    log = AuditLog(_BrokenSink())
    tel = Telemetry(audit=log)
    rec = tel.start_call("chat", request(), CTX)
    assert rec.end(response=response()) is not None
    assert log.flush(10)
    assert log.write_errors == 1
    assert log.purge() == 0
    log.close()


def test_flush_returns_once_what_was_accepted_before_it_is_written(tmp_path: Path) -> None:
    """``flush`` queues a marker behind the records it waits for: from several threads at
    once, while others keep submitting, each returns with its own records written."""
    store = SQLiteAuditStore(tmp_path / "a.db")
    log = AuditLog(store, batch_size=5)
    seen: list[bool] = []

    def work(k: int) -> None:
        for i in range(40):
            assert log.submit(_record(1e9 + k * 100 + i, tenant=f"t{k}"))
        assert log.flush(10)
        seen.append(len(list(store.records(tenant=f"t{k}"))) == 40)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert seen == [True] * 4
    log.close()
    assert log.flush(0)  # closed and drained: nothing to wait for
    assert log.written == 160 and log.dropped == 0


def test_close_writes_everything_accepted(tmp_path: Path, clock: FakeClock) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db", clock=clock.time)
    log = AuditLog(store, batch_size=7)
    for i in range(500):
        assert log.submit(_record(clock.now + i))
    log.close()
    log.close()  # idempotent
    assert not log.submit(_record(clock.now))  # closed: counted as dropped
    assert log.written == 500 and log.dropped == 1
    reopened = SQLiteAuditStore(tmp_path / "a.db", clock=clock.time)
    assert reopened.count() == 500


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_interpreter_exit_flushes_accepted_records(tmp_path: Path) -> None:
    db = tmp_path / "exit.db"
    proc = _run(
        f"""
        from aiguard.telemetry import AuditLog, AuditRecord, SQLiteAuditStore
        log = AuditLog(SQLiteAuditStore({str(db)!r}), batch_size=3)
        for i in range(200):
            log.submit(AuditRecord(time=1e9 + i, operation="chat", outcome="ok"))
        # no close(): the atexit hook must drain the queue
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert SQLiteAuditStore(db).count() == 200


def test_killing_the_writer_mid_write_never_corrupts_the_store(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    batch = 50
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from aiguard.telemetry import AuditRecord, SQLiteAuditStore
                store = SQLiteAuditStore({str(db)!r})
                rec = AuditRecord(time=1e9, operation="chat", outcome="ok", content="x" * 2000)
                n = 0
                while True:
                    store.write([rec] * {batch})
                    n += 1
                    if n == 3:
                        print("ready", flush=True)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"  # it is writing batches now
    finally:
        writer.kill()  # SIGKILL: no cleanup, likely mid-transaction
        writer.wait(30)
    store = SQLiteAuditStore(db)
    assert store.integrity_ok()
    n = store.count()
    assert n >= 3 * batch
    assert n % batch == 0  # whole batches or nothing: no torn transaction
    store.write([_record(2e9)])  # and it is writable again
    assert store.count() == n + 1


def test_jsonl_sink_rotates_and_drops_rotated_files_out_of_retention(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    sink = JSONLinesSink(path, max_bytes=600, backups=3, retention_days=30, clock=clock.time)
    for i in range(12):
        sink.write([_record(clock.now + i, principal=f"u-{i}")])
    files = sink.files()
    assert len(files) == 4  # current + 3 backups; the oldest rotated away
    lines = [json.loads(x) for f in reversed(files) for x in f.read_text().splitlines()]
    assert all(isinstance(x["time"], float) for x in lines)
    assert lines[-1]["principal"] == "u-11"
    assert all(f.stat().st_size <= 600 for f in files)
    old = files[-1]
    os.utime(old, (clock.now - 40 * DAY, clock.now - 40 * DAY))
    assert sink.purge() == 1
    assert not old.exists() and path.exists()
    sink.close()


def test_logging_sink_emits_one_json_line_per_record(caplog: pytest.LogCaptureFixture) -> None:
    sink = LoggingSink()
    with caplog.at_level(logging.INFO, logger="aiguard.audit"):
        sink.write([_record(1e9, violations=(Violation("pii.email", "redact"),))])
    (rec,) = caplog.records
    data = json.loads(rec.getMessage())
    assert data["violations"] == [["pii.email", "redact", "input"]]
    assert rec.aiguard_audit["tenant"] == "acme"  # type: ignore[attr-defined]


def test_otel_log_sink_emits_an_event_per_record() -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    sink = OTelLogSink(provider)
    sink.write([_record(1e9, violations=(Violation("pii.email", "redact"),))])
    (data,) = exporter.get_finished_logs()
    attrs = dict(data.log_record.attributes or {})
    assert attrs["aiguard.tenant"] == "acme"
    assert tuple(attrs["aiguard.violations"]) == ("pii.email:redact:input",)
    assert data.log_record.event_name == sc.AUDIT_EVENT


def test_bad_settings_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="retention_days"):
        SQLiteAuditStore(tmp_path / "x.db", retention_days=0)
    with pytest.raises(errors.ConfigError, match="at least one sink"):
        AuditLog([])
    with pytest.raises(errors.ConfigError, match="capture_content"):
        Telemetry(capture_content="yes")  # type: ignore[arg-type]


def test_telemetry_close_writes_what_was_accepted(tmp_path: Path, clock: FakeClock) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db", clock=clock.time)
    tel = Telemetry(audit=AuditLog(store), clock=clock.time)
    for _ in range(50):
        tel.start_call("chat", request(), CTX).end(response=response())
    tel.close()
    assert SQLiteAuditStore(tmp_path / "a.db", clock=clock.time).count() == 50


def test_jsonl_files_read_back_skipping_a_torn_last_line(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JSONLinesSink(path, max_bytes=500, backups=5, retention_days=30, clock=clock.time)
    sink.write([_record(clock.now - 40 * DAY)])  # out of retention: never read back
    sink.write([_record(clock.now + i, principal=f"u-{i}") for i in range(6)])
    sink.close()
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"time": 1e9, "operation": "ch')  # a writer killed mid-line
    got = list(sink.records())
    assert [r.principal for r in got] == [f"u-{i}" for i in range(6)]
    assert [r.principal for r in sink.records(since=clock.now + 4)] == ["u-4", "u-5"]
    assert usage_summary(sink, "user").total.calls == 6  # reports read JSON Lines too


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_writes_through_its_own_writer_and_connection(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SQLiteAuditStore(tmp_path / "fork.db", clock=clock.time)
    log = AuditLog(store)
    log.submit(_record(clock.now, principal="parent"))
    assert log.flush(10)
    pid = os.fork()
    if pid == 0:  # the child, as a pre-forking server's worker would be
        code = 1
        try:
            for i in range(10):
                log.submit(_record(clock.now + i, principal="child"))
            log.close()
            code = 0 if log.written == 10 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.submit(_record(clock.now, principal="parent"))  # the parent's writer still works
    assert log.flush(10)
    principals = [r.principal for r in store.records()]
    assert principals.count("child") == 10 and principals.count("parent") == 2
    log.close()
