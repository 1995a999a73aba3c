"""Texts already found clean, so that the same text is not inspected again.

Chat requests resend the system prompt and the whole conversation on every turn, so most
texts a process inspects it has inspected before, and most of those contain nothing: a
lookup costs well under a microsecond where a scan costs tens per kilobyte. Only texts in
which a plan found *nothing* are remembered (keyed by the plan's serial number), so the memo
never holds a value inspection exists to protect, and a hit simply means "nothing to do".
Bounded by the characters held (plus a fixed cost per entry): when full it starts over.
Dict operations are atomic under the GIL, so racing threads at worst scan a text twice.
"""

from __future__ import annotations

__all__ = ["CLEAN", "MAX_TEXT", "CleanTexts"]

MAX_TEXT = 32_768
"""Longer texts are not remembered (rare, and each would take a large share): not even
looked up, which would cost hashing them."""
_MAX_CHARS = 1_000_000
"""About 1 MB across every plan of the process, bookkeeping included."""
_ENTRY_COST = 128
"""What an entry costs beyond its characters (key tuple, dict slot), counted as characters
so that many short texts cannot hold much more memory than a few long ones."""


class CleanTexts(dict[tuple[int, str], None]):
    """``(plan serial, text)`` pairs in which the plan found nothing. A ``dict`` itself, so
    that the lookup made for every text is the dict's own, not a method call."""

    __slots__ = ("_chars",)

    def __init__(self) -> None:
        super().__init__()
        self._chars = 0

    @property
    def chars(self) -> int:
        return self._chars

    def add(self, serial: int, text: str) -> None:
        if len(text) > MAX_TEXT:
            return
        size = len(text) + _ENTRY_COST
        if self._chars + size > _MAX_CHARS:
            self.clear()
        self[(serial, text)] = None
        self._chars += size

    def clear(self) -> None:
        super().clear()
        self._chars = 0


CLEAN = CleanTexts()
"""The process's memo (benchmarks clear it to time cold scans)."""
