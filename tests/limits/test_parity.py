"""The Lua transcription in Redis decides exactly like the Python rules, step by step."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis

from aiguard._context import CallContext
from aiguard._types import Usage
from aiguard.errors import LimitExceeded
from aiguard.limits import Limit, Limiter, MemoryStore, RedisStore, SQLiteStore
from aiguard.limits._lua import _COMMON
from aiguard.limits._model import WINDOW_DAY, WINDOW_MONTH
from aiguard.limits._state import window_of

from ._clock import T0, FakeClock


def test_utc_windows_agree_at_every_month_boundary_1970_2100(redis_url: str) -> None:
    stamps: list[float] = []
    for year in range(1970, 2101):
        for month in range(1, 13):
            t = datetime(year, month, 1, tzinfo=timezone.utc).timestamp()
            stamps += [t - 0.001, t, t + 0.5]
    script = (
        _COMMON
        + """
local out = {}
for i = 1, #ARGV do
  local t = tonumber(ARGV[i])
  local dw, de = window_of(1, t)
  local mw, me = window_of(2, t)
  out[#out + 1] = f(dw) .. ' ' .. f(de) .. ' ' .. f(mw) .. ' ' .. f(me)
end
return out
"""
    )
    r = redis.Redis.from_url(redis_url)
    lua = [x.decode() for x in r.eval(script, 0, *[repr(t) for t in stamps])]
    for t, line in zip(stamps, lua, strict=True):
        dw, de = window_of(WINDOW_DAY, t)
        mw, me = window_of(WINDOW_MONTH, t)
        assert [float(x) for x in line.split()] == [dw, de, mw, me], t


def _run(store_kind: str, seed: int, tmp: Path, url: str, prefix: str) -> list[object]:
    """A random workload; returns every decision and the final usage report."""
    rng = random.Random(seed)
    clock = FakeClock(T0 + rng.uniform(0, 86400 * 40))
    store = {
        "memory": lambda: MemoryStore(clock=clock),
        "sqlite": lambda: SQLiteStore(tmp / f"{seed}.db", clock=clock),
        "redis": lambda: RedisStore(url=url, prefix=prefix, clock=clock),
    }[store_kind]()
    lim = Limiter(
        [
            Limit.requests(5, per="minute", key=("user",)),
            Limit.tokens(900, per="minute", mode="wait", max_wait=20),
            Limit.tokens(3_000, per="day", key=("tenant",)),
            Limit.cost(0.013, per="month"),
            Limit.concurrent(6, lease_seconds=90),
        ],
        store,
    )
    log: list[object] = []
    open_: list[object] = []
    for _ in range(150):
        op = rng.random()
        if op < 0.5:
            ctx = CallContext(user=rng.choice("ab"), tenant=rng.choice(["x", "y"]))
            d = lim.demand(ctx, model="gpt-4o", tokens=rng.randint(1, 400))
            try:
                a = lim.admit(d)
                log.append(("ok", round(a.wait, 6), a.reservation is not None))
                if a.reservation is not None:
                    open_.append(a.reservation)
            except LimitExceeded as e:
                ra = None if e.retry_after is None else round(e.retry_after, 3)
                log.append(("no", type(e).__name__, e.limit, ra))
        elif op < 0.9 and open_:
            res = open_.pop(rng.randrange(len(open_)))
            used = rng.randint(0, 300)
            usage = None if rng.random() < 0.2 else Usage(input_tokens=used, output_tokens=7)
            lim.settle(res, usage, model="gpt-4o")  # type: ignore[arg-type]
        else:
            clock.advance(rng.choice([0.5, 3, 10, 30, 3600 * 2]))
    for ctx in (CallContext(user="a", tenant="x"), CallContext(user="b", tenant="y")):
        for u in lim.usage(ctx):
            log.append(
                (u.limit, u.key, round(u.used, 6), round(u.reserved, 6), round(u.remaining, 6))
            )
    lim.close()
    return log


@pytest.mark.parametrize("seed", range(8))
def test_memory_sqlite_and_redis_make_identical_decisions(
    seed: int, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    memory = _run("memory", seed, tmp_path, redis_url, redis_prefix)
    assert _run("sqlite", seed, tmp_path, redis_url, redis_prefix) == memory
    assert _run("redis", seed, tmp_path, redis_url, redis_prefix + f"{seed}:") == memory
