"""Property: any answer, rendered in any provider's wire format and split anywhere, decodes back.

Each adapter builds its request; the fake's route for that request renders a random ``Reply``
(unicode text in random pieces, tool calls with random JSON arguments) as that provider would;
the adapter decodes the body, and the stream cut at random byte offsets. Both must give back
exactly the reply. No sockets: the routes are called directly, so hypothesis can run many cases.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiguard._effects import RawResponse
from aiguard._types import ChatRequest, ChatResponse, coerce_messages
from aiguard.providers import OpenAICompatible
from aiguard.providers._base import Provider
from aiguard.providers.anthropic import Anthropic
from aiguard.providers.azure import AzureOpenAI
from aiguard.providers.bedrock import Bedrock
from aiguard.providers.gemini import Gemini, VertexAI
from aiguard.testing import Reply, Stream
from aiguard.testing._wire import Body, Call, RecordedRequest, registered_routes

from ._provider_helpers import decode_all, fake_secret, fold, split_at

URL = "http://127.0.0.1:9"
KEY = fake_secret("sk", "prop")

ADAPTERS: dict[str, Provider] = {
    "openai": OpenAICompatible(base_url=f"{URL}/v1", model="m", api_key=KEY),
    "anthropic": Anthropic("claude", api_key=KEY, base_url=URL),
    "gemini": Gemini("gemini", api_key=KEY, base_url=URL),
    "vertex": VertexAI("gemini", project="p", access_token=KEY, base_url=URL),
    "bedrock": Bedrock(
        "anthropic.claude-v1:0",
        region="us-east-1",
        aws_access_key_id="AKIA" + "PROP" * 4,
        aws_secret_access_key=fake_secret("s"),
        base_url=URL,
    ),
    "azure": AzureOpenAI("dep", endpoint=URL, api_key=KEY),
}

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def render(provider: Provider, reply: Reply, *, stream: bool) -> Body | Stream:
    request = ChatRequest(messages=coerce_messages("hi"), tools=TOOLS)
    auth = provider.auth_headers()
    if not isinstance(auth, dict):
        auth = auth.sync()
    http = provider.build_chat(request, stream=stream, auth=auth)
    target = "/" + http.url.split("://", 1)[1].partition("/")[2]
    path, _, qs = target.partition("?")
    for route in registered_routes():
        if route.method != "POST":
            continue
        m = route.regex.match(path) if route.regex is not None else None
        if route.pattern == path or m:
            params = {k: unquote(v) for k, v in m.groupdict().items()} if m else {}
            break
    else:
        raise AssertionError(f"no fake route for {path}")
    headers = {k.lower(): v for k, v in http.headers.items()}
    rec = RecordedRequest(
        "POST", path, headers, json.loads(http.content), http.content, 0.0,
        dict(parse_qsl(qs)), params, "req_prop",
    )  # fmt: skip
    return route.handler(Call(rec, params, reply, 1, 3, 8))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
replies = st.builds(
    lambda pieces, calls, usage: Reply(
        chunks=pieces or None,
        tool_calls=[("f", args, f"id_{i}") for i, args in enumerate(calls)],
        usage=usage,
    ),
    st.lists(st.text(min_size=1, max_size=6), max_size=6),
    st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=3), max_size=2),
    st.tuples(st.integers(0, 500), st.integers(0, 500)),
).filter(lambda r: bool(r.text or r.tool_calls))


def check(reply: Reply, got: ChatResponse) -> None:
    assert got.text == (reply.text or "")
    assert [json.loads(t.function.arguments) for t in got.tool_calls] == [
        json.loads(str(c[1])) for c in reply.tool_calls
    ]
    assert got.finish_reason == ("tool_calls" if reply.tool_calls else "stop")
    assert reply.usage is not None
    assert (got.usage.input_tokens, got.usage.output_tokens) == reply.usage


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reply=replies, cuts=st.lists(st.integers(0, 20_000), max_size=8))
def test_any_answer_round_trips(name: str, reply: Reply, cuts: list[int]) -> None:
    provider = ADAPTERS[name]
    body = render(provider, reply, stream=False)
    assert isinstance(body, Body)
    check(reply, provider.parse_chat(RawResponse(200, {}, body.content)))
    stream = render(provider, reply, stream=True)
    assert isinstance(stream, Stream)
    whole = b"".join(stream.events)
    check(reply, fold(decode_all(provider.stream_decoder(), split_at(whole, cuts))))


def test_every_adapter_has_a_fake_route() -> None:
    for provider in ADAPTERS.values():
        reply: Any = Reply(text="x", usage=(1, 1))
        assert isinstance(render(provider, reply, stream=False), Body)
