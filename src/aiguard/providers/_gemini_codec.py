"""The Gemini ``generateContent`` wire format, shared by the Gemini API and Vertex AI.

Both speak the same JSON (``contents`` of ``parts``, ``systemInstruction``,
``functionDeclarations``, ``usageMetadata``); they differ only in URL and credentials.

Quirks handled here:

* the assistant role is ``model``; tool results are ``functionResponse`` parts that name the
  *function*, not the call id, so the name is looked up from the assistant turn that made it;
* Gemini's function calls may carry no id: we number them ``call_<n>`` per response;
* a stream has no terminal event: the chunk whose candidate carries a ``finishReason`` (or
  whose ``promptFeedback`` carries a ``blockReason``) is terminal, and a body that ends
  before one is a ``StreamInterrupted``;
* safety blocks are a normal 200 response with ``finishReason: SAFETY`` (or ``BLOCKLIST``,
  ``PROHIBITED_CONTENT``...) or ``promptFeedback.blockReason``: finish reason ``content_filter``;
* ``thoughtsTokenCount`` is billed as output: it is added to ``output_tokens`` and reported as
  ``reasoning_tokens``.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping
from typing import Any

from .._types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    FinishReason,
    FunctionCall,
    Message,
    StreamEvent,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
    reported_usage,
)
from ..errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ContextWindowExceeded,
    DecodeError,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StreamInterrupted,
    error_for_status,
)
from ._codec_util import SHAPE_ERRORS, arguments_json, invalid_json, shape_error
from ._json import loads
from ._sse import SSEParser
from ._wire import add_turn, parse_data_uri, split_system, tool_arguments

__all__ = [
    "GeminiStreamDecoder",
    "decode_embeddings",
    "decode_response",
    "encode_chat",
    "encode_embeddings",
    "error_from_body",
]

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}

_STATUS: dict[str, type[APIStatusError]] = {
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": BadRequestError,
    "OUT_OF_RANGE": BadRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "DEADLINE_EXCEEDED": RequestTimeoutError,
    "INTERNAL": ServerError,
    "UNAVAILABLE": ServerError,
}


# --------------------------------------------------------------------------- encoding


def _parts(m: Message) -> list[dict[str, Any]]:
    c = m.content
    if c is None:
        return []
    if isinstance(c, str):
        return [{"text": c}] if c else []
    out: list[dict[str, Any]] = []
    for p in c:
        if isinstance(p, TextPart):
            out.append({"text": p.text})
            continue
        url = p.image_url.url
        data = parse_data_uri(url)
        if data is not None:
            out.append({"inlineData": {"mimeType": data[0], "data": data[1]}})
        else:
            mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
            out.append({"fileData": {"mimeType": mime, "fileUri": url}})
    return out


def _tool_response(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def encode_contents(request: ChatRequest) -> tuple[str | None, list[dict[str, Any]]]:
    system, rest = split_system(request)
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for i, m in rest:
        if m.role == "tool":
            name = m.name or names.get(m.tool_call_id or "")
            if not name:
                raise InvalidRequestError(
                    f"messages[{i}]: Gemini needs the function name of a tool result: give "
                    "tool_call_id of an earlier assistant tool call, or name="
                )
            role = "user"
            fr: dict[str, Any] = {"name": name, "response": _tool_response(m.text)}
            if m.tool_call_id and not m.tool_call_id.startswith("call_"):
                fr["id"] = m.tool_call_id  # ids Gemini issued itself go back to it
            parts: list[dict[str, Any]] = [{"functionResponse": fr}]
        elif m.role == "assistant":
            role = "model"
            parts = _parts(m)
            for tc in m.tool_calls or ():
                names[tc.id] = tc.function.name
                fc: dict[str, Any] = {
                    "name": tc.function.name,
                    "args": tool_arguments(tc.function.arguments, f"messages[{i}]"),
                }
                if not tc.id.startswith("call_"):
                    fc["id"] = tc.id
                parts.append({"functionCall": fc})
        else:
            role = "user"
            parts = _parts(m)
        add_turn(out, role, "parts", parts)
    return system, out


def _tool_config(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        cfg: dict[str, Any] = {"mode": "AUTO"}
    elif choice == "required":
        cfg = {"mode": "ANY"}
    elif choice == "none":
        cfg = {"mode": "NONE"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        cfg = {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name")]}
    else:
        raise InvalidRequestError(f"tool_choice {choice!r} is not supported by Gemini")
    return {"functionCallingConfig": cfg}


def encode_chat(request: ChatRequest) -> dict[str, Any]:
    system, contents = encode_contents(request)
    r = request
    body: dict[str, Any] = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    gen: dict[str, Any] = {}
    if r.max_tokens is not None:
        gen["maxOutputTokens"] = r.max_tokens
    if r.temperature is not None:
        gen["temperature"] = r.temperature
    if r.top_p is not None:
        gen["topP"] = r.top_p
    if r.stop is not None:
        gen["stopSequences"] = list(r.stop)
    if r.seed is not None:
        gen["seed"] = r.seed
    if r.presence_penalty is not None:
        gen["presencePenalty"] = r.presence_penalty
    if r.frequency_penalty is not None:
        gen["frequencyPenalty"] = r.frequency_penalty
    rf = r.response_format
    if rf is not None and rf.type != "text":
        gen["responseMimeType"] = "application/json"
        schema = (rf.json_schema or {}).get("schema") if rf.type == "json_schema" else None
        if schema is not None:
            gen["responseJsonSchema"] = schema
    if gen:
        body["generationConfig"] = gen
    if r.tools:
        decls = []
        for t in r.tools:
            d: dict[str, Any] = {"name": t.function.name}
            if t.function.description:
                d["description"] = t.function.description
            if t.function.parameters:
                d["parameters"] = t.function.parameters
            decls.append(d)
        body["tools"] = [{"functionDeclarations": decls}]
    tc = _tool_config(r.tool_choice)
    if tc is not None:
        body["toolConfig"] = tc
    if r.extra:
        body.update(r.extra)
    return body


def encode_embeddings(request: EmbeddingRequest, model_path: str) -> dict[str, Any]:
    """``batchEmbedContents``: one request per input (``model_path`` is ``models/<id>``)."""
    reqs = []
    for text in request.inputs:
        item: dict[str, Any] = {"model": model_path, "content": {"parts": [{"text": text}]}}
        if request.dimensions is not None:
            item["outputDimensionality"] = request.dimensions
        if request.extra:
            item.update(request.extra)
        reqs.append(item)
    return {"requests": reqs}


# --------------------------------------------------------------------------- decoding


def usage_from(u: Any) -> Usage:
    if not isinstance(u, Mapping):
        return Usage(estimated=True)
    thoughts = int(u.get("thoughtsTokenCount") or 0)
    return reported_usage(
        int(u.get("promptTokenCount") or 0),
        int(u.get("candidatesTokenCount") or 0) + thoughts,
        cached_input_tokens=int(u.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


class _Candidate:
    """What one response chunk says: text, calls, finish reason (``None`` if not final)."""

    __slots__ = ("calls", "finish", "text")

    def __init__(self, body: Any, first_call: int) -> None:
        self.text = ""
        self.calls: list[tuple[str, str, str]] = []  # (id, name, arguments JSON)
        self.finish: FinishReason | None = None
        feedback = body.get("promptFeedback")
        cands = body.get("candidates") or ()
        if not cands:
            if isinstance(feedback, Mapping) and feedback.get("blockReason"):
                self.finish = "content_filter"
            return
        cand = cands[0]
        content = cand.get("content") or {}
        texts: list[str] = []
        for part in content.get("parts") or ():
            if "text" in part and not part.get("thought"):
                texts.append(part["text"])
            elif "functionCall" in part:
                fc = part["functionCall"]
                cid = fc.get("id") or f"call_{first_call + len(self.calls)}"
                self.calls.append((str(cid), str(fc["name"]), arguments_json(fc.get("args"))))
        self.text = "".join(texts)
        reason = cand.get("finishReason")
        if reason and reason != "FINISH_REASON_UNSPECIFIED":
            self.finish = _FINISH.get(str(reason), "unknown")


def decode_response(body: Any, *, provider: str) -> ChatResponse:
    try:
        c = _Candidate(body, 0)
        finish = c.finish or "unknown"
        if c.calls and finish == "stop":
            finish = "tool_calls"
        return ChatResponse(
            text=c.text,
            tool_calls=tuple(
                ToolCall(id=cid, function=FunctionCall(name=n, arguments=a))
                for cid, n, a in c.calls
            ),
            finish_reason=finish,
            usage=usage_from(body.get("usageMetadata")),
            model=body.get("modelVersion"),
            id=body.get("responseId"),
        )
    except SHAPE_ERRORS as e:
        raise shape_error("generateContent", e, provider) from e


def decode_embeddings(body: Any, *, provider: str) -> EmbeddingResponse:
    try:
        if "embeddings" in body:  # Gemini API batchEmbedContents
            vectors = tuple(tuple(float(x) for x in e["values"]) for e in body["embeddings"])
            return EmbeddingResponse(vectors=vectors, usage=Usage(estimated=True))
        preds = body["predictions"]  # Vertex AI :predict
        vectors = tuple(tuple(float(x) for x in p["embeddings"]["values"]) for p in preds)
        tokens = sum(
            int((p["embeddings"].get("statistics") or {}).get("token_count") or 0) for p in preds
        )
        return EmbeddingResponse(vectors=vectors, usage=Usage(input_tokens=tokens))
    except SHAPE_ERRORS as e:
        raise shape_error("embeddings", e, provider) from e


_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _retry_delay(err: Mapping[str, Any]) -> float | None:
    """``google.rpc.RetryInfo`` in ``error.details`` (``"retryDelay": "31s"``)."""
    for d in err.get("details") or ():
        if isinstance(d, Mapping) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = _DELAY.match(str(d.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    return None


def error_from_body(body: Any, status: int | None, provider: str, **facts: Any) -> ProviderError:
    """``{"error": {"code", "message", "status"}}`` (google.rpc.Status) -> typed error."""
    if isinstance(body, list) and body:  # Vertex sometimes wraps the error in a list
        body = body[0]
    err = body.get("error") if isinstance(body, Mapping) else None
    err = err if isinstance(err, Mapping) else {}
    rpc = str(err.get("status") or "")
    message = str(err.get("message") or "")
    if status is None and isinstance(err.get("code"), int):
        status = err["code"]
    cls: type[ProviderError] = _STATUS.get(rpc) or (
        error_for_status(status) if status else ServerError
    )
    if cls is BadRequestError and "token" in message and "exceed" in message:
        cls = ContextWindowExceeded
    if cls is ServerError and "overloaded" in message.lower():
        cls = OverloadedError
    if facts.get("retry_after") is None:
        facts["retry_after"] = _retry_delay(err)
    text = f"{rpc}: {message}" if rpc else (message or f"HTTP {status}")
    return cls(text, provider=provider, status_code=status, **facts)


class GeminiStreamDecoder:
    """``alt=sse`` chunks, each a whole ``GenerateContentResponse``.

    There is no terminal event: the chunk with a finish reason (or a prompt block) ends it.
    """

    __slots__ = ("_calls", "_parser", "_provider", "_tagged", "_text", "done")

    def __init__(self, provider: str) -> None:
        self._parser = SSEParser()
        self._provider = provider
        self._text: list[str] = []
        self._calls = 0
        self._tagged = False
        self.done = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for sse in self._parser.feed(data):
            try:
                chunk = loads(sse.data)
            except ValueError as e:
                raise invalid_json("stream chunk", e, self._provider, sse.data) from e
            if isinstance(chunk, Mapping) and "error" in chunk:
                raise error_from_body(chunk, None, self._provider)
            try:
                if not self.done:
                    out.extend(self._events(chunk))
                elif isinstance(chunk, Mapping) and chunk.get("usageMetadata"):
                    # only a late usage report can follow the final chunk
                    out.append(StreamEvent(usage=usage_from(chunk["usageMetadata"])))
            except SHAPE_ERRORS as e:
                raise DecodeError(
                    f"stream chunk has the wrong shape: {e!s}",
                    provider=self._provider,
                    body_snippet=sse.data[:200],
                ) from e
        return out

    def _events(self, chunk: Any) -> list[StreamEvent]:
        c = _Candidate(chunk, self._calls)
        model, rid = chunk.get("modelVersion"), chunk.get("responseId")
        events: list[StreamEvent] = []
        if c.text:
            self._text.append(c.text)
            if self._tagged:  # model and id ride on the first event only: cheaper
                events.append(StreamEvent(text=c.text))
            else:
                self._tagged = True
                events.append(StreamEvent(text=c.text, model=model, id=rid))
        for cid, name, args in c.calls:
            delta = ToolCallDelta(index=self._calls, id=cid, name=name, arguments=args)
            self._calls += 1
            events.append(StreamEvent(tool_call=delta, model=model, id=rid))
        finish = c.finish
        if finish is not None:
            self.done = True
            if finish == "stop" and self._calls:
                finish = "tool_calls"
            usage = usage_from(chunk.get("usageMetadata"))
            events.append(StreamEvent(finish_reason=finish, usage=usage, model=model, id=rid))
        return events

    def close(self) -> None:
        if not self.done:
            raise StreamInterrupted(
                "stream ended without a chunk carrying finishReason",
                provider=self._provider,
                partial_text="".join(self._text),
            )
