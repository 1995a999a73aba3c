"""Anthropic's Messages API (``POST /v1/messages``), sans-IO.

Where it differs from our OpenAI-shaped types, and what we do about it:

* the system prompt is a top-level ``system`` field: system/developer messages are hoisted;
* ``max_tokens`` is required: requests without one get ``default_max_tokens`` (1024);
* tool calls are ``tool_use`` content blocks with an *object* input, and results go back as
  ``tool_result`` blocks inside the next *user* turn: consecutive tool messages are merged;
* usage splits the prompt into uncached, cache-read and cache-write tokens: we report their
  sum as ``input_tokens`` (the OpenAI meaning) and the parts as ``cached_input_tokens`` and
  ``cache_creation_input_tokens``;
* a stream ends with ``message_stop``; ``ping`` is ignored, an ``error`` event raises the
  typed error (``overloaded_error`` -> ``OverloadedError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._effects import HttpRequest, RawResponse
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
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ContextWindowExceeded,
    DecodeError,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
    error_for_status,
)
from ._base import (
    Capabilities,
    Provider,
    error_body,
    load_json,
    register_provider,
)
from ._codec_util import SHAPE_ERRORS, invalid_json, shape_error, tool_call
from ._json import dumps, loads
from ._sse import SSEParser
from ._wire import parse_data_uri, split_system, tool_arguments

__all__ = ["Anthropic", "AnthropicStreamDecoder", "decode_message", "encode_messages"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_ERRORS: dict[str, type[APIStatusError]] = {
    "invalid_request_error": BadRequestError,
    "request_too_large": BadRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "rate_limit_error": RateLimitError,
    "api_error": ServerError,
    "overloaded_error": OverloadedError,
}


# --------------------------------------------------------------------------- encoding


def _image_block(p: ImagePart) -> dict[str, Any]:
    url = p.image_url.url
    data = parse_data_uri(url)
    if data is None:
        return {"type": "image", "source": {"type": "url", "url": url}}
    return {"type": "image", "source": {"type": "base64", "media_type": data[0], "data": data[1]}}


def _blocks(m: Message) -> list[dict[str, Any]]:
    c = m.content
    if c is None:
        return []
    if isinstance(c, str):
        return [{"type": "text", "text": c}] if c else []
    return [
        {"type": "text", "text": p.text} if isinstance(p, TextPart) else _image_block(p) for p in c
    ]


def encode_messages(request: ChatRequest) -> tuple[str | None, list[dict[str, Any]]]:
    """Unified messages -> (system, Anthropic ``messages``), merging same-role neighbours.

    Anthropic wants every ``tool_result`` of one assistant turn in the next user turn, so tool
    messages and the user text after them become one user message.
    """
    system, rest = split_system(request)
    out: list[dict[str, Any]] = []
    for i, m in rest:
        if m.role == "tool":
            if not m.tool_call_id:
                raise InvalidRequestError(f"messages[{i}]: a tool message needs tool_call_id")
            role = "user"
            blocks: list[dict[str, Any]] = [
                {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.text}
            ]
        elif m.role == "assistant":
            role = "assistant"
            blocks = _blocks(m)
            for tc in m.tool_calls or ():
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": tc.id,
                        "name": tc.function.name,
                        "input": tool_arguments(tc.function.arguments, f"messages[{i}]"),
                    }
                )
        else:
            role = "user"
            blocks = _blocks(m)
        if out and out[-1]["role"] == role:
            prev = out[-1]["content"]
            if isinstance(prev, str):
                prev = out[-1]["content"] = [{"type": "text", "text": prev}]
            prev.extend(blocks)
        elif len(blocks) == 1 and blocks[0]["type"] == "text":
            out.append({"role": role, "content": blocks[0]["text"]})
        else:
            out.append({"role": role, "content": blocks})
    return system, out


def _tool_choice(choice: str | dict[str, Any] | None, parallel: bool | None) -> Any:
    tc: dict[str, Any] | None
    if choice is None:
        tc = None
    elif choice == "auto":
        tc = {"type": "auto"}
    elif choice == "required":
        tc = {"type": "any"}
    elif choice == "none":
        tc = {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        tc = {"type": "tool", "name": choice["function"].get("name")}
    elif isinstance(choice, dict):
        tc = dict(choice)  # already Anthropic-shaped
    else:
        raise InvalidRequestError(f"tool_choice {choice!r} is not supported by Anthropic")
    if parallel is False:
        tc = {**(tc or {"type": "auto"}), "disable_parallel_tool_use": True}
    return tc


def encode_chat(
    request: ChatRequest, model: str, *, stream: bool, default_max_tokens: int
) -> dict[str, Any]:
    system, messages = encode_messages(request)
    r = request
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": r.max_tokens or default_max_tokens,
        "messages": messages,
    }
    if system is not None:
        body["system"] = system
    if r.temperature is not None:
        body["temperature"] = r.temperature
    if r.top_p is not None:
        body["top_p"] = r.top_p
    if r.stop is not None:
        body["stop_sequences"] = list(r.stop)
    if r.user is not None:
        body["metadata"] = {"user_id": r.user}
    if r.tools:
        body["tools"] = [
            {
                "name": t.function.name,
                **({"description": t.function.description} if t.function.description else {}),
                "input_schema": t.function.parameters or {"type": "object", "properties": {}},
            }
            for t in r.tools
        ]
    tc = _tool_choice(r.tool_choice, r.parallel_tool_calls)
    if tc is not None:
        body["tool_choice"] = tc
    if r.response_format is not None and r.response_format.type != "text":
        raise InvalidRequestError(
            "Anthropic has no JSON mode: describe the JSON in the prompt or use a tool "
            "with input_schema"
        )
    if stream:
        body["stream"] = True
    if r.extra:
        body.update(r.extra)
    return body


# --------------------------------------------------------------------------- decoding


def _usage(u: Any, base: Mapping[str, Any] | None = None) -> Usage:
    """Anthropic usage (optionally on top of ``message_start``'s) -> unified ``Usage``."""
    merged: dict[str, Any] = dict(base or {})
    if isinstance(u, Mapping):
        merged.update({k: v for k, v in u.items() if v is not None})
    uncached = int(merged.get("input_tokens") or 0)
    read = int(merged.get("cache_read_input_tokens") or 0)
    write = int(merged.get("cache_creation_input_tokens") or 0)
    return reported_usage(
        uncached + read + write,
        int(merged.get("output_tokens") or 0),
        cached_input_tokens=read,
        cache_creation_input_tokens=write,
    )


def decode_message(body: Any, *, provider: str) -> ChatResponse:
    """A Messages API response body -> ``ChatResponse``; wrong shapes are ``DecodeError``."""
    try:
        text: list[str] = []
        calls: list[ToolCall] = []
        for block in body["content"]:
            kind = block["type"]
            if kind == "text":
                text.append(block["text"])
            elif kind == "tool_use":
                calls.append(tool_call(block["id"], block["name"], block.get("input")))
            # thinking / redacted_thinking / server tool blocks carry no answer text
        return ChatResponse(
            text="".join(text),
            tool_calls=tuple(calls),
            finish_reason=_FINISH.get(str(body.get("stop_reason")), "unknown"),
            usage=_usage(body.get("usage")),
            model=body.get("model"),
            id=body.get("id"),
        )
    except SHAPE_ERRORS as e:
        raise shape_error("Anthropic message", e, provider) from e


def error_from_body(body: Any, status: int | None, provider: str, **facts: Any) -> ProviderError:
    """``{"type": "error", "error": {"type", "message"}}`` -> the matching typed error."""
    err = body.get("error") if isinstance(body, dict) else None
    kind = str(err.get("type")) if isinstance(err, dict) else ""
    message = str(err.get("message") or "") if isinstance(err, dict) else ""
    cls: type[ProviderError] = _ERRORS.get(kind) or (
        error_for_status(status) if status else ServerError
    )
    if cls is BadRequestError and "prompt is too long" in message:
        cls = ContextWindowExceeded
    return cls(
        f"{kind}: {message}" if kind else (message or f"HTTP {status}"),
        provider=provider,
        status_code=status,
        **facts,
    )


class AnthropicStreamDecoder:
    """Messages API SSE events -> ``StreamEvent``s; ``message_stop`` is the terminal event."""

    __slots__ = (
        "_base_usage",
        "_id",
        "_model",
        "_parser",
        "_provider",
        "_tagged",
        "_text",
        "_tools",
        "done",
    )

    def __init__(self, provider: str) -> None:
        self._parser = SSEParser()
        self._provider = provider
        self._text: list[str] = []
        self._tools: dict[int, int] = {}  # content block index -> tool call ordinal
        self._base_usage: dict[str, Any] = {}
        self._id: str | None = None
        self._model: str | None = None
        self._tagged = False
        self.done = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for sse in self._parser.feed(data):
            if self.done or sse.event == "ping":
                continue
            try:
                ev = loads(sse.data)
            except ValueError as e:
                raise invalid_json("stream event", e, self._provider, sse.data) from e
            try:
                produced = self._event(ev)
            except SHAPE_ERRORS as e:
                raise DecodeError(
                    f"stream event {sse.event!r} has the wrong shape: {e!s}",
                    provider=self._provider,
                    body_snippet=sse.data[:200],
                ) from e
            if produced is not None:
                out.append(produced)
        return out

    def _event(self, ev: Any) -> StreamEvent | None:
        kind = ev["type"]
        if kind == "content_block_delta":
            delta = ev["delta"]
            dkind = delta["type"]
            if dkind == "text_delta":
                text = delta["text"]
                self._text.append(text)
                if self._tagged:  # id and model ride on the first event only: cheaper
                    return StreamEvent(text=text)
                self._tagged = True
                return StreamEvent(text=text, id=self._id, model=self._model)
            if dkind == "input_json_delta":
                ordinal = self._tools.get(int(ev["index"]))
                if ordinal is None:  # a server tool's input (web search...): not ours to run
                    return None
                return StreamEvent(
                    tool_call=ToolCallDelta(index=ordinal, arguments=delta["partial_json"]),
                    id=self._id,
                    model=self._model,
                )
            return None  # thinking_delta, signature_delta, citations_delta
        if kind == "content_block_start":
            block = ev["content_block"]
            if block["type"] == "tool_use":
                ordinal = self._tools[int(ev["index"])] = len(self._tools)
                return StreamEvent(
                    tool_call=ToolCallDelta(
                        index=ordinal, id=str(block["id"]), name=str(block["name"])
                    ),
                    id=self._id,
                    model=self._model,
                )
            if block["type"] == "text" and block.get("text"):
                self._text.append(block["text"])
                return StreamEvent(text=block["text"], id=self._id, model=self._model)
            return None
        if kind == "message_start":
            msg = ev["message"]
            self._id, self._model = msg.get("id"), msg.get("model")
            self._base_usage = dict(msg.get("usage") or {})
            return None
        if kind == "message_delta":
            reason = (ev.get("delta") or {}).get("stop_reason")
            return StreamEvent(
                finish_reason=_FINISH.get(str(reason), "unknown") if reason else None,
                usage=_usage(ev.get("usage"), self._base_usage),
                id=self._id,
                model=self._model,
            )
        if kind == "message_stop":
            self.done = True
            return None
        if kind == "error":
            raise error_from_body(ev, None, self._provider)
        return None  # content_block_stop, and event types added later

    def close(self) -> None:
        if not self.done:
            raise StreamInterrupted(
                "stream ended without its terminal message_stop event",
                provider=self._provider,
                partial_text="".join(self._text),
            )


# --------------------------------------------------------------------------- provider


@register_provider
class Anthropic(Provider):
    """Claude through Anthropic's API. The key comes from ``api_key=`` or ``ANTHROPIC_API_KEY``.

    ``default_max_tokens`` fills the ``max_tokens`` Anthropic requires when a request has none.
    ``beta`` values go into the ``anthropic-beta`` header (comma-joined).
    """

    name = "anthropic"
    api_key_env = "ANTHROPIC_API_KEY"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str = "https://api.anthropic.com",
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        api_version: str = API_VERSION,
        beta: list[str] | tuple[str, ...] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        extra = {"anthropic-version": api_version}
        if beta:
            extra["anthropic-beta"] = ",".join(beta)
        extra.update(headers or {})
        super().__init__(
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            headers=extra,
            capabilities=capabilities
            or Capabilities(json_mode=False, json_schema=False, embeddings=False),
        )
        if default_max_tokens <= 0:
            raise ConfigError("Anthropic: default_max_tokens must be > 0")
        self.default_max_tokens = default_max_tokens

    def auth_headers(self, endpoint: str | None = None) -> dict[str, str]:
        return {"x-api-key": self.api_key(endpoint)}

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("request-id") or headers.get("x-request-id")

    def build_chat(
        self, request: ChatRequest, *, stream: bool, auth: Mapping[str, str]
    ) -> HttpRequest:
        body = encode_chat(
            request, self.model, stream=stream, default_max_tokens=self.default_max_tokens
        )
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        headers.update(self._extra_headers)
        headers.update(auth)
        return HttpRequest(
            "POST", f"{self.base_url}/v1/messages", headers, dumps(body), self.timeout
        )

    def parse_chat(self, response: RawResponse) -> ChatResponse:
        return decode_message(load_json(response, self.name), provider=self.name)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(self.name)

    def classify_error(self, response: RawResponse) -> ProviderError:
        body = error_body(response.content)
        return error_from_body(body, response.status_code, self.name, **self._error_facts(response))
