"""Non-streaming answers: echo, scripted replies, tool calls, embeddings, request errors."""

from __future__ import annotations

import base64
import struct
from typing import Any

import httpx
import pytest

from aiguard.testing import FakeProvider, Reply


def chat(http: httpx.Client, text: str = "hello there", **extra: Any) -> httpx.Response:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": text}], **extra}
    return http.post("/chat/completions", json=body)


TEXT_UP = {"type": "text", "text": "up"}


def test_echo_mode_answers_the_last_user_message_with_word_counted_usage(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    body = {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [{"type": "text", "text": "what is "}, TEXT_UP]},
        ],
    }
    r = http.post("/chat/completions", json=body)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "gpt-test"
    assert data["id"].startswith("chatcmpl-")
    assert isinstance(data["created"], int)
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "echo: what is up"
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"
    # prompt: 2 + 2 + 2 + 3 words; completion: "echo: what is up" is 4 words
    assert data["usage"]["prompt_tokens"] == 9
    assert data["usage"]["completion_tokens"] == 4
    assert data["usage"]["total_tokens"] == 13
    assert data["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert data["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0


def test_scripted_replies_are_served_in_order_then_echo(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.script(
        Reply(text="one", usage=(10, 5), cached_tokens=4, reasoning_tokens=2),
        Reply(text="two", finish_reason="length", model="gpt-other"),
    )
    assert fake_provider.pending_replies == 2
    first = chat(http).json()
    assert first["choices"][0]["message"]["content"] == "one"
    usage = first["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        10,
        5,
        15,
    )
    assert usage["prompt_tokens_details"]["cached_tokens"] == 4
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 2
    second = chat(http).json()
    assert second["choices"][0]["message"]["content"] == "two"
    assert second["choices"][0]["finish_reason"] == "length"
    assert second["model"] == "gpt-other"
    assert chat(http, "again").json()["choices"][0]["message"]["content"] == "echo: again"
    assert fake_provider.pending_replies == 0


def test_tool_calls_reply(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(
        Reply(
            tool_calls=[
                ("get_weather", '{"city":"Paris"}'),
                ("get_time", {"tz": "CET"}, "call_custom"),
            ]
        )
    )
    data = chat(http).json()
    message = data["choices"][0]["message"]
    assert message["content"] is None
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    calls = message["tool_calls"]
    assert [c["type"] for c in calls] == ["function", "function"]
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert calls[0]["id"].startswith("call_")
    assert calls[1] == {
        "id": "call_custom",
        "type": "function",
        "function": {"name": "get_time", "arguments": '{"tz":"CET"}'},
    }


def test_raw_body_and_extra_headers(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(Reply(body={"weird": True}, headers={"x-ratelimit-remaining": "7"}))
    r = chat(http)
    assert r.json() == {"weird": True}
    assert r.headers["x-ratelimit-remaining"] == "7"


def test_every_response_has_a_request_id_matching_the_log(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    responses = [chat(http), http.get(f"{fake_provider.url}/nowhere")]
    ids = [r.headers["x-request-id"] for r in responses]
    assert len(set(ids)) == 2
    assert [req.request_id for req in fake_provider.requests] == ids


def test_unknown_route_is_an_openai_style_404(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    r = http.post(f"{fake_provider.url}/v2/nothing", json={})
    assert r.status_code == 404
    assert "no fake route" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not json", "parse the JSON"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "m", "messages": []}', "messages"),
    ],
)
def test_malformed_requests_get_400(http: httpx.Client, content: bytes, fragment: str) -> None:
    r = http.post("/chat/completions", content=content)
    assert r.status_code == 400
    err = r.json()["error"]
    assert fragment in err["message"]
    assert err["type"] == "invalid_request_error"


def test_embeddings_are_deterministic_unit_vectors(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    url = "/embeddings"
    a = http.post(url, json={"model": "emb", "input": ["alpha beta", "gamma"]}).json()
    b = http.post(url, json={"model": "emb", "input": "alpha beta"}).json()
    assert a["object"] == "list"
    assert a["model"] == "emb"
    assert [d["index"] for d in a["data"]] == [0, 1]
    v0, v1 = (d["embedding"] for d in a["data"])
    assert len(v0) == fake_provider.embed_dimensions == 8
    assert v0 == b["data"][0]["embedding"]
    assert v0 != v1
    assert sum(x * x for x in v0) == pytest.approx(1.0, abs=1e-4)
    assert a["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_embedding_dimensions_and_base64(fake_provider: FakeProvider, http: httpx.Client) -> None:
    url = "/embeddings"
    fake_provider.embed_dimensions = 4
    assert (
        len(http.post(url, json={"model": "e", "input": "x"}).json()["data"][0]["embedding"]) == 4
    )
    body = {"model": "e", "input": "x", "dimensions": 16}
    floats = http.post(url, json=body).json()["data"][0]["embedding"]
    encoded = http.post(url, json={**body, "encoding_format": "base64"}).json()
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    assert list(struct.unpack("<16f", raw)) == pytest.approx(floats, abs=1e-6)


def test_embeddings_do_not_consume_chat_replies(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.script(Reply(text="for the chat"))
    http.post("/embeddings", json={"model": "e", "input": "x"})
    assert chat(http).json()["choices"][0]["message"]["content"] == "for the chat"


def test_models_listing(fake_provider: FakeProvider, http: httpx.Client) -> None:
    r = http.get("/models")
    assert r.json()["data"][0]["object"] == "model"


def test_reply_validation() -> None:
    with pytest.raises(ValueError, match="disagree"):
        Reply(text="a", chunks=["b"])
    with pytest.raises(ValueError, match="tool_calls"):
        Reply(tool_calls=[("only-name",)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="usage"):
        Reply(usage=(1, -1))
    assert Reply(chunks=["a", "b"]).text == "ab"


def test_a_rejected_request_leaves_the_reply_queued(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.script(Reply(text="kept"))
    assert http.post("/chat/completions", json={"model": "m", "messages": []}).status_code == 400
    assert chat(http).json()["choices"][0]["message"]["content"] == "kept"
