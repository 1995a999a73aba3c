"""Tool calls in answers: where their names and arguments sit in each API's response body
and stream events, and streamed arguments held until they are complete.

Arguments are JSON that cannot be judged piecewise: a stream's argument fragments are held
per tool call until that call ends, inspected whole (each string value on its own, so a
redacted argument object stays valid JSON and unchanged arguments keep their bytes), then
released as one fragment. Every event that repeats a call's arguments carries the version
that was released. ``ToolCallEvents`` is that side of the SDK transport's ``SseRewriter``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LEGACY",
    "RESPONSES_DELTAS",
    "RESPONSES_DONES",
    "RESPONSES_TERMINAL",
    "CallSlot",
    "HeldArguments",
    "ToolCallEvents",
    "anthropic_release",
    "calls_in",
    "chat_release",
    "field_slot",
    "responses_item",
    "rewrite_calls",
    "strip_chat_fragments",
    "strip_chat_function_call",
]

Inspect = Callable[[str, str], str]
"""``(arguments, location) -> inspected arguments``; raises to block."""

LEGACY = "function_call"
"""The index of a chat answer's legacy ``function_call`` (the deprecated ``functions``)."""

RESPONSES_CALLS = {
    "function_call": "arguments",
    "mcp_call": "arguments",
    "custom_tool_call": "input",
}
"""Responses output item types that call a tool, and the field their arguments are in."""

RESPONSES_DELTAS = {
    "response.function_call_arguments.delta": "response.function_call_arguments.done",
    "response.mcp_call_arguments.delta": "response.mcp_call_arguments.done",
    "response.custom_tool_call_input.delta": "response.custom_tool_call_input.done",
}
"""A Responses argument delta event, and the event that ends those arguments."""

RESPONSES_TERMINAL = frozenset(
    ("response.completed", "response.done", "response.incomplete", "response.failed", "error")
)
"""The Responses events that end every text and tool call still open."""

RESPONSES_DONES = {
    "response.function_call_arguments.done": "arguments",
    "response.mcp_call_arguments.done": "arguments",
    "response.custom_tool_call_input.done": "input",
}


@dataclass(slots=True)
class CallSlot:
    """One tool call of an answer: its name, id, location and arguments (a JSON text)."""

    key: Any
    name: str | None
    id: str
    where: str
    get: Callable[[], str]
    put: Callable[[str], None]


def calls_in(api: str, body: Any) -> list[CallSlot]:
    """The tool calls of a (non-streamed) response body, or of a message or response an
    event repeats: chat ``message.tool_calls``, Anthropic ``tool_use`` blocks, Responses
    ``function_call`` (and MCP and custom tool call) items."""
    if not isinstance(body, dict):
        return []
    out: list[CallSlot] = []
    if api == "openai.chat":
        for i, choice in enumerate(body.get("choices") or ()):
            message = choice.get("message") if isinstance(choice, dict) else None
            calls = message.get("tool_calls") if isinstance(message, dict) else None
            for k, call in enumerate(calls if isinstance(calls, list) else ()):
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments", ""), str):
                    where = f"choices[{i}].message.tool_calls[{k}].function.arguments"
                    out.append(field_slot(fn, "arguments", (i, k), fn.get("name"), call, where))
            fc = message.get("function_call") if isinstance(message, dict) else None
            if isinstance(fc, dict) and isinstance(fc.get("arguments", ""), str):  # legacy
                where = f"choices[{i}].message.function_call.arguments"
                out.append(field_slot(fc, "arguments", (i, LEGACY), fc.get("name"), fc, where))
    elif api == "anthropic.messages":
        for j, block in enumerate(body.get("content") or ()):
            if isinstance(block, dict) and str(block.get("type", "")).endswith("tool_use"):
                out += _input_slot(block, j)
    elif api == "openai.responses":
        for i, item in enumerate(body.get("output") or ()):
            out += responses_item(item, i)
    return out


