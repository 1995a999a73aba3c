"""Where the text sits in the official SDKs' request and response bodies.

The SDK transport sees bytes, not ``ChatRequest``s. This module recognises the APIs it
governs by method and path (OpenAI chat completions, responses and embeddings; Anthropic
messages; a stored response read back), rewrites the texts of a JSON body through a
callback (inspection decides what becomes of each) and reads usage. Streams are
``_sse``'s; the tool calls of answers, and their arguments held until complete, are
``_calls``'s. Everything else the SDK sends is passed through untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._types import ChatRequest, EmbeddingRequest, FunctionDef, Message, Tool, Usage

__all__ = [
    "Api",
    "answer_texts_in",
    "classify",
    "content_parts",
    "drop_logprobs",
    "is_reasoning",
    "location",
    "output_parts",
    "rewrite_request",
    "rewrite_response",
]

Rewrite = Callable[[str, str, "int | None"], str]
"""``(text, location, message_index) -> new text``; raises to block."""


@dataclass(frozen=True, slots=True)
class Api:
    """One governed API: its name and the path suffix after the SDK's ``base_url``."""

    name: str
    suffix: str
    operation: str = "chat"
    stored: bool = False
    """A response the API made earlier, read back (``GET …/responses/{id}``, and its
    ``/cancel``): no prompt is sent and nothing is generated, but the answer is model
    output and is inspected like a fresh one."""


_APIS = (
    Api("anthropic.messages", "/v1/messages"),
    Api("openai.chat", "/chat/completions"),
    Api("openai.responses", "/responses"),
    Api("openai.embeddings", "/embeddings", "embeddings"),
)


def classify(method: str, path: str) -> Api | None:
    """The governed API a request calls, or ``None`` (passed through)."""
    method = method.upper()
    path = path.rstrip("/")
    if method == "POST":
        for api in _APIS:
            if path.endswith(api.suffix):
                return api
    segments = path.rsplit("/", 3)
    if method == "POST" and segments[-1] == "cancel":
        segments = segments[:-1]
    elif method != "GET":
        return None
    if len(segments) >= 2 and segments[-2] == "responses" and segments[-1] not in _NOT_IDS:
        suffix = path[path.rindex("/responses/") :]
        return Api("openai.responses", suffix, stored=True)
    return None


_NOT_IDS = frozenset(("", "input_tokens", "compact"))
"""``…/responses/{this}`` paths that are not a stored response's id."""


# ---------------------------------------------------------------------- requests


def rewrite_request(
    api: Api, body: dict[str, Any], text: Rewrite, arguments: Rewrite | None = None
) -> None:
    """Apply ``text`` to every prompt text of ``body`` (tool results included) and
    ``arguments`` (default: ``text``) to the tool-call arguments it sends back, in place."""
    args = arguments or text
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
                    _input_item(item, f"input[{i}]", i, text, args)
        return
    if api.name == "anthropic.messages":
        system = body.get("system")
        if isinstance(system, str):
            body["system"] = text(system, "system", None)
        elif isinstance(system, list):
            _blocks(system, "system", None, text, args)
    for i, m in enumerate(body.get("messages") or ()):
        if not isinstance(m, dict):
            continue
        _content(m, f"messages[{i}]", i, text, args)
        for k, call in enumerate(m.get("tool_calls") or ()):  # OpenAI chat
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                _field_text(fn, "arguments", f"messages[{i}].tool_calls[{k}].arguments", i, args)


def _input_item(item: dict[str, Any], where: str, i: int, text: Rewrite, args: Rewrite) -> None:
    """One item of a Responses ``input``: a message's content, a tool's output (the tool
    results of a chat request's ``tool`` messages), the arguments of a call the application
    sends back, a reasoning summary."""
    _content(item, where, i, text, args)
    kind = item.get("type")
    output = item.get("output")
    if (isinstance(kind, str) and kind.endswith("_call_output")) or kind == "mcp_call":
        if isinstance(output, str):
            item["output"] = text(output, f"{where}.output", i)
        elif isinstance(output, list):
            _blocks(output, f"{where}.output", i, text, args)
    if kind in ("function_call", "mcp_call"):
        _field_text(item, "arguments", f"{where}.arguments", i, args)
    elif kind == "custom_tool_call":
        _field_text(item, "input", f"{where}.input", i, text)
    summary = item.get("summary")
    if isinstance(summary, list):
        _blocks(summary, f"{where}.summary", i, text, args)


def _field_text(obj: dict[str, Any], key: str, where: str, i: int | None, text: Rewrite) -> None:
    value = obj.get(key)
    if isinstance(value, str) and value:
        obj[key] = text(value, where, i)


def _content(m: dict[str, Any], where: str, i: int | None, text: Rewrite, args: Rewrite) -> None:
    content = m.get("content")
    if isinstance(content, str):
        m["content"] = text(content, f"{where}.content", i)
    elif isinstance(content, list):
        _blocks(content, f"{where}.content", i, text, args)


def _blocks(blocks: list[Any], where: str, i: int | None, text: Rewrite, args: Rewrite) -> None:
    """Text parts (``text``, ``input_text``), tool results, nested content lists, and the
    input of Anthropic ``tool_use`` blocks (tool-call arguments sent back)."""
    for j, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        _field_text(block, "text", f"{where}[{j}].text", i, text)
        inner = block.get("content")
        if isinstance(inner, str):
            block["content"] = text(inner, f"{where}[{j}].content", i)
        elif isinstance(inner, list):
            _blocks(inner, f"{where}[{j}].content", i, text, args)
        value = block.get("input")
        if block.get("type") == "tool_use" and isinstance(value, dict) and value:
            raw = json.dumps(value, ensure_ascii=False)
            new = args(raw, f"{where}[{j}].input", i)
            if new != raw:
                block["input"] = json.loads(new)


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


