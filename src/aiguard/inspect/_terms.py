"""Phrase matching on normalised text, for block lists, allow lists and topic lexicons.

Hundreds of lexicon phrases cannot each be searched for in every prompt. Each phrase is keyed
by its longest ASCII word; a text's word set comes from one ``bytes.translate`` + ``split``,
and only phrases whose key word occurs are confirmed with their own (whole-word) regex.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ._normalize import Normalized, normalize_phrase

__all__ = ["PhraseMatcher", "word_set"]

T = TypeVar("T")

_WORD_TABLE = bytes(
    i if (0x30 <= i <= 0x39 or 0x61 <= i <= 0x7A or i == 0x5F) else 0x20 for i in range(256)
)


def word_set(norm: str | bytes) -> frozenset[bytes]:
    """The ASCII words of an already-normalised (lower-case) text or its ASCII bytes."""
    raw = norm if isinstance(norm, bytes) else norm.encode("ascii", "replace")
    return frozenset(raw.translate(_WORD_TABLE).split())


@dataclass(frozen=True, slots=True)
class _Phrase(Generic[T]):
    regex: re.Pattern[str]
    payload: T


class PhraseMatcher(Generic[T]):
    """Finds whole-word phrases in a :class:`Normalized` text; spans map to the original."""

    def __init__(self, phrases: Sequence[tuple[str, T]]) -> None:
        self._by_key: dict[bytes, list[_Phrase[T]]] = {}
        self._always: list[_Phrase[T]] = []
        self.max_length = 0
        for phrase, payload in phrases:
            norm = normalize_phrase(phrase)
            if not norm:
                continue
            self.max_length = max(self.max_length, len(phrase))
            words = norm.split(" ")
            body = r"\s+".join(re.escape(w) for w in words)
            # the literal comes first so the regex engine can skip ahead with a fast search;
            # the left word boundary is checked by hand in find()
            rx = re.compile(body + r"(?!\w)")
            entry = _Phrase(rx, payload)
            # Every ASCII word run of the phrase is bounded by non-word characters (or the
            # phrase's whole-word edges), so it is a whole token of any text it matches in.
            keys = re.findall(r"[a-z0-9_]+", norm)
            if keys:
                key = max(keys, key=len).encode()
                self._by_key.setdefault(key, []).append(entry)
            else:
                self._always.append(entry)

    def __bool__(self) -> bool:
        return bool(self._by_key or self._always)

    def may_match(self, words: frozenset[bytes]) -> bool:
        """False when no phrase can occur in a text with these words (skip normalising)."""
        if self._always:
            return True
        if len(words) < len(self._by_key):
            return any(w in self._by_key for w in words)
        return any(k in words for k in self._by_key)

    def find(
        self, norm: Normalized, words: frozenset[bytes] | None = None
    ) -> list[tuple[int, int, T]]:
        """``(start, end, payload)`` in ORIGINAL offsets, in text order."""
        if words is None:
            words = word_set(norm.text)
        candidates = list(self._always)
        if len(words) < len(self._by_key):
            for w in words:
                got = self._by_key.get(w)
                if got:
                    candidates.extend(got)
        else:
            for k, got in self._by_key.items():
                if k in words:
                    candidates.extend(got)
        out: list[tuple[int, int, T]] = []
        text = norm.text
        for entry in candidates:
            for m in entry.regex.finditer(text):
                start = m.start()
                if start and (text[start - 1].isalnum() or text[start - 1] == "_"):
                    continue
                s, e = norm.to_original(start, m.end())
                out.append((s, e, entry.payload))
        out.sort(key=lambda x: (x[0], x[1]))
        return out