def responses_item(item: Any, index: int) -> list[CallSlot]:
    """The tool call a Responses output item makes (none for a message)."""
    kind = item.get("type") if isinstance(item, dict) else None
    field = RESPONSES_CALLS.get(kind) if isinstance(kind, str) else None
    if field is None or not isinstance(item.get(field, ""), str):
        return []
    return [field_slot(item, field, index, item.get("name"), item, f"output[{index}].{field}")]


def field_slot(
    holder: dict[str, Any], key: str, slot: Any, name: Any, call: dict[str, Any], where: str
) -> CallSlot:
    cid = call.get("call_id") or call.get("id")
    return CallSlot(
        slot,
        name if isinstance(name, str) else None,
        cid if isinstance(cid, str) else "",
        where,
        lambda: str(holder.get(key) or ""),
        lambda v: holder.__setitem__(key, v),
    )


def _input_slot(block: dict[str, Any], j: int) -> list[CallSlot]:
    """An Anthropic ``tool_use`` block: its ``input`` is a JSON object, not a text."""
    value = block.get("input")
    if not isinstance(value, dict):
        return []

    def get() -> str:
        return json.dumps(block.get("input"), ensure_ascii=False) if block.get("input") else ""

    def put(text: str) -> None:
        block["input"] = json.loads(text)

    name = block.get("name")
    cid = block.get("id")
    return [
        CallSlot(
            j,
            name if isinstance(name, str) else None,
            cid if isinstance(cid, str) else "",
            f"content[{j}].input",
            get,
            put,
        )
    ]


def rewrite_calls(
    slots: list[CallSlot], inspect: Inspect | None, check: Callable[[str], None] | None
) -> None:
    """Check each call's tool name against the allow-list, then inspect its arguments."""
    for slot in slots:
        if check is not None and slot.name:
            check(slot.name)
    if inspect is None:
        return
    for slot in slots:
        old = slot.get()
        if old:
            new = inspect(old, slot.where)
            if new != old:
                slot.put(new)


class HeldArguments:
    """Streamed tool-call arguments, held per call (by key) until the call ends.

    ``inspect`` is ``None`` when nothing judges arguments: fragments then pass as they come.
    ``calls`` lists ``(location, arguments)`` as delivered, for the moderator and the audit
    record."""

    def __init__(self, inspect: Inspect | None) -> None:
        self.inspect = inspect
        self._parts: dict[Any, list[str]] = {}
        self._where: dict[Any, str] = {}
        self.template: dict[Any, Any] = {}  # per held call: the event its release copies
        self.done: dict[Any, str] = {}
        self._once: dict[tuple[Any, str], str] = {}
        self.calls: list[tuple[Any, str, str]] = []
        self.names: dict[Any, tuple[str, str]] = {}  # per call: its id and tool name

    def hold(self, key: Any, fragment: str, where: str, template: Any) -> None:
        self._parts.setdefault(key, []).append(fragment)
        self._where.setdefault(key, where)
        self.template[key] = template

    def held(self) -> list[Any]:
        return list(self._parts)

    def complete(self, key: Any) -> tuple[str, Any] | None:
        """The call's whole arguments after inspection (a block raises) and the event to
        carry them, or ``None`` when nothing of it is held."""
        parts = self._parts.pop(key, None)
        if parts is None:
            return None
        template = self.template.pop(key)
        raw = "".join(parts)
        where = self._where.pop(key)
        new = self.inspect(raw, where) if raw and self.inspect is not None else raw
        self.done[key] = new
        self.calls.append((key, where, new))
        return new, template

    def repeat(self, key: Any, raw: str, where: str) -> str:
        """Arguments an event repeats: what the call's fragments delivered, else (arguments
        that came whole) inspected once, however often they are repeated."""
        if key in self.done:
            return self.done[key]
        if not raw or self.inspect is None:
            return raw
        seen = self._once.get((key, raw))
        if seen is None:
            seen = self._once[(key, raw)] = self.inspect(raw, where)
            self.calls.append((key, where, seen))
        return seen


