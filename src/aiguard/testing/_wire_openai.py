"""OpenAI's wire format: chat completions (JSON and SSE), embeddings, models, error bodies.

Shapes follow the API reference (https://platform.openai.com/docs/api-reference/chat/object,
.../chat-streaming, .../embeddings/object): a stream opens with a role chunk, carries content
and tool-call deltas (id and name first, then argument pieces, each with its ``index``),
closes with a finish-reason chunk, then -- only when the request set
``stream_options.include_usage`` -- a usage chunk with empty ``choices``, then ``[DONE]``.

Other formats reuse these handlers where the wire is the same (Azure OpenAI serves them under
``/openai/deployments/{deployment}/...``; the model then defaults to the deployment name).
"""

from __future__ import annotations

import base64
import struct
import time
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
    embedding_vector,
    parts_text,
    register_route,
    sse,
    word_count,
)

__all__ = ["WIRE", "OpenAIWire", "chat_completions", "embeddings", "list_models"]

_FINGERPRINT = "fp_aiguard_fake"
_DONE = b"data: [DONE]\n\n"

# (type, code, message) by status, as OpenAI answers them.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", "unsupported_country_region_territory", "Permission denied."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    408: ("timeout_error", None, "Request timed out."),
    409: ("conflict_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
    504: ("server_error", None, "Gateway timeout."),
}


class OpenAIWire(WireFormat):
    """``{"error": {"message", "type", "param", "code"}}`` bodies and mid-stream errors."""

    name = "openai"

    def error(self, status: int, fault: Fault | None, message: str | None = None) -> Body:
        etype, code, default = _ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, "")
        )
        err = {
            "message": (fault.message if fault else None) or message or default or f"{status}",
            "type": (fault.type if fault else None) or etype,
            "param": None,
            "code": fault.code if fault is not None and fault.code is not None else code,
        }
        return Body(status, dumps({"error": err}))

    def stream_error(self, fault: Fault) -> bytes:
        code = fault.code if fault.code is not None else fault.status
        err = {
            "message": fault.message or "The server had an error while processing your request.",
            "type": fault.type or "server_error",
            "param": None,
            "code": code,
        }
        return sse(dumps({"error": err}))


WIRE = OpenAIWire()


def _usage(reply: Reply, prompt: int, completion: int) -> dict[str, Any]:
    if reply.usage is not None:
        prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _request(call: Call) -> tuple[dict[str, Any], str]:
    body = call.request.json
    if not isinstance(body, dict):
        raise WireError(400, "We could not parse the JSON body of your request.")
    model = body.get("model") or call.params.get("deployment") or call.params.get("model")
    if not isinstance(model, str) or not model:
        raise WireError(400, "You must provide a model parameter.")
    return body, model


def chat_completions(call: Call) -> Body | Stream:
    """``POST /v1/chat/completions``: the scripted reply, or an echo of the last user turn."""
    body, model = _request(call)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise WireError(400, "'messages' must be a non-empty array.")
    prompt_words = 0
    last_user = ""
    for m in messages:
        if not isinstance(m, dict):
            raise WireError(400, "each message must be an object.")
        text = parts_text(m.get("content"))
        prompt_words += word_count(text)
        if m.get("role") == "user":
            last_user = text
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    reply = call.reply or echo_reply(last_user, limit)
    text = reply.text or ""
    calls = reply.tool_call_ids(f"call_{call.seq}_")
    completion_words = word_count(text) + sum(word_count(c[2]) for c in calls)
    usage = _usage(reply, prompt_words, completion_words)
    model = reply.model or model
    cid = f"chatcmpl-fake{call.seq}"
    created = int(time.time())
    if call.request.stream:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        pieces = reply.pieces(call.chunk_size)
        return _stream(
            call, reply, pieces, calls, usage if include_usage else None, cid, created, model
        )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not calls else None,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in calls
        ]
    out = {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish}
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }
    return Body(200, dumps(out))


def _stream(
    call: Call,
    reply: Reply,
    pieces: list[str],
    calls: list[tuple[str, str, str]],
    usage: dict[str, Any] | None,
    cid: str,
    created: int,
    model: str,
) -> Stream:
    # Every chunk shares its envelope, so it is serialised once and only deltas are dumped:
    # the fake serves benchmarks, where a 200-chunk stream must stay cheap.
    prefix = (
        b'data: {"id":' + dumps(cid) + b',"object":"chat.completion.chunk","created":'
        + str(created).encode() + b',"model":' + dumps(model)
        + b',"system_fingerprint":"' + _FINGERPRINT.encode() + b'","choices":[{"index":0,"delta":'
    )  # fmt: skip
    tail = b',"logprobs":null,"finish_reason":null}]' + (b',"usage":null' if usage else b"")
    end = tail + b"}\n\n"

    def chunk(delta: Any) -> bytes:
        return prefix + dumps(delta) + end

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events.extend(prefix + b'{"content":' + dumps(p) + b"}" + end for p in pieces)
    size = reply.chunk_size or call.chunk_size
    for index, (cid_, name, args) in enumerate(calls):
        first = {"index": index, "id": cid_, "type": "function"}
        events.append(
            chunk({"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]})
        )
        for i in range(0, len(args), size):
            piece = {"index": index, "function": {"arguments": args[i : i + size]}}
            events.append(chunk({"tool_calls": [piece]}))
    finish = b',"logprobs":null,"finish_reason":' + dumps(reply.finish) + b"}]"
    events.append(prefix + b"{}" + finish + (b',"usage":null' if usage else b"") + b"}\n\n")
    if usage is not None:
        envelope = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": _FINGERPRINT,
            "choices": [],
            "usage": usage,
        }
        events.append(sse(dumps(envelope)))
    events.append(_DONE)
    return Stream(events, head=1, tail=1)


def embeddings(call: Call) -> Body:
    """``POST /v1/embeddings``: a deterministic unit vector per input, from its hash."""
    body, model = _request(call)
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        inputs = [" ".join(map(str, raw))]  # one input given as token ids
    elif isinstance(raw, list) and raw:
        inputs = [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    else:
        raise WireError(400, "'input' must be a non-empty string or array.")
    dims = body.get("dimensions") or call.embed_dimensions
    if not isinstance(dims, int) or dims < 1:
        raise WireError(400, "'dimensions' must be a positive integer.")
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(inputs):
        vec: Any = embedding_vector(text, dims)
        if as_base64:
            vec = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vec})
    words = sum(word_count(t) for t in inputs)
    out = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": words, "total_tokens": words},
    }
    return Body(200, dumps(out))


def list_models(call: Call) -> Body:
    """``GET /v1/models``: some clients probe it before their first call."""
    model = {"id": "fake-model", "object": "model", "created": 0, "owned_by": "aiguard"}
    return Body(200, dumps({"object": "list", "data": [model]}))


register_route("POST", "/v1/chat/completions", chat_completions, WIRE)
register_route("POST", "/v1/embeddings", embeddings, WIRE, replies=False)
register_route("GET", "/v1/models", list_models, WIRE, replies=False)
