"""The contentModeration model: the seed loads, mistakes are refused at load time with a
message that says what to fix, and user regexes that could hang are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aiguard.errors import ConfigError, PolicyError
from aiguard.inspect import ContentInspector, ModerationSpec, check_pattern
from aiguard.inspect._regex import compile_user_pattern

SEED = {"enabled": True, "blockList": ["hate speech", "PII", "investment advice"]}


def test_seed_section_loads_and_dumps_back_as_written() -> None:
    spec = ModerationSpec.model_validate(SEED)
    assert [e.term for e in spec.block_list] == ["hate speech", "PII", "investment advice"]
    assert spec.model_dump(by_alias=True, exclude_unset=True) == SEED
    assert spec.model_dump(by_alias=True, mode="json")["blockList"] == SEED["blockList"]
    assert ModerationSpec.model_validate(spec.model_dump(by_alias=True)) == spec
    mixed = {"blockList": ["PII", {"phrase": "project titan", "action": "flag"}]}
    again = ModerationSpec.model_validate(mixed).model_dump(by_alias=True, exclude_defaults=True)
    assert again == mixed


def test_camel_case_and_snake_case_both_accepted() -> None:
    a = ModerationSpec.model_validate({"defaultAction": "flag", "allowList": ["ok"]})
    b = ModerationSpec(default_action="flag", allow_list=["ok"])  # type: ignore[list-item]
    assert a == b


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"blockList": [{"regex": "(a+)+$"}]}, "catastrophically"),
        ({"blockList": [{"phrase": "x", "regex": "y"}]}, "exactly one"),
        ({"blockList": [{"category": "hatred"}]}, "is not a category"),
        ({"blockList": ["pii.emial"]}, "did you mean 'email'"),
        ({"pii": {"entities": ["EMAIL_ADRESS"]}}, "unknown PII entity"),
        ({"secrets": {"kinds": ["aws_key"]}}, "unknown secret kind"),
        ({"topics": {"gambling": {}}}, "needs its own phrases"),
        ({"defaultAction": "delete"}, "defaultAction"),
        ({"blockList": [""]}, "empty"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_mistakes_are_refused_with_what_to_fix(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError) as e:
        ModerationSpec.model_validate(data)
    assert needle in str(e.value)


def test_presidio_entity_names_are_accepted() -> None:
    spec = ModerationSpec.model_validate({"pii": {"entities": ["EMAIL_ADDRESS", "CREDIT_CARD"]}})
    assert spec.pii is not None
    assert spec.pii.entities == ("email", "payment_card")


def test_inspector_from_bad_mapping_raises_policy_error_not_pydantic() -> None:
    with pytest.raises(PolicyError) as e:
        ContentInspector({"blockList": [{"regex": "(a+)+$"}]})
    assert "blockList" in str(e.value)


@pytest.mark.parametrize(
    "pattern",
    [r"(a+)+$", r"(a|ab)*c", r"(\w+\s?)*$", r"((ab)*)+", r"(.*a){12}", r"(a)\1", r"(?=a)b"],
)
def test_evil_or_unsupported_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ConfigError):
        check_pattern(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"\bACME-\d{6}\b",
        r"(foo|bar)+",
        r"project\s+(titan|atlas)",
        r"[A-Z]{3}-\d{4}",
        r"(?:[a-z0-9]+\.)+internal",  # a repeated label closed by a separator is safe
        r"(\w+-)+\d",
    ],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    check_pattern(pattern)


def test_separated_repeat_is_harmless_even_for_a_backtracking_engine() -> None:
    import re

    rx = re.compile(r"(?:[a-z0-9]+\.)+internal", re.IGNORECASE)
    # quadratic at worst (each start position scans ahead once), never exponential
    assert rx.search("a." * 2_000 + "!") is None


@pytest.mark.parametrize("pattern", ["", "(", "x*"])
def test_empty_broken_or_match_everything_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ConfigError):
        check_pattern(pattern)


def test_accepted_user_pattern_runs_on_hostile_input() -> None:
    # Not a timing assertion: with RE2 (or the static guard) this completes at all; a
    # backtracking blow-up on this input would not finish within the test run.
    rx = compile_user_pattern(r"(?:ab|cd)+x")
    assert list(rx.finditer("ab" * 50_000 + "!")) == []
