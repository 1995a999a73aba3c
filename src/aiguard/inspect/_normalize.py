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

__all__ = [
    "CASED_CONFUSABLES",
    "Normalized",
    "detector_view",
    "folds_into_words",
    "non_ascii_runs",
    "normalize",
    "normalize_phrase",
    "original_span",
    "two_gap_chars",
]

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

CASED_CONFUSABLES: dict[str, str] = {
    **_CONFUSABLES,
    "А": "A", "В": "B", "Е": "E", "Ѕ": "S", "І": "I", "Ј": "J", "К": "K", "М": "M", "Н": "H",
    "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "Ү": "Y", "Α": "A", "Β": "B", "Ε": "E",
    "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T",
    "Υ": "Y", "Χ": "X",
}  # fmt: skip
"""Case-preserving look-alikes for the detectors' view (keys and IBANs are case-sensitive)."""

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _ZERO_WIDTH:
        return ""
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        if c in _ZERO_WIDTH or unicodedata.combining(c):
            continue  # a decomposed accent ("a\u0301") goes, as the precomposed one does
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
    find = ascii_bytes.find
    n = len(text)
    i = find(b"?")
    while i >= 0:
        if text[i] == "?":  # a real question mark
            i = find(b"?", i + 1)
            continue
        j = i + 1
        while j < n and text[j] > "\x7f":
            j += 1
        out.append((i, j))
        i = find(b"?", j)
    return out


non_ascii_runs = _non_ascii_runs


@functools.lru_cache(maxsize=4096)
def _run_changes_words(run: str) -> bool:
    """A character that folds to an ASCII word character, or to nothing (zero width, which
    joins the words around it)."""
    for ch in run:
        folded = _fold_char(ch)
        if not folded or any(c.isascii() and (c.isalnum() or c == "_") for c in folded):
            return True
    return False


def folds_into_words(
    text: str, ascii_bytes: bytes | None = None, runs: list[tuple[int, int]] | None = None
) -> bool:
    """Whether folding changes the text's ASCII words (an accented or look-alike letter, a
    full-width character, a zero-width joiner inside a word). When it does not (curly
    quotes, dashes, emoji), the plain lower-cased ASCII view has the same words."""
    return any(
        _run_changes_words(text[start:end])
        for start, end in (runs if runs is not None else _non_ascii_runs(text, ascii_bytes))
    )


def normalize(
    text: str, ascii_bytes: bytes | None = None, runs: list[tuple[int, int]] | None = None
) -> Normalized:
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
    if runs is None:
        runs = _non_ascii_runs(text, ascii_bytes)
    for run_start, run_end in runs:
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


# --------------------------------------------------------------------------- detectors' view
#
# The PII and secret detectors read a second view: NFKC, zero-width characters and combining
# marks removed, look-alikes folded, but case kept (keys and IBANs are case-sensitive), and a
# run of whitespace between the groups of a number collapsed to one space. It is built only
# when the text has something to fold; findings map back to the original characters.

_MAX_GAP = 16
"""The longest run of whitespace read as one separator between the groups of a number."""


@functools.lru_cache(maxsize=4096)
def _detect_char(ch: str) -> str:
    """``ch`` as the detectors read it: itself unless it folds to ASCII letters or digits
    (or to one ASCII character: ``＠``, ``－``, a no-break space), or to nothing."""
    if ch in _ZERO_WIDTH or unicodedata.combining(ch):
        return ""
    if ch in CASED_CONFUSABLES:
        return CASED_CONFUSABLES[ch]
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        if c in _ZERO_WIDTH or unicodedata.combining(c):
            continue
        c = CASED_CONFUSABLES.get(c, c)
        if not c.isascii():
            base = unicodedata.normalize("NFD", c)
            if base[:1].isascii() and all(unicodedata.combining(x) for x in base[1:]):
                c = base[0]
        out.append(c)
    folded = "".join(out)
    if folded.isascii() and (len(folded) == 1 or any(c.isalnum() for c in folded)):
        return folded
    return ch


@functools.lru_cache(maxsize=4096)
def _detect_run(run: str) -> tuple[tuple[int, str], ...]:
    """The characters of a non-ASCII run that the detectors read differently: (index, fold)."""
    return tuple((i, f) for i, c in enumerate(run) if (f := _detect_char(c)) != c)


_GAP_CHARS = frozenset(" \t\n\r\x0b\x0c")
_INNER_GAP = re.compile("[ \t\n\r\x0b\x0c]{2,}")


def _is_group(c: str) -> bool:
    return "0" <= c <= "9" or "A" <= c <= "Z"