def rewrite_response(
    api: Api,
    body: Any,
    text: Callable[[str, str], str],
    thinking: Callable[[str, str], str] | None = None,
) -> None:
    """Apply ``text`` to every answer text of a (non-streaming) response body, in place:
    reasoning summaries and reasoning text included.

    Anthropic ``thinking`` blocks go through ``thinking`` (default ``text``): signed, they
    cannot be rewritten, so a block whose text it changes is dropped from the answer."""
    if not isinstance(body, dict):
        return
    if api.name == "openai.chat":
        for i, choice in enumerate(body.get("choices") or ()):
            message = choice.get("message") if isinstance(choice, dict) else None
            for field in ("content", "refusal"):
                if isinstance(message, dict) and isinstance(message.get(field), str):
                    message[field] = text(message[field], f"choices[{i}].message.{field}")
    elif api.name == "anthropic.messages":
        content = body.get("content")
        dropped = []
        for j, block in enumerate(content if isinstance(content, list) else ()):
            if not isinstance(block, dict):
                continue
            if isinstance(block.get("text"), str):
                block["text"] = text(block["text"], f"content[{j}].text")
            old = block.get("thinking")
            if (
                block.get("type") == "thinking"
                and isinstance(old, str)
                and old
                and (thinking or text)(old, f"content[{j}].thinking") != old
            ):
                dropped.append(block)
        if dropped and isinstance(content, list):
            content[:] = [b for b in content if not any(b is d for d in dropped)]
    elif api.name == "openai.responses":
        for key, part, field in output_parts(body):
            part[field] = text(part[field], location(key, field))


Key = tuple[Any, Any]
"""A text of a Responses answer: ``(output index, content index)`` for a message's part,
``(output index, ("summary", i))`` for a reasoning summary, ``(output index,
("reasoning", i))`` for a reasoning item's text."""


def output_parts(response: dict[str, Any]) -> list[tuple[Key, dict[str, Any], str]]:
    """``(key, part, field)`` per text of a Responses ``output``: ``output_text`` parts'
    ``text``, ``refusal`` parts' ``refusal``, reasoning items' summaries and texts."""
    out = []
    for i, item in enumerate(response.get("output") or ()):
        out += item_parts(item, i)
    return out


def item_parts(item: Any, i: Any) -> list[tuple[Key, dict[str, Any], str]]:
    """The texts of one Responses output item (see ``output_parts``)."""
    if not isinstance(item, dict):
        return []
    parts = content_parts(item.get("content"))
    if item.get("type") != "reasoning":
        return [((i, j), part, field) for j, part, field in parts]
    out: list[tuple[Key, dict[str, Any], str]] = [
        ((i, ("reasoning", j)), part, field) for j, part, field in parts
    ]
    for j, part, field in content_parts(item.get("summary")):
        out.append(((i, ("summary", j)), part, field))
    return out


def is_reasoning(key: Key) -> bool:
    return isinstance(key[1], tuple)


def location(key: Key, field: str) -> str:
    """Where a Responses text sits, as findings name it."""
    i, j = key
    if isinstance(j, tuple):
        inner = "summary" if j[0] == "summary" else "content"
        return f"output[{i}].{inner}[{j[1]}].text"
    return f"output[{i}].content[{j}].{field}"


def content_parts(content: Any) -> list[tuple[int, dict[str, Any], str]]:
    out = []
    for j, part in enumerate(content if isinstance(content, list) else ()):
        if isinstance(part, dict):
            field = "refusal" if part.get("type") == "refusal" else "text"
            if isinstance(part.get(field), str):
                out.append((j, part, field))
    return out


def drop_logprobs(api: Api, body: Any) -> bool:
    """Empty the log probabilities of an answer (or stream event): they spell out the raw
    tokens of the text inspection rewrote. Whether anything was dropped."""
    if not isinstance(body, dict):
        return False
    dropped = False
    if api.name == "openai.chat":
        for choice in body.get("choices") or ():
            if isinstance(choice, dict) and choice.get("logprobs"):
                choice["logprobs"] = None
                dropped = True
        return dropped
    if api.name != "openai.responses":
        return False
    holders: list[Any] = [body, body.get("part")]
    item = body.get("item")
    for container in (item, body.get("response"), body):
        if not isinstance(container, dict):
            continue
        for entry in container.get("output") or ():
            if isinstance(entry, dict):
                holders += entry.get("content") or []
    if isinstance(item, dict):
        holders += item.get("content") or []
    for holder in holders:
        if isinstance(holder, dict) and holder.get("logprobs"):
            holder["logprobs"] = []
            dropped = True
    return dropped


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


def answer_texts_in(api: Api, body: Any, *, reasoning: bool = True) -> list[tuple[str, str]]:
    """The ``(location, text)`` pairs of a response body's answer; with ``reasoning``, its
    reasoning summaries and thinking too (the moderator judges them, the audit record's
    answer text leaves them out)."""
    texts: list[tuple[str, str]] = []

    def collect(text: str, where: str) -> str:
        texts.append((where, text))
        return text

    def thought(text: str, where: str) -> str:
        if reasoning:
            texts.append((where, text))
        return text

    if api.name == "openai.responses" and isinstance(body, dict):
        for key, part, field in output_parts(body):
            if reasoning or not is_reasoning(key):
                texts.append((location(key, field), part[field]))
        return texts
    rewrite_response(api, body, collect, thought)
    return texts
