"""A case-folded, confusable-folded view of a text whose offsets map back to the original.

Block-list phrases and topic lexicons are matched on this view so that ``ＨＡＴＥ`` (full
width), ``hаte`` (Cyrillic a) or ``ha\u200bte`` (zero-width space) match ``hate``; findings
must still point into the text the caller wrote, so every normalised offset maps back.

ASCII runs are handled in bulk (lower-casing is the whole normalisation there); only the rare
non-ASCII characters take the per-character path.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Normalized", "folds_into_words", "normalize", "normalize_phrase"]

_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f")

# Latin look-alikes seen in evasion attempts (Cyrillic, Greek, and a few symbols); NFKC
# already folds full-width and mathematical alphanumerics.
_CONFUSABLES: dict[str, str] = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ɑ": "a", "ı": "i",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ℓ": "l",
}  # fmt: skip

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _ZERO_WIDTH:
        return ""
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        if c in _ZERO_WIDTH:
            continue
        c = _CONFUSABLES.get(c, c)
        if not c.isascii():
            # Strip accents only where the base letter is ASCII: "é" -> "e", "ж" stays.
            base = unicodedata.normalize("NFD", c)
            if base[:1].isascii() and all(unicodedata.combining(x) for x in base[1:]):
                c = base[0]
        out.append(c)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _fold_run(run: str) -> str | None:
    """The folded run when every character folds to exactly one, else ``None``."""
    folded = [_fold_char(c) for c in run]
    if all(len(f) == 1 for f in folded):
        return "".join(folded)
    return None


@dataclass(frozen=True, slots=True)
class Normalized:
    """``text`` is the folded view; ``to_original`` maps a span of it back to the original."""

    text: str
    _norm_starts: tuple[int, ...] = ()
    _orig_starts: tuple[int, ...] = ()
    _exact: tuple[bool, ...] = ()
    _orig_ends: tuple[int, ...] = ()

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The smallest original span covering the normalised ``[start, end)``."""
        if not self._norm_starts:
            return start, end
        return self._map(start, is_end=False), self._map(end, is_end=True)

    def _map(self, pos: int, *, is_end: bool) -> int:
        i = bisect.bisect_right(self._norm_starts, pos) - 1
        if is_end and i > 0 and self._norm_starts[i] == pos:
            i -= 1  # an end offset belongs to the segment it closes
        if i < 0:
            return pos
        delta = pos - self._norm_starts[i]
        if self._exact[i]:
            return self._orig_starts[i] + delta
        # An expanded or collapsed character: any offset inside maps to its edges.
        return self._orig_ends[i] if is_end and delta > 0 else self._orig_starts[i]


def _non_ascii_runs(text: str, ascii_bytes: bytes | None) -> list[tuple[int, int]]:
    """Spans of non-ASCII characters. With the text's ``encode("ascii", "replace")`` at hand,
    only its ``?`` bytes need looking at, which is much cheaper than a regex scan."""
    if ascii_bytes is None:
        return [m.span() for m in _NON_ASCII.finditer(text)]
    out: list[tuple[int, int]] = []
    i = ascii_bytes.find(b"?")
    while i >= 0:
        j = i
        while j < len(text) and ord(text[j]) > 127:
            j += 1
        if j > i:
            if out and out[-1][1] == i:
                out[-1] = (out[-1][0], j)
            else:
                out.append((i, j))
        i = ascii_bytes.find(b"?", max(j, i + 1))
    return out


@functools.lru_cache(maxsize=4096)
def _run_changes_words(run: str) -> bool:
    """A character that folds to an ASCII word character, or to nothing (zero width, which
    joins the words around it)."""
    for ch in run:
        folded = _fold_char(ch)
        if not folded or any(c.isascii() and (c.isalnum() or c == "_") for c in folded):
            return True
    return False


def folds_into_words(text: str, ascii_bytes: bytes | None = None) -> bool:
    """Whether folding changes the text's ASCII words (an accented or look-alike letter, a
    full-width character, a zero-width joiner inside a word). When it does not (curly
    quotes, dashes, emoji), the plain lower-cased ASCII view has the same words."""
    return any(
        _run_changes_words(text[start:end]) for start, end in _non_ascii_runs(text, ascii_bytes)
    )


def normalize(text: str, ascii_bytes: bytes | None = None) -> Normalized:
    """Fold ``text`` for matching; cheap for ASCII, per-character only where needed."""
    if text.isascii():
        return Normalized(text.lower())
    parts: list[str] = []
    norm_starts: list[int] = []
    orig_starts: list[int] = []
    orig_ends: list[int] = []
    exact: list[bool] = []
    npos = 0  # length of the folded text so far
    seg_orig = 0  # start, in the original, of the open exact segment
    seg_norm = 0

    def close(orig_end: int) -> None:
        if orig_end > seg_orig:
            norm_starts.append(seg_norm)
            orig_starts.append(seg_orig)
            orig_ends.append(orig_end)
            exact.append(True)

    last = 0
    for run_start, run_end in _non_ascii_runs(text, ascii_bytes):
        if run_start > last:
            chunk = text[last:run_start].lower()
            parts.append(chunk)
            npos += len(chunk)
        run = text[run_start:run_end]
        whole = _fold_run(run)
        if whole is not None:  # the common case: quotes, dashes, accented letters
            parts.append(whole)
            npos += len(whole)
            last = run_end
            continue
        for k, ch in enumerate(run, run_start):
            folded = _fold_char(ch)
            if len(folded) == 1:  # stays inside the open exact segment
                parts.append(folded)
                npos += 1
                continue
            close(k)
            norm_starts.append(npos)
            orig_starts.append(k)
            orig_ends.append(k + 1)
            exact.append(False)
            parts.append(folded)
            npos += len(folded)
            seg_orig, seg_norm = k + 1, npos
        last = run_end
    if last < len(text):
        chunk = text[last:].lower()
        parts.append(chunk)
        npos += len(chunk)
    close(len(text))
    return Normalized(
        "".join(parts), tuple(norm_starts), tuple(orig_starts), tuple(exact), tuple(orig_ends)
    )


def normalize_phrase(phrase: str) -> str:
    """A block-list phrase folded the same way, with runs of whitespace collapsed."""
    return " ".join(normalize(phrase).text.split())
