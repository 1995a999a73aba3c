"""The cache's promises, through the real clients against FakeProvider over loopback, for
every backend (memory, a real redis-server) and both clients (sync, async)."""

from __future__ import annotations

from typing import Any

import pytest

from aiguard import ChatRequest
from aiguard.cache import ResponseCache
from aiguard.errors import BadRequestError, CacheMissError, StreamInterrupted
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider, Fault, Reply

from ._harness import HELLO, Driver, endpoints

DET: dict[str, Any] = {"temperature": 0}


@pytest.fixture
async def make(kind: str, backend: Any, fake: FakeProvider) -> Any:
    drivers: list[Driver] = []

    def build(eps: dict[str, Any] | None = None, **cache_kw: Any) -> Driver:
        d = Driver(kind, eps or endpoints(fake), ResponseCache(backend, **cache_kw))
        drivers.append(d)
        return d

    yield build
    for d in drivers:
        await d.close()


async def test_a_hit_sends_nothing_upstream(make: Any, fake: FakeProvider) -> None:
    d = make()
    first = await d.chat(**DET)
    second = await d.chat(**DET)
    assert len(fake.requests) == 1
    assert not first.cached and second.cached
    assert second.text == first.text and second.cost == 0.0
    s = d.cache.stats()
    assert (s.hits, s.misses, s.stores) == (1, 1, 1)


async def test_a_streamed_hit_replays_identical_events(make: Any, fake: FakeProvider) -> None:
    d = make()
    fake.script(Reply(chunks=["Hel", "lo ", "wor", "ld"], tool_calls=[("f", {"a": 1})]))
    events, first = await d.stream(**DET)
    replay, again = await d.stream(**DET)
    assert len(fake.requests) == 1
    assert replay == events and len(events) > 3
    assert again.cached and again.text == first.text == "Hello world"
    assert again.tool_calls == first.tool_calls
    # Stream-agnostic: the non-streaming call of the same request is answered too.
    whole = await d.chat(**DET)
    assert len(fake.requests) == 1 and whole.cached and whole.text == "Hello world"


async def test_a_non_streamed_answer_serves_a_stream(make: Any, fake: FakeProvider) -> None:
    d = make()
    first = await d.chat(**DET)
    events, again = await d.stream(**DET)
    assert len(fake.requests) == 1
    assert "".join(e.text for e in events) == first.text and again.cached


async def test_tenants_never_share_by_default(make: Any, fake: FakeProvider) -> None:
    d = make()
    await d.chat(context={"tenant": "acme"}, **DET)
    await d.chat(context={"tenant": "globex"}, **DET)
    await d.chat(**DET)  # no tenant is a scope of its own
    assert len(fake.requests) == 3
    assert (await d.chat(context={"tenant": "acme"}, **DET)).cached
    assert len(fake.requests) == 3


async def test_tenants_share_only_when_asked(make: Any, fake: FakeProvider) -> None:
    d = make(share_across_tenants=True)
    await d.chat(context={"tenant": "acme"}, **DET)
    assert (await d.chat(context={"tenant": "globex"}, **DET)).cached
    assert len(fake.requests) == 1


def _variations() -> dict[str, list[dict[str, Any]]]:
    """For every ChatRequest field, requests that differ from BASE in that field only."""
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    return {
        "messages": [
            {"messages": [{"role": "user", "content": "Hello!"}]},
            {"messages": [{"role": "system", "content": "Hello"}]},
            {"messages": [{"role": "user", "content": "Hello", "name": "u"}]},
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]},
            {"messages": [*HELLO, {"role": "assistant", "content": "Hi"}, *HELLO]},
        ],
        "model": [{"model": "llm-b"}, {"model": "llm-alias"}],
        "max_tokens": [{"max_tokens": 11}, {"max_tokens": None}],
        "temperature": [{"temperature": 0.5}, {"temperature": 1}],
        "top_p": [{"top_p": 0.5}],
        "stop": [{"stop": ["x"]}, {"stop": ["x", "y"]}],
        "seed": [{"seed": 8}, {"seed": None}],
        "tools": [
            {"tools": [tool]},
            {"tools": [{**tool, "function": {"name": "g", "parameters": {"type": "object"}}}]},
            {"tools": [{**tool, "function": {"name": "f", "parameters": {"type": "string"}}}]},
        ],
        "tool_choice": [{"tool_choice": "none"}, {"tool_choice": {"type": "function"}}],
        "parallel_tool_calls": [{"parallel_tool_calls": False}],
        "response_format": [
            {"response_format": {"type": "json_object"}},
            {"response_format": {"type": "json_schema", "json_schema": {"name": "s"}}},
        ],
        "presence_penalty": [{"presence_penalty": 0.5}],
        "frequency_penalty": [{"frequency_penalty": 0.5}],
        "user": [{"user": "u-1"}],
        "extra": [{"extra": {"logprobs": True}}, {"extra": {"n": 1}}, {"extra": {"n": 1.0}}],
    }


