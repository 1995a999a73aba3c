"""Shared helpers for the provider tests: requests, raw responses, chunk splitting, folding.

Credential-looking values are assembled from pieces at run time so that no literal in the
repository resembles a real key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from aiguard._core import StageOverrides
from aiguard._effects import RawResponse
from aiguard._streaming import StreamAccumulator
from aiguard._types import ChatRequest, ChatResponse, StreamEvent, coerce_messages
from aiguard.providers._base import StreamDecoder


def fake_secret(*parts: str) -> str:
    """A credential-shaped test value, built at run time."""
    return "-".join(parts) + "-" + "x" * 8


def chat(messages: Any, **kw: Any) -> ChatRequest:
    return ChatRequest(messages=coerce_messages(messages), **kw)


def raw(status: int, body: Any, headers: Mapping[str, str] | None = None) -> RawResponse:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawResponse(status, httpx.Headers(dict(headers or {})), content)


def sse(events: Iterable[tuple[str | None, Any]]) -> bytes:
    """``[(event name, data), ...]`` -> an SSE body (data dicts are JSON-encoded)."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
    return "".join(out).encode()


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def decode_all(decoder: StreamDecoder, pieces: Iterable[bytes]) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    decoder.close()
    return events


def fold(events: Iterable[StreamEvent]) -> ChatResponse:
    acc = StreamAccumulator()
    for ev in events:
        acc.add(ev)
    return acc.response()


def no_retry() -> StageOverrides:
    """Client stages without retries: these tests classify single failures, and the default
    policy would retry them with real (wall-clock) backoff."""
    from aiguard.retry import RetryPolicy

    return StageOverrides(retry=RetryPolicy(max_attempts=1))
