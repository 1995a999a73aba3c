"""The cheap gates in front of the detectors must never hide what the detectors find."""

from __future__ import annotations

import pytest

from aiguard.inspect import ContentInspector
from aiguard.inspect._pii import _colon_pair

SPEC = {"enabled": True, "pii": {"action": "flag"}, "blockList": ["secrets"]}


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("call me at 415.555.2671 please", "pii.phone"),  # separators between digits
        ("my number is 4155552671", "pii.phone"),  # ten digits in a row
        ("server at 10.0.0.1 today", "pii.ip_address"),
        ("host fe80::1 is down", "pii.ip_address"),
        ("Note: a colon, then host 2001:db8::1", "pii.ip_address"),
        ("config: PASSWORD = 'hunter2-x9'", "secrets.credential_assignment"),
    ],
)
def test_gated_detectors_still_find(text: str, category: str) -> None:
    found = ContentInspector(SPEC).scan(text)
    assert category in {f.category for f in found}


def test_short_numbers_and_prose_colons_find_nothing() -> None:
    text = "7 Order 48213 arrived: label created. Reply: thanks, 2024 was fine."
    assert ContentInspector(SPEC).scan(text) == []


def test_colon_pair_gate() -> None:
    assert _colon_pair("a::b")
    assert _colon_pair("x 12:ab:34")
    assert not _colon_pair("writes: hello. later: bye")
    assert not _colon_pair("no colon at all")


def _random_texts(n: int) -> list[str]:
    import random

    rng = random.Random(7)
    alphabet = "GB82 WEST1234.-()/+:aZ0\n"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(n)]


def test_code_starts_are_every_two_capitals_and_two_digits_starting_a_code() -> None:
    import re

    from aiguard.inspect._scan import Prepared

    regex = re.compile(r"(?<![A-Z0-9])(?=[A-Z]{2}[0-9]{2})")
    for text in [*_random_texts(3000), "GB82 WEST", "xGB82", "AB12CD34 EF56", "GB8", "GB"]:
        expected = [m.start() for m in regex.finditer(text)]
        assert Prepared(text).code_starts() == expected, text
