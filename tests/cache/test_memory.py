"""The memory backend: TTL on an injected clock, LRU bounds by entries and by bytes."""

from __future__ import annotations

from typing import Any

import pytest
from cachetools import TLRUCache

from aiguard import ChatResponse
from aiguard._stages import CacheHit
from aiguard.cache import MemoryBackend, ResponseCache
from aiguard.testing import FakeProvider

from ._harness import Clock, Driver, endpoints


@pytest.fixture
async def make(kind: str, fake: FakeProvider) -> Any:
    drivers: list[Driver] = []

    def build(backend: MemoryBackend, **kw: Any) -> Driver:
        d = Driver(kind, endpoints(fake), ResponseCache(backend, **kw))
        drivers.append(d)
        return d

    yield build
    for d in drivers:
        await d.close()


def ask(n: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Question {n}"}]


async def test_entries_expire_after_the_ttl(make: Any, fake: FakeProvider, clock: Clock) -> None:
    d = make(MemoryBackend(timer=clock), ttl=10)
    await d.chat(temperature=0)
    clock.advance(9.9)
    assert (await d.chat(temperature=0)).cached
    clock.advance(0.2)
    assert not (await d.chat(temperature=0)).cached
    assert len(fake.requests) == 2


async def test_a_call_may_shorten_the_ttl(make: Any, fake: FakeProvider, clock: Clock) -> None:
    d = make(MemoryBackend(timer=clock), ttl=3600)
    await d.chat(temperature=0, cache_ttl=1)
    clock.advance(1.5)
    assert not (await d.chat(temperature=0)).cached


async def test_least_recently_used_goes_first(make: Any, fake: FakeProvider) -> None:
    backend = MemoryBackend(max_entries=2)
    d = make(backend)
    await d.chat(ask(1), temperature=0)
    await d.chat(ask(2), temperature=0)
    assert (await d.chat(ask(1), temperature=0)).cached  # 1 is now the most recent
    await d.chat(ask(3), temperature=0)  # evicts 2
    assert len(backend) == 2
    assert (await d.chat(ask(1), temperature=0)).cached
    assert not (await d.chat(ask(2), temperature=0)).cached


def _size_of_one(fake: FakeProvider) -> int:
    """The serialised size of one of these answers, measured the way the backend does."""
    probe = MemoryBackend(max_bytes=1 << 20)
    probe.set("k", CacheHit(ChatResponse(text="echo: Question 1", model="gpt-4o-mini")), 60)
    return probe.size_bytes


async def test_the_byte_bound_evicts(make: Any, fake: FakeProvider) -> None:
    one = _size_of_one(fake)
    backend = MemoryBackend(max_bytes=one * 5 // 2 + 200, max_entries=100)
    d = make(backend)
    for n in (1, 2, 3):
        await d.chat(ask(n), temperature=0)
    assert len(backend) == 2
    assert backend.size_bytes <= backend.max_bytes  # type: ignore[operator]
    assert not (await d.chat(ask(1), temperature=0)).cached
    assert len(fake.requests) == 4


async def test_an_answer_larger_than_the_bound_is_not_kept(make: Any, fake: FakeProvider) -> None:
    backend = MemoryBackend(max_bytes=16)
    d = make(backend)
    await d.chat(temperature=0)
    assert not (await d.chat(temperature=0)).cached
    assert len(backend) == 0


async def test_a_failing_backend_is_a_miss_with_a_warning(
    make: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(MemoryBackend):
        def get(self, key: str) -> CacheHit | None:
            raise OSError("disk on fire")

        def set(self, key: str, hit: CacheHit, ttl: float) -> None:
            raise OSError("disk on fire")

    d = make(Broken())
    with caplog.at_level("DEBUG", logger="aiguard.cache"):
        first = await d.chat(temperature=0)
        second = await d.chat(temperature=0)
    assert first.text == second.text and not second.cached
    assert len(fake.requests) == 2
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "disk on fire" in warnings[0].getMessage()
    assert d.cache.stats().errors == 4


def test_bounds_are_validated() -> None:
    with pytest.raises(ValueError):
        MemoryBackend(max_entries=0)
    with pytest.raises(ValueError):
        MemoryBackend(max_bytes=0)
    with pytest.raises(ValueError):
        ResponseCache(ttl=0)


def _hit(text: str) -> CacheHit:
    return CacheHit(ChatResponse(text=text, model="gpt-4o-mini"))


def test_expired_entries_make_room_before_live_ones_are_evicted(clock: Clock) -> None:
    backend = MemoryBackend(max_entries=2, timer=clock)
    backend.set("short", _hit("a"), 1)
    backend.set("long", _hit("b"), 100)
    clock.advance(2)
    backend.set("new", _hit("c"), 100)  # "short" has expired: it goes, "long" stays
    assert backend.get("short") is None
    assert backend.get("long") is not None and backend.get("new") is not None
    assert len(backend) == 2


def test_replacing_an_entry_keeps_one_entry_and_its_new_ttl(clock: Clock) -> None:
    backend = MemoryBackend(max_entries=10, max_bytes=1 << 20, timer=clock)
    for i in range(500):
        backend.set("k", _hit(f"answer {i}"), 10 if i < 499 else 1000)
    assert len(backend) == 1
    assert backend.size_bytes == _size(_hit("answer 499"))
    clock.advance(100)
    got = backend.get("k")
    assert got is not None and got.response.text == "answer 499"
    backend.clear()
    assert len(backend) == 0 and backend.size_bytes == 0


def _size(hit: CacheHit) -> int:
    probe = MemoryBackend(max_bytes=1 << 20)
    probe.set("k", hit, 60)
    return probe.size_bytes


def test_hits_are_served_marked_and_share_one_copy(clock: Clock) -> None:
    """The first hit marks the entry as every hit is served (cached, free); later hits get
    that same object, so the pipeline copies nothing; the answer it was made from is left
    as it was."""
    backend = MemoryBackend(timer=clock)
    raw = ChatResponse(text="a", model="gpt-4o-mini", cost=0.25)
    backend.set("k", CacheHit(raw, None), 60)
    first, second = backend.get("k"), backend.get("k")
    assert first is not None and second is first
    assert (first.response.cached, first.response.cost, first.response.text) == (True, 0.0, "a")
    assert first.response.model_dump(exclude={"cached", "cost"}) == raw.model_dump(
        exclude={"cached", "cost"}
    )
    assert (raw.cached, raw.cost) == (False, 0.25)
    backend.set("k", CacheHit(raw, None), 60)  # replaced: marked again on its first hit
    third = backend.get("k")
    assert third is not None and third is not first and third.response.cached


def test_a_second_ttl_moves_live_entries_keeping_recency_and_expiry(clock: Clock) -> None:
    """Entries stored with one TTL live in a ``TTLCache``; the first other TTL moves them into
    a ``TLRUCache``: expired ones are dropped, live ones keep their expiry and LRU order."""
    backend = MemoryBackend(max_entries=3, timer=clock)
    backend.set("old", _hit("o"), 10)
    clock.advance(5)
    backend.set("a", _hit("a"), 10)
    backend.set("b", _hit("b"), 10)
    assert backend.get("a") is not None  # "b" is now the least recently used live entry
    clock.advance(6)  # "old" has expired, "a" and "b" have 4 seconds left
    assert type(backend._data).__name__ == "TTLCache"
    backend.set("c", _hit("c"), 100)
    assert type(backend._data).__name__ == "TLRUCache"
    assert len(backend) == 3 and backend.get("old") is None
    backend.set("d", _hit("d"), 100)  # full: evicts "b", the least recently used
    assert backend.get("b") is None and backend.get("a") is not None
    clock.advance(3.9)
    assert backend.get("a") is not None
    clock.advance(0.2)
    assert backend.get("a") is None
    assert backend.get("c") is not None and backend.get("d") is not None


def test_a_new_ttl_on_an_empty_backend_stays_uniform(clock: Clock) -> None:
    backend = MemoryBackend(max_entries=2, max_bytes=1 << 20, timer=clock)
    backend.set("a", _hit("a"), 1)
    clock.advance(2)  # nothing live is held: the next TTL starts a fresh TTLCache
    backend.set("b", _hit("b"), 50)
    backend.set("c", _hit("c"), 50)
    backend.set("d", _hit("d"), 50)  # evicts "b"
    assert type(backend._data).__name__ == "TTLCache"
    assert backend.get("a") is None and backend.get("b") is None
    assert backend.get("c") is not None and backend.get("d") is not None
    assert backend.size_bytes == _size(_hit("c")) + _size(_hit("d"))


@pytest.mark.parametrize("ttls", [(60, 60, 60, 60), (6, 3, 6, 9), (6, 6, 6, 9)])
@pytest.mark.parametrize("max_bytes", [None, 1 << 20])
def test_uniform_and_per_entry_ttls_answer_as_a_plain_tlru(
    clock: Clock, ttls: tuple[int, ...], max_bytes: int | None
) -> None:
    """Whichever cache holds the entries, reads answer as one ``TLRUCache`` would."""
    backend = MemoryBackend(max_entries=3, max_bytes=max_bytes, timer=clock)
    reference: TLRUCache[str, tuple[str, int]] = TLRUCache(
        maxsize=3, ttu=lambda _k, v, now: now + v[1], timer=clock
    )
    for i in range(30):
        key, ttl = f"k{i % 7}", ttls[i % 4]
        backend.set(key, _hit(str(i)), ttl)
        reference[key] = (str(i), ttl)
        clock.advance(1)
        probe = f"k{(i * 3) % 7}"
        got, want = backend.get(probe), reference.get(probe)
        assert (got.response.text if got else None) == (want[0] if want else None)
        assert len(backend) == len(reference)
