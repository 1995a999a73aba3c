"""Anthropic's Messages API wire format for ``FakeProvider``: ``POST /v1/messages``.

Shapes follow https://docs.anthropic.com/en/api/messages and
https://docs.anthropic.com/en/docs/build-with-claude/streaming: a stream opens with
``message_start`` and a ``ping``, sends each content block as ``content_block_start`` /
``content_block_delta`` (``text_delta`` or ``input_json_delta``) / ``content_block_stop``,
then ``message_delta`` (stop reason, output usage) and the terminal ``message_stop``. Like the
real API it rejects requests without ``max_tokens``, credentials (``x-api-key``, or an
``Authorization: Bearer`` token as the official SDK sends for ``auth_token=``) or
``anthropic-version``.
Point ``Anthropic(base_url=fake.url, ...)`` at it.
"""

from __future__ import annotations

import json
from typing import Any

from ._script import Fault, Reply
from ._wire import (
    Body,
    Call,
    Stream,
    WireError,
    WireFormat,
    dumps,
    echo_reply,
    parts_text,
    register_route,
    sse,
    word_count,
)

__all__ = ["WIRE", "AnthropicWire", "messages"]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def _type(status: int | None, fault: Fault | None) -> str:
    if fault is not None and (fault.type or isinstance(fault.code, str)):
        return str(fault.type or fault.code)
    if status is None:
        return "overloaded_error"
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


class AnthropicWire(WireFormat):
    """``{"type": "error", "error": {"type", "message"}}`` bodies and ``event: error``."""

    name = "anthropic"

    def error(self, status: int, fault: Fault | None, message: str | None = None) -> Body:
        msg = (fault.message if fault else None) or message or f"HTTP {status}"
        body = {"type": "error", "error": {"type": _type(status, fault), "message": msg}}
        return Body(status, dumps(body))

    def stream_error(self, fault: Fault) -> bytes:
        err = {"type": _type(fault.status, fault), "message": fault.message or "Overloaded"}
        return sse(dumps({"type": "error", "error": err}), "error")

    def malformed(self, *, stream: bool) -> bytes:
        if stream:
            return sse(
                b'{"type": "content_block_delta", "index": 0, "delta": {', "content_block_delta"
            )
        return b'{"id": "msg_broken", "type": "message", "cont'


WIRE = AnthropicWire()


def _validate(call: Call) -> tuple[dict[str, Any], str]:
    req = call.request
    bearer = req.headers.get("authorization", "").startswith("Bearer ")
    if not (req.headers.get("x-api-key") or bearer):
        raise WireError(401, "x-api-key header is required")
    if not req.headers.get("anthropic-version"):
        raise WireError(400, "anthropic-version: header is required")
    body = req.json
    if not isinstance(body, dict):
        raise WireError(400, "There was an error parsing the body of your request.")
    if not isinstance(body.get("max_tokens"), int):
        raise WireError(400, "max_tokens: Field required")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise WireError(400, "messages: at least one message is required")
    if not isinstance(body.get("model"), str):
        raise WireError(400, "model: Field required")
    last = ""
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise WireError(400, "messages: roles must be 'user' or 'assistant'")
        if m["role"] == "user":
            last = parts_text(m.get("content"))
    return body, last


def _usage(reply: Reply, prompt: int, completion: int) -> tuple[dict[str, int], int]:
    if reply.usage is not None:
        prompt, completion = reply.usage
    cached = min(reply.cached_tokens, prompt)
    start = {
        "input_tokens": prompt - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": 1,
    }
    return start, completion


def messages(call: Call) -> Body | Stream:
    body, last = _validate(call)
    reply = call.reply or echo_reply(last, body["max_tokens"])
    text = reply.text or ""
    calls = reply.tool_call_ids(f"toolu_fake{call.seq}_")
    prompt = sum(word_count(parts_text(m.get("content"))) for m in body["messages"])
    completion = word_count(text) + sum(word_count(a) for _, _, a in calls)
    usage, output = _usage(reply, prompt, completion)
    model = reply.model or body["model"]
    mid = f"msg_fake{call.seq:06d}"
    stop = _STOP.get(reply.finish, reply.finish)
    if body.get("stream") is True:
        return _stream(call, reply, calls, usage, output, model, mid, stop)
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [
        {"type": "tool_use", "id": i, "name": n, "input": json.loads(a or "{}")}
        for i, n, a in calls
    ]
    out = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": output},
    }
    return Body(200, dumps(out), headers={"request-id": call.request.request_id})


def _stream(
    call: Call,
    reply: Reply,
    calls: list[tuple[str, str, str]],
    usage: dict[str, int],
    output: int,
    model: str,
    mid: str,
    stop: str,
) -> Stream:
    start = {
        "type": "message_start",
        "message": {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        },
    }
    events = [sse(dumps(start), "message_start"), sse(b'{"type": "ping"}', "ping")]
    index = 0
    pieces = reply.pieces(call.chunk_size)
    if pieces:
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        events.append(sse(dumps(block), "content_block_start"))
        prefix = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":'
        events.extend(sse(prefix + dumps(p) + b"}}", "content_block_delta") for p in pieces)
        events.append(sse(b'{"type":"content_block_stop","index":0}', "content_block_stop"))
        index = 1
    head = 3 if pieces else 2
    size = reply.chunk_size or call.chunk_size
    for i, (cid, name, args) in enumerate(calls, start=index):
        block = {
            "type": "content_block_start",
            "index": i,
            "content_block": {"type": "tool_use", "id": cid, "name": name, "input": {}},
        }
        events.append(sse(dumps(block), "content_block_start"))
        for j in range(0, len(args), size):
            piece = {"type": "input_json_delta", "partial_json": args[j : j + size]}
            ev = {"type": "content_block_delta", "index": i, "delta": piece}
            events.append(sse(dumps(ev), "content_block_delta"))
        events.append(sse(dumps({"type": "content_block_stop", "index": i}), "content_block_stop"))
    end: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": output},
    }
    events.append(sse(dumps(end), "message_delta"))
    events.append(sse(b'{"type": "message_stop"}', "message_stop"))
    return Stream(events, head=head, tail=1, headers={"request-id": call.request.request_id})


register_route("POST", "/v1/messages", messages, WIRE)
