"""The pipeline's *inspect* stage: the engine applied to each call.

Input: the request is inspected (and replaced by its redacted copy) before routing, so every
later stage (cache keys, limits, audit) and the provider only ever see the redacted request; a
configured :class:`Moderator` then judges the *redacted* text inside an ``Io`` effect, so the
sync client runs it in a worker thread under the timeout and the async client awaits it.
Output: answers and streams are inspected, then placeholders are restored from the call's
:class:`Vault`, kept in ``call.notes["inspect"]``. Findings go to ``call.findings``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._effects import Io
from .._types import ChatRequest, ChatResponse, EmbeddingRequest, StreamEvent
from ..errors import ContentBlockedError
from ._actions import Vault
from ._compile import CustomDetector
from .engine import ContentInspector
from .findings import Finding
from .moderator import ModerationVerdict, Moderator
from .spec import ModerationSpec, ModeratorSettings
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
            result = inspector.inspect_request(request, vault=state.vault)
            call.request = result.request
            call.findings.extend(result.findings)
        elif isinstance(request, EmbeddingRequest):
            call.request = self._inspect_embedding(inspector, request, state.vault, call)
        return self._moderation(call, inspector)

    def inspect_output(self, call: Call, response: ChatResponse) -> ChatResponse:
        state = call.notes.get(NOTES_KEY)
        if not isinstance(state, _CallState):
            return response
        result = state.inspector.inspect_response(response, vault=state.vault)
        call.findings.extend(result.findings)
        return result.response

    def stream_filter(self, call: Call) -> _EventFilter | None:
        state = call.notes.get(NOTES_KEY)
        if not isinstance(state, _CallState):
            return None
        if not state.inspector.active("output") and not state.vault.restorable:
            return None
        return _EventFilter(state.inspector, state.vault, call.findings)

    # ----------------------------------------------------------------------- internals

    def _inspector_for(self, call: Call) -> ContentInspector | None:
        eff = call.notes.get("policy")
        spec = getattr(eff, "content_moderation", None)
        if not isinstance(spec, ModerationSpec):
            return self._default
        return self._compile(spec)

    def _compile(self, spec: ModerationSpec) -> ContentInspector:
        with self._lock:
            for known, inspector in self._compiled:
                if known is spec or known == spec:
                    return inspector
        # compile outside the lock; a rare duplicate compile is harmless
        inspector = ContentInspector(spec, detectors=self._detectors, moderator=self._moderator)
        with self._lock:
            self._compiled.insert(0, (spec, inspector))
            del self._compiled[_CACHE_SIZE:]
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

    def _moderation(self, call: Call, inspector: ContentInspector) -> Io | None:
        moderator = inspector.moderator or self._moderator
        if moderator is None or not isinstance(call.request, ChatRequest):
            return None
        settings = inspector.spec.moderator or ModeratorSettings()
        if settings.direction == "output":
            return None
        text, starts = moderation_text(call.request)
        if not text.strip():
            return None
        action = settings.action or (
            "block" if inspector.spec.default_action == "block" else "flag"
        )

        def sync() -> None:
            pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aiguard-mod")
            try:
                verdicts = pool.submit(moderator.moderate, text).result(settings.timeout)
            except Exception as e:
                _unavailable(call, settings, e)
                return
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
            merge_verdicts(call.findings, verdicts, action, starts)

        async def async_() -> None:
            try:
                verdicts = await asyncio.wait_for(moderator.amoderate(text), settings.timeout)
            except Exception as e:
                _unavailable(call, settings, e)
                return
            merge_verdicts(call.findings, verdicts, action, starts)

        return Io(sync=sync, async_=async_)


def moderation_text(request: ChatRequest) -> tuple[str, list[tuple[int, int]]]:
    """The (already redacted) message texts joined for a moderator, with where each starts."""
    parts: list[str] = []
    starts: list[tuple[int, int]] = []
    pos = 0
    for i, m in enumerate(request.messages):
        t = m.text
        if not t:
            continue
        starts.append((pos, i))
        parts.append(t)
        pos += len(t) + 2
    return "\n\n".join(parts), starts


def merge_verdicts(
    findings: list[Any],
    verdicts: Sequence[ModerationVerdict],
    action: str,
    starts: Sequence[tuple[int, int]],
) -> None:
    """Flagged verdicts become findings; with ``block`` the first one refuses the call."""
    for v in verdicts:
        if not v.flagged:
            continue
        index, start, end = None, v.start, v.end
        if start is not None:
            for s, i in starts:
                if s <= start:
                    index, offset = i, s
            if index is not None:
                start -= offset
                end = None if end is None else end - offset
        category = f"moderator.{v.category}"
        if action == "block":
            raise ContentBlockedError(
                category, "input", message_index=index, start=start, end=end, detector="moderator"
            )
        findings.append(
            Finding(
                category=category,
                action="flag",
                direction="input",
                start=start or 0,
                end=end or 0,
                location="messages" if index is None else f"messages[{index}]",
                message_index=index,
                detector="moderator",
                score=v.score,
            )
        )


def _unavailable(call: Call, settings: ModeratorSettings, error: BaseException) -> None:
    """Fail closed (block) or open (record and pass) when the moderator could not judge."""
    if settings.fail_mode == "closed":
        raise ContentBlockedError("moderator.unavailable", "input", detector="moderator") from (
            error if not isinstance(error, concurrent.futures.TimeoutError) else None
        )
    call.findings.append(
        Finding(
            category="moderator.unavailable",
            action="flag",
            direction="input",
            start=0,
            end=0,
            location="messages",
            detector="moderator",
        )
    )


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


def _carries(event: StreamEvent) -> bool:
    return bool(
        event.text
        or event.tool_call is not None
        or event.finish_reason is not None
        or event.usage is not None
        or event.model
        or event.id
    )
