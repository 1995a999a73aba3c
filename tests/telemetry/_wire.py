"""An in-process OpenAI-shaped server (httpx.MockTransport) and tiny stage doubles.

``aiguard.testing.FakeProvider`` is the public loopback server; these tests only need scripted
replies and a log of what was sent, which a MockTransport gives without a socket.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from aiguard._call import Call, Endpoint
from aiguard._types import ChatRequest, Message
from aiguard.errors import ContentBlockedError, ProviderError
from aiguard.inspect.findings import Finding


def chat_body(text: str = "Hi there", model: str = "gpt-4o-mini-2024-07-18") -> dict[str, Any]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def _pieces(text: str) -> list[str]:
    head, sep, tail = text.partition(" ")
    return [head + sep, tail] if tail else [head]


def sse_body(text: str = "Hi there") -> bytes:
    chunks = [
        {"id": "c1", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": w}}]}
        for w in _pieces(text)
    ]
    chunks.append(
        {
            "id": "c1",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    chunks.append(
        {
            "id": "c1",
            "model": "gpt-4o-mini",
            "choices": [],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        }
    )
    out = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return out + b"data: [DONE]\n\n"


@dataclass
class Script:
    """Replies in order; each is (status, json body or raw bytes, headers)."""

    replies: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    sent: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        status, body, headers = self.replies.pop(0) if self.replies else (200, chat_body(), {})
        headers = {"x-request-id": "req-abc", **headers}
        if isinstance(body, bytes):
            return httpx.Response(
                status, content=body, headers={"content-type": "text/event-stream", **headers}
            )
        return httpx.Response(status, json=body, headers=headers)

    def sync_client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


class Redactor:
    """An input inspector double: replaces ``needles`` with ``[REDACTED]`` (or blocks)."""

    def __init__(self, needles: tuple[str, ...], block: bool = False) -> None:
        self.needles = needles
        self.block = block

    def inspect_input(self, call: Call) -> None:
        req = call.request
        assert isinstance(req, ChatRequest)
        msgs = []
        for i, m in enumerate(req.messages):
            text = m.text
            for n in self.needles:
                at = text.find(n)
                if at >= 0:
                    action = "block" if self.block else "redact"
                    call.findings.append(
                        Finding("secrets.api_key", action, "input", at, at + len(n), detector="t")
                    )
                    if self.block:
                        raise ContentBlockedError("secrets.api_key", "input", message_index=i)
                    text = text.replace(n, "[REDACTED]")
            msgs.append(Message(role=m.role, content=text))
        call.request = replace_request(req, tuple(msgs))

    def inspect_output(self, call: Call, response: Any) -> Any:
        return response

    def stream_filter(self, call: Call) -> None:
        return None


def replace_request(req: ChatRequest, messages: tuple[Message, ...]) -> ChatRequest:
    return req.model_copy(update={"messages": messages})


class PlanRouter:
    """Routes every call to the given endpoints, in order."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = endpoints

    def route(self, call: Call) -> list[Endpoint]:
        return list(self.endpoints)


@dataclass
class RetryOnce:
    """Retry each endpoint once, then fail over."""

    retries: int = 1

    def next_wait(
        self, call: Call, endpoint: Endpoint, attempt: int, error: ProviderError
    ) -> float | None:
        return 0.0 if attempt <= self.retries and error.retryable else None

    def fail_over(self, call: Call, endpoint: Endpoint, error: ProviderError) -> bool:
        return True


@dataclass
class MemoryCache:
    """Answers the second identical request from memory (keyed on the redacted messages)."""

    seen: dict[str, Any] = field(default_factory=dict)
    on_event: Callable[[Call, str], None] | None = None

    def _key(self, call: Call) -> str:
        return call.request.model_dump_json()

    def lookup(self, call: Call) -> Any:
        from aiguard._stages import CacheHit

        hit = self.seen.get(self._key(call))
        return CacheHit(hit) if hit is not None else None

    def store(self, call: Call, response: Any, events: Any) -> None:
        self.seen[self._key(call)] = response

    def abandon(self, call: Call, error: BaseException | None) -> None:
        return None


__all__ = [
    "MemoryCache",
    "PlanRouter",
    "Redactor",
    "RetryOnce",
    "Script",
    "chat_body",
    "replace",
    "sse_body",
]
