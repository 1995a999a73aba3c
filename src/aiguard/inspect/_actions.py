"""What happens to a detected span: placeholders, masks, keyed hashes, and the per-call
:class:`Vault` that remembers originals so echoed placeholders can be restored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["PLACEHOLDER_RE", "Vault", "hash_token", "mask"]

_PROCESS_KEY = secrets.token_bytes(32)
"""Used for ``hash`` when the policy gives no key: stable within a process, so hashes still
correlate across calls, and never written anywhere."""

PLACEHOLDER_RE = re.compile(r"\[([A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)*)_(\d{1,6})\]")


class Vault:
    """Placeholders of one call: ``[EMAIL_1]`` for the first distinct email, the same
    placeholder every time that value recurs. Holds originals in memory only, for as long as
    the call (and its answer) lives; its ``repr`` never shows them."""

    __slots__ = ("_counters", "_originals", "_placeholders", "_restorable")

    def __init__(self) -> None:
        self._placeholders: dict[tuple[str, str], str] = {}
        self._originals: dict[str, str] = {}
        self._restorable: set[str] = set()
        self._counters: dict[str, int] = {}

    def placeholder(self, label: str, value: str, *, restorable: bool = False) -> str:
        key = (label, value)
        ph = self._placeholders.get(key)
        if ph is None:
            n = self._counters.get(label, 0) + 1
            self._counters[label] = n
            ph = f"[{label}_{n}]"
            self._placeholders[key] = ph
            self._originals[ph] = value
        if restorable:
            self._restorable.add(ph)
        return ph

    def restore(self, text: str) -> str:
        """Put originals back for the restorable placeholders found in ``text``."""
        if not self._restorable or "[" not in text:
            return text
        return PLACEHOLDER_RE.sub(self._sub, text)

    def _sub(self, m: re.Match[str]) -> str:
        ph = m.group(0)
        return self._originals[ph] if ph in self._restorable else ph

    @property
    def restorable(self) -> bool:
        return bool(self._restorable)

    def __len__(self) -> int:
        return len(self._originals)

    def __repr__(self) -> str:
        return f"<Vault {len(self._originals)} placeholder(s)>"


def mask(value: str, label: str, *, keep_tail: bool = True) -> str:
    """``****1234``: enough to recognise one's own card or phone, not to use it. Phrases,
    topics and secrets (``keep_tail=False``) are masked whole."""
    if not keep_tail:
        return "****"
    if label == "EMAIL" and "@" in value:
        return "****@" + value.rsplit("@", 1)[1]
    alnum = [c for c in value if c.isalnum()]
    if len(alnum) >= 8:
        return "****" + "".join(alnum[-4:])
    return "****"


def hash_token(value: str, label: str, key: bytes | None) -> str:
    """A keyed HMAC: equal values give equal tokens (correlate) without revealing them."""
    digest = hmac.new(key or _PROCESS_KEY, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"[{label}:{digest[:16]}]"
