"""OpenAI's Responses API for ``FakeProvider``: ``POST /v1/responses``, JSON and SSE.

Shapes follow the API reference (https://platform.openai.com/docs/api-reference/responses and
.../responses-streaming) and the official SDK's ``openai.types.responses`` models. A request
carries ``input`` (a string, or a list of items: messages with ``role`` and ``content`` as a
string or ``input_text`` parts, function calls and their outputs) and optional
``instructions``, ``max_output_tokens`` and function ``tools``. The answer is a ``response``
object whose ``output`` holds a ``message`` item (one ``output_text`` part) and a
``function_call`` item per scripted tool call; a reply cut by ``max_output_tokens`` is
``status: "incomplete"`` with ``incomplete_details.reason``.

A stream is named SSE events, each with its ``sequence_number``: ``response.created``,
``response.in_progress``, then per output item ``response.output_item.added``, for the
message ``response.content_part.added``, one ``response.output_text.delta`` per piece,
``response.output_text.done`` and ``response.content_part.done`` (for a function call:
``response.function_call_arguments.delta``/``.done``), ``response.output_item.done``; and
last the terminal ``response.completed`` (``response.incomplete`` when cut) with the whole
response and its usage. A mid-stream failure is ``response.failed``, carrying the same
response id with ``status: "failed"`` and an ``error``.

A response made with ``store`` (the default) can be read back: ``GET /v1/responses/{id}``
answers with it, and ``?stream=true`` replays its event stream (from the event after
``starting_after``, when given). The fake keeps the last 256 responses it made, per server.

That failure event needs its stream's response id and position, which the core's
``stream_error(fault)`` does not pass: the handler leaves them in a thread-local, since the
core renders a request and sends its stream in the same connection thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ._script import Fault, Reply
from ._wire import (
    Body,
    Call,
    RecordedRequest,
    Stream,
    WireError,
    dumps,
    echo_reply,
    parts_text,
    register_route,
    sse,
    word_count,
)
from ._wire_openai import OpenAIWire

__all__ = ["WIRE", "ResponsesWire", "responses", "retrieve"]

_ROLES = ("user", "assistant", "system", "developer")
_TEXT_PARTS = ("input_text", "output_text", "text")
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
_SERVER_ERROR = "The server had an error while processing your request."


@dataclass(frozen=True, slots=True)
class _Failure:
    """What a ``response.failed`` event needs to know about the stream it ends."""

    response: dict[str, Any]
    head: int
    body_end: int


_STREAM = threading.local()


class ResponsesWire(OpenAIWire):
    """OpenAI's error bodies; ``response.failed`` mid-stream; broken events named like deltas."""

    name = "openai.responses"

    def error(self, status: int, fault: Fault | None, message: str | None = None) -> Body:
        body = super().error(status, fault, message)
        param = _PARAMS.get(message or "") if fault is None else None
        if param is None:
            return body
        err = {
            "message": message,
            "type": "invalid_request_error",
            "param": param[0],
            "code": param[1],
        }
        return Body(status, dumps({"error": err}))

    def stream_error(self, fault: Fault) -> bytes:
        failure: _Failure | None = getattr(_STREAM, "failure", None)
        if isinstance(fault.code, str):
            code = fault.code
        else:
            code = "rate_limit_exceeded" if fault.status == 429 else "server_error"
        error = {"code": code, "message": fault.message or _SERVER_ERROR}
        if failure is None:  # not rendered by this module's handler: a minimal response
            response: dict[str, Any] = {"id": "resp_failed", "object": "response", "output": []}
            seq = 0
        else:
            response = dict(failure.response)
            seq = min(failure.head + (fault.after or 0), failure.body_end)
        response.update(status="failed", error=error)
        event = {"type": "response.failed", "sequence_number": seq, "response": response}
        return sse(dumps(event), "response.failed")

    def malformed(self, *, stream: bool) -> bytes:
        if stream:
            return sse(
                b'{"type": "response.output_text.delta", "delta": ', "response.output_text.delta"
            )
        return b'{"id": "resp_broken", "object": "resp'


WIRE = ResponsesWire()

