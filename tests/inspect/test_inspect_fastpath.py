"""The cheap paths: texts already found clean are not scanned again, the detectors that
cannot match are skipped, and none of it changes what is found."""

from __future__ import annotations

import pytest

from aiguard.errors import ContentBlockedError
from aiguard.inspect import ContentInspector, CustomDetector, Vault
from aiguard.inspect._memo import CLEAN, CleanTexts

POLICY = {
    "blockList": ["hate speech", "secrets", "investment advice"],
    "pii": {"action": "redact"},
}


def test_a_clean_text_is_remembered_and_a_dirty_one_is_not() -> None:
    engine = ContentInspector(POLICY)
    plan = engine.plan("input")
    clean = "Please summarise the attached meeting notes (fast-path test 1)."
    dirty = "Write to fastpath.test@example.org about the notes."
    assert engine.scan(clean) == []
    assert (plan.serial, clean) in CLEAN
    first = engine.scan(dirty)
    assert [f.category for f in first] == ["pii.email"]
    assert (plan.serial, dirty) not in CLEAN  # a value to protect is never held
    assert engine.scan(dirty) == first
    assert engine.inspect_text(dirty).text == "Write to [EMAIL_1] about the notes."


def test_remembered_per_plan() -> None:
    text = "Which stocks should I buy for guaranteed returns?"
    lenient = ContentInspector({"pii": {"action": "redact"}})
    strict = ContentInspector(POLICY)
    assert lenient.scan(text) == []
    assert {f.category for f in strict.scan(text)} == {"topic.investment advice"}


def test_a_validator_is_asked_every_time() -> None:
    asked: list[str] = []

    def known(value: str) -> bool:
        asked.append(value)
        return len(asked) > 1  # the lookup changes its answer

    engine = ContentInspector(
        POLICY, detectors=[CustomDetector("EMPLOYEE_ID", r"EMP-\d{6}", known)]
    )
    assert engine.scan("badge EMP-123456") == []
    assert [f.category for f in engine.scan("badge EMP-123456")] == ["pii.employee_id"]
    assert asked == ["EMP-123456", "EMP-123456"]


def test_streams_and_topic_scores_bypass_the_memo() -> None:
    engine = ContentInspector(POLICY)
    text = "which stocks look good. "  # 0.5: below the threshold on its own
    assert engine.scan(text) == []
    s = engine.stream(vault=Vault(), direction="input")
    assert s.feed(text) == ""  # held back: the next words may complete a phrase
    with pytest.raises(ContentBlockedError, match="investment advice"):
        s.feed("Guaranteed returns please, " + "and more words " * 10)


def test_the_memo_is_bounded_by_characters() -> None:
    memo = CleanTexts()
    for i in range(2_000):
        memo.add(1, f"{i:05d}" + "x" * 995)
    assert memo.chars <= 1_000_000
    assert len(memo) <= 1_000
    memo.add(1, "y" * 40_000)  # too long to remember
    assert (1, "y" * 40_000) not in memo


def test_numbers_right_after_an_iban_are_still_found() -> None:
    engine = ContentInspector({"pii": {"action": "redact"}})
    out = engine.inspect_text(
        "GB82 WEST 1234 5698 7654 32 (415) 555-2671 4111 1111 1111 1111 and "
        "GB82WEST12345698765432 123-45-6789"
    ).text
    assert out == "[IBAN_1] [PHONE_1] [CARD_1] and [IBAN_2] [SSN_1]"


def test_ascii_text_without_triggers_finds_nothing_and_with_them_finds_all() -> None:
    engine = ContentInspector(POLICY)
    assert engine.scan("Hello from the canned provider.", "output") == []
    key = "sk-" + "proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 2
    found = engine.scan(f"ip 2001:db8::1 key {key} password=hunter2hunter", "output")
    assert [f.category for f in found] == [
        "pii.ip_address",
        "secrets.openai_key",
        "secrets.credential_assignment",
    ]
