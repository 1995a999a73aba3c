"""The Anthropic adapter's pure codec, on bodies shaped like Anthropic's documentation.

Shapes follow https://docs.anthropic.com/en/api/messages (request and response),
https://docs.anthropic.com/en/docs/build-with-claude/streaming (event sequence, tool-use
stream with ``input_json_delta``, ``ping`` and ``error`` events),
https://docs.anthropic.com/en/docs/build-with-claude/tool-use (``tool_use``/``tool_result``),
https://docs.anthropic.com/en/docs/build-with-claude/vision (image sources) and
https://docs.anthropic.com/en/api/errors (error body and types).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiguard.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceeded,
    DecodeError,
    InvalidRequestError,
    MissingCredentialsError,
    OverloadedError,
    RateLimitError,
    StreamInterrupted,
)
from aiguard.providers._base import build_provider
from aiguard.providers.anthropic import Anthropic

from ._provider_helpers import chat, decode_all, fake_secret, fold, raw, split_at, sse

KEY = fake_secret("sk", "ant", "test")

MESSAGE = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-sonnet-20241022",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "output_tokens": 503,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
    },
}

TOOL_MESSAGE = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-sonnet-20241022",
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 472, "output_tokens": 91},
    "content": [
        {"type": "text", "text": "I'll check the weather."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "celsius"},
        },
    ],
}

TEXT_STREAM = sse(
    [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude-3-5-sonnet-20241022",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hello"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "! ñ"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 15},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
)

TOOL_STREAM = sse(
    [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
                    "model": "claude-3-haiku-20240307",
                    "usage": {"input_tokens": 472, "output_tokens": 2},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Okay"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "name": "get_weather",
                    "input": {},
                },
            },
        ),
        *[
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
            )
            for piece in ["", '{"location":', ' "San Fra', 'ncisco, CA"}']
        ],
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 89},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
)


def provider(**kw: object) -> Anthropic:
    return Anthropic("claude-3-5-sonnet-20241022", api_key=KEY, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- requests


def test_request_hoists_system_defaults_max_tokens_and_sends_headers() -> None:
    p = provider()
    req = chat(
        [
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi"},
            {"role": "user", "content": "Bye"},
        ],
        temperature=0.3,
        stop=("END",),
        user="u-1",
    )
    http = p.build_chat(req, stream=False, auth=p.auth_headers())
    body = json.loads(http.content)
    assert http.url == "https://api.anthropic.com/v1/messages"
    assert http.headers["x-api-key"] == KEY
    assert http.headers["anthropic-version"] == "2023-06-01"
    assert body == {
        "model": "claude-3-5-sonnet-20241022",
        "max_tokens": 1024,
        "system": "Be terse.\n\nAnswer in English.",
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi"},
            {"role": "user", "content": "Bye"},
        ],
        "temperature": 0.3,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"},
    }
    assert "sk-" not in repr(p)


def test_explicit_and_configured_max_tokens() -> None:
    req = chat("hi", max_tokens=77)
    assert json.loads(provider().build_chat(req, stream=True, auth={}).content)["max_tokens"] == 77
    body = json.loads(
        provider(default_max_tokens=4096).build_chat(chat("hi"), stream=True, auth={}).content
    )
    assert body["max_tokens"] == 4096 and body["stream"] is True


def test_tool_round_trip_and_images() -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the weather",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            },
        }
    ]
    req = chat(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather where this is?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "15 C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "20 C"},
            {"role": "user", "content": "Which is warmer?"},
        ],
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    body = json.loads(provider().build_chat(req, stream=False, auth={}).content)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the weather",
            "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
        }
    ]
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    user, assistant, results = body["messages"]
    assert user["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert user["content"][2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/a.jpg"},
    }
    assert assistant == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"location": "Paris"},
            },
            {
                "type": "tool_use",
                "id": "toolu_2",
                "name": "get_weather",
                "input": {"location": "Rome"},
            },
        ],
    }
    # every tool_result of the turn, then the user's text, in ONE user message
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "15 C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "20 C"},
            {"type": "text", "text": "Which is warmer?"},
        ],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"})],
)
def test_tool_choice_strings(choice: str, expected: dict[str, str]) -> None:
    body = json.loads(
        provider().build_chat(chat("x", tool_choice=choice), stream=False, auth={}).content
    )
    assert body["tool_choice"] == expected


def test_bad_input_is_a_config_error_naming_the_message() -> None:
    bad_args = chat(
        [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{not json"}}],
            },
        ]
    )
    with pytest.raises(InvalidRequestError, match=r"messages\[1\]"):
        provider().build_chat(bad_args, stream=False, auth={})
    with pytest.raises(InvalidRequestError, match="base64"):
        provider().build_chat(
            chat(
                [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png,abc"}}
                        ],
                    }
                ]
            ),
            stream=False,
            auth={},
        )
    with pytest.raises(InvalidRequestError, match="JSON mode"):
        provider().build_chat(
            chat("x", response_format={"type": "json_object"}), stream=False, auth={}
        )


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingCredentialsError, match="ANTHROPIC_API_KEY"):
        Anthropic("claude-3-5-haiku-latest").auth_headers("claude")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    assert Anthropic("claude-3-5-haiku-latest").auth_headers() == {"x-api-key": KEY}


def test_registered_and_buildable_from_config() -> None:
    p = build_provider(
        {"provider": "anthropic", "model": "claude-3-5-haiku-latest", "api_key": KEY}
    )
    assert isinstance(p, Anthropic)
    assert KEY not in repr(p) and KEY not in str(p.describe())


# --------------------------------------------------------------------------- responses


def test_decode_message_with_cache_usage() -> None:
    r = provider().parse_chat(raw(200, MESSAGE))
    assert r.text == "Hi! My name is Claude."
    assert r.finish_reason == "stop"
    assert r.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert r.usage.input_tokens == 2095 + 100 + 1000
    assert r.usage.cached_input_tokens == 1000
    assert r.usage.cache_creation_input_tokens == 100
    assert r.usage.output_tokens == 503


def test_decode_tool_use() -> None:
    r = provider().parse_chat(raw(200, TOOL_MESSAGE))
    assert r.finish_reason == "tool_calls"
    assert r.text == "I'll check the weather."
    (tc,) = r.tool_calls
    assert tc.id == "toolu_01A09q90qw90lq917835lq9"
    assert json.loads(tc.function.arguments) == {"location": "San Francisco, CA", "unit": "celsius"}


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("new_thing", "unknown"),
    ],
)
def test_stop_reasons(reason: str, finish: str) -> None:
    assert (
        provider().parse_chat(raw(200, {**MESSAGE, "stop_reason": reason})).finish_reason == finish
    )


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b'{"content": 3}', b'{"id": "x"}', b'{"content": [{"type": "text"}]}'],
)
def test_malformed_bodies_are_decode_errors(body: bytes) -> None:
    with pytest.raises(DecodeError):
        provider().parse_chat(raw(200, body))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "kind", "message", "cls"),
    [
        (529, "overloaded_error", "Overloaded", OverloadedError),
        (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            RateLimitError,
        ),
        (401, "authentication_error", "invalid x-api-key", AuthenticationError),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            ContextWindowExceeded,
        ),
        (400, "invalid_request_error", "messages: roles must alternate", BadRequestError),
    ],
)
def test_classify_errors(status: int, kind: str, message: str, cls: type[Exception]) -> None:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    err = provider().classify_error(
        raw(status, body, {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy", "retry-after": "7"})
    )
    assert type(err) is cls
    assert err.status_code == status and err.provider == "anthropic"
    assert err.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy"
    assert err.retry_after == 7.0
    assert KEY not in str(err)


def test_overloaded_is_retryable_and_non_json_error_falls_back_to_status() -> None:
    assert (
        provider()
        .classify_error(raw(529, {"type": "error", "error": {"type": "overloaded_error"}}))
        .retryable
    )
    err = provider().classify_error(raw(502, b"<html>bad gateway</html>"))
    assert err.status_code == 502 and err.retryable


# --------------------------------------------------------------------------- streams


def test_text_stream_events_and_usage() -> None:
    events = decode_all(provider().stream_decoder(), [TEXT_STREAM])
    assert "".join(e.text for e in events) == "Hello! ñ"
    r = fold(events)
    assert r.finish_reason == "stop"
    assert r.usage.input_tokens == 30 and r.usage.cached_input_tokens == 5
    assert r.usage.output_tokens == 15
    assert r.id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"


def test_tool_stream_folds_to_tool_call() -> None:
    r = fold(decode_all(provider().stream_decoder(), [TOOL_STREAM]))
    assert r.text == "Okay"
    assert r.finish_reason == "tool_calls"
    (tc,) = r.tool_calls
    assert tc.id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6" and tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"location": "San Francisco, CA"}


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_chunk_split_decodes_the_same(cuts: list[int]) -> None:
    for body in (TEXT_STREAM, TOOL_STREAM):
        whole = fold(decode_all(provider().stream_decoder(), [body]))
        pieces = fold(decode_all(provider().stream_decoder(), split_at(body, cuts)))
        assert pieces == whole


def test_stream_without_message_stop_is_interrupted_with_partial_text() -> None:
    body = TEXT_STREAM[: TEXT_STREAM.index(b"event: message_delta")]
    d = provider().stream_decoder()
    d.feed(body)
    with pytest.raises(StreamInterrupted) as ei:
        d.close()
    assert ei.value.partial_text == "Hello! ñ"


def test_error_event_mid_stream_raises_typed_error() -> None:
    body = TEXT_STREAM[: TEXT_STREAM.index(b"event: content_block_stop")] + sse(
        [
            (
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            )
        ]
    )
    with pytest.raises(OverloadedError, match="Overloaded"):
        provider().stream_decoder().feed(body)


def test_malformed_stream_event_is_decode_error() -> None:
    with pytest.raises(DecodeError):
        provider().stream_decoder().feed(b"event: message_start\ndata: {oops\n\n")
    with pytest.raises(DecodeError):
        provider().stream_decoder().feed(
            sse([("content_block_delta", {"type": "content_block_delta"})])
        )


def test_server_tool_input_deltas_are_not_client_tool_calls() -> None:
    """Server tools (web search) stream ``server_tool_use`` blocks with input_json_delta too."""
    body = TEXT_STREAM.replace(
        b"event: message_delta",
        sse(
            [
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 1,
                        "content_block": {
                            "type": "server_tool_use",
                            "id": "srvtoolu_1",
                            "name": "web_search",
                        },
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": '{"q":'},
                    },
                ),
            ]
        )
        + b"event: message_delta",
        1,
    )
    r = fold(decode_all(provider().stream_decoder(), [body]))
    assert r.text == "Hello! ñ" and r.tool_calls == ()
