"""The Gemini and Vertex AI adapters' pure codec, on bodies shaped like Google's documentation.

Shapes follow https://ai.google.dev/api/generate-content (GenerateContentRequest/Response,
UsageMetadata with ``thoughtsTokenCount``/``cachedContentTokenCount``, FinishReason,
PromptFeedback.BlockReason, ``streamGenerateContent?alt=sse``),
https://ai.google.dev/gemini-api/docs/function-calling (functionCall / functionResponse),
https://ai.google.dev/api/embeddings (``batchEmbedContents``),
https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference (Vertex URL)
and https://cloud.google.com/apis/design/errors (google.rpc.Status error bodies, RetryInfo).
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiguard._effects import Io
from aiguard._types import EmbeddingRequest
from aiguard.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ContextWindowExceeded,
    DecodeError,
    InvalidRequestError,
    MissingCredentialsError,
    OverloadedError,
    RateLimitError,
    StreamInterrupted,
)
from aiguard.providers._auth import StaticToken
from aiguard.providers.gemini import Gemini, VertexAI

from ._provider_helpers import chat, decode_all, fake_secret, fold, raw, split_at, sse

KEY = fake_secret("AIza", "test")

RESPONSE = {
    "candidates": [
        {
            "content": {"parts": [{"text": "The capital of France is Paris."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}
            ],
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 12,
        "candidatesTokenCount": 7,
        "thoughtsTokenCount": 30,
        "cachedContentTokenCount": 4,
        "totalTokenCount": 49,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "Il0taoSYJ5Cez7",
}

CALL_RESPONSE = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {
                            "name": "set_light_values",
                            "args": {"brightness": 25, "color_temp": "warm"},
                        }
                    }
                ],
            },
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 10, "totalTokenCount": 60},
}

STREAM = sse(
    [
        (
            None,
            {
                "candidates": [
                    {"content": {"parts": [{"text": "The"}], "role": "model"}, "index": 0}
                ],
                "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
                "modelVersion": "gemini-2.0-flash",
                "responseId": "r1",
            },
        ),
        (
            None,
            {
                "candidates": [
                    {"content": {"parts": [{"text": " quick brown"}], "role": "model"}, "index": 0}
                ],
                "modelVersion": "gemini-2.0-flash",
                "responseId": "r1",
            },
        ),
        (
            None,
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": " fox ü"}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 8,
                    "candidatesTokenCount": 5,
                    "thoughtsTokenCount": 2,
                    "totalTokenCount": 15,
                },
                "modelVersion": "gemini-2.0-flash",
                "responseId": "r1",
            },
        ),
    ]
)

CALL_STREAM = sse(
    [
        (
            None,
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [
                                {
                                    "functionCall": {
                                        "name": "get_weather",
                                        "args": {"city": "Paris"},
                                    }
                                },
                                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                            ],
                            "role": "model",
                        },
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9},
            },
        ),
    ]
)


def gemini() -> Gemini:
    return Gemini("gemini-2.0-flash", api_key=KEY)


def vertex() -> VertexAI:
    return VertexAI(
        "gemini-2.0-flash",
        project="my-proj",
        location="europe-west4",
        access_token=fake_secret("ya29", "t"),
    )


# --------------------------------------------------------------------------- requests


def test_gemini_request_shape_url_and_key_header() -> None:
    req = chat(
        [
            {"role": "system", "content": "You are a cat."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Meow"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                ],
            },
        ],
        max_tokens=100,
        temperature=0.5,
        top_p=0.9,
        stop=("x",),
        seed=7,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}},
        },
    )
    p = gemini()
    http = p.build_chat(req, stream=False, auth=p.auth_headers())
    assert (
        http.url
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    )
    assert http.headers["x-goog-api-key"] == KEY
    assert KEY not in http.url
    body = json.loads(http.content)
    assert body == {
        "systemInstruction": {"parts": [{"text": "You are a cat."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hello"}]},
            {"role": "model", "parts": [{"text": "Meow"}]},
            {
                "role": "user",
                "parts": [
                    {"text": "What is this?"},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
                ],
            },
        ],
        "generationConfig": {
            "maxOutputTokens": 100,
            "temperature": 0.5,
            "topP": 0.9,
            "stopSequences": ["x"],
            "seed": 7,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
        },
    }
    stream = p.build_chat(req, stream=True, auth={})
    assert stream.url.endswith(":streamGenerateContent?alt=sse")


def test_function_call_round_trip() -> None:
    req = chat(
        [
            {"role": "user", "content": "Dim the lights"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_0",
                        "function": {"name": "set_light_values", "arguments": '{"brightness": 25}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_0", "content": '{"brightness": 25, "ok": true}'},
            {"role": "tool", "tool_call_id": "call_0", "name": "log", "content": "done"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "set_light_values",
                    "description": "Set lights",
                    "parameters": {
                        "type": "object",
                        "properties": {"brightness": {"type": "integer"}},
                    },
                },
            }
        ],
        tool_choice="required",
    )
    body = json.loads(gemini().build_chat(req, stream=False, auth={}).content)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "set_light_values",
                    "description": "Set lights",
                    "parameters": {
                        "type": "object",
                        "properties": {"brightness": {"type": "integer"}},
                    },
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["contents"][1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "set_light_values", "args": {"brightness": 25}}}],
    }
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "set_light_values",
                    "response": {"brightness": 25, "ok": True},
                }
            },
            {"functionResponse": {"name": "log", "response": {"result": "done"}}},
        ],
    }


def test_tool_result_without_known_name_is_config_error() -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[1\].*function name"):
        gemini().build_chat(
            chat(
                [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "zz", "content": "1"},
                ]
            ),
            stream=False,
            auth={},
        )


def test_key_from_either_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(MissingCredentialsError, match="GEMINI_API_KEY"):
        Gemini("gemini-2.0-flash").auth_headers()
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    assert Gemini("models/gemini-2.0-flash").auth_headers() == {"x-goog-api-key": KEY}


def test_vertex_url_bearer_and_embed() -> None:
    p = vertex()
    auth = p.auth_headers()
    assert isinstance(auth, dict) and auth["authorization"].startswith("Bearer ")
    http = p.build_chat(chat("hi"), stream=False, auth=auth)
    assert http.url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/europe-west4"
        "/publishers/google/models/gemini-2.0-flash:generateContent"
    )
    assert "ya29" not in repr(p)
    g = VertexAI("gemini-2.0-flash", project="p", location="global", token_source=StaticToken("t"))
    assert g.build_chat(chat("hi"), stream=True, auth={}).url.startswith(
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"
    )
    e = VertexAI("text-embedding-005", project="p", access_token="t").build_embed(
        EmbeddingRequest(inputs=("a", "b"), dimensions=8), auth={}
    )
    assert e.url.endswith("/models/text-embedding-005:predict")
    assert json.loads(e.content) == {
        "instances": [{"content": "a"}, {"content": "b"}],
        "parameters": {"outputDimensionality": 8},
    }
    assert p.invalidate_credentials() is False  # a fixed token cannot be refreshed


def test_vertex_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT"):
        VertexAI("gemini-2.0-flash")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    p = VertexAI("gemini-2.0-flash")  # default credentials: google-auth, resolved lazily
    auth = p.auth_headers()
    assert isinstance(auth, Io)
    spec = importlib.util.find_spec
    if spec("google") is None or spec("google.auth") is None:
        with pytest.raises(ConfigError, match=r"aiguard\[google\]"):
            auth.sync()


# --------------------------------------------------------------------------- responses


def test_decode_response_usage_with_thoughts_and_cache() -> None:
    r = gemini().parse_chat(raw(200, RESPONSE))
    assert r.text == "The capital of France is Paris."
    assert r.finish_reason == "stop"
    assert r.model == "gemini-2.5-flash" and r.id == "Il0taoSYJ5Cez7"
    assert r.usage.input_tokens == 12 and r.usage.cached_input_tokens == 4
    assert r.usage.output_tokens == 37 and r.usage.reasoning_tokens == 30


def test_decode_function_call_and_thought_parts_skipped() -> None:
    r = gemini().parse_chat(raw(200, CALL_RESPONSE))
    assert r.finish_reason == "tool_calls"
    (tc,) = r.tool_calls
    assert tc.id == "call_0" and tc.function.name == "set_light_values"
    assert json.loads(tc.function.arguments) == {"brightness": 25, "color_temp": "warm"}
    thought = {
        "candidates": [
            {
                "content": {"parts": [{"text": "hmm", "thought": True}, {"text": "4"}]},
                "finishReason": "STOP",
            }
        ]
    }
    assert gemini().parse_chat(raw(200, thought)).text == "4"


@pytest.mark.parametrize(
    "reason", ["SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "RECITATION", "SPII"]
)
def test_safety_finish_reasons_are_content_filter(reason: str) -> None:
    body = {"candidates": [{"finishReason": reason, "index": 0, "safetyRatings": []}]}
    r = gemini().parse_chat(raw(200, body))
    assert r.finish_reason == "content_filter" and r.text == ""


def test_prompt_block_is_content_filter() -> None:
    body = {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 9},
    }
    r = gemini().parse_chat(raw(200, body))
    assert r.finish_reason == "content_filter" and r.usage.input_tokens == 9


def test_max_tokens_is_length() -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "abc"}]}, "finishReason": "MAX_TOKENS"}]}
    assert gemini().parse_chat(raw(200, body)).finish_reason == "length"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]}',
        b'{"candidates": 5}',
    ],
)
def test_malformed_bodies_are_decode_errors(body: bytes) -> None:
    with pytest.raises(DecodeError):
        gemini().parse_chat(raw(200, body))


def test_embeddings() -> None:
    http = gemini().build_embed(EmbeddingRequest(inputs=("a", "b"), dimensions=3), auth={})
    assert http.url.endswith("/models/gemini-2.0-flash:batchEmbedContents")
    assert json.loads(http.content)["requests"][1] == {
        "model": "models/gemini-2.0-flash",
        "content": {"parts": [{"text": "b"}]},
        "outputDimensionality": 3,
    }
    r = gemini().parse_embed(
        raw(200, {"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]})
    )
    assert r.vectors == ((0.1, 0.2), (0.3, 0.4))
    v = vertex().parse_embed(
        raw(
            200,
            {"predictions": [{"embeddings": {"values": [1, 2], "statistics": {"token_count": 3}}}]},
        )
    )
    assert v.vectors == ((1.0, 2.0),) and v.usage.input_tokens == 3


# --------------------------------------------------------------------------- errors


def test_resource_exhausted_is_rate_limit_with_retry_info() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"}],
        }
    }
    err = gemini().classify_error(raw(429, body))
    assert type(err) is RateLimitError and err.retry_after == 31.0 and err.retryable


@pytest.mark.parametrize(
    ("status", "rpc", "message", "cls"),
    [
        (
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed.",
            ContextWindowExceeded,
        ),
        (400, "INVALID_ARGUMENT", "Invalid JSON payload received.", BadRequestError),
        (
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            AuthenticationError,
        ),
        (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", OverloadedError),
    ],
)
def test_classify(status: int, rpc: str, message: str, cls: type[Exception]) -> None:
    err = gemini().classify_error(
        raw(status, {"error": {"code": status, "message": message, "status": rpc}})
    )
    assert type(err) is cls and err.status_code == status and err.provider == "gemini"
    vertex_list = vertex().classify_error(
        raw(status, [{"error": {"code": status, "message": message, "status": rpc}}])
    )
    assert type(vertex_list) is cls


# --------------------------------------------------------------------------- streams


def test_stream_text_finish_and_usage() -> None:
    r = fold(decode_all(gemini().stream_decoder(), [STREAM]))
    assert r.text == "The quick brown fox ü"
    assert r.finish_reason == "stop"
    assert r.usage.output_tokens == 7 and r.usage.reasoning_tokens == 2
    assert r.model == "gemini-2.0-flash"


def test_stream_function_calls() -> None:
    r = fold(decode_all(gemini().stream_decoder(), [CALL_STREAM]))
    assert r.finish_reason == "tool_calls"
    assert [json.loads(t.function.arguments)["city"] for t in r.tool_calls] == ["Paris", "Rome"]
    assert [t.id for t in r.tool_calls] == ["call_0", "call_1"]


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_chunk_split_decodes_the_same(cuts: list[int]) -> None:
    for body in (STREAM, CALL_STREAM):
        assert fold(decode_all(gemini().stream_decoder(), split_at(body, cuts))) == fold(
            decode_all(gemini().stream_decoder(), [body])
        )


def test_stream_without_finish_reason_is_interrupted() -> None:
    body = STREAM[: STREAM.rindex(b"data:")]
    d = gemini().stream_decoder()
    d.feed(body)
    with pytest.raises(StreamInterrupted) as ei:
        d.close()
    assert ei.value.partial_text == "The quick brown"


def test_stream_safety_block_terminates() -> None:
    body = sse(
        [
            (None, {"candidates": [{"content": {"parts": [{"text": "Once"}]}}]}),
            (None, {"candidates": [{"finishReason": "SAFETY"}]}),
        ]
    )
    r = fold(decode_all(gemini().stream_decoder(), [body]))
    assert r.finish_reason == "content_filter" and r.text == "Once"
    blocked = sse([(None, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})])
    assert fold(decode_all(gemini().stream_decoder(), [blocked])).finish_reason == "content_filter"


def test_stream_error_chunk_raises_typed_error() -> None:
    body = sse(
        [(None, {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}})]
    )
    with pytest.raises(RateLimitError):
        gemini().stream_decoder().feed(body)
    with pytest.raises(DecodeError):
        gemini().stream_decoder().feed(b"data: {nope\n\n")


def test_late_usage_chunk_after_finish_is_kept() -> None:
    body = sse(
        [
            (
                None,
                {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}]},
            ),
            (None, {"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}}),
        ]
    )
    r = fold(decode_all(gemini().stream_decoder(), [body]))
    assert r.text == "hi" and r.usage.input_tokens == 3 and r.usage.output_tokens == 1