def strip_chat_fragments(
    args: HeldArguments, event: dict[str, Any], choice: int, calls: list[Any]
) -> tuple[list[Any], bool]:
    """Hold the argument fragments of a chat chunk's ``delta.tool_calls`` (for ``choice``):
    the entries that keep something else (id, name) stay with empty arguments. Returns the
    calls of this chunk still to end (new ``index``es) and whether anything was held."""
    held = False
    kept = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        piece = fn.get("arguments") if isinstance(fn, dict) else None
        if not isinstance(piece, str) or not piece or not isinstance(call, dict):
            kept.append(call)
            continue
        index = call.get("index", 0)
        where = f"choices[{choice}].delta.tool_calls[{index}].function.arguments"
        args.hold(("call", (choice, index)), piece, where, event)
        held = True
        assert isinstance(fn, dict)
        fn["arguments"] = ""
        if set(call) - {"index", "function"} or set(fn) - {"arguments"}:
            kept.append(call)
    calls[:] = kept
    return kept, held


def strip_chat_function_call(
    args: HeldArguments, event: dict[str, Any], choice: int, delta: dict[str, Any]
) -> bool:
    """Hold the argument fragment of a chat chunk's legacy ``delta.function_call``; whether
    one was held."""
    fc = delta.get("function_call")
    piece = fc.get("arguments") if isinstance(fc, dict) else None
    if not isinstance(fc, dict) or not isinstance(piece, str) or not piece:
        return False
    where = f"choices[{choice}].delta.function_call.arguments"
    args.hold(("call", (choice, LEGACY)), piece, where, event)
    fc["arguments"] = ""
    if not set(fc) - {"arguments"}:
        del delta["function_call"]
    return True


def chat_release(template: dict[str, Any], choice: int, index: Any, text: str) -> dict[str, Any]:
    """A chat chunk carrying one call's whole (inspected) arguments, in the envelope of the
    chunk that brought its last fragment."""
    event = {k: v for k, v in template.items() if k not in ("choices", "usage")}
    if "usage" in template:
        event["usage"] = None
    fragment = {"arguments": text}
    delta: dict[str, Any] = {"tool_calls": [{"index": index, "function": fragment}]}
    if index == LEGACY:
        delta = {"function_call": fragment}
    event["choices"] = [{"index": choice, "delta": delta, "logprobs": None, "finish_reason": None}]
    return event


def anthropic_release(index: int, text: str) -> dict[str, Any]:
    """An Anthropic event carrying one ``tool_use`` block's whole (inspected) input."""
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": text},
    }


