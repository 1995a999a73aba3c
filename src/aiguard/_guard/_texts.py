"""Finding the text in what a guarded function takes, returns and yields.

Guarded code passes prompts as strings or message lists and gets back strings, aiguard
``ChatResponse``s or the official SDKs' objects. This module knows where the text sits in
each of those shapes and rewrites it in place of the original (redaction, masking, restored
placeholders); deciding *what* to do with the text is left to the ``ContentInspector``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._types import ChatResponse, Message, StreamEvent, TextPart, Usage

if TYPE_CHECKING:
    from .._call import Call
    from .._effects import Io
    from ..inspect import ContentInspector, StreamInspector, Vault
    from ..inspect._moderation import OutputGate

__all__ = ["Scan", "answer_texts", "chunk_text", "texts_of", "usage_of", "with_chunk_text"]


class Scan:
    """One call's inspector, placeholder vault and findings list."""

    __slots__ = ("findings", "inspector", "vault")

    def __init__(self, inspector: ContentInspector, vault: Vault, findings: list[Any]) -> None:
        self.inspector = inspector
        self.vault = vault
        self.findings = findings

    def text_in(self, text: str, location: str, index: int | None = None) -> str:
        """Outgoing text: raises ``ContentBlockedError`` on a block, else the rewritten text."""
        new, found = self.inspector.process(text, "input", self.vault, location, index)
        self.findings.extend(found)
        return new

    def arguments_in(self, args: str, location: str, index: int | None = None) -> str:
        """Outgoing tool-call arguments (a JSON text): each string value inspected, so a
        redacted argument object stays valid JSON; unchanged arguments keep their bytes."""
        from ..inspect._messages import inspect_arguments

        new, found = inspect_arguments(self.inspector, args, "input", self.vault, location, index)
        self.findings.extend(found)
        return new

    def text_out(self, text: str, location: str = "text", index: int | None = None) -> str:
        """Incoming text: inspected, then restorable placeholders put back."""
        new, found = self.inspector.process(text, "output", self.vault, location, index)
        self.findings.extend(found)
        return self.vault.restore(new)

    def thought(self, text: str, location: str) -> str:
        """An Anthropic ``thinking`` text: judged as output text (a block raises), but
        placeholders are not put back, since the signed block can only be kept as it came;
        the caller drops a block whose text this changes."""
        new, found = self.inspector.process(text, "output", self.vault, location, None)
        self.findings.extend(found)
        return new

    def arguments_out(self, args: str, location: str) -> str:
        """Incoming tool-call arguments (a JSON text), inspected as ``arguments_in`` does,
        then restorable placeholders put back; unchanged arguments keep their bytes."""
        from ..inspect._messages import inspect_arguments, restore_arguments

        new, found = inspect_arguments(self.inspector, args, "output", self.vault, location, None)
        self.findings.extend(found)
        return restore_arguments(new, self.vault)

    def stream(self, location: str = "text") -> StreamInspector:
        from ..inspect import StreamInspector

        return StreamInspector(self.inspector, self.vault, "output", location=location)

    def collect(self, streams: Sequence[StreamInspector]) -> None:
        seen = {id(f) for f in self.findings}
        for s in streams:
            self.findings.extend(f for f in s.findings if id(f) not in seen)

    # ------------------------------------------------------------------ the moderator
    # The client's own moderator runs (``aiguard.inspect._moderation``), applied to what a
    # guarded function or an SDK request sends and gets back.

    def judge_prompt(self, call: Call) -> Io | None:
        """The ``Io`` in which the moderator judges ``call.request`` (the inspected prompts)."""
        from ..inspect._moderation import moderate_input

        return moderate_input(call, self.inspector)

    def judge_answer(self, texts: Sequence[tuple[str, str]]) -> Io | None:
        """The ``Io`` in which the moderator judges an answer's ``(location, text)`` pairs."""
        from ..inspect._moderation import moderate_output

        return moderate_output(self.findings, self.inspector, texts, self.vault)

    def gate(self) -> OutputGate[Any] | None:
        """What holds a stream's items while the moderator could still refuse them."""
        from ..inspect._moderation import output_gate

        return output_gate(self.findings, self.inspector, self.vault)

    # ------------------------------------------------------------------ arguments

    def argument(self, value: Any, name: str) -> Any:
        """A prompt argument after inspection: a string, or a list of messages (dicts,
        aiguard ``Message``s or objects with ``content``). Other values pass unchanged."""
        if isinstance(value, str):
            return self.text_in(value, name)
        if isinstance(value, (list, tuple)):
            out = [self._message(m, f"{name}[{i}]", i) for i, m in enumerate(value)]
            if all(a is b for a, b in zip(out, value, strict=True)):
                return value
            return type(value)(out) if isinstance(value, tuple) else out
        return value

    def _message(self, m: Any, where: str, i: int) -> Any:
        if isinstance(m, str):
            return self.text_in(m, where, i)
        if isinstance(m, Message):
            return self._aiguard_message(m, where, i)
        content = m.get("content") if isinstance(m, Mapping) else getattr(m, "content", None)
        new = self._content(content, f"{where}.content", i)
        if new is content:
            return m
        if isinstance(m, Mapping):
            return {**m, "content": new}
        m = copy.copy(m)
        m.content = new
        return m

    def _content(self, content: Any, where: str, i: int) -> Any:
        if isinstance(content, str):
            new = self.text_in(content, where, i)
            return content if new == content else new
        if not isinstance(content, list):
            return content
        parts = list(content)
        changed = False
        for j, part in enumerate(parts):
            text = part.get("text") if isinstance(part, Mapping) else None
            if isinstance(text, str):
                new = self.text_in(text, f"{where}[{j}]", i)
                if new != text:
                    parts[j] = {**part, "text": new}
                    changed = True
        return parts if changed else content

    def _aiguard_message(self, m: Message, where: str, i: int) -> Message:
        content = m.content
        if isinstance(content, str):
            new = self.text_in(content, f"{where}.content", i)
            return m if new == content else m.model_copy(update={"content": new})
        if content is None:
            return m
        parts: list[Any] = []
        for j, part in enumerate(content):
            if isinstance(part, TextPart):
                new = self.text_in(part.text, f"{where}.content[{j}]", i)
                part = part if new == part.text else part.model_copy(update={"text": new})
            parts.append(part)
        if all(a is b for a, b in zip(parts, content, strict=True)):
            return m
        return m.model_copy(update={"content": tuple(parts)})

    # ------------------------------------------------------------------ results

    def result(self, value: Any) -> Any:
        """A return value after output inspection: a string, an aiguard ``ChatResponse``,
        an OpenAI ``ChatCompletion``-like or Anthropic ``Message``-like object (or dict)."""
        if isinstance(value, str):
            return self.text_out(value, "return")
        if isinstance(value, ChatResponse):
            result = self.inspector.inspect_response(value, vault=self.vault)
            self.findings.extend(result.findings)
            return result.response
        for get, put, where in _slots(value):
            text = get()
            if isinstance(text, str) and text:
                new = self.text_out(text, where)
                if new != text:
                    put(new)
        return value


