"""AWS Bedrock's Converse, ConverseStream and InvokeModel (embeddings) for ``FakeProvider``.

Shapes follow https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
and API_runtime_ConverseStream.html: the stream is ``application/vnd.amazon.eventstream``
binary frames (``messageStart``, ``contentBlockStart``/``Delta``/``Stop``, ``messageStop``,
``metadata``), errors mid-stream are ``:message-type: exception`` frames, HTTP errors carry
``x-amzn-ErrorType`` and ``{"message": ...}``. Requests must be SigV4-signed (the fake checks
the header is present, not the signature). Point ``Bedrock(base_url=fake.url, ...)`` at it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..providers._eventstream import encode_message
from ._script import Fault
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
    word_count,
)

__all__ = ["WIRE", "BedrockWire", "converse", "invoke"]

_EXCEPTIONS = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "content_filtered",
}
_EVENTSTREAM = "application/vnd.amazon.eventstream"


def _exception(status: int | None, fault: Fault | None) -> str:
    if fault is not None and isinstance(fault.code, str):
        return fault.code
    if status is None:
        return "InternalServerException"
    return _EXCEPTIONS.get(
        status, "InternalServerException" if status >= 500 else "ValidationException"
    )


def _frame(kind: str, payload: Mapping[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, dumps(payload))


class BedrockWire(WireFormat):
    name = "bedrock"

    def error(self, status: int, fault: Fault | None, message: str | None = None) -> Body:
        kind = _exception(status, fault)
        msg = (fault.message if fault else None) or message or f"HTTP {status}"
        headers = {
            "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        }
        return Body(status, dumps({"message": msg}), headers=headers)

    def stream_error(self, fault: Fault) -> bytes:
        kind = _exception(fault.status, fault)
        kind = kind[:1].lower() + kind[1:]  # ConverseStream names members in lowerCamelCase
        headers = {
            ":exception-type": kind,
            ":content-type": "application/json",
            ":message-type": "exception",
        }
        return encode_message(headers, dumps({"message": fault.message or "error in stream"}))

    def malformed(self, *, stream: bool) -> bytes:
        if stream:
            headers = {":event-type": "contentBlockDelta", ":message-type": "event"}
            return encode_message(headers, b'{"contentBlockIndex": 0, "delta": {')
        return b'{"output": {"message": {"ro'


WIRE = BedrockWire()


def _check(req: RecordedRequest) -> dict[str, Any]:
    auth = req.headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 ") or "x-amz-date" not in req.headers:
        raise WireError(403, "Missing Authentication Token")
    if not isinstance(req.json, dict):
        raise WireError(400, "Malformed input request, please reformat your input and try again.")
    return req.json


def _block_text(blocks: Any) -> str:
    if not isinstance(blocks, list):
        return ""
    return "".join(str(b.get("text", "")) for b in blocks if isinstance(b, Mapping))


def _is_stream(req: RecordedRequest, params: Mapping[str, str]) -> bool:
    return req.path.endswith("/converse-stream")


def converse(call: Call) -> Body | Stream:
    body = _check(call.request)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise WireError(400, "The messages field is required.")
    last = ""
    for m in msgs:
        if not isinstance(m, Mapping) or not isinstance(m.get("content"), list):
            raise WireError(400, "Each message needs a role and a content list.")
        if m.get("role") == "user":
            last = _block_text(m["content"]) or last
    config = body.get("inferenceConfig")
    limit = config.get("maxTokens") if isinstance(config, Mapping) else None
    reply = call.reply or echo_reply(last, limit)
    text = reply.text or ""
    calls = reply.tool_call_ids(f"tooluse_fake{call.seq}_")
    prompt = sum(word_count(_block_text(m["content"])) for m in msgs)
    completion = word_count(text) + sum(word_count(a) for _, _, a in calls)
    if reply.usage is not None:
        prompt, completion = reply.usage
    cached = min(reply.cached_tokens, prompt)
    usage: dict[str, int] = {
        "inputTokens": prompt - cached,
        "outputTokens": completion,
        "totalTokens": prompt + completion,
    }
    if cached:
        usage["cacheReadInputTokens"] = cached
    stop = _STOP.get(reply.finish, reply.finish)
    if not _is_stream(call.request, call.params):
        content: list[dict[str, Any]] = [{"text": text}] if text else []
        content += [
            {"toolUse": {"toolUseId": i, "name": n, "input": json.loads(a or "{}")}}
            for i, n, a in calls
        ]
        out = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": usage,
            "metrics": {"latencyMs": 1},
        }
        return Body(200, dumps(out), headers={"x-amzn-RequestId": call.request.request_id})
    events = [_frame("messageStart", {"role": "assistant"})]
    pieces = reply.pieces(call.chunk_size)
    for p in pieces:
        events.append(_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}))
    index = 0
    if pieces:
        events.append(_frame("contentBlockStop", {"contentBlockIndex": 0}))
        index = 1
    size = reply.chunk_size or call.chunk_size
    for i, (cid, name, args) in enumerate(calls, start=index):
        start = {"contentBlockIndex": i, "start": {"toolUse": {"toolUseId": cid, "name": name}}}
        events.append(_frame("contentBlockStart", start))
        for j in range(0, len(args), size):
            delta = {"contentBlockIndex": i, "delta": {"toolUse": {"input": args[j : j + size]}}}
            events.append(_frame("contentBlockDelta", delta))
        events.append(_frame("contentBlockStop", {"contentBlockIndex": i}))
    events.append(_frame("messageStop", {"stopReason": stop}))
    events.append(_frame("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
    headers = {"x-amzn-RequestId": call.request.request_id}
    return Stream(events, head=1, tail=2, content_type=_EVENTSTREAM, headers=headers)


def invoke(call: Call) -> Body:
    """InvokeModel for embedding models: Titan (one text) and Cohere (a batch)."""
    body = _check(call.request)
    model = call.params.get("model", "")
    if model.startswith("cohere.embed"):
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts:
            raise WireError(400, "texts is required")
        vectors = [embedding_vector(str(t), call.embed_dimensions) for t in texts]
        out: dict[str, Any] = {"embeddings": vectors, "id": f"fake{call.seq}", "texts": texts}
        return Body(200, dumps(out))
    text = body.get("inputText")
    if not isinstance(text, str):
        raise WireError(400, "Malformed input request: inputText is required")
    dims = body.get("dimensions") or call.embed_dimensions
    out = {"embedding": embedding_vector(text, int(dims)), "inputTextTokenCount": word_count(text)}
    return Body(200, dumps(out))


register_route("POST", "/model/{model}/converse", converse, WIRE, is_stream=_is_stream)
register_route("POST", "/model/{model}/converse-stream", converse, WIRE, is_stream=_is_stream)
register_route("POST", "/model/{model}/invoke", invoke, WIRE, replies=False)
