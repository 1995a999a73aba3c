"""Evasion: what inspection catches when someone tries to sneak content past it.

Every case of ``evasion_corpus.CASES`` (target x technique x channel) is a test. A case the
policy catches must stay caught; each case it misses is a strict xfail carrying the reason,
so a fix shows up as an XPASS to be promoted. ``docs/hardening.md`` lists the misses (all of
them limitations by design since the gaps this suite found were closed) and
``bench/bench_hardening.py`` prints the detection rate per technique.
"""

from __future__ import annotations

import pytest

from aiguard.errors import ContentBlockedError

from .evasion_corpus import CASES, INSPECTOR, TARGETS, Case, attempt

PHRASES = {"hate_phrase", "advice_phrase"}

BY_DESIGN = "LIMITATION: "

# Caught since 5f1637c (detectors read a folded view of the text), missed before: zero-width
# characters, full-width forms, Cyrillic look-alikes and combining marks inside PII and keys,
# decomposed accents in phrases, and newlines/tabs between the groups of a number. Those
# cases are ordinary tests now, so a regression fails.


def miss_reason(case: Case) -> str | None:
    """Why a case is expected to get through, or ``None`` when it must be caught."""
    t, tech, ch = case.target, case.technique, case.channel
    if ch == "split messages":
        if t in {"openai_key", "github_token"}:
            return None  # either half still has the key's prefix or its entropy
        return (
            BY_DESIGN + "each message is inspected on its own; a value cut in two messages is "
            "never whole in one text (the model reads them joined)"
        )
    if tech == "letter spacing":
        return (
            BY_DESIGN + "one space between every character; folding it away would merge "
            "ordinary words (a phrase 'a b' is not 'ab')"
        )
    if tech == "leetspeak" and t in PHRASES | {"email"}:
        return BY_DESIGN + "digits for letters ('h4t3 5p33ch') are not folded"
    if tech == "spelled-out digits":
        return BY_DESIGN + "numbers written as words ('four one one one') are not read"
    if tech == "[at]/[dot]" and t == "email":
        return BY_DESIGN + "'jane [at] example [dot] org' is not an address shape"
    if tech == "base64" and t in {"card", "ssn", "aws_key_id", "hate_phrase"}:
        return (
            BY_DESIGN + "encoded content is not decoded; short base64 values are below the "
            "high-entropy token threshold (longer ones are caught as tokens)"
        )
    if tech == "upper case" and t in {"openai_key", "github_token"}:
        return BY_DESIGN + "credentials are case-sensitive: an upper-cased key is not the key"
    return None


def _param(case: Case) -> object:
    reason = miss_reason(case)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_evasion(case: Case) -> None:
    assert attempt(case), f"{case.id}: got through"


def test_corpus_covers_every_technique_and_channel() -> None:
    from .evasion_corpus import CHANNELS, TECHNIQUES

    assert {c.technique for c in CASES} == set(TECHNIQUES)
    assert {c.channel for c in CASES} == set(CHANNELS)
    assert {c.target for c in CASES} == set(TARGETS)


@pytest.mark.parametrize("target", sorted(set(TARGETS) - PHRASES))
def test_caught_value_never_reaches_the_error(target: str) -> None:
    """A block names the category and position, never the matched text (a phrase's own
    category, ``topic.hate speech``, is its name)."""
    text = f"note: {TARGETS[target]} end"
    with pytest.raises(ContentBlockedError) as info:
        INSPECTOR.inspect_text(text)
    assert TARGETS[target] not in str(info.value)
    assert TARGETS[target] not in repr(info.value.__dict__)
