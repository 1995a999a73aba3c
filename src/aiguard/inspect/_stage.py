"""The pipeline's *inspect* stage: the engine applied to each call, with the moderator's
gating (:mod:`aiguard.inspect._moderation`) run where a policy configures one.

Input: the request is inspected (and replaced by its redacted copy) before routing, so every
later stage (cache keys, limits, audit) and the provider only ever see the redacted request; a
configured :class:`Moderator` then judges the *redacted* text inside an ``Io`` effect, so the
sync client runs it in a worker thread under the timeout and the async client awaits it.
Output: answers and streams are inspected, then placeholders are restored from the call's
:class:`Vault`, kept in ``call.notes["inspect"]``; the moderator judges the answer (text and
tool-call arguments, with restored values put back as placeholders) in another ``Io``. A
stream's events pass an :class:`OutputGate` that holds what the moderator could still stop.
Findings go to ``call.findings``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._effects import Io
from .._types import ChatRequest, ChatResponse, EmbeddingRequest, StreamEvent
from ._actions import Vault
from ._compile import CustomDetector
from ._messages import request_parts, response_parts
from ._moderation import OutputGate, moderate_input, moderate_output, output_gate, response_texts
from .engine import ContentInspector
from .moderator import Moderator
from .spec import ModerationSpec
from .stream import StreamInspector

if TYPE_CHECKING:
    from .._call import Call

__all__ = ["NOTES_KEY", "InspectionStage"]

NOTES_KEY = "inspect"
_CACHE_SIZE = 32


@dataclass(slots=True)
class _CallState:
    inspector: ContentInspector
    vault: Vault = field(default_factory=Vault)


class InspectionStage:
    """Implements the pipeline's ``Inspector`` protocol.

    With a policy, the call's effective ``contentModeration`` (left in ``call.notes`` by the
    policy's authorize stage) decides; without one, ``spec`` does. ``detectors`` and
    ``moderator`` are the Python-side extensions no YAML can carry.
    """

    def __init__(
        self,
        spec: ModerationSpec | ContentInspector | Mapping[str, Any] | None = None,
        *,
        detectors: Sequence[CustomDetector] = (),
        moderator: Moderator | None = None,
    ) -> None:
        self._detectors = tuple(detectors)
        self._moderator = moderator
        if isinstance(spec, ContentInspector):
            self._default: ContentInspector | None = spec
            self._moderator = moderator or spec.moderator
        elif spec is not None:
            self._default = ContentInspector(spec, detectors=detectors, moderator=moderator)
        else:
            self._default = None
        self._compiled: list[tuple[ModerationSpec, ContentInspector]] = []
        self._last: tuple[ModerationSpec, ContentInspector] | None = None
        """The spec object asked for last and its inspector: a policy hands every call the
        same object, so one identity check (no lock) answers most calls."""
        self._lock = threading.Lock()

    def prepare(self, spec: ModerationSpec) -> ContentInspector:
        """Compile ``spec`` now (a client calls this for its policy's section at build time)
        so a problem such as a missing ``hashKeyEnv`` variable surfaces before any call."""
        return self._compile(spec)

    # ----------------------------------------------------------------------- protocol

    def inspect_input(self, call: Call) -> Io | None:
        inspector = self._inspector_for(call)
        if inspector is None or not inspector.enabled:
            return None
        state = _CallState(inspector)
        call.notes[NOTES_KEY] = state
        request = call.request
        if isinstance(request, ChatRequest):
            call.request, findings = request_parts(inspector, request, state.vault)
            call.findings.extend(findings)
        elif isinstance(request, EmbeddingRequest):
            call.request = self._inspect_embedding(inspector, request, state.vault, call)
        if inspector.moderator is None and self._moderator is None:
            return None  # nothing to judge with (most policies)
        return moderate_input(call, inspector, fallback=self._moderator)

    def inspect_output(self, call: Call, response: ChatResponse) -> ChatResponse | Io:
        """The answer after inspection, or, with a moderator for answers, the ``Io`` that
        judges it and then returns it."""
        state = call.notes.get(NOTES_KEY)
        if not isinstance(state, _CallState):
            return response
        response, findings = response_parts(state.inspector, response, state.vault)
        call.findings.extend(findings)
        if state.inspector.moderator is None and self._moderator is None:
            return response
        io = moderate_output(
            call.findings,
            state.inspector,
            response_texts(response),
            state.vault,
            fallback=self._moderator,
            result=response,
        )
        return response if io is None else io

    def stream_filter(self, call: Call) -> _EventFilter | _ModeratedEvents | None:
        state = call.notes.get(NOTES_KEY)
        if not isinstance(state, _CallState):
            return None
        inner = None
        if state.inspector.active("output") or state.vault.restorable:
            inner = _EventFilter(state.inspector, state.vault, call.findings)
        gate: OutputGate[StreamEvent] | None = output_gate(
            call.findings, state.inspector, state.vault, fallback=self._moderator
        )
        return inner if gate is None else _ModeratedEvents(inner, gate)

    # ----------------------------------------------------------------------- internals

    def _inspector_for(self, call: Call) -> ContentInspector | None:
        eff = call.notes.get("policy")
        spec = getattr(eff, "content_moderation", None)
        if not isinstance(spec, ModerationSpec):
            return self._default
        return self._compile(spec)

    def _compile(self, spec: ModerationSpec) -> ContentInspector:
        last = self._last
        if last is not None and last[0] is spec:
            return last[1]
        with self._lock:
            for known, inspector in self._compiled:
                if known is spec or known == spec:
                    self._last = (spec, inspector)
                    return inspector
        # compile outside the lock; a rare duplicate compile is harmless
        inspector = ContentInspector(spec, detectors=self._detectors, moderator=self._moderator)
        with self._lock:
            self._compiled.insert(0, (spec, inspector))
            del self._compiled[_CACHE_SIZE:]
            self._last = (spec, inspector)
        return inspector

    @staticmethod
    def _inspect_embedding(
        inspector: ContentInspector, request: EmbeddingRequest, vault: Vault, call: Call
    ) -> EmbeddingRequest:
        inputs = []
        for i, text in enumerate(request.inputs):
            new, found = inspector.process(text, "input", vault, f"inputs[{i}]", i)
            call.findings.extend(found)
            inputs.append(new)
        if tuple(inputs) == request.inputs:
            return request
        return request.model_copy(update={"inputs": tuple(inputs)})


# --------------------------------------------------------------------------- stream filters


class _EventFilter:
    """Implements the pipeline's ``StreamFilter``: text and tool-call argument deltas go
    through one :class:`StreamInspector` each; other events wait for the text before them."""

    def __init__(self, inspector: ContentInspector, vault: Vault, findings: list[Any]) -> None:
        self._inspector = inspector
        self._vault = vault
        self._findings = findings
        self._text = inspector.stream(vault=vault)
        self._tools: dict[int, StreamInspector] = {}

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        text = self._text.feed(event.text) if event.text else ""
        tool = event.tool_call
        if tool is not None and tool.arguments:
            si = self._tools.get(tool.index)
            if si is None:
                si = StreamInspector(
                    self._inspector,
                    self._vault,
                    "output",
                    location=f"tool_calls[{tool.index}].arguments",
                    json_text=True,
                )
                self._tools[tool.index] = si
            tool = tool.model_copy(update={"arguments": si.feed(tool.arguments)})
        ending = event.finish_reason is not None or event.usage is not None
        if ending:
            text += self._text.finish()
            out.extend(self._flush_tools())
        if text or tool is not None or ending or event.model or event.id:
            out.insert(0, event.model_copy(update={"text": text, "tool_call": tool}))
        if ending:
            self._collect()
        return [e for e in out if _carries(e)]

    def finish(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        text = self._text.finish()
        if text:
            out.append(StreamEvent(text=text))
        out.extend(self._flush_tools())
        self._collect()
        return out

    def _flush_tools(self) -> list[StreamEvent]:
        from .._types import ToolCallDelta

        out = []
        for index, si in self._tools.items():
            rest = si.finish()
            if rest:
                out.append(StreamEvent(tool_call=ToolCallDelta(index=index, arguments=rest)))
        return out

    def _collect(self) -> None:
        seen = {id(f) for f in self._findings}
        for si in (self._text, *self._tools.values()):
            self._findings.extend(f for f in si.findings if id(f) not in seen)
            seen.update(id(f) for f in si.findings)


class _ModeratedEvents:
    """A ``StreamFilter`` whose events (inspected by ``inner``, when output inspection or
    restoring applies) pass an :class:`OutputGate`; ``finish`` ends with its verdict."""

    def __init__(self, inner: _EventFilter | None, gate: OutputGate[StreamEvent]) -> None:
        self._inner = inner
        self._gate = gate
        self._texts: dict[str, list[str]] = {}

    def feed(self, event: StreamEvent) -> list[StreamEvent | Io]:
        out = self._inner.feed(event) if self._inner is not None else [event]
        self._note(out)
        closing = any(ev.finish_reason is not None or ev.usage is not None for ev in out)
        return list(self._gate.release(out, closing=closing))

    def finish(self) -> list[StreamEvent | Io]:
        out = self._inner.finish() if self._inner is not None else []
        self._note(out)
        released: list[StreamEvent | Io] = list(self._gate.release(out))
        texts = [(where, "".join(parts)) for where, parts in self._texts.items()]
        return [*released, *self._gate.end(texts)]

    def _note(self, events: Sequence[StreamEvent]) -> None:
        for ev in events:
            if ev.text:
                self._texts.setdefault("text", []).append(ev.text)
            tool = ev.tool_call
            if tool is not None and tool.arguments:
                where = f"tool_calls[{tool.index}].arguments"
                self._texts.setdefault(where, []).append(tool.arguments)


def _carries(event: StreamEvent) -> bool:
    return bool(
        event.text
        or event.tool_call is not None
        or event.finish_reason is not None
        or event.usage is not None
        or event.model
        or event.id
    )
