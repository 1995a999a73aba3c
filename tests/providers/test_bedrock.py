"""The Bedrock adapter: Converse codec, ConverseStream events, SigV4 signing, errors, embeddings.

Shapes follow https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
(request/response, ``toolUse``/``toolResult`` blocks, ``stopReason``, ``usage``),
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html and
API_runtime_ConverseStreamOutput.html (event and exception members),
https://docs.aws.amazon.com/bedrock/latest/APIReference/CommonErrors.html (``x-amzn-ErrorType``)
and https://docs.aws.amazon.com/bedrock/latest/userguide/titan-embedding-models.html (Titan).
"""

from __future__ import annotations

import json
from typing import Any

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
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
)
from aiguard.providers._eventstream import encode_message
from aiguard.providers.bedrock import Bedrock

from ._provider_helpers import chat, decode_all, fake_secret, fold, no_retry, raw, split_at

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
ACCESS = "AKIA" + "TEST" * 4
SECRET = fake_secret("secret", "test")


def bedrock(**kw: Any) -> Bedrock:
    kw.setdefault("region", "us-east-1")
    return Bedrock(MODEL, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET, **kw)


def event(kind: str, payload: dict[str, Any]) -> bytes:
    return encode_message(
        {":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
        json.dumps({**payload, "p": "abcdefgh"}).encode(),
    )


def exception(kind: str, message: str) -> bytes:
    return encode_message(
        {
            ":exception-type": kind,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message}).encode(),
    )


HEAD = event("messageStart", {"role": "assistant"}) + b"".join(
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}})
    for t in ["Hello", ", wörld"]
)
TAIL = (
    event("contentBlockStop", {"contentBlockIndex": 0})
    + event("messageStop", {"stopReason": "end_turn"})
    + event(
        "metadata",
        {
            "usage": {
                "inputTokens": 10,
                "outputTokens": 4,
                "totalTokens": 14,
                "cacheReadInputTokens": 6,
            },
            "metrics": {"latencyMs": 300},
        },
    )
)
STREAM = HEAD + TAIL

TOOL_STREAM = (
    event("messageStart", {"role": "assistant"})
    + event(
        "contentBlockStart",
        {
            "contentBlockIndex": 0,
            "start": {"toolUse": {"toolUseId": "tooluse_abc", "name": "top_song"}},
        },
    )
    + b"".join(
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": p}}})
        for p in ['{"sign":', '"WZPZ"}']
    )
    + event("contentBlockStop", {"contentBlockIndex": 0})
    + event("messageStop", {"stopReason": "tool_use"})
    + event("metadata", {"usage": {"inputTokens": 5, "outputTokens": 3}})
)


# --------------------------------------------------------------------------- requests


def test_converse_request_is_signed_and_shaped() -> None:
    p = bedrock()
    auth = p.auth_headers()
    assert isinstance(auth, Io)  # first call resolves credentials (may be network I/O)
    assert auth.sync() == {}
    assert p.auth_headers() == {}  # then the fast path
    req = chat(
        [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                ],
            },
        ],
        max_tokens=200,
        temperature=0.2,
        top_p=0.5,
        stop=("###",),
    )
    http = p.build_chat(req, stream=False, auth={})
    assert (
        http.url
        == "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    )
    assert http.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS}/")
    assert "/us-east-1/bedrock/aws4_request" in http.headers["Authorization"]
    assert "X-Amz-Date" in http.headers
    assert SECRET not in json.dumps(http.headers) and SECRET not in repr(p)
    assert json.loads(http.content) == {
        "system": [{"text": "Be brief."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "What is this?"},
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                ],
            }
        ],
        "inferenceConfig": {
            "maxTokens": 200,
            "temperature": 0.2,
            "topP": 0.5,
            "stopSequences": ["###"],
        },
    }
    s = p.build_chat(req, stream=True, auth={})
    assert (
        s.url.endswith("/converse-stream")
        and s.headers["accept"] == "application/vnd.amazon.eventstream"
    )