_BAD_INPUT = "Invalid type for 'input': expected a string or an array of input items."
_EMPTY_INPUT = "Invalid 'input': empty array. Expected an array with minimum length 1."
_PARAMS: dict[str, tuple[str, str | None]] = {
    "Missing required parameter: 'model'.": ("model", "missing_required_parameter"),
    "Missing required parameter: 'input'.": ("input", "missing_required_parameter"),
    _BAD_INPUT: ("input", "invalid_type"),
    _EMPTY_INPUT: ("input", "empty_array"),
    "Invalid type for 'max_output_tokens': expected an integer.": (
        "max_output_tokens",
        "invalid_type",
    ),
    "Invalid type for 'tools': expected an array of tools.": ("tools", "invalid_type"),
    "Invalid type for 'instructions': expected a string.": ("instructions", "invalid_type"),
}


def _read_input(value: Any) -> tuple[int, str]:
    """``(prompt words, last user text)`` of the ``input`` field, validating its items."""
    if value is None:
        raise WireError(400, "Missing required parameter: 'input'.")
    if isinstance(value, str):
        return word_count(value), value
    if not isinstance(value, list):
        raise WireError(400, _BAD_INPUT)
    if not value:
        raise WireError(400, _EMPTY_INPUT)
    words = 0
    last_user = ""
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise WireError(400, f"Invalid type for 'input[{i}]': expected an input item object.")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in _ROLES:
                raise WireError(
                    400,
                    f"Invalid value for 'input[{i}].role': expected one of 'assistant', "
                    "'system', 'developer', or 'user'.",
                )
            text = parts_text(item.get("content"), _TEXT_PARTS)
            words += word_count(text)
            if role == "user":
                last_user = text
        elif kind == "function_call_output":
            output = item.get("output")
            words += word_count(parts_text(output, _TEXT_PARTS))
        elif kind == "function_call":
            words += word_count(str(item.get("arguments", "")))
    return words, last_user


def _validate(call: Call) -> tuple[dict[str, Any], str, int, str]:
    body = call.request.json
    if not isinstance(body, dict):
        raise WireError(400, "We could not parse the JSON body of your request.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise WireError(400, "Missing required parameter: 'model'.")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise WireError(400, "Invalid type for 'instructions': expected a string.")
    limit = body.get("max_output_tokens")
    if limit is not None and type(limit) is not int:
        raise WireError(400, "Invalid type for 'max_output_tokens': expected an integer.")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise WireError(400, "Invalid type for 'tools': expected an array of tools.")
    words, last_user = _read_input(body.get("input"))
    words += word_count(instructions or "")
    return body, model, words, last_user


def _usage(reply: Reply, prompt: int, completion: int) -> dict[str, Any]:
    if reply.usage is not None:
        prompt, completion = reply.usage
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": prompt + completion,
    }