def _wide_gaps(text: str, number_runs: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Runs of 2 to 16 whitespace characters between the groups of a number, each read as
    one space: ``4111 \\n\\t 1111``, ``+1 \\n 415 \\n 555 \\n 2671``, ``GB82 \\n WEST``.
    Found by walking out from each run of four or more digits (every card, phone number,
    IBAN and SSN has one) over gaps that touch a digit and groups of digits or capitals."""
    n = len(text)
    found: set[tuple[int, int]] = set()
    for run_start, run_end in number_runs:
        # inside: a run joins digits over up to three separators, so gaps of two or three
        # whitespace characters (``4111  1111``) are within it, each next to a digit
        found.update(m.span() for m in _INNER_GAP.finditer(text, run_start, run_end))
        pos = run_end  # forwards: gap, group, gap, group...
        while pos < n and text[pos] in _GAP_CHARS:
            j = pos
            while j < n and text[j] in _GAP_CHARS:
                j += 1
            if not (2 <= j - pos <= _MAX_GAP and j < n and _is_group(text[j])):
                break
            if not (text[pos - 1].isdigit() or text[j].isdigit()) or (pos, j) in found:
                break
            found.add((pos, j))
            pos = j
            while pos < n and _is_group(text[pos]):
                pos += 1
        pos = run_start  # backwards
        while pos > 0 and text[pos - 1] in _GAP_CHARS:
            j = pos
            while j > 0 and text[j - 1] in _GAP_CHARS:
                j -= 1
            if not (2 <= pos - j <= _MAX_GAP and j > 0 and _is_group(text[j - 1])):
                break
            if not (text[j - 1].isdigit() or text[pos].isdigit()) or (j, pos) in found:
                break
            found.add((j, pos))
            pos = j
            while pos > 0 and _is_group(text[pos - 1]):
                pos -= 1
    return [(s, e, " ") for s, e in sorted(found)]


def two_gap_chars(text: str) -> bool:
    """Whether the text may have a run of two whitespace characters (a wide gap needs one):
    two spaces, or any of the other gap characters. Searched in the ``str`` (every needle is
    ASCII, so the answer is the ASCII bytes' one): ``bytes.__contains__`` costs more."""
    return (
        "  " in text
        or "\n" in text
        or "\t" in text
        or "\r" in text
        or "\x0b" in text
        or "\x0c" in text
    )


_FEW = 64
"""Up to this many non-ASCII characters are looked at one by one (a dict lookup each);
beyond, runs of them are (cached per run: the words of a non-Latin text repeat)."""
_SEEN: dict[str, str] = {}
_SEEN_MAX = 8192


def _detect_cached(ch: str) -> str:
    f = _SEEN.get(ch)
    if f is None:
        f = _detect_char(ch)
        if len(_SEEN) < _SEEN_MAX:
            _SEEN[ch] = f
    return f


def detector_view(
    text: str,
    ascii_bytes: bytes,
    number_runs: list[tuple[int, int]],
    runs: list[tuple[int, int]] | None = None,
    gaps: bool | None = None,
) -> Normalized | None:
    """The detectors' view of ``text``, or ``None`` when it reads the same as the text.
    ``number_runs`` are its runs of four or more digits, ``runs`` its non-ASCII runs and
    ``gaps`` the answer of :func:`two_gap_chars` when the caller already has them."""
    edits: list[tuple[int, int, str]] = []
    if not text.isascii():
        if runs is None and ascii_bytes.count(b"?") <= _FEW:
            find = ascii_bytes.find
            i = find(b"?")
            while i >= 0:
                ch = text[i]
                if ch != "?" and (f := _SEEN.get(ch) or _detect_cached(ch)) != ch:
                    edits.append((i, i + 1, f))
                i = find(b"?", i + 1)
        else:
            for start, end in runs if runs is not None else _non_ascii_runs(text, ascii_bytes):
                edits.extend((start + i, start + i + 1, f) for i, f in _detect_run(text[start:end]))
    if gaps is None:
        gaps = bool(number_runs) and two_gap_chars(text)
    folded = _wide_gaps(text, number_runs) if number_runs and gaps else []
    if folded:
        edits = sorted(edits + folded) if edits else folded
    return _from_edits(text, edits) if edits else None


def _from_edits(text: str, edits: list[tuple[int, int, str]]) -> Normalized:
    """``text`` with sorted, disjoint ``(start, end, replacement)`` edits applied, mapped."""
    parts: list[str] = []
    norm_starts: list[int] = []
    orig_starts: list[int] = []
    orig_ends: list[int] = []
    exact: list[bool] = []
    npos = last = 0
    merged: list[tuple[int, int, str]] = []
    for s, e, rep in edits:  # adjacent edits become one unless both map char for char
        if merged and merged[-1][1] == s:
            ps, pe, prev = merged[-1]
            if len(rep) != e - s or len(prev) != pe - ps:
                merged[-1] = (ps, e, prev + rep)
                continue
        merged.append((s, e, rep))
    for s, e, rep in merged:
        if s > last:
            norm_starts.append(npos)
            orig_starts.append(last)
            orig_ends.append(s)
            exact.append(True)
            parts.append(text[last:s])
            npos += s - last
        norm_starts.append(npos)
        orig_starts.append(s)
        orig_ends.append(e)
        exact.append(len(rep) == e - s)
        parts.append(rep)
        npos += len(rep)
        last = e
    if last < len(text):
        norm_starts.append(npos)
        orig_starts.append(last)
        orig_ends.append(len(text))
        exact.append(True)
        parts.append(text[last:])
    return Normalized(
        "".join(parts), tuple(norm_starts), tuple(orig_starts), tuple(exact), tuple(orig_ends)
    )


def original_span(view: Normalized, text: str, start: int, end: int) -> tuple[int, int]:
    """The original span of a finding in ``view``, with the combining marks that follow its
    last character (they belong to it)."""
    s, e = view.to_original(start, end)
    while e < len(text) and unicodedata.combining(text[e]):
        e += 1
    return s, e
