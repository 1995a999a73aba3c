"""Where the text sits in the official SDKs' request and response bodies.

The SDK transport sees bytes, not ``ChatRequest``s. This module recognises the APIs it
governs by method and path (OpenAI chat completions, responses and embeddings; Anthropic
messages), rewrites the texts of a JSON body through a callback (inspection decides what
becomes of each), reads usage, and rewrites server-sent event streams incrementally.
Everything else the SDK sends is passed through untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._types import ChatRequest, EmbeddingRequest, FunctionDef, Message, Tool, Usage
from ._texts import Scan

__all__ = ["Api", "SseRewriter", "classify", "rewrite_request", "rewrite_response"]

Rewrite = Callable[[str, str, "int | None"], str]
"""``(text, location, message_index) -> new text``; raises to block."""


@dataclass(frozen=True, slots=True)
class Api:
    """One governed API: its name and the path suffix after the SDK's ``base_url``."""

    name: str
    suffix: str
    operation: str = "chat"


_APIS = (
    Api("anthropic.messages", "/v1/messages"),
    Api("openai.chat", "/chat/completions"),
    Api("openai.responses", "/responses"),
    Api("openai.embeddings", "/embeddings", "embeddings"),
)


def classify(method: str, path: str) -> Api | None:
    """The governed API a request calls, or ``None`` (passed through)."""
    if method.upper() != "POST":
        return None
    path = path.rstrip("/")
    for api in _APIS:
        if path.endswith(api.suffix):
            return api
    return None


# ---------------------------------------------------------------------- requests


def rewrite_request(api: Api, body: dict[str, Any], text: Rewrite) -> None:
    """Apply ``text`` to every prompt text of ``body``, in place."""
    if api.name == "openai.embeddings":
        value = body.get("input")
        if isinstance(value, str):
            body["input"] = text(value, "input", None)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    value[i] = text(item, f"input[{i}]", i)
        return
    if api.name == "openai.responses":
        _field_text(body, "instructions", "instructions", None, text)
        value = body.get("input")
        if isinstance(value, str):
            body["input"] = text(value, "input", None)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _content(item, f"input[{i}]", i, text)
        return
    if api.name == "anthropic.messages":
        system = body.get("system")
        if isinstance(system, str):
            body["system"] = text(system, "system", None)
        elif isinstance(system, list):
            _blocks(system, "system", None, text)
    for i, m in enumerate(body.get("messages") or ()):
        if isinstance(m, dict):
            _content(m, f"messages[{i}]", i, text)


def _field_text(obj: dict[str, Any], key: str, where: str, i: int | None, text: Rewrite) -> None:
    value = obj.get(key)
    if isinstance(value, str) and value:
        obj[key] = text(value, where, i)


def _content(m: dict[str, Any], where: str, i: int | None, text: Rewrite) -> None:
    content = m.get("content")
    if isinstance(content, str):
        m["content"] = text(content, f"{where}.content", i)
    elif isinstance(content, list):
        _blocks(content, f"{where}.content", i, text)


def _blocks(blocks: list[Any], where: str, i: int | None, text: Rewrite) -> None:
    """Text parts (``text``, ``input_text``), tool results, nested content lists."""
    for j, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        _field_text(block, "text", f"{where}[{j}].text", i, text)
        inner = block.get("content")
        if isinstance(inner, str):
            block["content"] = text(inner, f"{where}[{j}].content", i)
        elif isinstance(inner, list):
            _blocks(inner, f"{where}[{j}].content", i, text)


