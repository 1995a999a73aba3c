"""Single-flight: identical concurrent misses make one upstream call, threads and tasks alike.

The leader's request is held at the transport until every other call is waiting on it
(``ResponseCache.wait_for_waiters`` is a condition, not a poll), so the test proves
coalescing rather than winning a race by luck.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from aiguard.cache import ResponseCache
from aiguard.errors import BadRequestError
from aiguard.testing import FakeProvider, Fault, Reply

from ._harness import HELLO, Driver, endpoints

N = 100


class _Gate:
    """Holds the first request until ``ready()`` is true."""

    def __init__(self, ready: Callable[[], bool]) -> None:
        self.ready = ready
        self.lock = threading.Lock()
        self.first = True
        self.arrived = threading.Event()

    def take_first(self) -> bool:
        with self.lock:
            first, self.first = self.first, False
        if first:
            self.arrived.set()
        return first


class _GatedSync(httpx.HTTPTransport):
    def __init__(self, gate: _Gate) -> None:
        super().__init__()
        self.gate = gate

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.gate.take_first():
            assert self.gate.ready(), "the other calls never started waiting"
        return super().handle_request(request)


class _GatedAsync(httpx.AsyncHTTPTransport):
    def __init__(self, gate: _Gate) -> None:
        super().__init__()
        self.gate = gate

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.gate.take_first():
            ok = await asyncio.to_thread(self.gate.ready)
            assert ok, "the other calls never started waiting"
        return await super().handle_async_request(request)


def _gated(
    kind: str, fake: FakeProvider, cache: ResponseCache, waiters: int
) -> tuple[Driver, _Gate]:
    gate = _Gate(lambda: cache.wait_for_waiters(waiters, timeout=60))
    http: Any
    if kind == "sync":
        http = httpx.Client(transport=_GatedSync(gate))
    else:
        http = httpx.AsyncClient(transport=_GatedAsync(gate))
    return Driver(kind, endpoints(fake), cache, http_client=http), gate


def _driver(kind: str, fake: FakeProvider, cache: ResponseCache, waiters: int) -> Driver:
    return _gated(kind, fake, cache, waiters)[0]


def _drive(coro: Any) -> Any:
    """Finish a ``Driver`` coroutine of the sync client: it never awaits, so one step does."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a sync-driver call awaited something")


async def _many(d: Driver, n: int, call: Callable[[], Any]) -> list[Any]:
    """Run ``call`` n times concurrently: threads for the sync client, tasks for async.
    Each outcome is the result or the exception raised."""
    if d.kind == "sync":

        def one() -> Any:
            try:
                return _drive(call())
            except Exception as e:
                return e

        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda _: one(), range(n)))
    return list(await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True))


async def test_concurrent_identical_misses_make_one_call(
    kind: str, backend: Any, fake: FakeProvider
) -> None:
    cache = ResponseCache(backend)
    d = _driver(kind, fake, cache, N - 1)
    try:
        results = await _many(d, N, lambda: d.chat(temperature=0, model="llm"))
    finally:
        await d.close()
    assert len(fake.requests) == 1
    assert {r.text for r in results} == {"echo: Hello"}
    assert sum(r.cached for r in results) == N - 1
    s = cache.stats()
    assert (s.misses, s.coalesced, s.waiting) == (1, N - 1, 0)


async def test_concurrent_streams_share_one_call_and_its_events(
    kind: str, backend: Any, fake: FakeProvider
) -> None:
    cache = ResponseCache(backend)
    d = _driver(kind, fake, cache, 9)
    fake.script(Reply(chunks=["a", "b", "c"]))
    try:
        results = await _many(d, 10, lambda: d.stream(temperature=0, model="llm"))
    finally:
        await d.close()
    assert len(fake.requests) == 1
    assert len({tuple(events) for events, _ in results}) == 1
    assert {r.text for _, r in results} == {"abc"}


async def test_a_provider_error_reaches_every_waiter(
    kind: str, backend: Any, fake: FakeProvider
) -> None:
    cache = ResponseCache(backend)
    d = _driver(kind, fake, cache, 9)
    fake.fault(Fault.status_code(400))  # not retried: the leader fails on its first answer
    try:
        results = await _many(d, 10, lambda: d.chat(temperature=0, model="llm"))
    finally:
        await d.close()
    assert len(fake.requests) == 1
    assert all(isinstance(r, BadRequestError) for r in results)
    assert len({id(r) for r in results}) == 10  # each waiter raises its own copy


async def test_waiters_proceed_when_the_leader_answer_may_not_be_cached(
    kind: str, backend: Any, fake: FakeProvider
) -> None:
    """A leader whose answer may not be stored (here: content-filtered) shares nothing; its
    waiters then make their own calls, as ordinary misses."""
    cache = ResponseCache(backend)
    d = _driver(kind, fake, cache, 2)
    fake.script(Reply(text="[filtered]", finish_reason="content_filter"))
    try:
        results = await _many(d, 3, lambda: d.chat(temperature=0, model="llm"))
    finally:
        await d.close()
    assert len(fake.requests) == 3
    assert not any(r.cached for r in results)
    assert sorted(r.finish_reason for r in results) == ["content_filter", "stop", "stop"]


