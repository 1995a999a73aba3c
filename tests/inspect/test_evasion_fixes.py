"""Disguised PII and secrets are found on a folded view, and acted on in the original text.

Zero-width characters, full-width (NFKC) forms, Cyrillic/Greek look-alikes, combining marks
and whitespace spread between the groups of a number used to hide a value from the PII and
secret detectors (only block-list phrases read the folded text). Findings still point at, and
redaction still replaces, the characters the caller wrote: the whole disguised span.
Credential-shaped values are assembled from pieces at run time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from aiguard.errors import ContentBlockedError
from aiguard.inspect import ContentInspector
from aiguard.inspect._normalize import Normalized, detector_view, normalize
from aiguard.inspect._pii import _numbers
from aiguard.inspect._scan import Prepared
from aiguard.inspect.engine import _without_overlaps
from aiguard.inspect.findings import Hit

ZW = "\u200b"
ACUTE = "\u0301"
FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}

EMAIL = "jane.doe" + "@" + "example.org"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415 555 2671"
IBAN = "GB82 WEST " + "1234 5698 7654 32"
_BODY = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
OPENAI_KEY = "sk-" + "proj-" + _BODY + _BODY
AWS_KEY_ID = "AK" + "IA" + "QWERTYUIOPASDFGH"

REDACT = ContentInspector(
    {"pii": {"action": "redact"}, "secrets": {"action": "redact"}, "defaultAction": "redact"}
)
BLOCK_PHRASE = ContentInspector({"blockList": ["hate speech"], "defaultAction": "block"})


def zero_width(t: str) -> str:
    return ZW.join(t)


def fullwidth(t: str) -> str:
    return "".join(FULLWIDTH.get(c, c) for c in t)


def combining(t: str) -> str:
    return "".join(c + ACUTE if c.isalpha() else c for c in t)


def homoglyphs(t: str) -> str:
    table: dict[str, str | int | None] = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с"}
    return t.translate(str.maketrans(table))


def wide(t: str) -> str:
    return t.replace(" ", " \n\t  ")


def double_spaced(t: str) -> str:
    """Two spaces between groups: still inside one run of digits, unlike ``wide``."""
    return t.replace(" ", "  ")


def triple_spaced(t: str) -> str:
    return t.replace(" ", "   ")


CASES = [
    (EMAIL, zero_width, "pii.email"),
    (EMAIL, fullwidth, "pii.email"),
    (EMAIL, homoglyphs, "pii.email"),
    (EMAIL, combining, "pii.email"),
    (CARD, zero_width, "pii.payment_card"),
    (CARD, fullwidth, "pii.payment_card"),
    (CARD, wide, "pii.payment_card"),
    (CARD, double_spaced, "pii.payment_card"),
    (CARD, triple_spaced, "pii.payment_card"),
    (PHONE, double_spaced, "pii.phone"),
    ("123 45 6789", double_spaced, "pii.us_ssn"),
    (PHONE, fullwidth, "pii.phone"),
    (PHONE, wide, "pii.phone"),
    (IBAN, zero_width, "pii.iban"),
    (IBAN, combining, "pii.iban"),
    (IBAN, wide, "pii.iban"),
    (OPENAI_KEY, zero_width, "secrets.openai_key"),
    (OPENAI_KEY, homoglyphs, "secrets.openai_key"),
    (OPENAI_KEY, fullwidth, "secrets.openai_key"),
    (AWS_KEY_ID, combining, "secrets.aws_access_key_id"),
]


@pytest.mark.parametrize(("value", "disguise", "category"), CASES)
def test_disguised_value_is_redacted_whole(
    value: str, disguise: Callable[[str], str], category: str
) -> None:
    hidden = disguise(value)
    text = f"please send {hidden} today"
    result = REDACT.inspect_text(text)
    found = [f for f in result.findings if f.category == category]
    assert len(found) == 1, result.findings
    f = found[0]
    # the finding covers the disguised characters exactly, in the original text
    assert text[f.start : f.end] == hidden
    assert result.text == f"please send {f.replacement} today"


def test_redaction_in_a_request_keeps_nothing_of_the_value() -> None:
    from aiguard._types import ChatRequest, Message

    hidden = zero_width(CARD)
    req = ChatRequest(messages=(Message(role="user", content=f"card: {hidden}."),))
    out = REDACT.inspect_request(req).request.messages[0].content
    assert out == "card: [CARD_1]."


def test_disguised_value_in_a_stream_is_redacted_whole() -> None:
    hidden = zero_width(OPENAI_KEY)
    text = f"here it is: {hidden} done"
    stream = REDACT.stream()
    out = "".join(stream.feed(text[i : i + 3]) for i in range(0, len(text), 3))
    out += stream.finish()
    assert out == "here it is: [SECRET_1] done"


def test_decomposed_accent_matches_a_phrase() -> None:
    """'a' + U+0301 folds as the precomposed 'á' does."""
    for text in ("ha\u0301te speech", "h\u00e1te speech", "HA\u0301TE SPEECH", "hate\u0301 speech"):
        with pytest.raises(ContentBlockedError) as info:
            BLOCK_PHRASE.inspect_text(f"no {text} here")
        assert info.value.start == 3
    assert normalize("ha\u0301te").text == "hate"
    # the mark is part of the match: the reported span covers it
    with pytest.raises(ContentBlockedError) as info:
        BLOCK_PHRASE.inspect_text("ha\u0301te speech")
    assert (info.value.start, info.value.end) == (0, 12)


@pytest.mark.parametrize(
    "text",
    [
        "We’re migrating the billing service — the old one is end-of-life…",
        "Привет, как дела? Встреча в 10:30, комната 204.",
        "東京の会議は１０時からです。",
        "def f(x):\n    return x + 1\n\n\nprint(f(41))  # 42\n",
        "| id | qty |\n|----|-----|\n| 12  | 34  |\n| 56  | 78  |",
        "Totals:  2021  2022  2023\nQ1      120   130   140",
        "order 1234\n\n5678 shipped",
    ],
)
def test_ordinary_text_has_no_findings(text: str) -> None:
    assert REDACT.scan(text) == []


def _view(text: str) -> Normalized | None:
    p = Prepared(text)
    return detector_view(text, p.ascii, p.number_runs(4))


def test_clean_text_builds_no_view() -> None:
    """The fast path: nothing to fold, nothing built."""
    for text in (
        "plain ascii, 4111 and 2023-10-01\n  indented",
        "curly ’quotes’ and — dashes “here”",
        "a\n\n12 apples",
        "Totals:  2021\n  x  1234  y",  # wide gaps, but none between a number's groups
    ):
        assert _view(text) is None


def test_double_spaced_number_is_one_view() -> None:
    """Two or three spaces keep the groups in one run of digits; they still fold to one."""
    view = _view("card 4111  1111   1111  1111 ok")
    assert view is not None
    assert view.text == "card 4111 1111 1111 1111 ok"


def test_view_maps_back_to_the_original() -> None:
    text = "x " + zero_width("4111") + " ＠ y"
    view = _view(text)
    assert view is not None
    assert view.text == "x 4111 @ y"
    s = view.text.index("4111")
    assert view.to_original(s, s + 4) == (2, 9)


def test_spread_out_number_is_one_view() -> None:
    text = "card 4111 \n\t  1111 \n\t  1111 \n\t  1111 ok"
    view = _view(text)
    assert view is not None
    assert view.text == "card 4111 1111 1111 1111 ok"


# --------------------------------------------------------------------------- algorithmic cost


def _reference(hits: list[tuple[Hit, None]]) -> list[tuple[Hit, None]]:
    """The former quadratic greedy, kept as the specification."""
    ranked = sorted(hits, key=lambda hr: (-hr[0].priority, hr[0].start - hr[0].end, hr[0].start))
    kept: list[tuple[Hit, None]] = []
    for h, r in ranked:
        if all(h.end <= k.start or h.start >= k.end for k, _ in kept):
            kept.append((h, r))
    kept.sort(key=lambda hr: hr[0].start)
    return kept


@pytest.mark.parametrize("seed", range(40))
def test_overlap_resolution_matches_the_greedy_rule(seed: int) -> None:
    rng = random.Random(seed)
    hits = []
    for _ in range(rng.randint(1, 60)):
        start = rng.randint(0, 200)
        hits.append(
            (Hit(start, start + rng.randint(1, 30), "c", "L", "d", rng.choice((30, 50, 70))), None)
        )
    kept: list[Any] = _without_overlaps(hits)  # type: ignore[arg-type]
    assert kept == _reference(hits)


def test_many_findings_are_resolved() -> None:
    """10,000 addresses in one prompt: each is found and redacted (linear work)."""
    text = " ".join(f"user{i}@example.org" for i in range(10_000))
    result = REDACT.inspect_text(text)
    assert len(result.findings) == 10_000
    assert "@" not in result.text


def test_one_long_number_run_is_scanned() -> None:
    """A 200 KB run of digit groups: every group visited once (linear work)."""
    text = "4111 " * 40_000
    p = Prepared(text)
    list(_numbers(p))  # completes; the counts are the structure the scan relies on
    assert p.digit_shape.count(b"0") == 160_000


def test_numbers_inside_an_iban_are_not_a_card() -> None:
    text = " ".join([IBAN] * 50)
    found = {f.category for f in REDACT.scan(text)}
    assert found == {"pii.iban"}


def test_cards_side_by_side_are_each_found() -> None:
    """A greedy match that runs into the next number is retried up to the separator."""
    assert REDACT.inspect_text(f"{CARD} {CARD}").text == "[CARD_1] [CARD_1]"
    assert REDACT.inspect_text(zero_width(f"{CARD} {CARD}")).findings[1].category == (
        "pii.payment_card"
    )
    assert REDACT.scan(CARD.replace(" ", "-") + "-4111") == []  # an identifier, not a card


def test_allow_list_exemptions_scale_and_keep_their_meaning() -> None:
    inspector = ContentInspector(
        {
            "pii": {"action": "redact"},
            "allowList": [
                {"regex": r"support@example\.org", "category": "pii.email"},
                {"regex": r"ticket \d+ \S+", "category": "pii"},
                {"regex": r"demo: \S+", "category": "secrets"},
            ],
        }
    )
    text = " ".join(
        f"support@example.org user{i}@example.org ticket {i} a{i}@example.org demo: b{i}@x.org"
        for i in range(2_000)
    )
    result = inspector.inspect_text(text)
    redacted = [f for f in result.findings if f.replacement]
    # the support address and the one after each ticket number are exempt; the rest are not
    assert len(redacted) == 4_000
    assert result.text.count("support@example.org") == 2_000
    assert result.text.count("@example.org") == 4_000
