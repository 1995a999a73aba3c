"""The model-based :class:`Moderator`'s gating, shared by the inspection stage, guarded
functions and the SDK transport so a prompt or answer is judged the same way by each.

The moderator judges text that inspection already redacted (answers have restored values put
back as their placeholders first), inside an ``Io`` effect: the sync drivers run it in a worker
thread under the timeout, the async ones await it. A flagged verdict becomes a finding or,
with ``block``, a :class:`ContentBlockedError`; a moderator that cannot judge fails open or
closed as configured. A streamed answer passes an :class:`OutputGate` that holds back what
the verdict could still stop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar

from .._effects import Io
from .._types import ChatRequest, ChatResponse
from ..errors import ContentBlockedError
from ._actions import Vault
from .engine import ContentInspector
from .findings import Finding, FlowDirection
from .moderator import ModerationVerdict, Moderator
from .spec import ModeratorSettings

if TYPE_CHECKING:
    from .._call import Call

__all__ = [
    "OutputGate",
    "moderate_input",
    "moderate_output",
    "output_gate",
    "response_texts",
]

T = TypeVar("T")
Segment: TypeAlias = tuple[int, int | None, str]
"""Where one part of a moderated text starts, its message index and its location."""
_WHOLE = {"input": "messages", "output": "response"}
"""The location of a verdict that names no span."""


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