def call_request(api: Api, body: dict[str, Any]) -> ChatRequest | EmbeddingRequest:
    """The request as the stages see it: texts (for the token estimate and the audit
    record), tool names (for the tool allow-list) and ``max_tokens``. The SDK's ``model`` is
    not an aiguard endpoint name, so it is not set here."""
    texts: list[str] = []

    def collect(text: str, where: str, index: int | None) -> str:
        texts.append(text)
        return text

    rewrite_request(api, json.loads(json.dumps(body)), collect)
    if api.operation == "embeddings":
        return EmbeddingRequest(inputs=tuple(texts) or ("",))
    tools = []
    for t in body.get("tools") or ():
        name = (
            (t.get("function") or {}).get("name") or t.get("name") if isinstance(t, dict) else None
        )
        if isinstance(name, str) and name:
            tools.append(Tool(function=FunctionDef(name=name)))
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    limit = body.get("max_output_tokens") if limit is None else limit
    return ChatRequest(
        messages=tuple(Message(role="user", content=t) for t in texts)
        or (Message(role="user", content=""),),
        tools=tuple(tools) or None,
        max_tokens=limit if isinstance(limit, int) and limit > 0 else None,
    )


# ---------------------------------------------------------------------- responses


def rewrite_response(api: Api, body: Any, text: Callable[[str, str], str]) -> None:
    """Apply ``text`` to every answer text of a (non-streaming) response body, in place."""
    if not isinstance(body, dict):
        return
    if api.name == "openai.chat":
        for i, choice in enumerate(body.get("choices") or ()):
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                message["content"] = text(message["content"], f"choices[{i}].message.content")
    elif api.name == "anthropic.messages":
        for j, block in enumerate(body.get("content") or ()):
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                block["text"] = text(block["text"], f"content[{j}].text")
    elif api.name == "openai.responses":
        for i, item in enumerate(body.get("output") or ()):
            for j, part in enumerate(item.get("content") or () if isinstance(item, dict) else ()):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    part["text"] = text(part["text"], f"output[{i}].content[{j}].text")


def usage_in(body: Any) -> Usage | None:
    """Usage from a response body or stream event, in OpenAI's or Anthropic's names."""
    if not isinstance(body, dict):
        return None
    usage = body.get("usage")
    if not isinstance(usage, dict):
        inner = body.get("message") or body.get("response")
        usage = inner.get("usage") if isinstance(inner, dict) else None
    if not isinstance(usage, dict):
        return None
    inp = usage.get("prompt_tokens", usage.get("input_tokens"))
    out = usage.get("completion_tokens", usage.get("output_tokens"))
    return Usage(
        input_tokens=inp if isinstance(inp, int) else 0,
        output_tokens=out if isinstance(out, int) else 0,
    )


# ---------------------------------------------------------------------- streams


