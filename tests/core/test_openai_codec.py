"""The OpenAI adapter's pure codec, on bodies shaped like the API reference's examples.

Shapes follow https://platform.openai.com/docs/api-reference/chat/create (response and
streaming chunk objects) and /docs/api-reference/embeddings/create.
"""

from __future__ import annotations

import json

import httpx
import pytest

from aiguard._effects import RawResponse
from aiguard._types import ChatRequest, Message, coerce_messages
from aiguard.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceeded,
    DecodeError,
    OverloadedError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
)
from aiguard.providers import OpenAI, OpenAICompatible

COMPLETION = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The image shows a wooden boardwalk.",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 7, "audio_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}

TOOL_COMPLETION = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1699896916,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{\n"location": "Boston, MA"\n}',
                        },
                    },
                    {
                        "id": "call_def456",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    },
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
}


def raw(body: object, status: int = 200, **headers: str) -> RawResponse:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawResponse(status, httpx.Headers(headers), content)


def provider() -> OpenAI:
    return OpenAI(model="gpt-4o-mini", api_key="test-key")


def test_encode_chat_body_and_headers() -> None:
    req = ChatRequest(
        messages=coerce_messages(
            [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ]
        ),
        max_tokens=50,
        temperature=0,
        seed=7,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        response_format={"type": "json_object"},
        extra={"logit_bias": {"50256": -100}},
    )
    http = provider().build_chat(req, stream=True, auth={"authorization": "Bearer k"})
    assert http.url == "https://api.openai.com/v1/chat/completions"
    assert http.headers["authorization"] == "Bearer k"
    assert http.headers["accept"] == "text/event-stream"
    body = json.loads(http.content)
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA"},
    }
    assert body["messages"][2]["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}
    assert body["messages"][3] == {"role": "tool", "content": "42", "tool_call_id": "c1"}
    assert body["max_tokens"] == 50 and body["temperature"] == 0 and body["seed"] == 7
    assert body["response_format"] == {"type": "json_object"}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["logit_bias"] == {"50256": -100}


def test_reasoning_models_use_max_completion_tokens() -> None:
    req = ChatRequest(messages=(Message(role="user", content="hi"),), max_tokens=9)
    body = json.loads(
        OpenAI(model="o3-mini", api_key="k").build_chat(req, stream=False, auth={}).content
    )
    assert body["max_completion_tokens"] == 9 and "max_tokens" not in body


def test_decode_completion_usage_details() -> None:
    r = provider().parse_chat(raw(COMPLETION))
    assert r.text == "The image shows a wooden boardwalk."
    assert r.finish_reason == "stop"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (1117, 46)
    assert r.usage.cached_input_tokens == 1024 and r.usage.reasoning_tokens == 7
    assert r.model == "gpt-4o-2024-08-06" and r.id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"


def test_decode_parallel_tool_calls() -> None:
    r = provider().parse_chat(raw(TOOL_COMPLETION))
    assert r.finish_reason == "tool_calls"
    assert [t.function.name for t in r.tool_calls] == ["get_current_weather", "get_time"]
    assert json.loads(r.tool_calls[0].function.arguments) == {"location": "Boston, MA"}


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"",
        b'{"choices": []}',
        b'{"choices": [{"message": 3}]}',
        b"[1,2]",
    ],
)
def test_malformed_bodies_are_decode_errors(body: bytes) -> None:
    with pytest.raises(DecodeError) as e:
        provider().parse_chat(raw(body))
    assert e.value.provider == "openai"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_json_bodies_decode_in_any_encoding_json_allows(encoding: str) -> None:
    """UTF-8 takes a fast path; a byte-order mark or UTF-16 still decodes as JSON allows."""
    body = json.dumps({**COMPLETION, "model": "gpt-4o-mini-\u00e9"}, ensure_ascii=False)
    resp = provider().parse_chat(raw(body.encode(encoding)))
    assert resp.model == "gpt-4o-mini-\u00e9"


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, {"error": {"message": "bad", "type": "invalid_request_error"}}, BadRequestError),
        (
            400,
            {"error": {"message": "too long", "code": "context_length_exceeded"}},
            ContextWindowExceeded,
        ),
        (401, {"error": {"message": "Incorrect API key provided"}}, AuthenticationError),
        (429, {"error": {"message": "slow down", "type": "requests"}}, RateLimitError),
        (500, b"oops", ServerError),
        (529, {"error": {"message": "overloaded"}}, OverloadedError),
    ],
)
def test_error_classification(status: int, body: object, cls: type) -> None:
    err = provider().classify_error(
        raw(body, status, **{"x-request-id": "req_1", "retry-after": "2"})
    )
    assert type(err) is cls
    assert err.status_code == status and err.request_id == "req_1" and err.retry_after == 2.0
    assert err.provider == "openai"


def test_retry_after_ms_wins_and_http_dates_parse() -> None:
    err = provider().classify_error(raw({}, 429, **{"retry-after-ms": "1500", "retry-after": "9"}))
    assert err.retry_after == 1.5


def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def sse(*objs: object, done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(o).encode() + b"\n\n" for o in objs)
    return body + (b"data: [DONE]\n\n" if done else b"")


def test_stream_text_tools_and_usage() -> None:
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk({}, "tool_calls"),
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini",
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
        },
    )
    dec = provider().stream_decoder()
    events = [e for i in range(0, len(body), 7) for e in dec.feed(body[i : i + 7])]
    dec.close()
    assert "".join(e.text for e in events) == "Hello"
    assert "".join(e.tool_call.arguments for e in events if e.tool_call) == '{"a":1}'
    assert events[-2].finish_reason == "tool_calls"
    assert events[-1].usage is not None and events[-1].usage.input_tokens == 9


def test_stream_without_done_is_interrupted() -> None:
    dec = provider().stream_decoder()
    dec.feed(sse(chunk({"content": "Hi"}), done=False))
    with pytest.raises(StreamInterrupted):
        dec.close()


def test_stream_error_event_raises_typed_error() -> None:
    dec = provider().stream_decoder()
    with pytest.raises(ServerError):
        dec.feed(sse({"error": {"message": "internal", "type": "server_error"}}, done=False))


def test_compatible_server_without_key_sends_no_auth() -> None:
    vllm = OpenAICompatible("http://127.0.0.1:8000/v1", "llama-3.1-8b")
    assert vllm.auth_headers() == {}
    groq = OpenAICompatible("http://127.0.0.1:1/openai/v1", "m", api_key="k", auth_header="api-key")
    assert groq.auth_headers() == {"api-key": "k"}
    assert "k" not in repr(groq)
