"""Gemini's ``generateContent`` wire format for ``FakeProvider``: the Gemini API and Vertex AI.

Shapes follow https://ai.google.dev/api/generate-content and
https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference: every stream
chunk (``streamGenerateContent?alt=sse``) is a whole ``GenerateContentResponse``; the last one
carries ``finishReason`` and ``usageMetadata``, and there is no other terminal event. Errors
are ``google.rpc.Status`` bodies (``{"error": {"code", "message", "status"}}``) with a
``RetryInfo`` detail when the fault gives ``retry_after``. Gemini routes want an
``x-goog-api-key``; Vertex routes a bearer token. Point ``Gemini(base_url=fake.url)`` or
``VertexAI(base_url=fake.url, ...)`` at it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._script import Fault, Reply
from ._wire import (
    Body,
    Call,
    RecordedRequest,
    Stream,
    WireError,
    WireFormat,
    dumps,
    echo_reply,
    embedding_vector,
    register_route,
    sse,
    word_count,
)

__all__ = ["WIRE", "GeminiWire", "batch_embed", "generate", "predict"]

_RPC = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}


def _status(status: int, fault: Fault | None, message: str | None) -> dict[str, Any]:
    rpc = (fault.type if fault else None) or _RPC.get(
        status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"
    )
    err: dict[str, Any] = {
        "code": status,
        "message": (fault.message if fault else None) or message or f"HTTP {status}",
        "status": rpc,
    }
    if fault is not None and fault.retry_after is not None:
        delay = f"{fault.retry_after:g}s"
        err["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
        ]
    return {"error": err}


class GeminiWire(WireFormat):
    name = "gemini"

    def error(self, status: int, fault: Fault | None, message: str | None = None) -> Body:
        return Body(status, dumps(_status(status, fault, message)))

    def stream_error(self, fault: Fault) -> bytes:
        return sse(dumps(_status(fault.status or 500, fault, "error in stream")))

    def malformed(self, *, stream: bool) -> bytes:
        if stream:
            return sse(b'{"candidates": [{"content": {"parts": [{"text": "bro')
        return b'{"candidates": [{"content": {"pa'


WIRE = GeminiWire()


def _check_auth(req: RecordedRequest, vertex: bool) -> None:
    if vertex:
        if not req.headers.get("authorization", "").startswith("Bearer "):
            raise WireError(401, "Request is missing required authentication credential.")
    elif not (req.headers.get("x-goog-api-key") or req.query.get("key")):
        raise WireError(403, "Method doesn't allow unregistered callers. Please use an API Key.")


def _body(req: RecordedRequest) -> dict[str, Any]:
    if not isinstance(req.json, dict):
        raise WireError(400, "Invalid JSON payload received.")
    return req.json


def _parts_text(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, Mapping) else None
    if not isinstance(parts, list):
        return ""
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, Mapping))


def _usage(reply: Reply, prompt: int, completion: int) -> dict[str, int]:
    if reply.usage is not None:
        prompt, completion = reply.usage
    thoughts = min(reply.reasoning_tokens, completion)
    out = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion - thoughts,
        "totalTokenCount": prompt + completion,
    }
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    if reply.cached_tokens:
        out["cachedContentTokenCount"] = reply.cached_tokens
    return out


def _is_stream(req: RecordedRequest, params: Mapping[str, str]) -> bool:
    return req.path.endswith(":streamGenerateContent")


def generate(call: Call) -> Body | Stream:
    """``:generateContent`` and ``:streamGenerateContent`` for both APIs."""
    req = call.request
    _check_auth(req, vertex="/projects/" in req.path)
    body = _body(req)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise WireError(400, "* GenerateContentRequest.contents: contents is not specified")
    last = ""
    for c in contents:
        if not isinstance(c, Mapping) or not isinstance(c.get("parts"), list):
            raise WireError(400, "* GenerateContentRequest.contents: parts must be a list")
        if c.get("role", "user") == "user":
            last = _parts_text(c) or last
    config = body.get("generationConfig")
    limit = config.get("maxOutputTokens") if isinstance(config, Mapping) else None
    reply = call.reply or echo_reply(last, limit)
    text = reply.text or ""
    calls = reply.tool_call_ids("")
    prompt = sum(word_count(_parts_text(c)) for c in contents)
    completion = word_count(text) + sum(word_count(a) for _, _, a in calls)
    usage = _usage(reply, prompt, completion)
    model = reply.model or call.params.get("model", "gemini")
    rid = f"fake{call.seq:06d}"
    finish = _FINISH.get(reply.finish, reply.finish.upper())
    fcalls = [{"functionCall": {"name": n, "args": json.loads(a or "{}")}} for _, n, a in calls]

    def chunk(parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        out: dict[str, Any] = {"candidates": [cand], "modelVersion": model, "responseId": rid}
        if final:
            cand["finishReason"] = finish
            out["usageMetadata"] = usage
        else:
            out["usageMetadata"] = {"promptTokenCount": usage["promptTokenCount"]}
        return out

    if not _is_stream(req, call.params):
        parts = ([{"text": text}] if text else []) + fcalls
        return Body(200, dumps(chunk(parts, final=True)))
    events = [sse(dumps(chunk([{"text": p}], final=False))) for p in reply.pieces(call.chunk_size)]
    if fcalls:
        events.append(sse(dumps(chunk(fcalls, final=False))))
    events.append(sse(dumps(chunk([{"text": ""}], final=True))))
    return Stream(events, head=0, tail=1)


def batch_embed(call: Call) -> Body:
    """Gemini API ``:batchEmbedContents``."""
    _check_auth(call.request, vertex=False)
    reqs = _body(call.request).get("requests")
    if not isinstance(reqs, list) or not reqs:
        raise WireError(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    out = []
    for r in reqs:
        dims = r.get("outputDimensionality") or call.embed_dimensions
        out.append({"values": embedding_vector(_parts_text(r.get("content")), int(dims))})
    return Body(200, dumps({"embeddings": out}))


def predict(call: Call) -> Body:
    """Vertex AI text embeddings ``:predict``."""
    _check_auth(call.request, vertex=True)
    body = _body(call.request)
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise WireError(400, "instances is required")
    dims = (body.get("parameters") or {}).get("outputDimensionality") or call.embed_dimensions
    preds = []
    for inst in instances:
        text = str(inst.get("content", "")) if isinstance(inst, Mapping) else ""
        stats = {"token_count": word_count(text), "truncated": False}
        preds.append(
            {"embeddings": {"values": embedding_vector(text, int(dims)), "statistics": stats}}
        )
    return Body(200, dumps({"predictions": preds}))


_VERTEX = "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}"
for _base in ("/v1beta/models/{model}", "/v1/models/{model}", _VERTEX):
    register_route("POST", _base + ":generateContent", generate, WIRE, is_stream=_is_stream)
    register_route("POST", _base + ":streamGenerateContent", generate, WIRE, is_stream=_is_stream)
register_route(
    "POST", "/v1beta/models/{model}:batchEmbedContents", batch_embed, WIRE, replies=False
)
register_route("POST", _VERTEX + ":predict", predict, WIRE, replies=False)
