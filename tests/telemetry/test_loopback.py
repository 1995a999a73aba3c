"""Over a real loopback socket: aiguard.Client, the FakeProvider, and the telemetry stage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import aiguard
from aiguard import errors
from aiguard.providers import OpenAICompatible
from aiguard.telemetry import AuditLog, SQLiteAuditStore, Telemetry, TelemetryStage
from aiguard.telemetry import _semconv as sc
from aiguard.testing import FakeProvider, Fault, Reply

from ._fakes import FakeClock, Otel


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as f:
        yield f


def test_streams_and_broken_streams_over_loopback(
    fake: FakeProvider, otel: Otel, clock: FakeClock, store: SQLiteAuditStore
) -> None:
    log = AuditLog(store)
    tel = Telemetry(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        audit=log,
        clock=clock.time,
        timer=clock.timer,
    )
    endpoint = OpenAICompatible(base_url=fake.openai_url, model="llama-3.1-8b")
    fake.script(Reply(text="Hello from the fake", usage=(9, 4)))
    with aiguard.Client(
        {"on-prem-llm": endpoint}, stages={"telemetry": TelemetryStage(tel)}
    ) as client:
        with client.stream("Hi", model="on-prem-llm", context={"tenant": "acme"}) as s:
            text = "".join(e.text for e in s)
        assert text == "Hello from the fake"
        fake.fault(Fault.cut_stream(after=2))
        with (
            pytest.raises(errors.StreamInterrupted),
            client.stream("Hi", model="on-prem-llm", context={"tenant": "acme"}) as s,
        ):
            for _ in s:
                pass
    assert log.flush(10)
    spans = [s for s in otel.spans() if s.name == "chat llama-3.1-8b"]
    assert len(spans) == 2
    ok, broken = sorted(spans, key=lambda s: s.start_time or 0)
    a = dict(ok.attributes or {})
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1" and a[sc.SERVER_PORT] == fake.port
    assert (a[sc.USAGE_INPUT_TOKENS], a[sc.USAGE_OUTPUT_TOKENS]) == (9, 4)
    assert (broken.attributes or {})[sc.ERROR_TYPE] == "aiguard.errors.StreamInterrupted"
    rows = list(store.records())
    assert [(r.outcome, r.stream, r.tenant) for r in rows] == [
        ("ok", True, "acme"),
        ("error", True, "acme"),
    ]
    log.close()
