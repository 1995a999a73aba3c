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

__all__ = ["FOLDED_WORD_TABLE", "PhraseMatcher", "ascii_words", "word_set"]

T = TypeVar("T")

_WORD_TABLE = bytes(
    i if (0x30 <= i <= 0x39 or 0x61 <= i <= 0x7A or i == 0x5F) else 0x20 for i in range(256)
)


FOLDED_WORD_TABLE = bytes(
    _WORD_TABLE[i + 0x20] if 0x41 <= i <= 0x5A else _WORD_TABLE[i] for i in range(256)
)
"""The same, lower-casing ASCII capitals on the way (for a text's raw ASCII bytes)."""


def ascii_words(raw: bytes) -> list[bytes]:
    """``word_set(raw.lower())`` in one ``translate`` (no lower-cased copy first)."""
    return raw.translate(FOLDED_WORD_TABLE).split()


def word_set(norm: str | bytes) -> list[bytes]:
    """The ASCII words of an already-normalised (lower-case) text or its ASCII bytes.

    A list, not a set: matchers intersect their key sets with it in C, which is cheaper
    than hashing every word into a new set first."""
    raw = norm if isinstance(norm, bytes) else norm.encode("ascii", "replace")
    return raw.translate(_WORD_TABLE).split()


_COMMON_WORDS = (
    "a an the and or but if of to in on at by for with from as is are was be been it its "
    "this that these those i me my you your he him his she her we our they them their do "
    "does did have has had will would can could should may might must not no yes all any "
    "some what which who how when where why good time buy sell get go back up out over "
    "take make much many more most very just also than then there here about into"
)
_COMMON = frozenset(_COMMON_WORDS.split())
"""Words too common to key a phrase on: the key decides whether a phrase's regex runs."""


@dataclass(frozen=True, slots=True)
class _Phrase(Generic[T]):
    regex: re.Pattern[str]
    payload: T
    words: frozenset[bytes] = frozenset()
    """Every ASCII word of the phrase: all must occur in a text before the regex runs."""


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
            runs = re.findall(r"[a-z0-9_]+", norm)
            entry = _Phrase(rx, payload, frozenset(w.encode() for w in runs))
            # Every ASCII word run of the phrase is bounded by non-word characters (or the
            # phrase's whole-word edges), so it is a whole token of any text it matches in.
            keys = runs
            if keys:
                rare = [k for k in keys if k not in _COMMON] or keys
                key = max(rare, key=len).encode()
                self._by_key.setdefault(key, []).append(entry)
            else:
                self._always.append(entry)

        self._keys = frozenset(self._by_key)
        self._all_words = frozenset(
            w for entries in self._by_key.values() for e in entries for w in e.words
        )

    def __bool__(self) -> bool:
        return bool(self._by_key or self._always)

    @property
    def keys(self) -> frozenset[bytes]:
        """The words phrases are keyed on: no phrase matches a text without one of them..."""
        return self._keys

    @property
    def always(self) -> bool:
        """...unless some phrase has no ASCII word to key on."""
        return bool(self._always)

    def _candidates(self, words: list[bytes]) -> list[_Phrase[T]]:
        if not self._keys or self._keys.isdisjoint(words):
            return list(self._always)
        present = self._all_words.intersection(words)
        out = list(self._always)
        for k in self._keys & present:
            out.extend(e for e in self._by_key[k] if e.words <= present)
        return out

    def may_match(self, words: list[bytes]) -> bool:
        """False when no phrase can occur in a text with these words (skip normalising)."""
        return bool(self._candidates(words))

    def find(self, norm: Normalized, words: list[bytes] | None = None) -> list[tuple[int, int, T]]:
        """``(start, end, payload)`` in ORIGINAL offsets, in text order."""
        if words is None:
            words = word_set(norm.text)
        candidates = self._candidates(words)
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
