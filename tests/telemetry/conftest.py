"""Fixtures: the SDK's in-memory exporter and reader, and clocks tests move by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aiguard.telemetry import AuditLog, SQLiteAuditStore, Telemetry

from ._fakes import FakeClock, Otel
from ._harness import Harness


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    yield o
    o.tracer_provider.shutdown()
    o.meter_provider.shutdown()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def telemetry(otel: Otel, clock: FakeClock) -> Telemetry:
    return Telemetry(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        clock=clock.time,
        timer=clock.timer,
        capture_content=False,
        semconv="default",
    )


@pytest.fixture
def store(tmp_path: Any, clock: FakeClock) -> Iterator[SQLiteAuditStore]:
    s = SQLiteAuditStore(tmp_path / "audit.db", retention_days=90, clock=clock.time)
    yield s


@pytest.fixture
def audited(otel: Otel, clock: FakeClock, store: SQLiteAuditStore) -> Iterator[Telemetry]:
    log = AuditLog(store)
    tel = Telemetry(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        audit=log,
        clock=clock.time,
        timer=clock.timer,
        capture_content=False,
        semconv="default",
    )
    yield tel
    log.close()


@pytest.fixture(params=["sync", "async"])
def h(
    request: pytest.FixtureRequest, otel: Otel, clock: FakeClock, store: SQLiteAuditStore
) -> Iterator[Harness]:
    harness = Harness(otel, clock, store, request.param)
    yield harness
    harness.log.close()
