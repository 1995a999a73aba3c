"""Incremental inspection of a streamed answer.

Text is released as soon as no detector could still change it: everything except a bounded
tail (the longest phrase or entity, an unfinished token, an unterminated private-key block or
a half-received ``[PLACEHOLDER_``). A span found across chunk boundaries is therefore acted on
whole, and once a blocking rule fires nothing more is released.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import ContentBlockedError
from ._actions import Vault
from ._normalize import CASED_CONFUSABLES, normalize
from .findings import Finding, FlowDirection

if TYPE_CHECKING:
    from .engine import ContentInspector

__all__ = ["StreamInspector"]

_CONTEXT = 32
"""Released characters kept as left context (word boundaries, "SSN:" before a number)."""
_MIN_HOLD = 96
_MAX_TOKEN_HOLD = 4096
_MAX_PEM_HOLD = 16384
_TOKEN_CHARS = re.compile(
    "[A-Za-z0-9_\\-+/=.@:%~\u00ad\u200b-\u200f\u2060\ufeff\u0300-\u036f\uff01-\uff5e"
    + "".join(sorted(CASED_CONFUSABLES))
    + "]*"
)
"""Characters of keys, tokens, addresses and URLs (matched on the reversed tail), with the
zero-width, combining, full-width and look-alike characters that may hide one."""


class StreamInspector:
    """Feed text deltas; get back the text that is safe to emit now.

    ``location`` and offsets in findings refer to the whole streamed text. After a
    :class:`~aiguard.errors.ContentBlockedError` every further ``feed`` raises it again.
    """

    def __init__(
        self,
        engine: ContentInspector,
        vault: Vault,
        direction: FlowDirection = "output",
        *,
        location: str = "text",
        holdback: int | None = None,
        json_text: bool = False,
    ) -> None:
        self._engine = engine
        self._vault = vault
        self._direction: FlowDirection = direction
        self._location = location
        self._plan = engine.plan(direction)
        self._active = engine.active(direction)
        self._restore = vault.restorable or engine.restores()
        self._hold = holdback if holdback is not None else max(_MIN_HOLD, self._plan.max_span + 2)
        self._ctx = ""
        self._buf = ""
        self._base = 0
        self._scores: dict[str, float] = {}
        self._blocked: ContentBlockedError | None = None
        self._findings: list[Finding] = []
        self._json = json_text
        self._in_string = False  # JSON string state at the end of the released text

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(self._findings)

    @property
    def pending(self) -> int:
        """Characters received but not yet released."""
        return len(self._buf)

    def feed(self, delta: str) -> str:
        if self._blocked is not None:
            raise self._blocked
        if not delta:
            return ""
        self._buf += delta
        if not self._active and not self._restore:
            out, self._buf = self._buf, ""
            return out
        return self._step(final=False)

    def finish(self) -> str:
        """Release everything still held (the stream ended)."""
        if self._blocked is not None:
            raise self._blocked
        if not self._buf:
            return ""
        return self._step(final=True)

    # ----------------------------------------------------------------------- internals

    def _step(self, *, final: bool) -> str:
        window = self._ctx + self._buf
        k = len(self._ctx)
        n = len(window)
        hits = (
            self._engine._hits(window, self._plan, topic_base=self._scores, skip_before=k)
            if self._active
            else []
        )
        shift = self._base - k  # window offset -> stream offset
        for h, r in hits:
            if r.action == "block":
                self._blocked = ContentBlockedError(
                    r.category,
                    self._direction,
                    start=h.start + shift,
                    end=h.end + shift,
                    detector=h.detector,
                )
                self._buf = ""
                raise self._blocked
        cut = n if final else self._safe_cut(window, k)
        moved = True
        while moved:
            moved = False
            for h, _r in hits:
                if h.start < cut < h.end:
                    cut = h.start
                    moved = True
        if cut <= k:
            return ""
        region = window[k:cut]
        released = [
            (type(h)(h.start - k, h.end - k, h.category, h.label, h.detector, h.priority,
                     h.score), r)
            for h, r in hits
            if h.end <= cut
        ]  # fmt: skip
        quote = None
        if self._json:
            inside = _string_state(region, self._in_string)

            def quote(start: int) -> bool:
                return not inside(start)

        text, findings = self._engine.apply(
            region,
            released,
            self._direction,
            self._vault,
            self._location,
            None,
            offset=self._base,
            quote=quote,
        )
        if self._json:
            self._in_string = _string_state(region, self._in_string)(len(region))
        self._findings.extend(findings)
        if self._plan.topics:
            for s, _e, (name, w) in self._plan.topics.find(normalize(window)):
                if k <= s < cut:
                    self._scores[name] = self._scores.get(name, 0.0) + w
        self._ctx = window[max(0, cut - _CONTEXT) : cut]
        self._buf = window[cut:]
        self._base += cut - k
        return self._vault.restore(text) if self._restore else text

    def _safe_cut(self, window: str, k: int) -> int:
        n = len(window)
        cut = n - self._hold
        # an unfinished token (a key, an address, a JWT) may continue in the next chunk
        run = _TOKEN_CHARS.match(window[-_MAX_TOKEN_HOLD:][::-1])
        length = run.end() if run is not None else 0
        if length < _MAX_TOKEN_HOLD:  # a longer run is released: the look-behind is bounded
            cut = min(cut, n - length)
        begin = window.rfind("-----BEGIN")
        if begin >= 0 and "-----END" not in window[begin + 10 :] and n - begin <= _MAX_PEM_HOLD:
            cut = min(cut, begin)
        if self._restore:
            lb = window.rfind("[", max(0, n - 24))
            if lb >= 0 and "]" not in window[lb:]:
                cut = min(cut, lb)
        return max(cut, k)


def _string_state(text: str, inside: bool) -> Callable[[int], bool]:
    """For JSON text starting inside a string or not: whether position ``i`` is inside one."""
    toggles: list[int] = []
    escaped = False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\" and (inside ^ (len(toggles) % 2 == 1)):
            escaped = True
        elif c == '"':
            toggles.append(i)

    def at(pos: int) -> bool:
        return inside ^ (bisect.bisect_left(toggles, pos) % 2 == 1)

    return at
