"""What each action does to the text, and what a block tells the caller (never the text)."""

from __future__ import annotations

import pytest

from aiguard.errors import ContentBlockedError, PolicyViolation
from aiguard.inspect import ContentInspector, Vault
from aiguard.inspect._actions import hash_token

TEXT = "Mail bob@example.com, then bob@example.com again, then amy@example.org."


def engine(action: str, **pii: object) -> ContentInspector:
    return ContentInspector({"pii": {"action": action, **pii}, "hashKey": "k1"})


def test_redact_numbers_placeholders_per_distinct_value() -> None:
    out = engine("redact").inspect_text(TEXT)
    assert out.text == "Mail [EMAIL_1], then [EMAIL_1] again, then [EMAIL_2]."
    assert [f.replacement for f in out.findings] == ["[EMAIL_1]", "[EMAIL_1]", "[EMAIL_2]"]


def test_one_vault_numbers_across_texts_of_a_call() -> None:
    e, vault = engine("redact"), Vault()
    assert e.inspect_text("amy@example.org", vault=vault).text == "[EMAIL_1]"
    assert e.inspect_text("bob@example.com amy@example.org", vault=vault).text == (
        "[EMAIL_2] [EMAIL_1]"
    )
    assert "example" not in repr(vault)


def test_mask_keeps_only_the_last_four() -> None:
    out = engine("mask").inspect_text("card 4111 1111 1111 1111, mail bob@example.com")
    assert out.text == "card ****1111, mail ****@example.com"


def test_hash_is_keyed_and_stable() -> None:
    out = engine("hash").inspect_text("bob@example.com and bob@example.com")
    a, b = out.text.split(" and ")
    assert a == b == hash_token("bob@example.com", "EMAIL", b"k1")
    assert a != hash_token("bob@example.com", "EMAIL", b"k2")
    assert "bob" not in a


def test_flag_records_without_changing_the_text() -> None:
    out = engine("flag").inspect_text(TEXT)
    assert out.text == TEXT
    assert [f.action for f in out.findings] == ["flag"] * 3
    assert all(f.replacement is None for f in out.findings)


def test_block_says_where_and_what_but_not_the_text() -> None:
    with pytest.raises(ContentBlockedError) as e:
        engine("block").inspect_text(TEXT, message_index=2, location="messages[2].content")
    err = e.value
    assert isinstance(err, PolicyViolation)
    assert (err.category, err.direction, err.message_index) == ("pii.email", "input", 2)
    assert TEXT[err.start : err.end] == "bob@example.com"  # type: ignore[misc]
    assert "bob" not in str(err) and "example" not in repr(err.details)


def test_findings_never_carry_the_matched_text() -> None:
    for action in ("redact", "mask", "hash", "flag"):
        for f in engine(action).inspect_text(TEXT).findings:
            assert "bob" not in repr(f)


def test_restore_only_restores_what_this_call_redacted_on_input() -> None:
    e, vault = engine("redact", restore=True), Vault()
    sent = e.inspect_text("write to bob@example.com", vault=vault).text
    assert sent == "write to [EMAIL_1]"
    assert vault.restore("Done, I wrote to [EMAIL_1]; [EMAIL_9] is unknown.") == (
        "Done, I wrote to bob@example.com; [EMAIL_9] is unknown."
    )
    # an email the model itself produced is redacted on output and stays redacted
    out = e.inspect_text("also cc amy@example.org", "output", vault=vault)
    assert vault.restore(out.text) == "also cc [EMAIL_2]"


def test_custom_detector_with_validator() -> None:
    from aiguard.inspect import CustomDetector

    def even(value: str) -> bool:
        return int(value[-1]) % 2 == 0

    e = ContentInspector(
        {"pii": {"entities": ["email"], "action": "redact"}},
        detectors=[CustomDetector("EMPLOYEE_ID", r"\bEMP-\d{6}\b", validator=even)],
    )
    assert e.inspect_text("EMP-123456 and EMP-123457").text == "[EMPLOYEE_ID_1] and EMP-123457"


def test_custom_detector_from_the_spec() -> None:
    e = ContentInspector(
        {"pii": {"custom": [{"name": "ticket", "regex": r"\bTCK-\d+\b", "action": "mask"}]}}
    )
    assert e.inspect_text("see TCK-99887766").text == "see ****7766"


def test_disabled_spec_does_nothing() -> None:
    e = ContentInspector({"enabled": False, "blockList": ["PII"]})
    assert e.inspect_text(TEXT).text == TEXT


def test_hash_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiguard.errors import ConfigError

    spec = {"pii": {"action": "hash"}, "hashKeyEnv": "AIGUARD_TEST_HASH_KEY"}
    monkeypatch.delenv("AIGUARD_TEST_HASH_KEY", raising=False)
    with pytest.raises(ConfigError, match="AIGUARD_TEST_HASH_KEY"):
        ContentInspector(spec)
    monkeypatch.setenv("AIGUARD_TEST_HASH_KEY", "k1")
    out = ContentInspector(spec).inspect_text("bob@example.com").text
    assert out == hash_token("bob@example.com", "EMAIL", b"k1")
