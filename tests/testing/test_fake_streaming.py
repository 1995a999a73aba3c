"""Streaming framing, OpenAI's chunk sequence: role, content, tool deltas, finish, usage, DONE."""

from __future__ import annotations

import json
from typing import Any

import httpx
from _fake_helpers import chat_body

from aiguard.providers._sse import SSEParser
from aiguard.testing import FakeProvider, Reply


def read_stream(http: httpx.Client, body: dict[str, Any]) -> tuple[httpx.Response, bytes]:
    with http.stream("POST", "/chat/completions", json=body) as r:
        raw = b"".join(r.iter_raw())
    return r, raw


def events(raw: bytes) -> list[str]:
    parser = SSEParser()
    out = [e.data for e in parser.feed(raw)]
    assert not parser.pending
    return out


def chunks(raw: bytes) -> list[dict[str, Any]]:
    data = events(raw)
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def test_stream_framing_and_chunk_sequence(http: httpx.Client) -> None:
    r, raw = read_stream(http, chat_body("hi you", stream=True))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["transfer-encoding"] == "chunked"
    assert "x-request-id" in r.headers
    assert raw.endswith(b"data: [DONE]\n\n")
    assert all(block.startswith(b"data: ") for block in raw.split(b"\n\n") if block)
    parsed = chunks(raw)
    ids = {c["id"] for c in parsed}
    assert len(ids) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gpt-test" for c in parsed)
    assert parsed[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    content = [c["choices"][0]["delta"].get("content") for c in parsed[1:-2]]
    assert content == ["echo", ": hi", " you"]  # default chunk_size is 4 characters
    finish = parsed[-2]
    assert finish["choices"][0]["delta"] == {}
    assert finish["choices"][0]["finish_reason"] == "stop"
    usage_chunk = parsed[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 2
    assert usage_chunk["usage"]["completion_tokens"] == 3
    assert all(c["usage"] is None for c in parsed[:-1])


def test_usage_chunk_only_when_requested(http: httpx.Client) -> None:
    _, raw = read_stream(http, chat_body(stream=True, usage=False))
    parsed = chunks(raw)
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in parsed)


def test_exact_chunks_and_chunk_size(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(Reply(chunks=["Hel", "lo", " world"]), Reply(text="abcdef", chunk_size=5))
    _, raw = read_stream(http, chat_body(stream=True))
    assert [c["choices"][0]["delta"].get("content") for c in chunks(raw)[1:4]] == [
        "Hel",
        "lo",
        " world",
    ]
    _, raw = read_stream(http, chat_body(stream=True))
    assert [c["choices"][0]["delta"].get("content") for c in chunks(raw)[1:3]] == ["abcde", "f"]
    fake_provider.chunk_size = 100
    _, raw = read_stream(http, chat_body("long enough text", stream=True))
    assert chunks(raw)[1]["choices"][0]["delta"]["content"] == "echo: long enough text"


def test_tool_call_deltas(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(
        Reply(
            text="Let me check.",
            tool_calls=[("get_weather", '{"city":"Paris"}'), ("get_time", "{}")],
            chunk_size=6,
            usage=(7, 3),
        )
    )
    _, raw = read_stream(http, chat_body(stream=True))
    deltas = [c["choices"][0]["delta"] for c in chunks(raw)[:-1] if c["choices"]]
    tool_deltas = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    first = tool_deltas[0]
    assert first["index"] == 0 and first["type"] == "function"
    assert first["id"].startswith("call_")
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    args0 = [d["function"]["arguments"] for d in tool_deltas[1:] if d["index"] == 0]
    assert args0 == ['{"city', '":"Par', 'is"}']
    assert all("id" not in d and "name" not in d["function"] for d in tool_deltas[1:4])
    second = tool_deltas[4]
    assert second["index"] == 1 and second["function"]["name"] == "get_time"
    text = "".join(d.get("content") or "" for d in deltas)
    assert text == "Let me check."
    parsed = chunks(raw)
    assert parsed[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert parsed[-1]["usage"]["total_tokens"] == 10


async def test_async_stream(ahttp: httpx.AsyncClient) -> None:
    async with ahttp.stream("POST", "/chat/completions", json=chat_body("x", stream=True)) as r:
        parser = SSEParser()
        data = [e.data async for chunk in r.aiter_raw() for e in parser.feed(chunk)]
    assert data[-1] == "[DONE]"
    text = "".join(
        (json.loads(d)["choices"] or [{"delta": {}}])[0]["delta"].get("content") or ""
        for d in data[:-1]
    )
    assert text == "echo: x"