class ToolCallEvents:
    """The tool-call side of ``SseRewriter`` (which defines the framing: ``_end``,
    ``_encode``): names checked, arguments held per call and released when it ends, and
    the arguments in every event that repeats them."""

    api: Any
    tools: Callable[[str], None] | None
    _args: HeldArguments
    _seq: int | None
    _shift: int

    def _end(self, keys: list[Any], next_seq: Any = None, calls: list[Any] | None = None) -> bytes:
        raise NotImplementedError

    def _encode(self, lines: list[bytes], at: int, event: dict[str, Any], changed: bool) -> bytes:
        raise NotImplementedError

    def _index(self, index: Any) -> Any:
        """A content block's index as sent (Anthropic: thinking blocks may be dropped)."""
        return index

    def _call_ends(self, kind: Any, event: dict[str, Any]) -> list[Any]:
        """The tool calls (keys of held arguments) a Responses event ends."""
        if kind in RESPONSES_TERMINAL:
            return self._args.held()
        if kind in RESPONSES_DONES or kind == "response.output_item.done":
            return [("call", event.get("output_index", 0))]
        return []

    def _call_slots(self, kind: Any, event: dict[str, Any]) -> list[CallSlot]:
        """Every tool call a Responses event names or repeats the arguments of."""
        oi = event.get("output_index", 0)
        slots = []
        field = RESPONSES_DONES.get(kind) if isinstance(kind, str) else None
        if field is not None and isinstance(event.get(field), str):
            slots.append(field_slot(event, field, oi, None, event, f"output[{oi}].{field}"))
        if isinstance(event.get("item"), dict):
            slots += responses_item(event["item"], oi)
        slots += calls_in(self.api.name, event.get("response"))
        return slots

    def _repeat(self, slots: list[CallSlot], key: Any = None) -> bool:
        """Check the tool names of these calls, and put the arguments delivered (or, for
        arguments that came whole, inspected) in each; whether anything changed. ``key``
        is the call's own key when the slots' is only their place in a one-block list."""
        changed = False
        for slot in slots:
            call = ("call", slot.key if key is None else key)
            self._name(call, slot.name, slot.id)
            if self._args.inspect is None:
                continue
            old = slot.get()
            new = self._args.repeat(call, old, slot.where)
            if new != old:
                slot.put(new)
                changed = True
        return changed

    def _name(self, call: Any, name: Any, cid: Any) -> None:
        """A tool call's name: checked against the policy's allow-list, kept with its id."""
        if not isinstance(name, str) or not name:
            return
        if self.tools is not None:
            self.tools(name)
        old_id, _ = self._args.names.get(call, ("", ""))
        self._args.names[call] = (cid if isinstance(cid, str) and cid else old_id, name)

    def _chat_calls(
        self, event: dict[str, Any], choice: Any, delta: dict[str, Any], calls: list[Any]
    ) -> tuple[bytes, bool]:
        """A chat chunk's ``delta.tool_calls``: names checked, argument fragments held (a
        call with a new ``index`` ends the one before it). Returns what to send before the
        chunk and whether fragments were taken out of it."""
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(call, dict) and isinstance(fn, dict):
                self._name(("call", (choice, call.get("index", 0))), fn.get("name"), call.get("id"))
        if self._args.inspect is None:
            return b"", False
        indexes = {c.get("index", 0) for c in calls if isinstance(c, dict)}
        ended = [k for k in self._args.held() if k[1][0] == choice and k[1][1] not in indexes]
        before = self._end([], None, ended)
        kept, held = strip_chat_fragments(self._args, event, choice, calls)
        if not kept:
            delta.pop("tool_calls", None)
        return before, held

    def _release_call(self, call: Any, next_seq: Any) -> bytes:
        """One tool call's held arguments, inspected whole (a block raises), as one
        fragment: an extra chunk (chat completions) or delta event (Anthropic), or, on the
        Responses API, the call's last delta event."""
        done = self._args.complete(call)
        if done is None or not done[0]:
            return b""
        text, template = done
        if self.api.name == "openai.chat":
            event = chat_release(template, call[1][0], call[1][1], text)
            return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
        if self.api.name == "anthropic.messages":
            event = anthropic_release(self._index(call[1]), text)
            data = json.dumps(event, separators=(",", ":")).encode()
            return b"event: content_block_delta\ndata: " + data + b"\n\n"
        lines, at, event = template
        event["delta"] = text
        seq = event.get("sequence_number")
        if not isinstance(seq, int) or self._seq is None or seq + self._shift > self._seq:
            return self._encode(lines, at, event, True)
        self._number(event, next_seq)  # something went out after its last delta
        lines = [*lines]
        lines[at] = b"data: " + json.dumps(event, separators=(",", ":")).encode()
        return b"\n".join(lines) + b"\n\n"

    def _number(self, event: dict[str, Any], next_seq: Any) -> None:
        """Number an event sent out of the upstream's order after the last one sent; the
        events after it are renumbered when the upstream's next number is taken."""
        seq = event["sequence_number"] if self._seq is None else self._seq + 1
        event["sequence_number"] = self._seq = seq
        if isinstance(next_seq, int) and seq >= next_seq + self._shift:
            self._shift = seq + 1 - next_seq
