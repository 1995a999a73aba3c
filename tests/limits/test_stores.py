"""The same promises from every store: memory, SQLite and Redis (a real redis-server).

Each scenario runs once per store with a frozen clock, so the Lua transcription of the rules
is held to exactly the numbers the Python rules give.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aiguard._context import CallContext
from aiguard._types import Usage
from aiguard.errors import BudgetExceeded, RateLimited
from aiguard.limits import Limit, Limiter, MemoryStore, RedisStore, SQLiteStore, Store

from ._clock import FakeClock

StoreFactory = Callable[[FakeClock], Store]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Builds stores over ONE backing (same file, same Redis prefix), like separate
    processes or a restarted process would."""
    made: list[Store] = []
    shared_memory: dict[str, MemoryStore] = {}

    def factory(clock: FakeClock) -> Store:
        s: Store
        if request.param == "memory":
            s = shared_memory.setdefault("m", MemoryStore(clock=clock))
        elif request.param == "sqlite":
            s = SQLiteStore(tmp_path / "limits.db", clock=clock)
        else:
            url = request.getfixturevalue("redis_url")
            prefix = request.getfixturevalue("redis_prefix")
            s = RedisStore(url=url, prefix=prefix, clock=clock)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()


async def test_1000_async_admissions_admit_exactly_100(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    lim = Limiter([Limit.requests(100, per="minute")], make_store(clock))
    d = lim.demand()

    async def one() -> int:
        try:
            await lim.aadmit(d)
            return 1
        except RateLimited:
            return 0

    assert sum(await asyncio.gather(*(one() for _ in range(1000)))) == 100


def test_16_threads_admit_exactly_100(make_store: StoreFactory, clock: FakeClock) -> None:
    lim = Limiter([Limit.requests(100, per="minute")], make_store(clock))
    d = lim.demand()
    count = 0
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def worker() -> None:
        nonlocal count
        barrier.wait()
        for _ in range(25):
            try:
                lim.admit(d)
            except RateLimited:
                continue
            with lock:
                count += 1

    with ThreadPoolExecutor(16) as ex:
        for f in [ex.submit(worker) for _ in range(16)]:
            f.result()
    assert count == 100


async def test_budget_accounting_is_exact_with_random_usage_and_failures(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    rng = random.Random(7)
    budget = 20_000
    lim = Limiter(
        [Limit.tokens(budget, per="day", key=("tenant",)), Limit.tokens(5_000, per="minute")],
        make_store(clock),
    )
    ctx = CallContext(tenant="acme")
    settled = 0

    async def call() -> None:
        nonlocal settled
        est = rng.randint(10, 400)
        try:
            res = (await lim.aadmit(lim.demand(ctx, tokens=est))).reservation
        except (BudgetExceeded, RateLimited):
            return
        assert res is not None
        if rng.random() < 0.25:
            await lim.asettle(res, None)  # provider failed
            return
        used = rng.randint(0, est)
        settled += used
        await lim.asettle(res, Usage(input_tokens=used))

    for _ in range(10):  # ten minutes of traffic, 60 concurrent calls each
        await asyncio.gather(*(call() for _ in range(60)))
        clock.advance(60)
    day, minute = await lim.ausage(ctx)
    assert day.reserved == 0 and minute.reserved == 0
    assert day.used == settled
    assert day.used <= budget


def test_windows_and_rates_read_back_the_same(make_store: StoreFactory, clock: FakeClock) -> None:
    from datetime import datetime, timezone

    clock.now = datetime(2026, 12, 31, 23, 59, 0, tzinfo=timezone.utc).timestamp()
    lim = Limiter(
        [
            Limit.requests(10, per="minute"),
            Limit.tokens(1000, per="day"),
            Limit.cost(5.0, per="month"),
        ],
        make_store(clock),
    )
    d = lim.demand(model="gpt-4o-mini", tokens=600)
    res = lim.admit(d).reservation
    assert res is not None
    lim.settle(res, Usage(input_tokens=100, output_tokens=400), model="gpt-4o-mini")
    rpm, day, month = lim.usage()
    assert (rpm.used, rpm.reserved) == pytest.approx((1, 0))
    assert (day.used, day.reserved, day.remaining) == (500, 0, 500)
    assert month.used == pytest.approx((100 * 0.15 + 400 * 0.60) / 1e6)
    assert month.resets_at == datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()
    with pytest.raises(BudgetExceeded) as e:
        lim.admit(lim.demand(model="gpt-4o-mini", tokens=600))
    assert e.value.limit == "tokens_per_day" and e.value.retry_after == pytest.approx(60)
    clock.advance(60)  # 2027-01-01 00:00:00 UTC
    rpm, day, month = lim.usage()
    assert day.used == 0 and month.used == 0 and rpm.used == 0
    lim.admit(lim.demand(model="gpt-4o-mini", tokens=600))


def test_wait_mode_schedules_in_arrival_order(make_store: StoreFactory, clock: FakeClock) -> None:
    lim = Limiter([Limit.requests(6, per="minute", mode="wait", max_wait=25)], make_store(clock))
    waits = [lim.admit(lim.demand()).wait for _ in range(8)]
    assert waits == pytest.approx([0, 0, 0, 0, 0, 0, 10, 20])
    with pytest.raises(RateLimited):
        lim.admit(lim.demand())


def test_concurrency_leases(make_store: StoreFactory, clock: FakeClock) -> None:
    lim = Limiter([Limit.concurrent(2, lease_seconds=30)], make_store(clock))
    a = lim.admit(lim.demand()).reservation
    lim.admit(lim.demand())
    with pytest.raises(RateLimited):
        lim.admit(lim.demand())
    assert a is not None
    lim.settle(a, Usage())
    (u,) = lim.usage()
    assert u.used == 1
    lim.admit(lim.demand())
    clock.advance(31)
    (u,) = lim.usage()
    assert u.used == 0


def test_restart_keeps_the_budget(make_store: StoreFactory, clock: FakeClock) -> None:
    limits = [Limit.tokens(10_000, per="day", key=("tenant",))]
    ctx = CallContext(tenant="acme")
    first = Limiter(limits, make_store(clock))
    res = first.admit(first.demand(ctx, tokens=9_000)).reservation
    assert res is not None
    first.settle(res, Usage(input_tokens=9_000))
    first.close()
    again = Limiter(limits, make_store(clock))  # a new process on the same file / server
    (u,) = again.usage(ctx)
    assert (u.used, u.remaining) == (9_000, 1_000)
    again.admit(again.demand(ctx, tokens=1_000))
    with pytest.raises(BudgetExceeded):
        again.admit(again.demand(ctx, tokens=1))


def _unused(*_: Any) -> None:
    """Keeps type checkers quiet about fixtures used only for their side effects."""