async def test_requests_differing_in_any_single_field_never_share(
    make: Any, fake: FakeProvider
) -> None:
    variations = _variations()
    assert set(variations) == set(ChatRequest.model_fields), "a ChatRequest field is untested"
    eps = endpoints(fake)
    eps["llm-b"] = OpenAICompatible(base_url=fake.openai_url, model="gpt-4o")
    eps["llm-alias"] = eps["llm"]
    d = make(eps, deterministic_only=False)
    base: dict[str, Any] = {"messages": HELLO, "model": "llm", "max_tokens": 10}
    base.update(temperature=0, seed=7)
    await d.chat(**base)
    assert (await d.chat(**base)).cached
    sent = 1
    for field, changes in variations.items():
        for change in changes:
            kw = {**base, **change}
            kw = {k: v for k, v in kw.items() if v is not None}
            reply = await d.chat(**kw)
            sent += 1
            assert not reply.cached, f"{field}: {change} shared an entry"
            assert len(fake.requests) == sent
    # ...while every variation, asked again, is its own hit.
    for changes in variations.values():
        for change in changes:
            kw = {k: v for k, v in {**base, **change}.items() if v is not None}
            assert (await d.chat(**kw)).cached
    assert len(fake.requests) == sent


async def test_only_deterministic_requests_by_default(make: Any, fake: FakeProvider) -> None:
    d = make()
    for kw in ({}, {"temperature": 0.7}, {"temperature": 0.7}):
        assert not (await d.chat(**kw)).cached
    assert (await d.chat(temperature=0.7, seed=1)).cached is False
    assert (await d.chat(temperature=0.7, seed=1)).cached is True
    assert d.cache.stats().uncacheable == 3


async def test_non_deterministic_caching_is_opt_in(make: Any, fake: FakeProvider) -> None:
    d = make(deterministic_only=False)
    await d.chat()
    assert (await d.chat()).cached
    assert len(fake.requests) == 1


@pytest.mark.parametrize("finish", ["content_filter", "error"])
async def test_filtered_or_failed_answers_are_not_stored(
    make: Any, fake: FakeProvider, finish: str
) -> None:
    d = make()
    fake.script(Reply(text="no", finish_reason=finish))
    await d.chat(**DET)
    assert not (await d.chat(**DET)).cached
    assert len(fake.requests) == 2
    assert d.cache.stats().not_stored == 1


@pytest.mark.parametrize("finish", ["length", "tool_calls"])
async def test_complete_answers_are_stored(make: Any, fake: FakeProvider, finish: str) -> None:
    d = make()
    fake.script(Reply(text="partial", finish_reason=finish))
    await d.chat(**DET)
    assert (await d.chat(**DET)).cached


async def test_errors_are_never_cached(make: Any, fake: FakeProvider) -> None:
    d = make()
    fake.fault(Fault.status_code(400))  # not retried: the error reaches the caller
    with pytest.raises(BadRequestError):
        await d.chat(**DET)
    ok = await d.chat(**DET)
    assert not ok.cached and ok.text
    assert (await d.chat(**DET)).cached
    assert len(fake.requests) == 2


async def test_interrupted_streams_are_never_cached(make: Any, fake: FakeProvider) -> None:
    d = make()
    fake.script(Reply(text="a long answer that breaks", chunk_size=2))
    fake.fault(Fault.cut_stream(after=3))
    with pytest.raises(StreamInterrupted):
        await d.stream(**DET)
    _, again = await d.stream(**DET)
    assert not again.cached
    assert len(fake.requests) == 2


async def test_bypass_neither_reads_nor_writes(make: Any, fake: FakeProvider) -> None:
    d = make()
    await d.chat(cache="bypass", **DET)
    assert not (await d.chat(**DET)).cached
    assert not (await d.chat(cache="bypass", **DET)).cached
    assert len(fake.requests) == 3


async def test_refresh_goes_upstream_and_replaces(make: Any, fake: FakeProvider) -> None:
    d = make()
    fake.script(Reply(text="old"), Reply(text="new"))
    assert (await d.chat(**DET)).text == "old"
    refreshed = await d.chat(cache="refresh", **DET)
    assert refreshed.text == "new" and not refreshed.cached
    again = await d.chat(**DET)
    assert again.cached and again.text == "new"
    assert len(fake.requests) == 2


async def test_only_raises_on_a_miss_and_sends_nothing(make: Any, fake: FakeProvider) -> None:
    d = make()
    with pytest.raises(CacheMissError):
        await d.chat(cache="only", **DET)
    assert fake.requests == []
    await d.chat(**DET)
    assert (await d.chat(cache="only", **DET)).cached


async def test_a_policy_change_starts_a_fresh_keyspace(make: Any, fake: FakeProvider) -> None:
    await make(policy_hash="aaa").chat(**DET)
    assert (await make(policy_hash="aaa").chat(**DET)).cached
    assert not (await make(policy_hash="bbb").chat(**DET)).cached
    assert len(fake.requests) == 2


async def test_each_endpoint_has_its_own_entries(make: Any, fake: FakeProvider) -> None:
    with FakeProvider() as other:
        eps = endpoints(fake)
        eps["far"] = OpenAICompatible(base_url=other.openai_url, model="gpt-4o-mini")
        d = make(eps)
        await d.chat(**DET)
        assert not (await d.chat(model="far", **DET)).cached
        assert len(fake.requests) == 1 and len(other.requests) == 1
