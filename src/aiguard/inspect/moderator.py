"""Model-based moderation: the protocol a remote or LLM-judge moderator implements, and how
its verdicts become findings.

The engine stays free of I/O: the pipeline stage calls :meth:`Moderator.moderate` (sync
drivers, in a worker thread) or :meth:`Moderator.amoderate` (async drivers) inside an ``Io``
effect, under the spec's timeout, and turns flagged verdicts into findings or a
``ContentBlockedError`` (``aiguard.inspect._moderation``). It judges prompts and answers (text and
tool-call arguments, streams included) of clients, guarded functions and SDK requests, as
``moderator.direction`` says. A moderator that fails or times out blocks the call when
``failMode: closed`` (the default) and is recorded as a ``moderator.unavailable`` flag when
``failMode: open``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["ModerationVerdict", "Moderator"]


@dataclass(frozen=True, slots=True)
class ModerationVerdict:
    """One category a moderator flagged. ``start``/``end`` locate it in the moderated text
    when the moderator can say; otherwise the whole text is meant."""

    category: str
    score: float = 1.0
    flagged: bool = True
    start: int | None = None
    end: int | None = None


@runtime_checkable
class Moderator(Protocol):
    """Anything that can judge a text: a moderation endpoint, an LLM used as a judge.

    Implementations should not raise for "content is bad" (return a flagged verdict); they
    raise only when they could not judge, which the fail mode then decides."""

    def moderate(self, text: str) -> Sequence[ModerationVerdict]: ...

    async def amoderate(self, text: str) -> Sequence[ModerationVerdict]: ...
