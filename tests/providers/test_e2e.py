"""Every adapter end to end over real loopback HTTP, through ``aiguard.Client`` and ``AsyncClient``.

The SAME test functions run for every provider and both clients: switching provider changes
only the endpoint line (``ADAPTERS``). ``FakeProvider`` answers in each provider's own wire
format (``aiguard.testing._wire_*``), so these tests exercise request encoding, HTTP, response
and stream decoding, error classification and fault handling together.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import aiguard
from aiguard._types import ChatResponse, StreamEvent
from aiguard.errors import (
    BadRequestError,
    DecodeError,
    ProviderError,
    RateLimitError,
    RefusalError,
    ServerError,
    StreamInterrupted,
)
from aiguard.providers import OpenAICompatible
from aiguard.providers._base import Provider
from aiguard.providers.anthropic import Anthropic
from aiguard.providers.azure import AzureOpenAI
from aiguard.providers.bedrock import Bedrock
from aiguard.providers.gemini import Gemini, VertexAI
from aiguard.testing import FakeProvider, Fault, Reply

from ._provider_helpers import fake_secret, no_retry

KEY = fake_secret("sk", "test")
AWS_ID = "AKIA" + "FAKE" * 4
AWS_SECRET = fake_secret("aws", "secret")

Factory = Callable[[FakeProvider], Provider]

# made-up deployment and embedding model names have no price: cost is not under test here
pytestmark = pytest.mark.filterwarnings("ignore:no price known")

ADAPTERS: dict[str, Factory] = {
    "openai": lambda f: OpenAICompatible(base_url=f.openai_url, model="gpt-4o-mini", api_key=KEY),
    "anthropic": lambda f: Anthropic("claude-3-5-haiku-latest", api_key=KEY, base_url=f.url),
    "gemini": lambda f: Gemini("gemini-2.0-flash", api_key=KEY, base_url=f.url),
    "vertex": lambda f: VertexAI(
        "gemini-2.0-flash", project="proj", location="us-central1", access_token=KEY, base_url=f.url
    ),
    "bedrock": lambda f: Bedrock(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        region="us-east-1",
        aws_access_key_id=AWS_ID,
        aws_secret_access_key=AWS_SECRET,
        base_url=f.url,
    ),
    "azure": lambda f: AzureOpenAI("gpt-4o-prod", endpoint=f.url, api_key=KEY),
}

EMBEDDERS: dict[str, Factory] = {
    "openai": lambda f: OpenAICompatible(
        base_url=f.openai_url, model="text-embedding-3-small", api_key=KEY
    ),
    "gemini": lambda f: Gemini("text-embedding-004", api_key=KEY, base_url=f.url),
    "vertex": lambda f: VertexAI(
        "text-embedding-005", project="p", access_token=KEY, base_url=f.url
    ),
    "bedrock": lambda f: Bedrock(
        "cohere.embed-english-v3",
        region="us-east-1",
        aws_access_key_id=AWS_ID,
        aws_secret_access_key=AWS_SECRET,
        base_url=f.url,
    ),
    "azure": lambda f: AzureOpenAI("embed-prod", endpoint=f.url, api_key=KEY),
}


class Harness:
    """One interface over ``Client`` and ``AsyncClient`` so each test body is written once."""

    def __init__(self, mode: str, provider: Provider) -> None:
        self.mode = mode
        self.endpoints = {"llm": provider}

    def chat(self, messages: Any, **kw: Any) -> ChatResponse:
        if self.mode == "sync":
            with aiguard.Client(stages=no_retry(), endpoints=self.endpoints) as c:
                return c.chat(messages, model="llm", **kw)

        async def go() -> ChatResponse:
            async with aiguard.AsyncClient(stages=no_retry(), endpoints=self.endpoints) as c:
                return await c.chat(messages, model="llm", **kw)

        return asyncio.run(go())

    def stream(self, messages: Any, **kw: Any) -> tuple[list[StreamEvent], ChatResponse]:
        if self.mode == "sync":
            with (
                aiguard.Client(stages=no_retry(), endpoints=self.endpoints) as c,
                c.stream(messages, model="llm", **kw) as s,
            ):
                events = list(s)
                return events, s.response

        async def go() -> tuple[list[StreamEvent], ChatResponse]:
            async with (
                aiguard.AsyncClient(stages=no_retry(), endpoints=self.endpoints) as c,
                c.stream(messages, model="llm", **kw) as s,
            ):
                events = [e async for e in s]
                return events, s.response

        return asyncio.run(go())

    def embed(self, inputs: list[str]) -> Any:
        if self.mode == "sync":
            with aiguard.Client(stages=no_retry(), endpoints=self.endpoints) as c:
                return c.embed(inputs, model="llm")

        async def go() -> Any:
            async with aiguard.AsyncClient(stages=no_retry(), endpoints=self.endpoints) as c:
                return await c.embed(inputs, model="llm")

        return asyncio.run(go())


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=sorted(ADAPTERS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def h(fake: FakeProvider, mode: str, name: str) -> Harness:
    return Harness(mode, ADAPTERS[name](fake))


# --------------------------------------------------------------------------- chat


def test_chat_text_usage_and_request_id(h: Harness, fake: FakeProvider, name: str) -> None:
    fake.script(Reply(text="Hello there, friend", usage=(10, 5), cached_tokens=3))
    r = h.chat("Hi", max_tokens=50)
    assert r.text == "Hello there, friend"
    assert r.finish_reason == "stop"
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.cached_input_tokens) == (10, 5, 3)
    assert r.endpoint == "llm" and r.provider == ADAPTERS[name](fake).name
    assert r.request_id == fake.last_request.request_id  # type: ignore[union-attr]
    assert len(fake.requests) == 1


def test_multi_turn_with_system_prompt(h: Harness, fake: FakeProvider) -> None:
    r = h.chat(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question"},
        ]
    )
    assert r.text == "echo: second question"
    sent = json.dumps(fake.last_request.json)  # type: ignore[union-attr]
    assert "Be brief." in sent and "first answer" in sent


def test_echo_stops_at_max_tokens_like_a_model(h: Harness, fake: FakeProvider) -> None:
    # A model never answers past max_tokens: the echo keeps that many words (the fake's
    # tokens) and reports the cut in each format's own words, which decode to "length".
    r = h.chat("one two three four five six", max_tokens=3)
    assert r.text == "echo: one two"
    assert r.finish_reason == "length"
    assert r.usage.output_tokens == 3
    events, s = h.stream("one two three four five six", max_tokens=3)
    assert "".join(e.text for e in events) == "echo: one two" == s.text
    assert s.finish_reason == "length"
    assert h.chat("one two", max_tokens=3).finish_reason == "stop"  # fits: nothing cut


def test_reasoning_tokens_where_reported(h: Harness, fake: FakeProvider, name: str) -> None:
    fake.script(Reply(text="42", usage=(4, 9), reasoning_tokens=6))
    r = h.chat("think")
    assert r.usage.output_tokens == 9
    reports = name in {"openai", "azure", "gemini", "vertex"}
    assert r.usage.reasoning_tokens == (6 if reports else 0)


# --------------------------------------------------------------------------- streams


def test_stream_text_and_usage(h: Harness, fake: FakeProvider) -> None:
    fake.script(Reply(text="The quick brown fox jumps", usage=(7, 5)))
    events, r = h.stream("Go", max_tokens=20)
    assert "".join(e.text for e in events) == "The quick brown fox jumps"
    assert sum(1 for e in events if e.text) > 3  # really streamed, not one blob
    assert r.text == "The quick brown fox jumps" and r.finish_reason == "stop"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (7, 5)


# --------------------------------------------------------------------------- tools

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_tool_calls_and_round_trip(h: Harness, fake: FakeProvider) -> None:
    fake.script(
        Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})])
    )
    r = h.chat("Weather in Paris and Rome?", tools=TOOLS)
    assert r.finish_reason == "tool_calls"
    assert [json.loads(t.function.arguments) for t in r.tool_calls] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]
    fake.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]))
    _, streamed = h.stream("And Oslo?", tools=TOOLS)
    assert streamed.finish_reason == "tool_calls"
    (tc,) = streamed.tool_calls
    assert tc.function.name == "get_weather" and json.loads(tc.function.arguments) == {
        "city": "Oslo"
    }
    # send the results back, as an application would
    history = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        r.message.model_dump(exclude_none=True),
        *[
            {"role": "tool", "tool_call_id": t.id, "content": f'{{"temp": {i}}}'}
            for i, t in enumerate(r.tool_calls)
        ],
    ]
    fake.script(Reply(text="Rome is warmer."))
    final = h.chat(history, tools=TOOLS)
    assert final.text == "Rome is warmer."
    sent = json.dumps(fake.last_request.json)  # type: ignore[union-attr]
    assert "Paris" in sent and "temp" in sent


# --------------------------------------------------------------------------- images

PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def test_image_parts_reach_the_provider(h: Harness, fake: FakeProvider) -> None:
    r = h.chat(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                ],
            }
        ]
    )
    assert r.text == "echo: what is this"
    assert PIXEL in fake.last_request.body.decode()  # type: ignore[union-attr]


# --------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize("embedder", sorted(EMBEDDERS))
def test_embeddings(fake: FakeProvider, mode: str, embedder: str) -> None:
    r = Harness(mode, EMBEDDERS[embedder](fake)).embed(["alpha", "beta"])
    assert len(r.vectors) == 2 and r.vectors[0] != r.vectors[1]
    assert all(len(v) == fake.embed_dimensions for v in r.vectors)


def test_anthropic_has_no_embeddings(fake: FakeProvider, mode: str) -> None:
    with pytest.raises(RefusalError):  # the router (NoRouteError) or the adapter refuses
        Harness(mode, ADAPTERS["anthropic"](fake)).embed(["x"])
    assert fake.requests == []


# --------------------------------------------------------------------------- errors


def test_rate_limit_carries_status_retry_after_and_request_id(
    h: Harness, fake: FakeProvider, name: str
) -> None:
    fake.fault(Fault.status_code(429, retry_after=2))
    with pytest.raises(RateLimitError) as ei:
        h.chat("hi")
    e = ei.value
    assert e.status_code == 429 and e.retry_after == 2.0
    assert e.provider == ADAPTERS[name](fake).name and e.endpoint == "llm"
    assert e.request_id == fake.last_request.request_id  # type: ignore[union-attr]


@pytest.mark.parametrize(("status", "cls"), [(400, BadRequestError), (500, ServerError)])
def test_status_errors(h: Harness, fake: FakeProvider, status: int, cls: type[Exception]) -> None:
    fake.fault(Fault.status_code(status))
    with pytest.raises(cls):
        h.chat("hi")


def test_html_error_page_is_classified_by_status(h: Harness, fake: FakeProvider) -> None:
    fake.fault(Fault.status_code(502, body="<html><body>Bad Gateway</body></html>"))
    with pytest.raises(ServerError) as ei:
        h.chat("hi")
    assert ei.value.status_code == 502


def test_malformed_body_is_decode_error(h: Harness, fake: FakeProvider) -> None:
    fake.fault(Fault.malformed_json())
    with pytest.raises(DecodeError):
        h.chat("hi")


# --------------------------------------------------------------------------- stream faults


def test_stream_without_terminal_event_is_interrupted(h: Harness, fake: FakeProvider) -> None:
    fake.script(Reply(text="one two three four five six"))
    fake.fault(Fault.no_terminal())
    with pytest.raises(StreamInterrupted) as ei:
        h.stream("hi")
    assert ei.value.partial_text == "one two three four five six"


def test_stream_cut_midway_keeps_partial_text(h: Harness, fake: FakeProvider) -> None:
    fake.script(Reply(text="abcdefghijklmnopqrstuvwxyz", chunk_size=4))
    fake.fault(Fault.cut_stream(after=2, clean=True))
    with pytest.raises(StreamInterrupted) as ei:
        h.stream("hi")
    assert ei.value.partial_text == "abcdefgh"


def test_stream_connection_drop_is_a_provider_error(h: Harness, fake: FakeProvider) -> None:
    fake.script(Reply(text="abcdefghijklmnopqrstuvwxyz", chunk_size=4))
    fake.fault(Fault.cut_stream(after=2))
    with pytest.raises(StreamInterrupted) as ei:
        h.stream("hi")
    assert ei.value.partial_text == "abcdefgh"


def test_error_event_mid_stream(h: Harness, fake: FakeProvider) -> None:
    fake.script(Reply(text="abcdefghijkl", chunk_size=4))
    fake.fault(Fault.error_event(after=1, status=429))
    with pytest.raises(StreamInterrupted) as ei:
        h.stream("hi")
    assert ei.value.partial_text == "abcd"
    fake.fault(Fault.error_event(after=0, status=429))
    with pytest.raises(RateLimitError):
        h.stream("hi")


def test_malformed_stream_event(h: Harness, fake: FakeProvider) -> None:
    fake.fault(Fault.malformed_json())
    with pytest.raises(ProviderError):  # DecodeError, or StreamInterrupted if text came first
        h.stream("hi")
