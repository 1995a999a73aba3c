"""The pipeline's *inspect* stage: the engine applied to each call, and the moderator runs
that the client, guarded functions and the SDK transport share.

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

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar

from .._effects import Io
from .._types import ChatRequest, ChatResponse, EmbeddingRequest, StreamEvent
from ..errors import ContentBlockedError
from ._actions import Vault
from ._compile import CustomDetector
from ._messages import request_parts, response_parts
from .engine import ContentInspector
from .findings import Finding, FlowDirection
from .moderator import ModerationVerdict, Moderator
from .spec import ModerationSpec, ModeratorSettings
from .stream import StreamInspector

if TYPE_CHECKING:
    from .._call import Call

__all__ = [
    "NOTES_KEY",
    "InspectionStage",
    "OutputGate",
    "moderate_input",
    "moderate_output",
    "output_gate",
    "response_texts",
]

NOTES_KEY = "inspect"
_CACHE_SIZE = 32
T = TypeVar("T")
Segment: TypeAlias = tuple[int, int | None, str]
"""Where one part of a moderated text starts, its message index and its location."""
_WHOLE = {"input": "messages", "output": "response"}
"""The location of a verdict that names no span."""


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


# --------------------------------------------------------------------------- the moderator


@dataclass(frozen=True, slots=True)
class _Judge:
    """A moderator and how one call uses it in one direction."""

    moderator: Moderator
    settings: ModeratorSettings
    action: str

    @property
    def can_stop(self) -> bool:
        """Whether a verdict (or no verdict) could refuse the answer."""
        return self.action == "block" or self.settings.fail_mode == "closed"

    def io(
        self,
        findings: list[Any],
        text: str,
        starts: Sequence[Segment],
        direction: FlowDirection,
        result: Any = None,
    ) -> Io:
        """Judge ``text`` under the timeout (a worker thread for the sync drivers, ``wait_for``
        for the async ones); merge the verdicts into ``findings``; return ``result``."""
        moderator, settings, action = self.moderator, self.settings, self.action

        def sync() -> Any:
            pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aiguard-mod")
            try:
                verdicts = _checked(pool.submit(moderator.moderate, text).result(settings.timeout))
            except Exception as e:
                _unavailable(findings, settings, e, direction)
                return result
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
            merge_verdicts(findings, verdicts, action, starts, direction)
            return result

        async def async_() -> Any:
            try:
                verdicts = _checked(
                    await asyncio.wait_for(moderator.amoderate(text), settings.timeout)
                )
            except Exception as e:
                _unavailable(findings, settings, e, direction)
                return result
            merge_verdicts(findings, verdicts, action, starts, direction)
            return result

        return Io(sync=sync, async_=async_)


def _checked(verdicts: object) -> Sequence[ModerationVerdict]:
    """A moderator's answer, if it is one: anything else means it could not judge (and the
    fail mode decides), never an error from deep inside the call."""
    if isinstance(verdicts, Sequence) and all(isinstance(v, ModerationVerdict) for v in verdicts):
        return verdicts
    raise TypeError(
        f"the moderator returned {type(verdicts).__name__}, not a list of ModerationVerdict"
    )


def _judge(
    inspector: ContentInspector | None,
    direction: FlowDirection,
    fallback: Moderator | None = None,
) -> _Judge | None:
    if inspector is None or not inspector.enabled:
        return None
    moderator = inspector.moderator or fallback
    if moderator is None:
        return None
    settings = inspector.spec.moderator or ModeratorSettings()
    if settings.direction not in (direction, "both"):
        return None
    action = settings.action or ("block" if inspector.spec.default_action == "block" else "flag")
    return _Judge(moderator, settings, action)


def moderate_input(
    call: Call, inspector: ContentInspector | None, *, fallback: Moderator | None = None
) -> Io | None:
    """The ``Io`` that has the moderator judge ``call.request`` (already redacted), or
    ``None`` when no moderator judges prompts. Used by the client, guard and SDK flows."""
    judge = _judge(inspector, "input", fallback)
    if judge is None or not isinstance(call.request, ChatRequest):
        return None
    text, starts = moderation_text(call.request)
    if not text.strip():
        return None
    return judge.io(call.findings, text, starts, "input")


def moderate_output(
    findings: list[Any],
    inspector: ContentInspector | None,
    texts: Iterable[tuple[str, str]],
    vault: Vault,
    *,
    fallback: Moderator | None = None,
    result: Any = None,
) -> Io | None:
    """The ``Io`` that has the moderator judge an answer's ``(location, text)`` pairs (as
    the caller would see them; restored values go back to their placeholders first) and
    then returns ``result``; ``None`` when no moderator judges answers."""
    judge = _judge(inspector, "output", fallback)
    if judge is None:
        return None
    text, starts = _joined((_unrestored(t, vault), None, where) for where, t in texts)
    if not text.strip():
        return None
    return judge.io(findings, text, starts, "output", result)


def response_texts(response: ChatResponse) -> list[tuple[str, str]]:
    """An answer's text and tool-call arguments, each with its location."""
    return [
        ("text", response.text),
        *(
            (f"tool_calls[{k}].arguments", tc.function.arguments)
            for k, tc in enumerate(response.tool_calls)
        ),
    ]


