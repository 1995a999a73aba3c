"""How waiters end when their leader does not store: abandoned, failed, slow, failed over."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from aiguard import CallContext, ChatRequest, ChatResponse, Endpoint, Message
from aiguard._call import Call
from aiguard._effects import Io
from aiguard.cache import ResponseCache
from aiguard.errors import RateLimitError
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider

from ._harness import Driver, endpoints
from .conftest import free_port

PROVIDER = OpenAICompatible(base_url="http://127.0.0.1:9/v1", model="m")
REQUEST = ChatRequest(messages=(Message(role="user", content="hi"),), temperature=0)


def _call() -> Call:
    return Call("chat", REQUEST, CallContext(tenant="t"), plan=[Endpoint("e", PROVIDER)])


async def _perform(kind: str, io: Any) -> Any:
    """Perform an ``Io`` the way the given driver would, in a thread for the blocking form."""
    assert isinstance(io, Io)
    if kind == "sync":
        result: list[Any] = []

        def run() -> None:
            try:
                result.append(io.sync())
            except Exception as e:
                result.append(e)

        t = threading.Thread(target=run)
        t.start()
        return t, result
    assert io.async_ is not None
    return asyncio.ensure_future(io.async_()), None


async def _outcome(kind: str, handle: Any) -> Any:
    task, result = handle
    if kind == "sync":
        await asyncio.to_thread(task.join)
        return result[0]
    try:
        return await task
    except Exception as e:
        return e


@pytest.mark.parametrize("error", [None, asyncio.CancelledError()])
async def test_an_abandoned_leader_releases_waiters_as_misses(kind: str, error: Any) -> None:
    cache = ResponseCache()
    leader, follower = _call(), _call()
    assert cache.lookup(leader) is None
    handle = await _perform(kind, cache.lookup(follower))
    assert await asyncio.to_thread(cache.wait_for_waiters, 1, 60)
    cache.abandon(leader, error)
    assert await _outcome(kind, handle) is None
    assert follower.notes["cache"].result == "miss"
    assert cache.stats().waiting == 0


async def test_a_provider_error_is_raised_to_waiters(kind: str) -> None:
    cache = ResponseCache()
    leader, follower = _call(), _call()
    cache.lookup(leader)
    handle = await _perform(kind, cache.lookup(follower))
    assert await asyncio.to_thread(cache.wait_for_waiters, 1, 60)
    original = RateLimitError("slow down", provider="openai", status_code=429, retry_after=3)
    cache.abandon(leader, original)
    raised = await _outcome(kind, handle)
    assert isinstance(raised, RateLimitError) and raised is not original
    assert (raised.retry_after, raised.status_code) == (3, 429)
    assert raised.__cause__ is original


async def test_a_waiter_gives_up_after_wait_timeout(kind: str) -> None:
    cache = ResponseCache(wait_timeout=0.01)
    leader, follower = _call(), _call()
    cache.lookup(leader)
    assert await _outcome(kind, await _perform(kind, cache.lookup(follower))) is None
    assert follower.notes["cache"].result == "miss"
    cache.store(leader, ChatResponse(text="late"), None)  # still stored for the next caller
    assert cache.lookup(_call()) == cache.lookup(_call())
    assert cache.stats().hits == 2


async def test_bypass_stores_nothing_even_when_called(kind: str) -> None:
    cache = ResponseCache()
    call = Call("chat", REQUEST, CallContext(), plan=[Endpoint("e", PROVIDER)])
    call.options = type(call.options)(cache="bypass")
    assert cache.store(call, ChatResponse(text="x"), None) is None
    assert cache.lookup(_call()) is None and cache.stats().stores == 0


class _Failover:
    def __init__(self, eps: dict[str, Any]) -> None:
        self.plan = [Endpoint("dead", eps["dead"]), Endpoint("llm", eps["llm"])]

    def route(self, call: Call) -> list[Endpoint]:
        return list(self.plan)


async def test_a_failover_answer_is_served_but_not_kept(kind: str, fake: FakeProvider) -> None:
    """The key names the first endpoint of the plan; an answer from another is not kept."""
    eps = endpoints(fake)
    dead_url = f"http://127.0.0.1:{free_port()}/v1"
    eps["dead"] = OpenAICompatible(base_url=dead_url, model="gpt-4o-mini")
    cache = ResponseCache()
    d = Driver(kind, eps, cache, stages={"router": _Failover(eps)})
    try:
        first = await d.chat(temperature=0)
        second = await d.chat(temperature=0)
    finally:
        await d.close()
    assert first.endpoint == "llm" and not second.cached
    assert len(fake.requests) == 2 and cache.stats().not_stored == 2


def test_a_policy_cache_section_builds_the_stage(redis_url: str) -> None:
    from aiguard.cache import MemoryBackend, RedisBackend
    from aiguard.policy import CacheSpec

    mem = ResponseCache.from_spec(
        CacheSpec(enabled=True, ttl_seconds=60, max_entries=5, max_bytes=4096), policy_hash="h"
    )
    assert isinstance(mem.backend, MemoryBackend)
    assert (mem.ttl, mem.policy_hash, mem.backend.max_entries, mem.backend.max_bytes) == (
        60.0,
        "h",
        5,
        4096,
    )
    red = ResponseCache.from_spec(
        CacheSpec(enabled=True, backend="redis", url=redis_url, share_across_tenants=True)
    )
    assert isinstance(red.backend, RedisBackend) and red.share_across_tenants


def test_waiters_get_faithful_copies_of_any_provider_error() -> None:
    from aiguard.cache._stage import _copy_error
    from aiguard.errors import AllEndpointsFailedError, ServerError, StreamInterrupted

    inner = ServerError("boom", provider="p", status_code=503)
    for original in (
        AllEndpointsFailedError([("a", inner), ("b", inner)]),
        StreamInterrupted("cut", partial_text="par", provider="p"),
        inner,
    ):
        dup = _copy_error(original)
        assert dup is not original and type(dup) is type(original)
        assert str(dup) == str(original) and dup.__dict__ == original.__dict__


async def test_a_broken_leader_stream_sends_waiters_upstream(kind: str) -> None:
    from aiguard.errors import StreamInterrupted

    cache = ResponseCache()
    leader, follower = _call(), _call()
    cache.lookup(leader)
    handle = await _perform(kind, cache.lookup(follower))
    assert await asyncio.to_thread(cache.wait_for_waiters, 1, 60)
    cache.abandon(leader, StreamInterrupted("cut", partial_text="the leader's words"))
    assert await _outcome(kind, handle) is None
    assert follower.notes["cache"].result == "miss"
