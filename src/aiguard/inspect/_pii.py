"""Deterministic PII detectors: each finds candidates through :class:`Prepared`'s cheap views
and keeps only those that pass a structural check (Luhn, mod-97, SSA ranges, checksums).

Context words decide the ambiguous shapes only: nine bare digits are an SSN after "SSN" and an
order number otherwise; ten bare digits are a phone number unless an order/invoice/id word
or a ``#`` precedes them.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence

from ._checksums import (
    base58check_ok,
    bech32_ok,
    card_issuer_ok,
    eip55_ok,
    iban_ok,
    luhn_ok,
    ssn_ok,
)
from ._scan import Prepared
from .findings import Hit

__all__ = ["LABELS", "PII_FINDERS", "find_pii"]

LABELS: dict[str, str] = {
    "email": "EMAIL",
    "phone": "PHONE",
    "payment_card": "CARD",
    "iban": "IBAN",
    "us_ssn": "SSN",
    "ip_address": "IP",
    "crypto_wallet": "WALLET",
}

_WORDISH = re.compile(r"[A-Za-z0-9_]")


def _attached_before(text: str, pos: int) -> bool:
    """True when ``pos`` continues a word or code (``A-123``, ``v1.2``, ``x_9``)."""
    if pos == 0:
        return False
    prev = text[pos - 1]
    if prev.isalnum() or prev == "_":
        return True
    return prev in "-./:#" and pos >= 2 and (text[pos - 2].isalnum() or text[pos - 2] == "_")


def _attached_after(text: str, end: int) -> bool:
    if end >= len(text):
        return False
    nxt = text[end]
    if nxt.isalnum() or nxt == "_":
        return True
    return nxt in "-./:" and end + 1 < len(text) and text[end + 1].isalnum()


# --------------------------------------------------------------------------- email

_EMAIL_LOCAL_TAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}\Z")
_EMAIL_DOMAIN = re.compile(
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})(?![A-Za-z0-9\-])"
)


def _emails(p: Prepared) -> Iterable[Hit]:
    text = p.text
    for at in p.positions(b"@"):
        m = _EMAIL_DOMAIN.match(text, at)
        if m is None:
            continue
        lm = _EMAIL_LOCAL_TAIL.search(text, max(0, at - 64), at)
        if lm is None:
            continue
        start = lm.start()
        while start < at and text[start] in "._%+-":
            start += 1
        if start == at or text[at - 1] == ".":
            continue
        yield Hit(start, m.end(), "pii.email", "EMAIL", "email", 60)


# --------------------------------------------------------------------------- numbers

_SEP = r"[ .\-]"
_EXT = r"(?P<ext>\s?(?:x|ext\.?|extension)\s?\d{1,6})?"
_INTL_PHONE = re.compile(
    r"(?:\+|00)[1-9]\d{0,2}"
    r"(?:[ .\-]?\(0\)[ .\-]?|[ .\-]?\(\d{1,4}\)[ .\-]?|[ .\-])?"
    r"\d{1,5}(?:[ .\-]?\d{1,5}){0,5}" + _EXT
)
_NANP_PHONE = re.compile(
    r"(?:1[ .\-])?(?:\(([2-9]\d{2})\)[ .\-]?|([2-9]\d{2})([ .\-]))[2-9]\d{2}[ .\-]\d{4}" + _EXT
)
_BARE_PHONE = re.compile(r"(?:1?[2-9]\d{2}[2-9]\d{6}|0[1-9]\d{8,9})" + _EXT)
_TRUNK_PHONE = re.compile(
    r"(?:\(0\d{1,4}\)|0\d{1,4})(?:[ .\-]?\d{2,8})(?:[ .\-]\d{2,4}){0,4}" + _EXT
)
_CARD = re.compile(
    r"\d{12,19}|\d{4}([ \-])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ \-])\d{6}\2\d{4,5}"
    r"|\d{4}([ \-])\d{4}\3\d{4}\3\d{1,4}"
)
_SSN = re.compile(r"(\d{3})([ \-])(\d{2})\2(\d{4})|(\d{3})(\d{2})(\d{4})")
_IPV4 = re.compile(
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
)
_PHONE_CONTEXT = re.compile(
    r"phone|tel\b|call|mobile|cell|fax|text me|whatsapp|sms|contact|reach|dial|number|:\s*$", re.I
)
_NOT_PHONE_CONTEXT = re.compile(  # an identifier's label right before the digits
    r"(order|invoice|ticket|account|acct|tracking|ref|reference|id|sku|part|serial|"
    r"isbn|po|case|no\.?|#)\W{0,3}(number|no\.?|#)?\W{0,3}$",
    re.I,
)
_SSN_CONTEXT = re.compile(r"ssn|social security|social sec|ss#|ss no", re.I)
_VERSION_CONTEXT = re.compile(r"(version|ver\.?|release|build|v)\s?$", re.I)


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


_GROUP = re.compile(r"[+(]?\d+")
# A superset of where any number format below can start (each alternative is a prefix of a
# format): one regex call rejects most digit groups before the detailed formats are tried.
_GATE = re.compile(
    r"\d{9}|\d{4}[ \-]\d{4}|\d{3}[ \-]\d{2}[ \-]\d|\d{1,3}\.\d|\d{3}[ .\-]\d{3}[ .\-]\d{4}"
    r"|\+|00|0|1[ .\-]|\(\d{3}\)|\(0"
)
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


def _numbers(p: Prepared, skip: Sequence[tuple[int, int]] = ()) -> Iterable[Hit]:
    text = p.text
    shape = p.digit_shape
    taken = sorted(skip)
    taken_starts = [s for s, _e in taken]
    for run_start, run_end in p.number_runs(4):
        run = text[run_start:run_end]
        if (run.isdigit() and len(run) < 9 and text[run_start - 1 : run_start] != "+") or (
            _DATE.fullmatch(run)
        ):
            continue  # order numbers, counts and dates: no PII format is this short or shaped
        after = 0
        if taken:
            k = bisect.bisect_right(taken_starts, run_start) - 1
            if k >= 0 and run_start < taken[k][1]:
                # the digits of an IBAN or a wallet already found; the run may go on after
                # it ("GB82 WEST 1234 5698 7654 32 (415) 555-2671")
                after = taken[k][1]
                if after >= run_end:
                    continue
        has_dot = "." in run
        remaining = shape.count(b"0", run_start, run_end)  # digits from the group on: counted
        if not has_dot and remaining < 7:  # once per run, then decreased group by group
            continue  # too few digits for anything but an IPv4 address
        # a number run may be preceded by "+" or "(" that belongs to it
        s = run_start
        while s > 0 and text[s - 1] in "+(" and run_start - s < 2:
            s -= 1
        limit = min(len(text), run_end + 24)  # room for an extension
        resume = max(s, after)
        for g in _GROUP.finditer(text, s, run_end):
            pos = g.start()
            group_digits = g.end() - pos - (not text[pos].isdigit())
            if pos < resume or _GATE.match(text, pos) is None or _attached_before(text, pos):
                remaining -= group_digits
                continue
            if remaining < 4 or (remaining < 7 and not has_dot):
                break
            hit = _number_at(text, pos, limit, remaining, has_dot)
            remaining -= group_digits
            if hit is not None:
                yield hit
                resume = hit.end


def _number_at(text: str, pos: int, limit: int, digits: int, has_dot: bool) -> Hit | None:
    before = text[max(0, pos - 32) : pos]
    if text[pos].isdigit():
        m = _CARD.match(text, pos, limit) if digits >= 12 else None
        for _ in range(3):  # "4111 1111 1111 1111 4111 ...": the greedy match took a group
            if m is None or not _attached_after(text, m.end()):
                break  # of the next number: retry up to the separator before it
            cut = max(m.group().rfind(" "), m.group().rfind("-"))
            m = _CARD.match(text, pos, pos + cut) if cut >= 12 else None
        if m and not _attached_after(text, m.end()):
            number = _digits(m.group())
            if luhn_ok(number) and card_issuer_ok(number):
                return Hit(pos, m.end(), "pii.payment_card", "CARD", "payment_card", 70)
        m = _SSN.match(text, pos, limit) if digits >= 9 else None
        if m and not _attached_after(text, m.end()):
            if m.group(1):
                if ssn_ok(m.group(1), m.group(3), m.group(4)):
                    return Hit(pos, m.end(), "pii.us_ssn", "SSN", "us_ssn", 65)
            elif (
                _SSN_CONTEXT.search(before)
                and not _NOT_PHONE_CONTEXT.search(before)
                and ssn_ok(m.group(5), m.group(6), m.group(7))
            ):
                return Hit(pos, m.end(), "pii.us_ssn", "SSN", "us_ssn", 65)
        m = _IPV4.match(text, pos, limit) if has_dot else None
        if m and not _attached_after(text, m.end()) and not _VERSION_CONTEXT.search(before[-12:]):
            return Hit(pos, m.end(), "pii.ip_address", "IP", "ip_address", 55)
    if digits < 7:
        return None
    return _phone_at(text, pos, limit, before)


def _phone_at(text: str, pos: int, limit: int, before: str) -> Hit | None:
    head = text[pos : pos + 2]
    for rx in (_INTL_PHONE, _NANP_PHONE, _TRUNK_PHONE, _BARE_PHONE):
        # cheap first-character tests spare most regex calls on dates and order numbers
        if rx is _INTL_PHONE and not (head[:1] == "+" or head == "00"):
            continue
        if rx is _TRUNK_PHONE and not (head[:1] == "0" or head == "(0"):
            continue
        m = rx.match(text, pos, limit)
        if m is None:
            continue
        end = m.end()
        while end > pos and not text[end - 1].isalnum():
            end -= 1
        if _attached_after(text, end):
            continue
        ext = m.group("ext")
        n = len(_digits(text[pos:end])) - (len(_digits(ext)) if ext else 0)
        if rx is _INTL_PHONE:
            ok = 8 <= n <= 17
        elif rx is _NANP_PHONE:
            ok = True
        elif rx is _TRUNK_PHONE:
            raw = text[pos:end]
            ok = 9 <= n <= 13 and (
                any(c in raw for c in " .-()") or bool(_PHONE_CONTEXT.search(before))
            )
        else:
            ok = not _NOT_PHONE_CONTEXT.search(before) or bool(_PHONE_CONTEXT.search(before[-12:]))
        if ok:
            return Hit(pos, end, "pii.phone", "PHONE", "phone", 50)
    return None


# --------------------------------------------------------------------------- IBAN

_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?")


def _ibans(p: Prepared) -> Iterable[Hit]:
    text = p.text
    for pos in p.code_starts():
        m = _IBAN.match(text, pos)
        if m is None:
            continue
        # try the longest candidate first, then shorter ones (a trailing word may follow)
        raw = m.group()
        while raw:
            compact = raw.replace(" ", "")
            if iban_ok(compact) and not _attached_after(text, pos + len(raw)):
                yield Hit(pos, pos + len(raw), "pii.iban", "IBAN", "iban", 80)
                break
            cut = raw.rfind(" ")
            raw = raw[:cut] if cut > 4 else ""


# --------------------------------------------------------------------------- IPv6

_IPV6_CAND = re.compile(r"[0-9A-Fa-f:]*::?[0-9A-Fa-f:.]*")
_IPV6_TRIGGER = re.compile(rb":(?::|[0-9A-Fa-f]{1,4}:)")


def _ipv6(p: Prepared) -> Iterable[Hit]:
    text = p.text
    last_end = -1
    for m in _IPV6_TRIGGER.finditer(p.ascii):
        if m.start() < last_end:
            continue
        s = m.start()
        while s > 0 and (text[s - 1] in "0123456789abcdefABCDEF:"):
            s -= 1
        e = m.end()
        while e < len(text) and text[e] in "0123456789abcdefABCDEF:.":
            e += 1
        while e > s and text[e - 1] in ".:" and not text[s:e].endswith("::"):
            e -= 1
        last_end = e
        cand = text[s:e]
        if (_attached_before(text, s) and text[s - 1] != ":") or _attached_after(text, e):
            continue
        if sum(1 for g in cand.split(":") if g) < 2:
            continue
        try:
            ipaddress.IPv6Address(cand)
        except ValueError:
            continue
        yield Hit(s, e, "pii.ip_address", "IP", "ip_address", 55)


# --------------------------------------------------------------------------- wallets

_BTC_LEGACY = re.compile(r"[13][1-9A-HJ-NP-Za-km-z]{25,34}")
_BTC_BECH32 = re.compile(r"(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{11,71}")
_ETH = re.compile(r"0x[0-9a-fA-F]{40}")


def wallets_in(p: Prepared, start: int, end: int) -> Iterable[Hit]:
    """Wallet addresses inside one long token run (the secrets scan shares these runs)."""
    text = p.text
    for rx, check in ((_ETH, eip55_ok), (_BTC_BECH32, bech32_ok), (_BTC_LEGACY, base58check_ok)):
        for m in rx.finditer(text, start, end):
            s, e = m.span()
            if _attached_before(text, s) or _attached_after(text, e):
                continue
            if check(m.group()):
                yield Hit(s, e, "pii.crypto_wallet", "WALLET", "crypto_wallet", 75)


def _wallets(p: Prepared) -> Iterable[Hit]:
    for s, e in p.long_tokens():
        yield from wallets_in(p, s, e)


PII_FINDERS: dict[str, Callable[[Prepared], Iterable[Hit]]] = {
    "email": _emails,
    "iban": _ibans,
    "ip_address": _ipv6,
    "crypto_wallet": _wallets,
}
"""Entity -> finder for the entities with their own trigger. Number-shaped entities share
one pass (:func:`_numbers`), filtered afterwards."""

_NUMBER_ENTITIES = frozenset({"phone", "payment_card", "us_ssn", "ip_address"})
_NUMBER_HINT = re.compile(rb"0,{1,3}0")  # two literals first: a fast scan, few attempts
_SEVEN_DIGITS = b"0" * 7
"""What every number :func:`_numbers` can report has in the digit shape: a separator between
two digits (dotted addresses, grouped cards and phones) or seven digits in a row. Runs of up
to six bare digits (order numbers, years, counts) are skipped there; these two searches prove
a text has nothing else before its runs are listed (which costs a regex match per digit).
Two, as one regex for both tries a match at every digit."""


def _colon_pair(text: str) -> bool:
    """Whether two colons are at most five characters apart: every IPv6 trigger (``::`` or
    ``:`` + one to four hex digits + ``:``) has such a pair. Prose has colons, rarely pairs."""
    return _close_colons(text.split(":"))


def _close_colons(pieces: list[str]) -> bool:
    """:func:`_colon_pair` from the text split at its colons: a piece of at most four
    characters between two of them."""
    return len(pieces) > 2 and min(map(len, pieces[1:-1])) <= 4


def find_pii(p: Prepared, entities: frozenset[str]) -> list[Hit]:
    # each finder runs only when the character its shapes need is there: an "@" for an
    # address, a digit for an IBAN ("AA00"), a wallet ("0x", "1", "3", "bc1") or a number,
    # two colons for an IPv6 address; the gates are inline, as a finder's generator costs
    # more than most of them
    # (ASCII needles are looked for in the str: the same answer as in the ASCII bytes, and
    # ``bytes.__contains__`` first tries the needle as an integer, at the cost of an error)
    hits: list[Hit] = []
    text = p.text
    shape = p.digit_shape
    digits = shape.find(b"0") >= 0
    if "email" in entities and "@" in text:
        hits.extend(_emails(p))
    if digits and "iban" in entities and shape.find(b"AA00") >= 0:
        hits.extend(_ibans(p))
    if "ip_address" in entities and ":" in text and _close_colons(p.colon_pieces):
        hits.extend(_ipv6(p))
    if digits and "crypto_wallet" in entities and p.long_tokens():
        hits.extend(_wallets(p))
    if (
        digits
        and not entities.isdisjoint(_NUMBER_ENTITIES)
        and (_NUMBER_HINT.search(shape) is not None or shape.find(_SEVEN_DIGITS) >= 0)
        and p.number_runs(4)
    ):
        taken = [(h.start, h.end) for h in hits if h.detector in ("iban", "crypto_wallet")]
        hits.extend(h for h in _numbers(p, taken) if h.detector in entities)
    return hits
