"""The Redis backend against a real redis-server: TTL on the server, one round trip per
lookup and per store, compressed values, fleet sharing, and failures that degrade to misses."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from aiguard.cache import RedisBackend, ResponseCache
from aiguard.testing import FakeProvider

from ._harness import Driver, endpoints
from .conftest import free_port


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


@pytest.fixture
async def make(kind: str, fake: FakeProvider, redis_url: str) -> Any:
    made: list[tuple[Driver, RedisBackend]] = []

    def build(url: str | None = None, prefix: str | None = None, **kw: Any) -> Driver:
        backend = RedisBackend(url or redis_url, prefix=prefix or f"t:{uuid.uuid4().hex}:")
        d = Driver(kind, endpoints(fake), ResponseCache(backend, **kw))
        made.append((d, backend))
        return d

    yield build
    for d, backend in made:
        await d.close()
        await backend.aclose()
        backend.close()


def _keys(admin: redis.Redis, d: Driver) -> list[bytes]:
    prefix = d.cache.backend.prefix  # type: ignore[attr-defined]
    return list(admin.scan_iter(match=prefix + "*"))


_HANDSHAKE = ("cmdstat_info", "cmdstat_hello", "cmdstat_client|setinfo", "cmdstat_select")


def _commands(admin: redis.Redis) -> dict[str, int]:
    """Calls per command, without a new connection's handshake (paid once per connection)."""
    stats = admin.info("commandstats")
    return {k: v["calls"] for k, v in stats.items() if k not in _HANDSHAKE}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


async def test_the_ttl_lives_on_the_server(make: Any, admin: redis.Redis) -> None:
    d = make(ttl=600)
    await d.chat(temperature=0)
    await d.chat([{"role": "user", "content": "short"}], temperature=0, cache_ttl=30)
    ttls = sorted(admin.pttl(k) for k in _keys(admin, d))
    assert len(ttls) == 2
    assert 0 < ttls[0] <= 30_000 < ttls[1] <= 600_000


async def test_a_hit_is_one_round_trip_and_a_store_one_more(
    make: Any, admin: redis.Redis, fake: FakeProvider
) -> None:
    d = make()
    before = _commands(admin)
    await d.chat(temperature=0)
    miss = _commands(admin)
    await d.chat(temperature=0)
    hit = _commands(admin)
    assert _delta(before, miss) == {"cmdstat_get": 1, "cmdstat_set": 1}
    assert _delta(miss, hit) == {"cmdstat_get": 1}
    assert len(fake.requests) == 1


async def test_values_are_compressed_json(make: Any, admin: redis.Redis) -> None:
    d = make()
    first = await d.chat(temperature=0)
    [key] = _keys(admin, d)
    raw = admin.get(key)
    assert isinstance(raw, bytes)
    assert first.text.encode() in zlib.decompress(raw)


async def test_processes_share_answers_through_redis(make: Any, fake: FakeProvider) -> None:
    """Two caches (two processes, as far as they know) on one Redis and prefix."""
    prefix = f"fleet:{uuid.uuid4().hex}:"
    await make(prefix=prefix).chat(temperature=0)
    assert (await make(prefix=prefix).chat(temperature=0)).cached
    assert len(fake.requests) == 1


async def test_redis_down_is_a_miss_with_a_warning(
    make: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    d = make(url=f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level("WARNING", logger="aiguard.cache"):
        first = await d.chat(temperature=0)
        second = await d.chat(temperature=0)
    assert first.text == second.text == "echo: Hello"
    assert not second.cached and len(fake.requests) == 2
    assert d.cache.stats().errors == 4  # two lookups and two stores, each degraded
    [warning] = caplog.records
    assert "RedisBackend lookup failed" in warning.getMessage()


async def test_a_corrupt_value_is_a_miss(
    make: Any, admin: redis.Redis, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    d = make()
    await d.chat(temperature=0)
    [key] = _keys(admin, d)
    admin.set(key, b"not zlib at all")
    with caplog.at_level("WARNING", logger="aiguard.cache"):
        assert not (await d.chat(temperature=0)).cached
    assert len(caplog.records) == 1
    assert (await d.chat(temperature=0)).cached  # rewritten by the miss
    assert len(fake.requests) == 2


def test_the_url_never_shows_in_repr() -> None:
    b = RedisBackend("redis://user:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(b)
