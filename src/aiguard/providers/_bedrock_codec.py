"""The Bedrock Converse / ConverseStream wire format, as pure functions over dicts and bytes.

Converse is Bedrock's model-neutral chat API: content is a list of typed blocks (``text``,
``image``, ``toolUse``, ``toolResult``), the system prompt is a separate list, options live in
``inferenceConfig``. ConverseStream sends the same facts as AWS event-stream frames (see
``_eventstream``), one JSON payload per ``:event-type``; failures mid-stream arrive as
``:message-type: exception`` frames and become typed errors here.

Usage is normalised like Anthropic's: Bedrock's ``inputTokens`` excludes cache reads and
writes, so ``input_tokens`` is their sum and the parts are reported separately.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    ImagePart,
    Message,
    StreamEvent,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
    reported_usage,
)
from ..errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceeded,
    DecodeError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StreamInterrupted,
    error_for_status,
)
from ._codec_util import SHAPE_ERRORS, shape_error, tool_call
from ._eventstream import EventStreamDecoder
from ._wire import add_turn, parse_data_uri, split_system, tool_arguments

__all__ = [
    "BedrockStreamDecoder",
    "decode_converse",
    "encode_converse",
    "error_for_exception",
]

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

_EXCEPTIONS: dict[str, type[ProviderError]] = {
    "throttlingexception": RateLimitError,
    "servicequotaexceededexception": RateLimitError,
    "validationexception": BadRequestError,
    "accessdeniedexception": PermissionDeniedError,
    "unrecognizedclientexception": AuthenticationError,
    "invalidsignatureexception": AuthenticationError,
    "expiredtokenexception": AuthenticationError,
    "resourcenotfoundexception": NotFoundError,
    "modeltimeoutexception": RequestTimeoutError,
    "modelnotreadyexception": ServerError,
    "modelerrorexception": ServerError,
    "modelstreamerrorexception": ServerError,
    "internalserverexception": ServerError,
    "serviceunavailableexception": ServerError,
}

_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


# --------------------------------------------------------------------------- encoding


def _image(p: ImagePart, where: str) -> dict[str, Any]:
    url = p.image_url.url
    data = parse_data_uri(url)
    if data is None:
        if url.startswith("s3://"):
            fmt = url.rsplit(".", 1)[-1].lower().replace("jpg", "jpeg")
            return {"image": {"format": fmt, "source": {"s3Location": {"uri": url}}}}
        raise InvalidRequestError(
            f"{where}: Bedrock takes images as base64 data URIs or s3:// URIs, not web URLs"
        )
    known = _IMAGE_FORMATS.get(data[0])
    if known is None:
        raise InvalidRequestError(f"{where}: Bedrock does not accept images of type {data[0]}")
    return {"image": {"format": known, "source": {"bytes": data[1]}}}


def _blocks(m: Message, where: str) -> list[dict[str, Any]]:
    c = m.content
    if c is None:
        return []
    if isinstance(c, str):
        return [{"text": c}] if c else []
    return [{"text": p.text} if isinstance(p, TextPart) else _image(p, where) for p in c]


def _tool_result(m: Message) -> dict[str, Any]:
    text = m.text
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    content = [{"json": value}] if isinstance(value, dict) else [{"text": text}]
    return {"toolResult": {"toolUseId": m.tool_call_id, "content": content}}


def encode_messages(request: ChatRequest) -> tuple[str | None, list[dict[str, Any]]]:
    system, rest = split_system(request)
    out: list[dict[str, Any]] = []
    for i, m in rest:
        where = f"messages[{i}]"
        if m.role == "tool":
            if not m.tool_call_id:
                raise InvalidRequestError(f"{where}: a tool message needs tool_call_id")
            role, blocks = "user", [_tool_result(m)]
        elif m.role == "assistant":
            role, blocks = "assistant", _blocks(m, where)
            for tc in m.tool_calls or ():
                blocks.append(
                    {
                        "toolUse": {
                            "toolUseId": tc.id,
                            "name": tc.function.name,
                            "input": tool_arguments(tc.function.arguments, where),
                        }
                    }
                )
        else:
            role, blocks = "user", _blocks(m, where)
        add_turn(out, role, "content", blocks)
    return system, out


def _tool_choice(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None or choice == "none":  # Converse has no "none": leave it to the model
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"tool": {"name": choice["function"].get("name")}}
    raise InvalidRequestError(f"tool_choice {choice!r} is not supported by Bedrock Converse")


def encode_converse(request: ChatRequest) -> dict[str, Any]:
    system, messages = encode_messages(request)
    r = request
    body: dict[str, Any] = {"messages": messages}
    if system is not None:
        body["system"] = [{"text": system}]
    inf: dict[str, Any] = {}
    if r.max_tokens is not None:
        inf["maxTokens"] = r.max_tokens
    if r.temperature is not None:
        inf["temperature"] = r.temperature
    if r.top_p is not None:
        inf["topP"] = r.top_p
    if r.stop is not None:
        inf["stopSequences"] = list(r.stop)
    if inf:
        body["inferenceConfig"] = inf
    if r.tools:
        specs = []
        for t in r.tools:
            spec: dict[str, Any] = {
                "name": t.function.name,
                "inputSchema": {"json": t.function.parameters or {"type": "object"}},
            }
            if t.function.description:
                spec["description"] = t.function.description
            specs.append({"toolSpec": spec})
        cfg: dict[str, Any] = {"tools": specs}
        tc = _tool_choice(r.tool_choice)
        if tc is not None:
            cfg["toolChoice"] = tc
        body["toolConfig"] = cfg
    if r.response_format is not None and r.response_format.type != "text":
        raise InvalidRequestError(
            "Bedrock Converse has no JSON mode: use a tool with an input schema instead"
        )
    if r.extra:
        body.update(r.extra)
    return body


# --------------------------------------------------------------------------- decoding


def usage_from(u: Any) -> Usage:
    if not isinstance(u, Mapping):
        return Usage(estimated=True)
    read = int(u.get("cacheReadInputTokens") or 0)
    write = int(u.get("cacheWriteInputTokens") or 0)
    return reported_usage(
        int(u.get("inputTokens") or 0) + read + write,
        int(u.get("outputTokens") or 0),
        cached_input_tokens=read,
        cache_creation_input_tokens=write,
    )


def decode_converse(body: Any, *, provider: str) -> ChatResponse:
    try:
        text: list[str] = []
        calls: list[ToolCall] = []
        for block in body["output"]["message"]["content"]:
            if "text" in block:
                text.append(block["text"])
            elif "toolUse" in block:
                tu = block["toolUse"]
                calls.append(tool_call(tu["toolUseId"], tu["name"], tu.get("input")))
        return ChatResponse(
            text="".join(text),
            tool_calls=tuple(calls),
            finish_reason=_FINISH.get(str(body.get("stopReason")), "unknown"),
            usage=usage_from(body.get("usage")),
        )
    except SHAPE_ERRORS as e:
        raise shape_error("Converse", e, provider) from e


def error_for_exception(
    kind: str, message: str, status: int | None, provider: str, **facts: Any
) -> ProviderError:
    """An AWS error code (``ThrottlingException``, ``throttlingException``...) -> typed error."""
    cls: type[ProviderError] | None = _EXCEPTIONS.get(kind.lower())
    if cls is None:
        cls = error_for_status(status) if status else ServerError
    if cls is BadRequestError and any(
        s in message.lower() for s in ("too long", "too many input tokens", "context window")
    ):
        cls = ContextWindowExceeded
    return cls(
        f"{kind}: {message}" if kind else message, provider=provider, status_code=status, **facts
    )


class BedrockStreamDecoder:
    """ConverseStream event-stream frames -> ``StreamEvent``s.

    ``messageStop`` completes the answer and ``metadata`` (usage) follows it; ``done`` is set
    at ``metadata``, and a body ending between the two still closes cleanly (no usage then).
    """

    __slots__ = ("_frames", "_provider", "_stopped", "_text", "_tools", "done")

    def __init__(self, provider: str) -> None:
        self._frames = EventStreamDecoder(provider)
        self._provider = provider
        self._text: list[str] = []
        self._tools: dict[int, int] = {}
        self._stopped = False
        self.done = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for msg in self._frames.feed(data):
            h = msg.headers
            mtype = h.get(":message-type", "event")
            if mtype != "event":
                self._raise(mtype, h, msg.payload)
            if self.done:
                continue
            try:
                payload = json.loads(msg.payload) if msg.payload else {}
                ev = self._event(str(h.get(":event-type", "")), payload)
            except SHAPE_ERRORS as e:
                raise DecodeError(
                    f"ConverseStream event {h.get(':event-type')!r} is malformed: {e!s}",
                    provider=self._provider,
                    body_snippet=msg.payload[:200].decode("utf-8", "replace"),
                ) from e
            if ev is not None:
                out.append(ev)
        return out

    def _raise(self, mtype: Any, h: Mapping[str, Any], payload: bytes) -> None:
        if mtype == "exception":
            kind = str(h.get(":exception-type", "exception"))
            try:
                message = str(json.loads(payload).get("message") or "")
            except (ValueError, AttributeError):
                message = payload[:200].decode("utf-8", "replace")
        else:
            kind = str(h.get(":error-code", "error"))
            message = str(h.get(":error-message", ""))
        if kind.lower() == "modelstreamerrorexception":
            raise StreamInterrupted(
                f"{kind}: {message}",
                provider=self._provider,
                partial_text="".join(self._text),
            )
        raise error_for_exception(kind, message, None, self._provider)

    def _event(self, kind: str, p: Any) -> StreamEvent | None:
        if kind == "contentBlockDelta":
            delta = p["delta"]
            if "text" in delta:
                self._text.append(delta["text"])
                return StreamEvent(text=delta["text"])
            if "toolUse" in delta:
                ordinal = self._tools[int(p["contentBlockIndex"])]
                args = delta["toolUse"].get("input") or ""
                return StreamEvent(tool_call=ToolCallDelta(index=ordinal, arguments=args))
            return None  # reasoningContent, citations
        if kind == "contentBlockStart":
            tu = (p.get("start") or {}).get("toolUse")
            if tu is None:
                return None
            ordinal = self._tools[int(p["contentBlockIndex"])] = len(self._tools)
            return StreamEvent(
                tool_call=ToolCallDelta(
                    index=ordinal, id=str(tu["toolUseId"]), name=str(tu["name"])
                )
            )
        if kind == "messageStop":
            self._stopped = True
            return StreamEvent(finish_reason=_FINISH.get(str(p.get("stopReason")), "unknown"))
        if kind == "metadata":
            self.done = True
            return StreamEvent(usage=usage_from(p.get("usage")))
        return None  # messageStart, contentBlockStop, and event types added later

    def close(self) -> None:
        if not (self.done or self._stopped):
            raise StreamInterrupted(
                "stream ended without its messageStop event",
                provider=self._provider,
                partial_text="".join(self._text),
            )
