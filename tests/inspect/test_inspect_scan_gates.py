"""The shared scan views and the gates built on them (the colon split, the names before
operators, the "AA00" IBAN starts, the number hint, the long-token runs, the stage's spec
cache) find exactly what the detectors behind them find."""

from __future__ import annotations

import random
import re

import pytest

from aiguard.inspect import ContentInspector, InspectionStage
from aiguard.inspect._pii import _colon_pair
from aiguard.inspect._scan import Prepared
from aiguard.inspect.spec import ModerationSpec

SECRETS = ContentInspector({"secrets": {"action": "flag"}, "pii": {"action": "flag"}})
PII = ContentInspector({"pii": {"action": "flag"}})
V = "hunter2-x9"


def found(engine: ContentInspector, text: str) -> list[tuple[str, str]]:
    return [(f.category, text[f.start : f.end]) for f in engine.scan(text)]


@pytest.mark.parametrize(
    "text",
    [
        f"PASSWORD = {V}",
        f"db_password_hash_v2: {V}",
        f'"secretKey"   : "{V}"',
        f"x-api-key\u00a0= {V}",  # a non-ASCII space before the operator
        f"my_token:{V}",
        f"CREDENTIALS=>{V}",
        f"passphrase := {V}",
        f"pwd\t=\t{V}",
        f"apikey={V}",
        f"note: the key: {V}",  # an operator before the name's own
        f"9password={V}",
        f"the\npassword\n=\n{V}",
        f"\u212aey={V}",  # the Kelvin sign folds to K
        f"pa\u017f\u017fword={V}",  # long s folds to s
        f"{'a' * 70}_password={V}",
        f"password_{'a' * 24}_{'b' * 24}={V}",  # the longest name the pattern allows
        " ".join(f"k{i}: v" for i in range(300)) + f" password={V}",  # many operators
    ],
)
def test_an_assignment_is_found_wherever_its_name_ends(text: str) -> None:
    assert found(SECRETS, text) == [("secrets.credential_assignment", V)]


def test_every_operator_gets_its_own_name() -> None:
    text = f"keys = {V}; tokens: {V}"
    assert found(SECRETS, text) == [("secrets.credential_assignment", V)] * 2


@pytest.mark.parametrize(
    "text",
    [
        f"mypassword={V}",  # the keyword does not start the name
        f"password    = {V}",  # four spaces: not an assignment
        f"password_{'a' * 25}={V}",  # a name segment too long
        "a: b, c: d, key",
        "The customer writes: I ordered a jacket. The tracking page: label created.",
    ],
)
def test_names_without_an_assignment_find_nothing(text: str) -> None:
    assert found(SECRETS, text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my number is 4155552671 ok", [("pii.phone", "4155552671")]),
        ("order 48213, shipped. Tel 415 555 2671", [("pii.phone", "415 555 2671")]),
        ("card 4111  1111   1111 1111", [("pii.payment_card", "4111  1111   1111 1111")]),
        (
            "card 4111     1111     1111     1111",
            [("pii.payment_card", "4111     1111     1111     1111")],
        ),
        ("iban GB82WEST12345698765432!", [("pii.iban", "GB82WEST12345698765432")]),
        ("xGB82WEST12345698765432", [("pii.iban", "GB82WEST12345698765432")]),
        ("IBAN DE89 3704 0044 0532 0130 00.", [("pii.iban", "DE89 3704 0044 0532 0130 00")]),
        (
            "ip 10.20.30.40 and 2001:db8::1",
            [("pii.ip_address", "10.20.30.40"), ("pii.ip_address", "2001:db8::1")],
        ),
        ("note: host fe80::1", [("pii.ip_address", "fe80::1")]),
        ("SSN 078-05-1120", [("pii.us_ssn", "078-05-1120")]),
        ("+44 20 7946 0958", [("pii.phone", "+44 20 7946 0958")]),
        ("a 1-2-3-4 b, 7 digits 5552671", []),
    ],
)
def test_number_iban_and_address_gates_pass_what_the_detectors_find(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert found(PII, text) == expected


def test_the_colon_split_is_shared_and_answers_the_ipv6_gate() -> None:
    p = Prepared("a:b::c")
    assert p.colon_pieces == ["a", "b", "", "c"]
    assert p.colon_pieces is p.colon_pieces  # split once
    assert _colon_pair("a:b") is False
    assert _colon_pair("fe80::1") is True


def _long_runs(text: str) -> list[tuple[int, int]]:
    """The spans ``long_tokens`` stands for, found the slow way."""
    return [m.span() for m in re.finditer(r"[0-9A-Za-z_\-+/=.]{20,}", text)]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a" * 19,
        "a" * 20,
        "b" * 20 + " tail",
        "head " + "c" * 20,
        "x" * 19 + " " + "y" * 19,
        "one sk-" + "Ab1" * 7 + " two " + "Z9+/=" * 5 + ".",
        "prose, then a key:" + "Q" * 25 + ";and more prose after it",
        "caf\u00e9" + "d" * 20,  # a non-ASCII letter ends a run as a "?" would
        "a.b-c+d/e=f_g.h-i+j/k=l " * 3,
    ],
)
def test_long_tokens_gate_finds_every_run_the_scan_finds(text: str) -> None:
    assert Prepared(text).long_tokens() == _long_runs(text.encode("ascii", "replace").decode())


def test_long_tokens_gate_agrees_with_the_scan_on_random_texts() -> None:
    rng = random.Random(7)
    alphabet = "ab_-.= \t,:;0"
    for _ in range(2000):
        words = ["".join(rng.choices(alphabet[:6], k=rng.randint(0, 30))) for _ in range(4)]
        text = rng.choice(alphabet[6:]).join(words)
        assert Prepared(text).long_tokens() == _long_runs(text), text


def test_code_starts_use_the_capitals_of_the_digit_shape() -> None:
    p = Prepared("GB82 and AB12CD34, ZZ9 xGB82")
    assert p.digit_shape[:4] == b"AA00"
    assert p.code_starts() == [0, 9, 24]


def test_the_stage_reuses_the_inspector_of_the_same_or_an_equal_spec() -> None:
    stage = InspectionStage()
    spec = ModerationSpec.model_validate({"pii": {"action": "redact"}})
    first = stage.prepare(spec)
    assert stage.prepare(spec) is first
    assert stage.prepare(ModerationSpec.model_validate({"pii": {"action": "redact"}})) is first
    other = stage.prepare(ModerationSpec.model_validate({"pii": {"action": "flag"}}))
    assert other is not first
    assert stage.prepare(spec) is first
