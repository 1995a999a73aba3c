"""The body and event-stream rewriting on its own: every API shape, any chunking."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiguard._guard._sse import SseRewriter
from aiguard._guard._texts import Scan
from aiguard._guard._wire import classify, rewrite_request, rewrite_response
from aiguard.errors import ContentBlockedError
from aiguard.inspect import ContentInspector, Vault

SPEC = {"enabled": True, "blockList": ["PII", "investment advice"], "pii": {"action": "redact"}}


def scan() -> Scan:
    return Scan(ContentInspector(SPEC), Vault(), [])


def test_classify() -> None:
    assert classify("POST", "/v1/chat/completions").name == "openai.chat"  # type: ignore[union-attr]
    assert classify("POST", "/v1/messages").name == "anthropic.messages"  # type: ignore[union-attr]
    assert classify("POST", "/openai/v1/responses").name == "openai.responses"  # type: ignore[union-attr]
    assert classify("GET", "/v1/chat/completions") is None
    assert classify("POST", "/v1/files") is None


def test_responses_api_request_and_answer() -> None:
    s = scan()
    api = classify("POST", "/v1/responses")
    assert api is not None
    body: dict[str, Any] = {
        "instructions": "user is a@example.com",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "a@example.com"}]}],
    }
    rewrite_request(api, body, s.text_in)
    assert body["instructions"] == "user is [EMAIL_1]"
    assert body["input"][0]["content"][0]["text"] == "[EMAIL_1]"
    answer = {"output": [{"content": [{"type": "output_text", "text": "b@example.com"}]}]}
    rewrite_response(api, answer, s.text_out)
    assert answer["output"][0]["content"][0]["text"] == "[EMAIL_2]"


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = b""
    for name, data in events:
        if name:
            out += f"event: {name}\n".encode()
        out += (
            b"data: " + (data if isinstance(data, bytes) else json.dumps(data).encode()) + b"\n\n"
        )
    return out


def _openai_stream(text: str, size: int) -> bytes:
    events: list[tuple[str | None, Any]] = []
    for i in range(0, len(text), size):
        events.append(
            (None, {"id": "c", "choices": [{"index": 0, "delta": {"content": text[i : i + size]}}]})
        )
    events.append(
        (None, {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    )
    events.append((None, b"[DONE]"))
    return _sse(events)


def _texts(raw: bytes) -> str:
    out = []
    for block in raw.split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: {"):
                ev = json.loads(line[6:])
                for c in ev.get("choices") or ():
                    out.append(c["delta"].get("content") or "")
                if ev.get("type") == "content_block_delta":
                    out.append(ev["delta"]["text"])
    return "".join(out)


@pytest.mark.parametrize("piece", [1, 3, 7, 1000])
def test_openai_stream_any_chunking(piece: int) -> None:
    api = classify("POST", "/v1/chat/completions")
    assert api is not None
    raw = _openai_stream("mail jane@example.com or call +1 415 555 2671 now", 4)
    sse = SseRewriter(api, scan())
    out = b"".join(sse.feed(raw[i : i + piece]) for i in range(0, len(raw), piece)) + sse.finish()
    assert _texts(out) == "mail [EMAIL_1] or call [PHONE_1] now"
    assert out.rstrip().endswith(b"data: [DONE]")
    finish_at = out.index(b'"finish_reason": "stop"')
    assert out.rindex(b"[PHONE_1]") < finish_at  # held text goes out before the end event


def test_anthropic_stream_flushes_before_block_stop() -> None:
    api = classify("POST", "/v1/messages")
    assert api is not None
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 5}}})
    ]
    for part in ("reach ", "jane@exa", "mple.com", " soon"):
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": part},
                },
            )
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(("message_delta", {"type": "message_delta", "usage": {"output_tokens": 4}}))
    sse = SseRewriter(api, scan())
    out = sse.feed(_sse(events)) + sse.finish()
    assert _texts(out) == "reach [EMAIL_1] soon"
    assert out.index(b"soon") < out.index(b"content_block_stop")
    assert b"event: content_block_delta\ndata:" in out  # the SDK dispatches on event names
    assert sse.usage is not None and (sse.usage.input_tokens, sse.usage.output_tokens) == (5, 4)


def test_blocked_stream_raises_and_releases_nothing_after() -> None:
    api = classify("POST", "/v1/chat/completions")
    assert api is not None
    sse = SseRewriter(api, scan())
    raw = _openai_stream("some investment advice: buy", 5)
    with pytest.raises(ContentBlockedError):
        sse.feed(raw)


def test_unknown_events_pass_byte_for_byte() -> None:
    api = classify("POST", "/v1/chat/completions")
    assert api is not None
    sse = SseRewriter(api, scan())
    raw = b": keep-alive\n\nevent: ping\ndata: not json\n\n"
    assert sse.feed(raw) + sse.finish() == raw