class SseRewriter:
    """Rewrites a server-sent event stream as it arrives: each text delta goes through a
    ``StreamInspector`` (one per choice or content block), whose held-back tail is sent as
    an extra delta event just before the event that ends that text. Events it does not
    understand pass through byte for byte."""

    def __init__(self, api: Api, scan: Scan | None) -> None:
        self.api = api
        self.scan = scan
        self._buf = b""
        self._streams: dict[Any, Any] = {}
        self._last: dict[Any, dict[str, Any]] = {}
        self.usage: Usage | None = None
        self.text: list[str] = []

    def feed(self, data: bytes) -> bytes:
        self._buf += data.replace(b"\r\n", b"\n")
        out: list[bytes] = []
        while b"\n\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n\n", 1)
            out.append(self._event(raw))
        return b"".join(out)

    def finish(self) -> bytes:
        """The end of the body: a trailing partial event, then anything still held."""
        rest, self._buf = self._buf, b""
        out = [self._event(rest)] if rest.strip() else []
        for key in list(self._streams):
            out.append(self._flush(key))
        return b"".join(out)

    # ------------------------------------------------------------------ internals

    def _event(self, raw: bytes) -> bytes:
        lines = raw.split(b"\n")
        data_at = [k for k, line in enumerate(lines) if line.startswith(b"data:")]
        if len(data_at) != 1:
            return raw + b"\n\n"
        payload = lines[data_at[0]][5:].strip()
        try:
            event = json.loads(payload)
        except ValueError:  # "[DONE]" and friends: whatever is held goes out first
            return b"".join(self._flush(k) for k in list(self._streams)) + raw + b"\n\n"
        if not isinstance(event, dict):
            return raw + b"\n\n"
        self.usage = _merge_usage(self.usage, usage_in(event))
        before, changed = self._rewrite(event)
        if changed:
            lines[data_at[0]] = b"data: " + json.dumps(event, separators=(",", ":")).encode()
        return before + b"\n".join(lines) + b"\n\n"

    def _rewrite(self, event: dict[str, Any]) -> tuple[bytes, bool]:
        """Returns (flushed events to send first, whether ``event`` was modified)."""
        name = self.api.name
        if name == "openai.chat":
            before = b""
            changed = False
            for choice in event.get("choices") or ():
                if not isinstance(choice, dict):
                    continue
                key = choice.get("index", 0)
                delta = choice.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    self._last[key] = event
                    delta["content"] = self._feed(key, delta["content"])
                    changed = True
                if choice.get("finish_reason") is not None:
                    before += self._flush(key)
            return before, changed
        if name == "anthropic.messages":
            kind = event.get("type")
            key = event.get("index", 0)
            delta = event.get("delta")
            if (
                kind == "content_block_delta"
                and isinstance(delta, dict)
                and isinstance(delta.get("text"), str)
            ):
                self._last[key] = event
                delta["text"] = self._feed(key, delta["text"])
                return b"", True
            if kind in ("content_block_stop", "message_delta", "message_stop"):
                keys = [key] if kind == "content_block_stop" else list(self._streams)
                return b"".join(self._flush(k) for k in keys), False
            return b"", False
        if name == "openai.responses":
            kind = event.get("type")
            key = (event.get("output_index", 0), event.get("content_index", 0))
            if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
                self._last[key] = event
                event["delta"] = self._feed(key, event["delta"])
                return b"", True
            if kind == "response.output_text.done" and isinstance(event.get("text"), str):
                before = self._flush(key)
                if self.scan is not None:
                    event["text"] = self.scan.text_out(event["text"], "output_text")
                return before, True
            if kind in ("response.completed", "response.done") and self.scan is not None:
                response = event.get("response")
                if isinstance(response, dict):
                    rewrite_response(self.api, response, self.scan.text_out)
                    return b"", True
        return b"", False

    def _feed(self, key: Any, text: str) -> str:
        if self.scan is None:
            self.text.append(text)
            return text
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = self.scan.stream()
        released: str = stream.feed(text)
        self.text.append(released)
        return released

    def _flush(self, key: Any) -> bytes:
        stream = self._streams.pop(key, None)
        if stream is None:
            return b""
        tail: str = stream.finish()
        if self.scan is not None:
            self.scan.collect([stream])
        last = self._last.get(key)
        if not tail or last is None:
            return b""
        self.text.append(tail)
        event = _with_text(self.api, json.loads(json.dumps(last)), tail)
        data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
        name = _DELTA_EVENT.get(self.api.name)
        return b"event: " + name + b"\n" + data if name else data


_DELTA_EVENT = {
    "anthropic.messages": b"content_block_delta",
    "openai.responses": b"response.output_text.delta",
}
"""The ``event:`` line of a synthetic delta (the Anthropic SDK dispatches on it)."""


def _with_text(api: Api, event: dict[str, Any], text: str) -> dict[str, Any]:
    """A copy of the last delta event of a text, carrying ``text`` and nothing else new."""
    if api.name == "openai.chat":
        for choice in event.get("choices") or ():
            choice["delta"] = {"content": text}
            choice["finish_reason"] = None
        event.pop("usage", None)
    elif api.name == "anthropic.messages":
        event["delta"] = {"type": "text_delta", "text": text}
    else:
        event["delta"] = text
    return event


def _merge_usage(old: Usage | None, new: Usage | None) -> Usage | None:
    """Anthropic reports input tokens at the start and output tokens at the end."""
    if new is None:
        return old
    if old is None:
        return new
    return Usage(
        input_tokens=new.input_tokens or old.input_tokens,
        output_tokens=new.output_tokens or old.output_tokens,
    )
