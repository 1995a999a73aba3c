"""Credential detectors: provider key shapes, JWTs, private-key blocks, ``password=...``
assignments and high-entropy tokens.

Every key shape is a long token, so they are only looked for inside the long runs that
:class:`Prepared` finds with one ``find``; the assignment and PEM patterns run only when their
keyword is present at all.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from ._pii import wallets_in
from ._scan import Prepared
from .findings import Hit

__all__ = ["entropy", "find_secrets"]

# kind -> pattern over a long token run; ordered most specific first.
_KEY_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("anthropic_key", re.compile(r"sk-ant-[a-z]{2,8}\d{2}-[A-Za-z0-9_\-]{32,}")),
    ("openai_key", re.compile(r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}")),
    ("google_api_key", re.compile(r"AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])")),
    ("aws_access_key_id", re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z2-7]{16}")),
    ("github_token", re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})")),
    ("slack_token", re.compile(r"xox[abposr]-[A-Za-z0-9\-]{10,}")),
    ("stripe_key", re.compile(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    (
        "jwt",
        re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),
    ),
)
_PREFIXES = ("sk-", "AIza", "AKIA", "ASIA", "ABIA", "ACCA", "AROA", "AIDA", "gh",
             "github_pat_", "xox", "sk_", "rk_", "eyJ")  # fmt: skip
"""Looked for in the text (``str``): for ASCII needles the same answer as in the ASCII bytes,
without ``bytes.__contains__``'s costly first try of the needle as an integer."""

_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:[A-Za-z0-9+/=:,\-\s]{0,20000}?-----END \1-----|[A-Za-z0-9+/=:,\-\s]*)"
)
# keyword -> what may complete it as a word ("word" of "password"); after that, up to two
# name segments ("_hash", "-id"), a closing quote (JSON/YAML keys), the operator and the value
_ASSIGN_KEYWORDS: dict[bytes, str] = {
    b"pass": r"(?:word|wd|phrase)?",
    b"pwd": "",
    b"secret": r"(?:s|key)?",
    b"token": r"s?",
    b"key": r"s?",
    b"apikey": "",
    b"credential": r"s?",
}
_ASSIGN_REST = (
    r"(?:[_\-][A-Za-z0-9]{1,24}){0,2}[\"']?\s{0,3}(?P<op>:=|=>|=|:)\s{0,3}"
    r"(?:\"(?P<dq>[^\"\n]{3,256})\"|'(?P<sq>[^'\n]{3,256})'|(?P<bare>[^\s\"',;)}\]]{3,256}))"
)
_ASSIGN_TAILS: dict[bytes, re.Pattern[str]] = {
    kw: re.compile(tail + _ASSIGN_REST, re.IGNORECASE) for kw, tail in _ASSIGN_KEYWORDS.items()
}
_KEYWORD_TEXT = tuple((kw, kw.decode()) for kw in _ASSIGN_TAILS)
_SUB_TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{20,}={0,2}")
_PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(?:\*+|x+|\.+|<[^>]*>|\{[^}]*\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%\(?[a-z_]+\)?s?|"
    r"(?:your|my)[_\-]?\w*|changeme|example|redacted|none|null|true|false|required|value|"
    r"\[[A-Z_]+_\d+\])$"
)


def entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _high_entropy(token: str) -> bool:
    n = len(token)
    if n < 20 or n > 512:
        return False
    core = token.rstrip("=")
    has_digit = any(c.isdigit() for c in core)
    has_upper = any(c.isupper() for c in core)
    has_lower = any(c.islower() for c in core)
    if not has_digit or not (has_upper or has_lower):
        return False
    if core.count("/") > 2 or core.count("-") > 4 or core.count("_") > 4:
        return False  # paths, slugs, identifiers
    if not (has_upper and has_lower):
        return False  # hex digests and uuids are identifiers, not credentials
    return entropy(core) >= min(4.3, 0.82 * math.log2(len(core)))