def answer_texts(value: Any) -> list[tuple[str, str]]:
    """The ``(location, text)`` pairs of a return value's answer (what ``Scan.result``
    inspects, and a ``ChatResponse``'s tool-call arguments)."""
    if isinstance(value, str):
        return [("return", value)]
    if isinstance(value, ChatResponse):
        from ..inspect._moderation import response_texts

        return response_texts(value)
    return [(where, text) for get, _put, where in _slots(value) if isinstance(text := get(), str)]


def _slots(value: Any) -> list[tuple[Any, Any, str]]:
    """(getter, setter, location) for each answer text inside an SDK-shaped result."""
    out: list[tuple[Any, Any, str]] = []
    choices = _field(value, "choices")
    if isinstance(choices, list):
        for i, choice in enumerate(choices):
            message = _field(choice, "message")
            if message is not None:
                out.append(_slot(message, "content", f"choices[{i}].message.content"))
        return out
    content = _field(value, "content")
    if isinstance(content, list):
        for j, block in enumerate(content):
            if _field(block, "type") == "text":
                out.append(_slot(block, "text", f"content[{j}].text"))
    return out


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _slot(obj: Any, name: str, where: str) -> tuple[Any, Any, str]:
    if isinstance(obj, dict):
        return (lambda: obj.get(name)), (lambda v: obj.__setitem__(name, v)), where
    return (lambda: getattr(obj, name, None)), (lambda v: setattr(obj, name, v)), where


