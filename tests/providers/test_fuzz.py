"""Robustness: whatever bytes arrive, adapters raise ``aiguard.errors`` types, never bare ones.

A provider that returns an unexpected body (a proxy's page, a new field shape, a truncated or
corrupted stream) must surface as ``DecodeError`` (or another ``ProviderError``), never as a
``KeyError``/``TypeError`` from deep inside a decoder. Inputs: arbitrary JSON values in place
of response bodies, and valid streams with random bytes flipped, dropped or inserted.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiguard._effects import RawResponse
from aiguard.errors import ProviderError
from aiguard.testing import Reply, Stream

from .test_roundtrip import ADAPTERS, render

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# keys the decoders look for, so that fuzzed bodies get past the first lookup
KEYS = [
    "content", "type", "text", "choices", "message", "candidates", "parts", "output", "usage",
    "functionCall", "toolUse", "tool_calls", "stop_reason", "finishReason", "stopReason",
    "usageMetadata", "embedding", "embeddings", "predictions", "values", "delta", "index",
]  # fmt: skip
shaped = st.recursive(
    st.none() | st.integers(-3, 3) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=15,
)


def _ok_or_provider_error(fn: Any, *args: Any) -> None:
    with contextlib.suppress(ProviderError):
        fn(*args)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(json_values, shaped))
def test_any_json_body(name: str, body: Any) -> None:
    provider = ADAPTERS[name]
    raw = RawResponse(200, {}, json.dumps(body).encode())
    _ok_or_provider_error(provider.parse_chat, raw)
    _ok_or_provider_error(provider.classify_error, RawResponse(500, {}, raw.content))
    if provider.capabilities.embeddings:
        _ok_or_provider_error(provider.parse_embed, raw)


def _stream_bytes(name: str) -> bytes:
    reply = Reply(text="hello there world", tool_calls=[("f", {"a": [1, "x"]})], usage=(3, 4))
    stream = render(ADAPTERS[name], reply, stream=True)
    assert isinstance(stream, Stream)
    return b"".join(stream.events)


STREAMS = {name: _stream_bytes(name) for name in ADAPTERS}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "drop", "insert"]),
            st.integers(0, 10_000),
            st.binary(min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=4,
    ),
    cut=st.integers(0, 10_000),
)
def test_corrupted_streams(name: str, edits: list[tuple[str, int, bytes]], cut: int) -> None:
    data = bytearray(STREAMS[name])
    for op, pos, blob in edits:
        i = pos % (len(data) + 1)
        if op == "flip" and i < len(data):
            data[i] ^= blob[0] or 1
        elif op == "drop":
            del data[i : i + len(blob)]
        else:
            data[i:i] = blob
    body = bytes(data)
    decoder = ADAPTERS[name].stream_decoder()
    try:
        k = cut % (len(body) + 1)
        decoder.feed(body[:k])
        decoder.feed(body[k:])
        decoder.close()
    except ProviderError:
        pass


def _usage_stream(name: str, value: Any) -> bytes:
    """A valid stream whose usage numbers are replaced by ``value``."""
    body = STREAMS[name]
    if name == "bedrock":
        from aiguard.providers._eventstream import EventStreamDecoder, encode_message

        frames = EventStreamDecoder().feed(body)
        out = b""
        for headers, payload in frames:
            doc = json.loads(payload)
            if "usage" in doc:
                doc["usage"] = {k: value for k in doc["usage"]}
            out += encode_message(headers, json.dumps(doc).encode())
        return out
    for key in (
        b'"input_tokens":',
        b'"output_tokens":',
        b'"promptTokenCount":',
        b'"prompt_tokens":',
    ):
        body = body.replace(key + b"3", key + json.dumps(value).encode())
        body = body.replace(key + b"4", key + json.dumps(value).encode())
    return body


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@pytest.mark.parametrize("value", ["x", [1], {"a": 1}, 1.5, None, True])
def test_non_integer_usage_in_streams(name: str, value: Any) -> None:
    decoder = ADAPTERS[name].stream_decoder()
    try:
        decoder.feed(_usage_stream(name, value))
        decoder.close()
    except ProviderError:
        pass