def _envelope(body: dict[str, Any], rid: str, model: str, created: int) -> dict[str, Any]:
    """The response object as it starts (``in_progress``, no output, no usage): the request's
    settings echoed back, as the real API does."""
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": "in_progress",
        "background": bool(body.get("background", False)),
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message(mid: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": mid, "type": "message", "status": status, "content": content, "role": "assistant"}


def _function_call(fid: str, status: str, call_id: str, name: str, args: str) -> dict[str, Any]:
    return {
        "id": fid,
        "type": "function_call",
        "status": status,
        "arguments": args,
        "call_id": call_id,
        "name": name,
    }


def responses(call: Call) -> Body | Stream:
    """``POST /v1/responses``: the scripted reply, or an echo of the last user input."""
    _STREAM.failure = None
    body, model, prompt_words, last_user = _validate(call)
    reply = call.reply or echo_reply(last_user, body.get("max_output_tokens"))
    text = reply.text or ""
    calls = reply.tool_call_ids(f"call_{call.seq}_")
    completion_words = word_count(text) + sum(word_count(a) for _, _, a in calls)
    usage = _usage(reply, prompt_words, completion_words)
    reason = _INCOMPLETE.get(reply.finish)
    status = "incomplete" if reason else "completed"
    created = int(time.time())
    rid = f"resp_fake{call.seq:06d}"
    mid = f"msg_fake{call.seq:06d}"
    envelope = _envelope(body, rid, reply.model or model, created)
    with_message = bool(text) or not calls
    output: list[dict[str, Any]] = (
        [_message(mid, status, [_text_part(text)])] if with_message else []
    )
    output += [
        _function_call(f"fc_fake{call.seq:06d}_{i}", "completed", cid, name, args)
        for i, (cid, name, args) in enumerate(calls)
    ]
    final = {
        **envelope,
        "status": status,
        "completed_at": created if reason is None else None,
        "incomplete_details": {"reason": reason} if reason else None,
        "output": output,
        "usage": usage,
    }
    mid_ = mid if with_message else None
    if body.get("store", True) is not False:
        _keep(call, rid, final, lambda: _stream(call, reply, envelope, final, mid_, calls))
    if not call.request.stream:
        return Body(200, dumps(final))
    return _stream(call, reply, envelope, final, mid_, calls)


_KEPT: OrderedDict[tuple[str, str], tuple[dict[str, Any], Callable[[], Stream]]] = OrderedDict()
_KEPT_LOCK = threading.Lock()
_KEEP = 256


def _server(call: Call) -> str:
    """Whose response it is: one fake's ids are not another's (``seq`` starts at 1 each)."""
    return call.request.headers.get("host", "")


def _keep(call: Call, rid: str, final: dict[str, Any], stream: Callable[[], Stream]) -> None:
    with _KEPT_LOCK:
        _KEPT[(_server(call), rid)] = (final, stream)
        while len(_KEPT) > _KEEP:
            _KEPT.popitem(last=False)


def retrieve(call: Call) -> Body | Stream:
    """``GET /v1/responses/{response_id}``: a response this server made, or its stream."""
    _STREAM.failure = None
    rid = call.params.get("response_id", "")
    with _KEPT_LOCK:
        kept = _KEPT.get((_server(call), rid))
    if kept is None:
        raise WireError(404, f"Response with id '{rid}' not found.")
    final, stream = kept
    if not _streamed(call.request, call.params):
        return Body(200, dumps(final))
    events = stream()
    after = call.request.query.get("starting_after")
    if after is None:
        return events
    try:
        skip = int(after) + 1
    except ValueError:
        raise WireError(400, "Invalid type for 'starting_after': expected an integer.") from None
    skip = max(0, min(skip, len(events.events) - events.tail))
    return replace(events, events=events.events[skip:], head=max(0, events.head - skip))


def _streamed(request: RecordedRequest, params: Mapping[str, str]) -> bool:
    return request.query.get("stream") == "true"


def _stream(
    call: Call,
    reply: Reply,
    envelope: dict[str, Any],
    final: dict[str, Any],
    mid: str | None,
    calls: list[tuple[str, str, str]],
) -> Stream:
    events: list[bytes] = []

    def emit(kind: str, fields: dict[str, Any]) -> None:
        payload = {"type": kind, "sequence_number": len(events), **fields}
        events.append(sse(dumps(payload), kind))

    emit("response.created", {"response": envelope})
    emit("response.in_progress", {"response": envelope})
    index = 0
    if mid is not None:
        message = final["output"][0]
        text = message["content"][0]["text"]
        where = {"item_id": mid, "output_index": 0, "content_index": 0}
        started = _message(mid, "in_progress", [])
        emit("response.output_item.added", {"output_index": 0, "item": started})
        emit("response.content_part.added", {**where, "part": _text_part("")})
        # Deltas are the bulk of a stream (the fake serves benchmarks): one shared prefix.
        prefix = (
            b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
            b'"item_id":' + dumps(mid) + b',"output_index":0,"content_index":0,"logprobs":[],'
            b'"delta":'
        )
        for piece in reply.pieces(call.chunk_size):
            seq = str(len(events)).encode()
            events.append(prefix + dumps(piece) + b',"sequence_number":' + seq + b"}\n\n")
        emit("response.output_text.done", {**where, "text": text, "logprobs": []})
        emit("response.content_part.done", {**where, "part": _text_part(text)})
        emit("response.output_item.done", {"output_index": 0, "item": message})
        index = 1
    head = 4 if mid is not None else 2
    size = reply.chunk_size or call.chunk_size
    for offset, (cid, name, args) in enumerate(calls):
        at = index + offset
        item = final["output"][at]
        fid = item["id"]
        added = _function_call(fid, "in_progress", cid, name, "")
        emit("response.output_item.added", {"output_index": at, "item": added})
        for i in range(0, len(args), size):
            delta = {"item_id": fid, "output_index": at, "delta": args[i : i + size]}
            emit("response.function_call_arguments.delta", delta)
        done = {"item_id": fid, "output_index": at, "arguments": args}
        emit("response.function_call_arguments.done", done)
        emit("response.output_item.done", {"output_index": at, "item": item})
    terminal = "response.completed" if final["status"] == "completed" else "response.incomplete"
    emit(terminal, {"response": final})
    _STREAM.failure = _Failure(envelope, head, len(events) - 1)
    return Stream(events, head=head, tail=1)


register_route("POST", "/v1/responses", responses, WIRE)
register_route(
    "GET", "/v1/responses/{response_id}", retrieve, WIRE, is_stream=_streamed, replies=False
)