# ---------------------------------------------------------------------- stream chunks


def chunk_text(chunk: Any) -> str | None:
    """The text delta a yielded chunk carries: a string, an aiguard ``StreamEvent``, an
    OpenAI chunk's ``choices[0].delta.content`` or an Anthropic ``delta.text``."""
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, StreamEvent):
        return chunk.text
    slot = _chunk_slot(chunk)
    if slot is None:
        return None
    text = slot[0]()
    return text if isinstance(text, str) else None


def with_chunk_text(chunk: Any, text: str, *, fresh: bool = False) -> Any:
    """``chunk`` carrying ``text`` instead; ``fresh`` copies it first (a synthetic chunk)."""
    if isinstance(chunk, str):
        return text
    if isinstance(chunk, StreamEvent):
        update: dict[str, Any] = {"text": text}
        if fresh:
            update.update(tool_call=None, finish_reason=None, usage=None)
        return chunk.model_copy(update=update)
    if fresh:
        chunk = copy.deepcopy(chunk)
    slot = _chunk_slot(chunk)
    if slot is not None:
        slot[1](text)
    return chunk


def _chunk_slot(chunk: Any) -> tuple[Any, Any, str] | None:
    choices = _field(chunk, "choices")
    if isinstance(choices, list):
        if not choices:
            return None
        delta = _field(choices[0], "delta")
        return _slot(delta, "content", "choices[0].delta.content") if delta is not None else None
    delta = _field(chunk, "delta")
    if delta is not None and isinstance(_field(delta, "text"), str):
        return _slot(delta, "text", "delta.text")
    return None


def texts_of(value: Any) -> list[str]:
    """Every prompt text in an argument (for the token estimate and the audit record)."""
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    if isinstance(value, (list, tuple)):
        for m in value:
            if isinstance(m, str):
                out.append(m)
                continue
            content = m.get("content") if isinstance(m, Mapping) else getattr(m, "content", None)
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, (list, tuple)):
                for part in content:
                    text = part.get("text") if isinstance(part, Mapping) else _field(part, "text")
                    if isinstance(text, str):
                        out.append(text)
    return out


def usage_of(value: Any) -> Usage | None:
    """Token usage a result (or a final stream chunk) exposes, in either SDK's field names."""
    if isinstance(value, (ChatResponse, StreamEvent)):
        return value.usage
    usage = _field(value, "usage")
    if usage is None:
        message = _field(value, "message")  # Anthropic's message_start event
        usage = _field(message, "usage") if message is not None else None
    if usage is None or isinstance(usage, (str, int, float)):
        return None
    if isinstance(usage, Usage):
        return usage
    inp = _field(usage, "prompt_tokens")
    if inp is None:
        inp = _field(usage, "input_tokens")
    out = _field(usage, "completion_tokens")
    if out is None:
        out = _field(usage, "output_tokens")
    if not isinstance(inp, int) and not isinstance(out, int):
        return None
    return Usage(
        input_tokens=inp if isinstance(inp, int) else 0,
        output_tokens=out if isinstance(out, int) else 0,
    )
