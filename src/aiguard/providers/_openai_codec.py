"""The OpenAI chat-completions wire format, as pure functions over dicts and bytes.

Shared by ``OpenAI``, ``OpenAICompatible`` (vLLM, Ollama, LM Studio, Groq, Together, Mistral...)
and Azure OpenAI, which differ only in URL, auth header and a few quirks. Bodies are built by
hand rather than through ``model_dump`` because this runs on every call.
"""

from __future__ import annotations

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
from ..errors import DecodeError, ProviderError, StreamInterrupted, error_for_status
from ._codec_util import SHAPE_ERRORS, invalid_json, shape_error
from ._json import loads
from ._sse import SSEParser

__all__ = [
    "OpenAIStreamDecoder",
    "decode_chat",
    "decode_embeddings",
    "encode_chat",
    "encode_embeddings",
    "encode_message",
]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def encode_message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role}
    c = m.content
    if c is None or isinstance(c, str):
        out["content"] = c
    else:
        out["content"] = [
            {"type": "text", "text": p.text}
            if isinstance(p, TextPart)
            else {"type": "image_url", "image_url": p.image_url.model_dump(exclude_none=True)}
            for p in c
        ]
    if m.name is not None:
        out["name"] = m.name
    if m.tool_calls:
        out["tool_calls"] = [
            {
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.function.name, "arguments": tc.function.arguments},
            }
            for tc in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def encode_chat(
    request: ChatRequest,
    model: str,
    *,
    stream: bool,
    include_usage: bool = True,
    max_tokens_field: str = "max_tokens",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [encode_message(m) for m in request.messages],
    }
    r = request
    if r.max_tokens is not None:
        body[max_tokens_field] = r.max_tokens
    if r.temperature is not None:
        body["temperature"] = r.temperature
    if r.top_p is not None:
        body["top_p"] = r.top_p
    if r.stop is not None:
        body["stop"] = list(r.stop)
    if r.seed is not None:
        body["seed"] = r.seed
    if r.presence_penalty is not None:
        body["presence_penalty"] = r.presence_penalty
    if r.frequency_penalty is not None:
        body["frequency_penalty"] = r.frequency_penalty
    if r.user is not None:
        body["user"] = r.user
    if r.tools:
        body["tools"] = [t.model_dump(exclude_none=True) for t in r.tools]
    if r.tool_choice is not None:
        body["tool_choice"] = r.tool_choice
    if r.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = r.parallel_tool_calls
    if r.response_format is not None:
        body["response_format"] = r.response_format.model_dump(exclude_none=True)
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    if r.extra:
        body.update(r.extra)
    return body


def encode_embeddings(request: EmbeddingRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": list(request.inputs)}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    if request.extra:
        body.update(request.extra)
    return body


def _usage(u: Any) -> Usage:
    if type(u) is not dict and not isinstance(u, Mapping):
        return Usage(estimated=True)
    prompt_details = u.get("prompt_tokens_details") or {}
    completion_details = u.get("completion_tokens_details") or {}
    return reported_usage(
        int(u.get("prompt_tokens") or 0),
        int(u.get("completion_tokens") or 0),
        cached_input_tokens=int(prompt_details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
    )


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if not raw:
        return ()
    return tuple(
        ToolCall(
            id=str(tc.get("id") or f"call_{i}"),
            function=FunctionCall(
                name=str(tc["function"]["name"]),
                arguments=str(tc["function"].get("arguments") or ""),
            ),
        )
        for i, tc in enumerate(raw)
    )


def decode_chat(body: Any, *, provider: str) -> ChatResponse:
    """A parsed JSON body -> ``ChatResponse``; any missing field is a ``DecodeError``."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
        content = message.get("content")
        if isinstance(content, list):  # some compatible servers return parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
        return ChatResponse(
            text=content or "",
            tool_calls=_tool_calls(message.get("tool_calls")),
            finish_reason=_FINISH.get(str(choice.get("finish_reason")), "unknown"),
            usage=_usage(body.get("usage")),
            model=body.get("model"),
            id=body.get("id"),
        )
    except SHAPE_ERRORS as e:
        raise shape_error("chat completion", e, provider) from e


def decode_embeddings(body: Any, *, provider: str) -> EmbeddingResponse:
    try:
        items = sorted(body["data"], key=lambda d: d.get("index", 0))
        vectors = tuple(tuple(float(x) for x in d["embedding"]) for d in items)
        u = body.get("usage") or {}
        return EmbeddingResponse(
            vectors=vectors,
            usage=Usage(input_tokens=int(u.get("prompt_tokens") or 0)),
            model=body.get("model"),
        )
    except SHAPE_ERRORS as e:
        raise shape_error("embeddings", e, provider) from e


class OpenAIStreamDecoder:
    """``data: {chunk}`` lines until ``data: [DONE]``; an ``error`` object mid-stream raises."""

    __slots__ = ("_parser", "_provider", "done")

    def __init__(self, provider: str) -> None:
        self._parser = SSEParser()
        self._provider = provider
        self.done = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for sse in self._parser.feed(data):
            if self.done:
                continue
            if sse.data == "[DONE]":
                self.done = True
                continue
            try:
                chunk = loads(sse.data)
            except ValueError as e:
                raise invalid_json("stream chunk", e, self._provider, sse.data) from e
            out.extend(self._events(chunk))
        return out

    def _events(self, chunk: Any) -> list[StreamEvent]:
        if not isinstance(chunk, dict):
            raise DecodeError("stream chunk is not a JSON object", provider=self._provider)
        if "error" in chunk:
            err = chunk["error"] if isinstance(chunk["error"], dict) else {}
            code = err.get("code")
            status = code if isinstance(code, int) else 500
            cls: type[ProviderError] = error_for_status(status)
            raise cls(str(err.get("message") or "error event in stream"), provider=self._provider)
        try:
            usage = _usage(chunk["usage"]) if chunk.get("usage") else None
        except (TypeError, ValueError, AttributeError) as e:
            raise DecodeError(
                f"stream usage has the wrong shape: {e}", provider=self._provider
            ) from e
        choices = chunk.get("choices") or []
        text = ""
        tools: list[ToolCallDelta] = []
        finish: FinishReason | None = None
        if choices:
            try:
                choice = choices[0]
                delta = choice.get("delta") or {}
                text = delta.get("content") or ""
                for tc in delta.get("tool_calls") or ():
                    fn = tc.get("function") or {}
                    tools.append(
                        ToolCallDelta(
                            index=int(tc.get("index", 0)),
                            id=tc.get("id"),
                            name=fn.get("name"),
                            arguments=fn.get("arguments") or "",
                        )
                    )
                fr = choice.get("finish_reason")
                if fr:
                    finish = _FINISH.get(str(fr), "unknown")
            except (AttributeError, TypeError, ValueError, IndexError) as e:
                raise DecodeError(
                    f"stream chunk has the wrong shape: {e}", provider=self._provider
                ) from e
        if not (text or tools or finish or usage):
            return []
        model, rid = chunk.get("model"), chunk.get("id")
        events = [StreamEvent(tool_call=t, model=model, id=rid) for t in tools[1:]]
        first = StreamEvent(
            text=text,
            tool_call=tools[0] if tools else None,
            finish_reason=finish,
            usage=usage,
            model=model,
            id=rid,
        )
        return [first, *events]

    def close(self) -> None:
        if not self.done:
            raise StreamInterrupted(
                "stream ended without its terminal [DONE] event", provider=self._provider
            )
