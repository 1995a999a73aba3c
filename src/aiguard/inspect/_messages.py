"""Applying the engine to whole requests and responses: every role, text part, tool result
and tool-call argument, with JSON arguments kept valid JSON after redaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._types import ChatRequest, ChatResponse, FunctionCall, Message, TextPart, ToolCall
from ._actions import Vault
from .findings import Finding, FlowDirection

if TYPE_CHECKING:
    from .engine import ContentInspector

__all__ = [
    "RequestResult",
    "ResponseResult",
    "inspect_request",
    "inspect_response",
    "request_parts",
    "response_parts",
]

_BIG_INT = 10**6


@dataclass(frozen=True, slots=True)
class RequestResult:
    """The request to send (the original object when nothing changed) and the findings."""

    request: ChatRequest
    findings: tuple[Finding, ...]
    vault: Vault


@dataclass(frozen=True, slots=True)
class ResponseResult:
    """The answer the caller sees (placeholders restored when the spec says so)."""

    response: ChatResponse
    findings: tuple[Finding, ...]


def inspect_request(engine: ContentInspector, request: ChatRequest, vault: Vault) -> RequestResult:
    request, findings = request_parts(engine, request, vault)
    return RequestResult(request, tuple(findings), vault)


def request_parts(
    engine: ContentInspector, request: ChatRequest, vault: Vault
) -> tuple[ChatRequest, list[Finding]]:
    """:func:`inspect_request` without its result object (the pipeline stage's form: a frozen
    dataclass costs more to build than most clean prompts take to inspect)."""
    findings: list[Finding] = []
    if not engine.active("input"):
        return request, findings
    messages: list[Message] = []
    changed = False
    for i, m in enumerate(request.messages):
        new_m = _inspect_message(engine, m, i, vault, findings)
        changed = changed or new_m is not m
        messages.append(new_m)
    if changed:
        request = request.model_copy(update={"messages": tuple(messages)})
    return request, findings


def _inspect_message(
    engine: ContentInspector, m: Message, i: int, vault: Vault, findings: list[Finding]
) -> Message:
    update: dict[str, Any] = {}
    content = m.content
    if isinstance(content, str):
        new, f = engine.process(content, "input", vault, f"messages[{i}].content", i)
        findings.extend(f)
        if new != content:
            update["content"] = new
    elif content is not None:
        parts: list[Any] = []
        parts_changed = False
        for j, part in enumerate(content):
            if isinstance(part, TextPart):
                loc = f"messages[{i}].content[{j}]"
                new, f = engine.process(part.text, "input", vault, loc, i)
                findings.extend(f)
                if new != part.text:
                    part = part.model_copy(update={"text": new})
                    parts_changed = True
            parts.append(part)
        if parts_changed:
            update["content"] = tuple(parts)
    if m.tool_calls:
        calls, calls_changed = _inspect_tool_calls(
            engine, m.tool_calls, "input", vault, f"messages[{i}].", i, findings
        )
        if calls_changed:
            update["tool_calls"] = calls
    return m.model_copy(update=update) if update else m


def _inspect_tool_calls(
    engine: ContentInspector,
    calls: tuple[ToolCall, ...],
    direction: FlowDirection,
    vault: Vault,
    prefix: str,
    message_index: int | None,
    findings: list[Finding],
) -> tuple[tuple[ToolCall, ...], bool]:
    out: list[ToolCall] = []
    changed = False
    for k, tc in enumerate(calls):
        loc = f"{prefix}tool_calls[{k}].arguments"
        args, f = inspect_arguments(
            engine, tc.function.arguments, direction, vault, loc, message_index
        )
        findings.extend(f)
        if args != tc.function.arguments:
            fn = FunctionCall(name=tc.function.name, arguments=args)
            tc = tc.model_copy(update={"function": fn})
            changed = True
        out.append(tc)
    return tuple(out), changed


def inspect_arguments(
    engine: ContentInspector,
    args: str,
    direction: FlowDirection,
    vault: Vault,
    location: str,
    message_index: int | None,
) -> tuple[str, list[Finding]]:
    """Tool-call arguments: string values (and long integers) are inspected one by one so
    a redacted argument object is still valid JSON; text that is not JSON is inspected as
    text. Unchanged arguments keep their exact original bytes."""
    try:
        data = json.loads(args)
    except ValueError:
        return engine.process(args, direction, vault, location, message_index)
    findings: list[Finding] = []
    changed = False

    def walk(node: Any, path: str) -> Any:
        nonlocal changed
        if isinstance(node, str):
            new, f = engine.process(node, direction, vault, f"{location}{path}", message_index)
            findings.extend(f)
            if new != node:
                changed = True
            return new
        if isinstance(node, dict):
            return {k: walk(v, f"{path}.{k}") for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}[{n}]") for n, v in enumerate(node)]
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) >= _BIG_INT:
            s = str(node)
            new, f = engine.process(s, direction, vault, f"{location}{path}", message_index)
            findings.extend(f)
            if new != s:
                changed = True
                return new
        return node

    result = walk(data, "")
    if not changed:
        return args, findings
    return json.dumps(result, ensure_ascii=False), findings


def restore_arguments(args: str, vault: Vault) -> str:
    """Restore placeholders inside JSON string values, re-encoding so JSON stays valid."""
    if not vault.restorable or "[" not in args:
        return args
    try:
        data = json.loads(args)
    except ValueError:
        return vault.restore(args)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return vault.restore(node)
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    restored = walk(data)
    return args if restored == data else json.dumps(restored, ensure_ascii=False)


def inspect_response(
    engine: ContentInspector, response: ChatResponse, vault: Vault
) -> ResponseResult:
    response, findings = response_parts(engine, response, vault)
    return ResponseResult(response, tuple(findings))


def response_parts(
    engine: ContentInspector, response: ChatResponse, vault: Vault
) -> tuple[ChatResponse, list[Finding]]:
    """:func:`inspect_response` without its result object (see :func:`request_parts`)."""
    calls = response.tool_calls
    text, findings = engine.process(response.text, "output", vault, "text", None)
    if calls and engine.active("output"):
        calls, _ = _inspect_tool_calls(engine, calls, "output", vault, "", None, findings)
    if vault.restorable:
        text = vault.restore(text)
        calls = tuple(
            tc
            if (a := restore_arguments(tc.function.arguments, vault)) == tc.function.arguments
            else tc.model_copy(
                update={"function": FunctionCall(name=tc.function.name, arguments=a)}
            )
            for tc in calls
        )
    if text != response.text or calls != response.tool_calls:
        response = response.model_copy(update={"text": text, "tool_calls": calls})
    return response, findings
