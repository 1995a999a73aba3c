"""Several processes, one budget; damaged stores; Redis failure modes and round trips."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import redis

from aiguard._context import CallContext
from aiguard._types import Usage
from aiguard.errors import LimitStoreError, RateLimited
from aiguard.limits import (
    Limit,
    Limiter,
    LimitStoreCorrupted,
    LimitStoreUnavailable,
    RedisStore,
    SQLiteStore,
)

from ._clock import T0, FakeClock

FORK = mp.get_context("fork")


def _worker(kind: str, where: str, prefix: str, barrier: Any, out: Any) -> None:
    """One "replica": 8 threads, each trying 50 calls against the shared 100/minute."""
    clock = FakeClock(T0)
    store: Any = (
        SQLiteStore(where, clock=clock, timeout=30)
        if kind == "sqlite"
        else RedisStore(url=where, prefix=prefix, clock=clock)
    )
    lim = Limiter([Limit.requests(100, per="minute")], store)
    d = lim.demand()
    count = 0
    lock = threading.Lock()

    def run() -> None:
        nonlocal count
        for _ in range(50):
            try:
                lim.admit(d)
            except RateLimited:
                continue
            with lock:
                count += 1

    barrier.wait()
    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(count)


def _four_processes(kind: str, where: str, prefix: str = "") -> int:
    barrier = FORK.Barrier(4)
    out = FORK.Queue()
    procs = [
        FORK.Process(target=_worker, args=(kind, where, prefix, barrier, out)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    counts = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return sum(counts)


def test_four_processes_sharing_sqlite_admit_exactly_100(tmp_path: Path) -> None:
    assert _four_processes("sqlite", str(tmp_path / "shared.db")) == 100


def test_four_processes_sharing_redis_admit_exactly_100(redis_url: str, redis_prefix: str) -> None:
    assert _four_processes("redis", redis_url, redis_prefix) == 100


def _spend_90_percent(path: str) -> None:
    lim = Limiter(
        [Limit.tokens(1_000, per="day", key=("tenant",))], SQLiteStore(path, clock=FakeClock(T0))
    )
    ctx = CallContext(tenant="acme")
    for _ in range(9):
        res = lim.admit(lim.demand(ctx, tokens=150)).reservation
        assert res is not None
        lim.settle(res, Usage(input_tokens=60, output_tokens=40))


def test_restarted_process_still_has_10_percent_left(tmp_path: Path) -> None:
    path = str(tmp_path / "budget.db")
    p = FORK.Process(target=_spend_90_percent, args=(path,))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    lim = Limiter(
        [Limit.tokens(1_000, per="day", key=("tenant",))],
        SQLiteStore(path, clock=FakeClock(T0 + 3600)),
    )
    (u,) = lim.usage(CallContext(tenant="acme"))
    assert (u.used, u.reserved, u.remaining) == (900, 0, 100)


def test_a_file_that_is_not_a_database_is_named_not_reset(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    path.write_bytes(b"this is not sqlite" * 100)
    lim = Limiter([Limit.requests(1)], SQLiteStore(path))
    with pytest.raises(LimitStoreCorrupted) as e:
        lim.admit(lim.demand())
    assert str(path) in str(e.value) and e.value.where == str(path)
    assert path.read_bytes().startswith(b"this is not sqlite")  # untouched


def test_a_counter_row_aiguard_did_not_write_is_named(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    lim = Limiter([Limit.tokens(100, per="day")], SQLiteStore(path))
    lim.admit(lim.demand(tokens=10))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE aiguard_counters SET b = 'garbage'")
    with pytest.raises(LimitStoreCorrupted, match="tokens_per_day"):
        lim.admit(lim.demand(tokens=10))


def test_redis_key_of_the_wrong_type_is_named_and_left_alone(
    redis_url: str, redis_prefix: str
) -> None:
    r = redis.Redis.from_url(redis_url)
    key = redis_prefix + "requests_per_minute"
    r.set(key, "someone else's data")
    lim = Limiter(
        [Limit.requests(10, fail_open=True)], RedisStore(url=redis_url, prefix=redis_prefix)
    )
    with pytest.raises(LimitStoreCorrupted) as e:
        lim.admit(lim.demand())  # corruption never fails open
    assert e.value.where == key and "string" in str(e.value)
    assert r.get(key) == b"someone else's data"


async def test_unreachable_redis_fails_closed_or_open_as_configured() -> None:
    url = "redis://127.0.0.1:1/0"
    closed = Limiter([Limit.requests(10)], RedisStore(url=url, timeout=0.5))
    with pytest.raises(LimitStoreUnavailable):
        closed.admit(closed.demand())
    with pytest.raises(LimitStoreError):
        await closed.aadmit(closed.demand())
    opened = Limiter([Limit.requests(10, fail_open=True)], RedisStore(url=url, timeout=0.5))
    assert (await opened.aadmit(opened.demand())).reservation is not None
    assert opened.stats.fail_open_admits == 1


class CountingRedis(redis.Redis):
    """Counts commands sent: one ``execute_command`` is one request/response round trip."""

    sent: list[str]

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return super().execute_command(*args, **options)


def test_redis_admit_and_settle_are_one_round_trip_each(redis_url: str, redis_prefix: str) -> None:
    client = CountingRedis.from_url(redis_url)
    client.sent = []
    lim = Limiter(
        [Limit.requests(100), Limit.tokens(10_000, per="day"), Limit.concurrent(5)],
        RedisStore(client, prefix=redis_prefix),
    )
    warm = lim.admit(lim.demand(tokens=10)).reservation  # a first use may load the script
    assert warm is not None
    lim.settle(warm, None)  # (EVALSHA -> NOSCRIPT -> EVAL, once per server)
    client.sent.clear()
    res = lim.admit(lim.demand(tokens=10)).reservation
    assert client.sent == ["EVALSHA"]
    assert res is not None
    lim.settle(res, Usage(input_tokens=5))
    assert client.sent == ["EVALSHA", "EVALSHA"]


def test_redis_keys_carry_ttls(redis_url: str, redis_prefix: str) -> None:
    r = redis.Redis.from_url(redis_url)
    lim = Limiter(
        [Limit.requests(100), Limit.tokens(10_000, per="day"), Limit.concurrent(5)],
        RedisStore(r, prefix=redis_prefix),
    )
    lim.admit(lim.demand(tokens=10))
    keys = r.keys(redis_prefix + "*")
    assert len(keys) == 3
    assert all(r.pttl(k) > 0 for k in keys)


def test_missing_redis_server_fails_under_ci(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "AIGUARD_REDIS_URL"}
    env["CI"] = "true"
    env["PATH"] = str(tmp_path)  # no redis-server on it
    here = Path(__file__)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{here}::test_redis_keys_carry_ttls",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=here.parents[2],
    )
    assert out.returncode != 0
    assert "CI must run the Redis tests" in out.stdout


def test_redis_uses_server_time_without_an_injected_clock(
    redis_url: str, redis_prefix: str
) -> None:
    r = redis.Redis.from_url(redis_url)
    lim = Limiter([Limit.tokens(100, per="day")], RedisStore(r, prefix=redis_prefix))
    before = r.time()[0]
    (u,) = lim.usage()
    after = r.time()[0]
    assert u.resets_at in {(t // 86400 + 1) * 86400 for t in (before, after)}


def _admit_many(lim: Limiter, out: Any) -> None:
    n = 0
    for _ in range(60):
        try:
            lim.admit(lim.demand())
            n += 1
        except RateLimited:
            pass
    out.put(n)


def test_a_sqlite_store_opened_before_fork_is_safe_in_children(tmp_path: Path) -> None:
    lim = Limiter([Limit.requests(100)], SQLiteStore(tmp_path / "f.db", clock=FakeClock(T0)))
    lim.admit(lim.demand())  # the parent has an open connection now
    out = FORK.Queue()
    procs = [FORK.Process(target=_admit_many, args=(lim, out)) for _ in range(4)]
    for p in procs:
        p.start()
    total = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert total == 99


def test_sqlite_store_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    from aiguard.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        SQLiteStore(tmp_path / "nope" / "limits.db")