def test_signature_covers_url_headers_and_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-sign what we send with botocore at the same instant: same signature; change the
    body and it differs, so the signed bytes are exactly the bytes sent."""
    import datetime

    import botocore.auth
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    fixed = datetime.datetime(2026, 1, 2, 3, 4, 5)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: fixed)
    p = bedrock(aws_session_token="tok")
    http = p.build_chat(chat("hi"), stream=False, auth={})
    assert http.headers["X-Amz-Security-Token"] == "tok"
    assert http.headers["X-Amz-Date"] == "20260102T030405Z"

    def sign(body: bytes) -> str:
        again = AWSRequest(
            method="POST",
            url=http.url,
            data=body,
            headers={"content-type": "application/json", "accept": "application/json"},
        )
        SigV4Auth(Credentials(ACCESS, SECRET, "tok"), "bedrock", "us-east-1").add_auth(again)
        return str(again.headers["Authorization"])

    assert sign(http.content) == http.headers["Authorization"]
    assert sign(http.content + b" ") != http.headers["Authorization"]


def test_tool_round_trip_request() -> None:
    req = chat(
        [
            {"role": "user", "content": "Top song on WZPZ?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "tooluse_1",
                        "function": {"name": "top_song", "arguments": '{"sign": "WZPZ"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "tooluse_1", "content": '{"song": "Elemental Hotel"}'},
            {"role": "tool", "tool_call_id": "tooluse_2", "content": "plain"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "top_song",
                    "description": "Get the top song",
                    "parameters": {"type": "object", "properties": {"sign": {"type": "string"}}},
                },
            }
        ],
        tool_choice="required",
    )
    body = json.loads(bedrock().build_chat(req, stream=False, auth={}).content)
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "top_song",
                    "description": "Get the top song",
                    "inputSchema": {
                        "json": {"type": "object", "properties": {"sign": {"type": "string"}}}
                    },
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "top_song", "input": {"sign": "WZPZ"}}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {
                "toolResult": {
                    "toolUseId": "tooluse_1",
                    "content": [{"json": {"song": "Elemental Hotel"}}],
                }
            },
            {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "plain"}]}},
        ],
    }


def test_bad_inputs() -> None:
    with pytest.raises(InvalidRequestError, match="web URLs"):
        bedrock().build_chat(
            chat(
                [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            ),
            stream=False,
            auth={},
        )
    with pytest.raises(ConfigError, match="both"):
        Bedrock(MODEL, region="us-east-1", aws_access_key_id=ACCESS)


def test_missing_credentials_name_the_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    p = Bedrock(MODEL, region="eu-west-1")
    io = p.auth_headers("claude")
    assert isinstance(io, Io)
    with pytest.raises(MissingCredentialsError, match="AWS_ACCESS_KEY_ID"):
        io.sync()


def test_region_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    p = Bedrock(MODEL, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)
    assert (
        p.region == "ap-south-1"
        and p.base_url == "https://bedrock-runtime.ap-south-1.amazonaws.com"
    )


# --------------------------------------------------------------------------- responses


def test_decode_converse_tool_use_and_usage() -> None:
    body = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "Let me look."},
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                            "name": "top_song",
                            "input": {"sign": "WZPZ"},
                        }
                    },
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {
            "inputTokens": 375,
            "outputTokens": 36,
            "totalTokens": 411,
            "cacheReadInputTokens": 100,
            "cacheWriteInputTokens": 20,
        },
        "metrics": {"latencyMs": 1982},
    }
    r = bedrock().parse_chat(raw(200, body))
    assert r.text == "Let me look." and r.finish_reason == "tool_calls"
    assert r.tool_calls[0].id == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
    assert r.usage.input_tokens == 495 and r.usage.cached_input_tokens == 100
    assert r.usage.cache_creation_input_tokens == 20 and r.usage.output_tokens == 36


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_stop_reasons(reason: str, finish: str) -> None:
    body = {
        "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "stopReason": reason,
        "usage": {},
    }
    assert bedrock().parse_chat(raw(200, body)).finish_reason == finish


def test_malformed_body() -> None:
    with pytest.raises(DecodeError):
        bedrock().parse_chat(raw(200, {"output": {}}))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "kind", "message", "cls"),
    [
        (
            429,
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "Too many requests, please wait before trying again.",
            RateLimitError,
        ),
        (400, "ValidationException", "Malformed input request", BadRequestError),
        (
            400,
            "ValidationException",
            "Input is too long for requested model.",
            ContextWindowExceeded,
        ),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            AuthenticationError,
        ),
        (404, "ResourceNotFoundException", "Model not found", NotFoundError),
        (424, "ModelErrorException", "boom", ServerError),
    ],
)
def test_classify(status: int, kind: str, message: str, cls: type[Exception]) -> None:
    err = bedrock().classify_error(
        raw(
            status,
            {"message": message},
            {"x-amzn-ErrorType": kind, "x-amzn-RequestId": "5d4f1c1e-aaaa", "retry-after": "2"},
        )
    )
    assert type(err) is cls and err.status_code == status
    assert err.request_id == "5d4f1c1e-aaaa" and err.retry_after == 2.0


# --------------------------------------------------------------------------- streams


def test_stream_text_and_usage() -> None:
    r = fold(decode_all(bedrock().stream_decoder(), [STREAM]))
    assert r.text == "Hello, wörld" and r.finish_reason == "stop"
    assert (
        r.usage.input_tokens == 16
        and r.usage.cached_input_tokens == 6
        and r.usage.output_tokens == 4
    )


def test_stream_tool_use() -> None:
    r = fold(decode_all(bedrock().stream_decoder(), [TOOL_STREAM]))
    (tc,) = r.tool_calls
    assert tc.id == "tooluse_abc" and tc.function.name == "top_song"
    assert json.loads(tc.function.arguments) == {"sign": "WZPZ"} and r.finish_reason == "tool_calls"


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_chunk_split(cuts: list[int]) -> None:
    for body in (STREAM, TOOL_STREAM):
        assert fold(decode_all(bedrock().stream_decoder(), split_at(body, cuts))) == fold(
            decode_all(bedrock().stream_decoder(), [body])
        )


def test_truncated_stream_is_interrupted_with_partial_text() -> None:
    d = bedrock().stream_decoder()
    d.feed(HEAD + TAIL[:10])
    with pytest.raises(StreamInterrupted) as ei:
        d.close()
    assert ei.value.partial_text == "Hello, wörld"


def test_stream_after_message_stop_without_metadata_closes() -> None:
    d = bedrock().stream_decoder()
    d.feed(HEAD + event("messageStop", {"stopReason": "end_turn"}))
    d.close()


def test_exception_events() -> None:
    with pytest.raises(RateLimitError, match="throttlingException"):
        bedrock().stream_decoder().feed(HEAD + exception("throttlingException", "slow down"))
    with pytest.raises(StreamInterrupted) as ei:
        bedrock().stream_decoder().feed(
            HEAD + exception("modelStreamErrorException", "model broke")
        )
    assert ei.value.partial_text == "Hello, wörld"
    with pytest.raises(BadRequestError):
        bedrock().stream_decoder().feed(exception("validationException", "bad"))
    err = encode_message(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, b""
    )
    with pytest.raises(ServerError):
        bedrock().stream_decoder().feed(err)


def test_corrupt_frame_and_bad_payload() -> None:
    frame = bytearray(STREAM)
    frame[len(HEAD) + 20] ^= 0xFF
    with pytest.raises(DecodeError):
        decode_all(bedrock().stream_decoder(), [bytes(frame)])
    bad = encode_message(
        {":event-type": "contentBlockDelta", ":message-type": "event"}, b"{not json"
    )
    with pytest.raises(DecodeError):
        bedrock().stream_decoder().feed(bad)


# --------------------------------------------------------------------------- embeddings


def test_titan_and_cohere_embeddings() -> None:
    titan = Bedrock(
        "amazon.titan-embed-text-v2:0",
        region="us-east-1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
    )
    assert titan.capabilities.embeddings
    http = titan.build_embed(EmbeddingRequest(inputs=("hello",), dimensions=256), auth={})
    assert http.url.endswith("/model/amazon.titan-embed-text-v2%3A0/invoke")
    assert json.loads(http.content) == {"inputText": "hello", "dimensions": 256}
    r = titan.parse_embed(raw(200, {"embedding": [0.5, -0.25], "inputTextTokenCount": 2}))
    assert r.vectors == ((0.5, -0.25),) and r.usage.input_tokens == 2
    with pytest.raises(ConfigError, match="one text per request"):
        titan.build_embed(EmbeddingRequest(inputs=("a", "b")), auth={})
    cohere = Bedrock(
        "cohere.embed-english-v3",
        region="us-east-1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
    )
    assert json.loads(cohere.build_embed(EmbeddingRequest(inputs=("a", "b")), auth={}).content)[
        "texts"
    ] == ["a", "b"]
    assert cohere.parse_embed(raw(200, {"embeddings": [[1, 2], [3, 4]], "id": "x"})).vectors == (
        (1.0, 2.0),
        (3.0, 4.0),
    )
    with pytest.raises(DecodeError):
        titan.parse_embed(raw(200, {"embedding": "nope"}))


# --------------------------------------------------------------------------- credential chain


class _CountingSession:
    """Stands in for a botocore session: counts credential-chain walks."""

    def __init__(self) -> None:
        self.walks = 0

    def get_credentials(self) -> Any:
        from botocore.credentials import Credentials

        self.walks += 1
        return Credentials(ACCESS, SECRET, f"session-{self.walks}")

    def get_config_variable(self, name: str) -> str:
        return "us-east-1"


def test_chain_walked_once_under_concurrency_and_again_after_401(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    import aiguard
    from aiguard.testing import FakeProvider, Fault

    sessions: list[_CountingSession] = []

    def session(self: Bedrock, profile: str | None) -> _CountingSession:
        if self._session is None:
            self._session = _CountingSession()
            sessions.append(self._session)
        return self._session  # type: ignore[no-any-return]

    monkeypatch.setattr(Bedrock, "_boto_session", session)
    with FakeProvider() as fake:
        p = Bedrock(MODEL, region="us-east-1", base_url=fake.url)

        async def burst() -> list[str]:
            async with aiguard.AsyncClient(stages=no_retry(), endpoints={"b": p}) as c:
                replies = await asyncio.gather(*(c.chat(f"q{i}", model="b") for i in range(20)))
            return [r.text for r in replies]

        assert len(asyncio.run(burst())) == 20
        assert [s.walks for s in sessions] == [1]
        fake.fault(Fault.status_code(403, code="ExpiredTokenException"))
        with aiguard.Client(stages=no_retry(), endpoints={"b": p}) as c:
            assert c.chat("again", model="b").text == "echo: again"
        assert [s.walks for s in sessions] == [1, 1]  # a fresh session walked the chain again
        assert len(fake.requests) == 22  # 20, then the refused call and its one retry