async def test_a_leader_never_waits_on_itself(kind: str, backend: Any, fake: FakeProvider) -> None:
    """Holding an unfinished stream and asking the same thing again must not deadlock."""
    cache = ResponseCache(backend, wait_timeout=600)
    d = Driver(kind, endpoints(fake), cache)
    fake.script(Reply(chunks=["x", "y"]))
    try:
        if kind == "sync":
            with d.sync.stream(HELLO, model="llm", temperature=0) as s:
                next(iter(s))
                again = d.sync.chat(HELLO, model="llm", temperature=0)
                assert s.response.text == "xy"
        else:
            async with d.aio.stream(HELLO, model="llm", temperature=0) as a:
                await a.__anext__()
                again = await d.aio.chat(HELLO, model="llm", temperature=0)
                assert (await a.get_response()).text == "xy"
    finally:
        await d.close()
    assert not again.cached
    assert len(fake.requests) == 2


@pytest.mark.parametrize("other", ["sync", "async"])
async def test_sync_and_async_callers_coalesce_with_each_other(
    kind: str, other: str, fake: FakeProvider
) -> None:
    """One cache shared by a Client and an AsyncClient: a leader of either kind wakes
    waiters of the other (threads are woken by an Event, loops by call_soon_threadsafe)."""
    cache = ResponseCache()
    leader, gate = _gated(kind, fake, cache, 4)
    follower = Driver(other, endpoints(fake), cache)
    run = _drive if kind == "sync" else asyncio.run
    try:
        first = asyncio.create_task(asyncio.to_thread(run, leader.chat(temperature=0)))
        assert await asyncio.to_thread(gate.arrived.wait, 60)
        rest = await _many(follower, 4, lambda: follower.chat(temperature=0))
        results = [await first, *rest]
    finally:
        if kind == "sync":
            await leader.close()
        await follower.close()
    assert len(fake.requests) == 1
    assert sum(r.cached for r in results) == 4


async def test_waiters_proceed_when_the_leader_abandons_its_stream(
    kind: str, backend: Any, fake: FakeProvider
) -> None:
    """A leader that stops reading its stream stores nothing; its waiters then make their
    own calls, as ordinary misses."""
    cache = ResponseCache(backend)
    d = Driver(kind, endpoints(fake), cache)
    fake.script(Reply(chunks=["x", "y", "z"]))
    try:
        if kind == "sync":
            stream = d.sync.stream(HELLO, model="llm", temperature=0)
            next(iter(stream))
            with ThreadPoolExecutor(2) as pool:
                futures = [
                    pool.submit(d.sync.chat, HELLO, model="llm", temperature=0) for _ in range(2)
                ]
                assert cache.wait_for_waiters(2, timeout=60)
                stream.close()
                results = [f.result() for f in futures]
        else:
            astream = d.aio.stream(HELLO, model="llm", temperature=0)
            await astream.__anext__()
            tasks = [
                asyncio.create_task(d.aio.chat(HELLO, model="llm", temperature=0)) for _ in range(2)
            ]
            assert await asyncio.to_thread(cache.wait_for_waiters, 2, 60)
            await astream.aclose()
            results = list(await asyncio.gather(*tasks))
    finally:
        await d.close()
    assert len(fake.requests) == 3
    assert not any(r.cached for r in results)


async def test_a_dropped_leader_stream_releases_its_waiters(kind: str, fake: FakeProvider) -> None:
    """A stream the caller forgets (never closed, just dropped) is finalised; its waiters
    are released rather than left to their timeout."""
    import gc

    cache = ResponseCache(wait_timeout=600)
    d = Driver(kind, endpoints(fake), cache)
    fake.script(Reply(chunks=["x", "y", "z"]))
    try:
        if kind == "sync":
            stream: Any = d.sync.stream(HELLO, model="llm", temperature=0)
            next(iter(stream))
            with ThreadPoolExecutor(1) as pool:
                waiter = pool.submit(d.sync.chat, HELLO, model="llm", temperature=0)
                assert cache.wait_for_waiters(1, timeout=60)
                del stream
                gc.collect()
                result = waiter.result()
        else:
            stream = d.aio.stream(HELLO, model="llm", temperature=0)
            await stream.__anext__()
            task = asyncio.create_task(d.aio.chat(HELLO, model="llm", temperature=0))
            assert await asyncio.to_thread(cache.wait_for_waiters, 1, 60)
            del stream
            gc.collect()
            result = await task
    finally:
        await d.close()
    assert not result.cached and len(fake.requests) == 2
