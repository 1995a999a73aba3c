"""Memory: thousands of calls with the full policy leave RSS flat and every bound held.

One client with every section on (scopes, limits, inspection with redaction, routing over two
endpoints, the response cache bounded at 256 entries, OpenTelemetry SDK spans and metrics,
SQLite audit) makes plain and streaming calls, a quarter of them cacheable over a rotating set
of 1,000 questions (so the cache evicts all the time), against fakes failing 5% of attempts
(no hangs: this suite is about memory, not time). RSS (``VmRSS``, after ``gc.collect()``) is
read at the half-way point and at the end: growth must stay under 2 MB. At the end the cache
holds at most its bound, no single-flight entry is left, the audit queue is drained with
nothing dropped, the limiter's store holds only the keys in use, and nothing is in flight.

CI: 4,000 calls (sync); soak (``AIGUARD_SOAK=1``): 20,000 calls, sync and async (16 tasks
at a time, in batches of 500).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import aiguard
from aiguard.errors import AIGuardError
from aiguard.policy import Policy
from aiguard.telemetry import TelemetryStage
from aiguard.testing import FakeProvider

from ._harness import FakeClock, Otel, chaotic, endpoints, full_policy, rss_kb, telemetry

MAX_ENTRIES = 256
GROWTH_KB = 2 * 1024
USERS = 7
TENANTS = 5


def _call(i: int) -> tuple[str, dict[str, Any], dict[str, Any], bool]:
    ctx = {"tenant": f"t{i % TENANTS}", "user": f"u{i % USERS}", "scopes": {"ai.use"}}
    stream = i % 3 == 1
    if i % 4 == 0:
        return f"cacheable question {i % 1_000}", ctx, {"temperature": 0}, stream
    if i % 11 == 0:
        return f"mail ops{i % 50}@example.com about order {i}", ctx, {}, stream
    return f"question {i} " + "lorem ipsum " * 10, ctx, {"max_tokens": 64}, stream


class Run:
    def __init__(self, tmp_path: Path) -> None:
        self.policy = Policy.coerce(full_policy(maxEntries=MAX_ENTRIES))
        self.clock = FakeClock()
        self.otel = Otel(keep_spans=False)
        self.tel = telemetry(self.otel, tmp_path / "audit.db", self.policy)
        self.primary = FakeProvider(log_limit=0).start()
        self.backup = FakeProvider(log_limit=0).start()
        chaotic(self.primary, 0.05, seed=11, timeout_faults=False)
        chaotic(self.backup, 0.05, seed=12, timeout_faults=False)
        self.kwargs: dict[str, Any] = {
            "policy": self.policy,
            "clock": self.clock,
            "telemetry": self.tel,
            "stages": {"telemetry": TelemetryStage(self.tel)},
            "timeout": 10.0,
        }
        self.ok = 0
        self.errors = 0
        self.rss: dict[str, int] = {}

    def endpoints(self) -> dict[str, Any]:
        return endpoints(self.primary, self.backup)

    def bounds(self, client: Any) -> None:
        stages = client._core.stages
        cache = stages.cache
        assert len(cache.backend) <= MAX_ENTRIES
        assert cache._flights == {}, len(cache._flights)
        assert cache.stats().waiting == 0
        store = stages.limiter.limiter.store
        # per (tenant, user) rate and budget, per tenant... : only the keys in use
        assert len(store._states) <= 2 * TENANTS * USERS + TENANTS + 1, len(store._states)
        assert self.tel.audit is not None and self.tel.audit.dropped == 0
        from aiguard._tokens import _chat

        # the token-count memo: bounded by characters held (then it starts over)
        for counter in _chat._COUNTERS.values():
            assert counter._chars <= _chat._MAX_CACHED_CHARS
            assert sum(map(len, counter._counts)) == counter._chars
        snapshot = stages.router.health.snapshot()
        assert {ep: s["inflight"] for ep, s in snapshot.items()} == {"primary": 0, "backup": 0}

    def stop(self) -> None:
        self.tel.close()  # given to the client, so the caller's to close
        self.primary.stop()
        self.backup.stop()
        self.otel.shutdown()


def _sync(run: Run, n: int) -> None:
    client = aiguard.Client(run.endpoints(), sleep=run.clock.sleep, **run.kwargs)
    for i in range(n):
        if i == n // 2:
            run.rss["half"] = rss_kb()
        text, ctx, opts, stream = _call(i)
        try:
            if stream:
                with client.stream(text, context=ctx, **opts) as s:
                    for _ in s:
                        pass
            else:
                client.chat(text, context=ctx, **opts)
            run.ok += 1
        except AIGuardError:
            run.errors += 1
    assert run.tel.audit is not None and run.tel.audit.flush(30)
    run.rss["end"] = rss_kb()
    run.bounds(client)
    client.close()


def _async(run: Run, n: int) -> None:
    async def go() -> None:
        client = aiguard.AsyncClient(run.endpoints(), sleep=run.clock.asleep, **run.kwargs)
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            text, ctx, opts, stream = _call(i)
            async with sem:
                try:
                    if stream:
                        async with client.stream(text, context=ctx, **opts) as s:
                            async for _ in s:
                                pass
                    else:
                        await client.chat(text, context=ctx, **opts)
                    run.ok += 1
                except AIGuardError:
                    run.errors += 1

        batch = 500
        for start in range(0, n, batch):
            if start == n // 2:
                run.rss["half"] = rss_kb()
            await asyncio.gather(*(one(i) for i in range(start, min(n, start + batch))))
        assert run.tel.audit is not None and run.tel.audit.flush(30)
        run.rss["end"] = rss_kb()
        run.bounds(client)
        await client.aclose()

    asyncio.run(go())


def _measure(tmp_path: Path, n: int, drive: Any) -> dict[str, int]:
    run = Run(tmp_path)
    try:
        drive(run, n)
    finally:
        run.stop()
    assert run.ok + run.errors == n
    assert run.ok > 0.9 * n, (run.ok, run.errors)
    growth = run.rss["end"] - run.rss["half"]
    assert growth < GROWTH_KB, f"RSS grew {growth} KB between call {n // 2} and {n}: {run.rss}"
    print(f"\nRSS {n} calls: half {run.rss['half']} KB, end {run.rss['end']} KB, +{growth} KB")
    return run.rss


def test_memory_flat_sync(tmp_path: Path) -> None:
    _measure(tmp_path, 4_000, _sync)


@pytest.mark.soak
@pytest.mark.parametrize("drive", [_sync, _async], ids=["sync", "async"])
def test_memory_flat_soak(tmp_path: Path, drive: Any) -> None:
    _measure(tmp_path, 20_000, drive)