def find_secrets(p: Prepared, kinds: frozenset[str]) -> list[Hit]:
    text = p.text
    hits: list[Hit] = []
    for rs, re_ in p.long_tokens():
        chunk = text[rs:re_]
        found_shape = False
        if any(pre in chunk for pre in _PREFIXES):
            for kind, rx in _KEY_SHAPES:
                if kind not in kinds:
                    continue
                for m in rx.finditer(text, rs, re_):
                    hits.append(Hit(m.start(), m.end(), f"secrets.{kind}", "SECRET", kind, 90))
                    found_shape = True
        if found_shape or "high_entropy" not in kinds:
            continue
        if any(True for _ in wallets_in(p, rs, re_)):
            continue
        for m in _SUB_TOKEN.finditer(text, rs, re_):
            if _high_entropy(m.group()):
                hits.append(
                    Hit(m.start(), m.end(), "secrets.high_entropy", "SECRET", "high_entropy", 40)
                )
    if "private_key" in kinds and "-----BEGIN" in text:
        for m in _PEM.finditer(text):
            hits.append(Hit(m.start(), m.end(), "secrets.private_key", "SECRET", "private_key", 95))
    if "credential_assignment" in kinds and ("=" in text or ":" in text):
        _assignments(p, hits)
    return hits


_OPERATOR_REACH = 80
"""A keyword is at most this far before its ``=``/``:`` (name segments are bounded)."""
_MAX_OPERATORS = 256


def _assignments(p: Prepared, hits: list[Hit]) -> None:
    """Appends the ``password=...``-style assignments to ``hits``. Operators are rarer than
    the keywords' letters, so a keyword is looked for only in the few characters before each
    ``=``/``:``; only where one is found is anything matched."""
    text = p.text
    # the text between operators, from one C-level split (an ``=`` splits like a ``:``)
    pieces = p.colon_pieces if "=" not in text else text.replace("=", ":").split(":")
    if len(pieces) > _MAX_OPERATORS + 1:  # an odd text (a table, minified code)
        low = p.lower
        keywords = [kw for kw in _ASSIGN_TAILS if low.find(kw) >= 0]
        starts = [i for kw in keywords for i in _all(low, kw)]
    else:
        # a name is what ends right before its operator (a closing quote and up to three
        # spaces between): the last word of the text since the previous operator. Most
        # texts have no keyword in any (lower-cased as text: a superset of the ASCII
        # bytes' keywords, which a non-ASCII space cannot split)
        reach = _OPERATOR_REACH
        hay = "\n".join([w for piece in pieces[:-1] for w in piece.rsplit(None, 1)[-1:]])
        hay = hay.lower()
        if not (  # "apikey" has "key"
            "key" in hay
            or "pass" in hay
            or "secret" in hay
            or "token" in hay
            or "pwd" in hay
            or "credential" in hay
        ):
            return
        keywords = [kw for kw, word in _KEYWORD_TEXT if word in hay]
        low = p.lower
        starts = []
        op = -1
        for piece in pieces[:-1]:
            op += len(piece) + 1
            lo = max(0, op - reach)
            for kw in keywords:
                i = low.find(kw, lo, op)
                while i >= 0:
                    starts.append(i)
                    i = low.find(kw, i + 1, op)
    seen: set[int] = set()
    for i in sorted(set(starts)):
        prev = low[i - 1] if i else 0x20
        if 0x61 <= prev <= 0x7A:  # the keyword must start a word or a name segment
            continue
        kw = next(k for k in _ASSIGN_TAILS if low.startswith(k, i))
        m = _ASSIGN_TAILS[kw].match(text, i + len(kw))
        if m is not None:
            hit = _assignment_hit(m)
            if hit is not None and hit.start not in seen:
                seen.add(hit.start)
                hits.append(hit)


def _all(data: bytes, needle: bytes) -> list[int]:
    out = []
    i = data.find(needle)
    while i >= 0:
        out.append(i)
        i = data.find(needle, i + 1)
    return out


def _assignment_hit(m: re.Match[str]) -> Hit | None:
    group = "dq" if m.group("dq") else "sq" if m.group("sq") else "bare"
    value = m.group(group)
    if _PLACEHOLDER_VALUE.match(value) or value[0] in "<{$%[":
        return None
    if m.group("op") == ":" and group == "bare" and value.isalpha() and value.islower():
        return None  # prose: "the password: is required", "token: expired"
    return Hit(
        m.start(group),
        m.end(group),
        "secrets.credential_assignment",
        "SECRET",
        "credential_assignment",
        85,
    )