def moderation_text(request: ChatRequest) -> tuple[str, list[Segment]]:
    """The (already redacted) message texts and tool-call arguments joined for a moderator,
    with where each starts."""
    return _joined(
        part
        for i, m in enumerate(request.messages)
        for part in (
            (m.text, i, f"messages[{i}]"),
            *(
                (tc.function.arguments, i, f"messages[{i}].tool_calls[{k}].arguments")
                for k, tc in enumerate(m.tool_calls or ())
            ),
        )
    )


def _joined(parts: Iterable[tuple[str, int | None, str]]) -> tuple[str, list[Segment]]:
    texts: list[str] = []
    starts: list[Segment] = []
    pos = 0
    for text, index, where in parts:
        if not text:
            continue
        starts.append((pos, index, where))
        texts.append(text)
        pos += len(text) + 2
    return "\n\n".join(texts), starts


def _unrestored(text: str, vault: Vault) -> str:
    """``text`` with every restorable original written as its placeholder again: what
    inspection kept from the provider is kept from a remote moderator too."""
    restorable = vault._restorable
    if not restorable:
        return text
    pairs = sorted(((vault._originals[ph], ph) for ph in restorable), key=lambda p: -len(p[0]))
    for original, ph in pairs:
        text = text.replace(original, ph)
    return text


def merge_verdicts(
    findings: list[Any],
    verdicts: Sequence[ModerationVerdict],
    action: str,
    starts: Sequence[Segment],
    direction: FlowDirection = "input",
) -> None:
    """Flagged verdicts become findings; with ``block`` the first one refuses the call."""
    for v in verdicts:
        if not v.flagged:
            continue
        index, where, start, end = None, _WHOLE[direction], v.start, v.end
        if start is not None:
            offset = None
            for s, i, loc in starts:
                if s <= start:
                    index, where, offset = i, loc, s
            if offset is not None:
                start -= offset
                end = None if end is None else end - offset
        category = f"moderator.{v.category}"
        if action == "block":
            raise ContentBlockedError(
                category, direction, message_index=index, start=start, end=end, detector="moderator"
            )
        findings.append(
            Finding(
                category=category,
                action="flag",
                direction=direction,
                start=start or 0,
                end=end or 0,
                location=where,
                message_index=index,
                detector="moderator",
                score=v.score,
            )
        )


def _unavailable(
    findings: list[Any],
    settings: ModeratorSettings,
    error: BaseException,
    direction: FlowDirection,
) -> None:
    """Fail closed (block) or open (record and pass) when the moderator could not judge."""
    if settings.fail_mode == "closed":
        raise ContentBlockedError("moderator.unavailable", direction, detector="moderator") from (
            error if not isinstance(error, concurrent.futures.TimeoutError) else None
        )
    findings.append(
        Finding(
            category="moderator.unavailable",
            action="flag",
            direction=direction,
            start=0,
            end=0,
            location=_WHOLE[direction],
            detector="moderator",
        )
    )


class OutputGate(Generic[T]):
    """A stream's released items (events, chunks, bytes) on their way to the caller while a
    moderator could still refuse the answer, and its verdict at the stream's end.

    ``stream: hold`` keeps every item until the verdict; ``stream: end`` keeps only the
    latest one (and, once told, the items that close the stream), so the verdict comes
    before the stream's last item (and before its final response) while the rest flows. A
    moderator that cannot refuse (``flag`` with ``failMode: open``) holds nothing. ``end``
    returns the verdict's ``Io`` followed by the items held back: the flows perform the one
    and release the others in that order.
    """

    __slots__ = ("_findings", "_held", "_judge", "_keep", "_vault")

    def __init__(self, judge: _Judge, findings: list[Any], vault: Vault) -> None:
        self._judge = judge
        self._findings = findings
        self._vault = vault
        self._held: list[T] = []
        self._keep: Literal["all", "last", "none"] = (
            "none" if not judge.can_stop else "all" if judge.settings.stream == "hold" else "last"
        )

    def release(self, items: Iterable[T], *, closing: bool = False) -> list[T]:
        """What of ``items`` (and of what was held) may go to the caller now. ``closing``:
        these items end the stream (a finish reason, usage), so they and all after them
        wait for the verdict."""
        if self._keep == "none":
            return list(items)
        if closing:
            self._keep = "all"
        self._held.extend(items)
        if self._keep == "all" or len(self._held) < 2:
            return []
        out, self._held = self._held[:-1], self._held[-1:]
        return out

    def end(self, texts: Iterable[tuple[str, str]]) -> list[T | Io]:
        """The stream ended: the ``Io`` judging ``texts`` (the ``(location, text)`` pairs
        released), then what is still held."""
        held, self._held = self._held, []
        text, starts = _joined((_unrestored(t, self._vault), None, w) for w, t in texts)
        if not text.strip():
            return list(held)
        return [self._judge.io(self._findings, text, starts, "output"), *held]


def output_gate(
    findings: list[Any],
    inspector: ContentInspector | None,
    vault: Vault,
    *,
    fallback: Moderator | None = None,
) -> OutputGate[Any] | None:
    """The gate for one streamed answer, or ``None`` when no moderator judges answers."""
    judge = _judge(inspector, "output", fallback)
    return None if judge is None else OutputGate(judge, findings, vault)


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
