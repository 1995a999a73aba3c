"""Cache outcomes reach telemetry: the ``observer`` hook feeding the real TelemetryStage."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from aiguard.cache import CacheNote, ResponseCache
from aiguard.telemetry import Telemetry, TelemetryStage
from aiguard.testing import FakeProvider

from ._harness import Driver, endpoints


def telemetry_observer(stage: TelemetryStage) -> Any:
    """The wiring for a client: one ``aiguard.cache`` event per lookup that ran."""

    def observe(call: Any, note: CacheNote) -> None:
        hit = note.result in ("hit", "coalesced")
        stage.event(call, "aiguard.cache", {"result": "hit" if hit else "miss"})

    return observe


def _lookups(reader: InMemoryMetricReader) -> dict[str, int]:
    out: dict[str, int] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == "aiguard.cache.lookups":
                    for p in m.data.data_points:
                        out[str(p.attributes["aiguard.cache.result"])] = int(p.value)
    return out


async def test_hits_and_misses_are_counted(kind: str, fake: FakeProvider) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    stage = TelemetryStage(Telemetry(meter_provider=provider, tracing=False))
    cache = ResponseCache(observer=telemetry_observer(stage))
    d = Driver(kind, endpoints(fake), cache, stages={"telemetry": stage})
    seen: list[str] = []
    inner = cache.observer
    assert inner is not None

    def record(call: Any, note: CacheNote) -> None:
        seen.append(note.result)
        inner(call, note)

    cache.observer = record
    try:
        await d.chat(temperature=0)  # miss
        await d.chat(temperature=0)  # hit
        await d.chat(temperature=0)  # hit
        await d.chat()  # not eligible: no lookup, nothing counted
    finally:
        await d.close()
        provider.shutdown()
    assert seen == ["miss", "hit", "hit"]
    assert _lookups(reader) == {"miss": 1, "hit": 2}


async def test_a_failing_observer_never_fails_a_call(kind: str, fake: FakeProvider) -> None:
    def broken(call: Any, note: CacheNote) -> None:
        raise RuntimeError("observer bug")

    d = Driver(kind, endpoints(fake), ResponseCache(observer=broken))
    try:
        await d.chat(temperature=0)
        assert (await d.chat(temperature=0)).cached
    finally:
        await d.close()
