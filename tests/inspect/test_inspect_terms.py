"""Block-list phrases on normalised text, regex entries, allow lists and topics."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiguard.errors import ContentBlockedError
from aiguard.inspect import ContentInspector
from aiguard.inspect._normalize import normalize


def spans(engine: ContentInspector, text: str) -> list[tuple[str, str]]:
    return [(f.category, text[f.start : f.end]) for f in engine.scan(text)]


PHRASES = ContentInspector({"blockList": ["project titan"], "defaultAction": "flag"})


@pytest.mark.parametrize(
    ("text", "original"),
    [
        ("about Project  Titan today", "Project  Titan"),
        ("about ＰＲＯＪＥＣＴ titan", "ＰＲＯＪＥＣＴ titan"),  # full width
        ("about prоject titan", "prоject titan"),  # Cyrillic o
        ("about pro\u200bject ti\u200dtan", "pro\u200bject ti\u200dtan"),  # zero width
        ("about PROJECT\nTITAN.", "PROJECT\nTITAN"),
        ("— “Project Titan” —", "Project Titan"),
        ("—pro\u200b—ject titan", None),  # dashes are not letters: no match
        ("about pro\u200bject\u2014 titan", None),
        ("“pro\u200bject titan”", "pro\u200bject titan"),  # zero width next to a quote
    ],
)
def test_phrase_matches_evasions_and_offsets_point_into_the_original(
    text: str, original: str | None
) -> None:
    assert spans(PHRASES, text) == ([("phrase", original)] if original else [])


@pytest.mark.parametrize("text", ["projects titanic", "myproject titan", "project titans"])
def test_phrase_matches_whole_words_only(text: str) -> None:
    assert spans(PHRASES, text) == []


def test_regex_entry_with_name_and_action() -> None:
    engine = ContentInspector(
        {"blockList": [{"regex": r"\bACME-\d{6}\b", "name": "ticket", "action": "redact"}]}
    )
    out = engine.inspect_text("see ACME-123456 and acme-654321")
    assert out.text == "see [TICKET_1] and [TICKET_2]"
    assert [f.category for f in out.findings] == ["ticket", "ticket"]


def test_allow_list_exempts_matching_text_only() -> None:
    engine = ContentInspector(
        {
            "pii": {"action": "redact"},
            "allowList": ["support@acme.example", {"regex": r"10\.0\.\d+\.\d+", "category": "pii"}],
        }
    )
    out = engine.inspect_text("mail support@acme.example or bob@acme.example from 10.0.0.7")
    assert out.text == "mail support@acme.example or [EMAIL_1] from 10.0.0.7"


def test_allow_list_category_limits_the_exception() -> None:
    engine = ContentInspector(
        {
            "pii": {"action": "redact"},
            "allowList": [{"phrase": "bob@acme.example", "category": "secrets"}],
        }
    )
    assert engine.inspect_text("bob@acme.example").text == "[EMAIL_1]"


SEED = ContentInspector({"blockList": ["hate speech", "PII", "investment advice"]})


def test_seed_topics_block_explicit_requests() -> None:
    with pytest.raises(ContentBlockedError) as e:
        SEED.inspect_text("Which stocks should I buy? Give me investment advice.")
    assert e.value.category == "topic.investment advice"
    with pytest.raises(ContentBlockedError) as e2:
        SEED.inspect_text("They are subhuman vermin and should be exterminated.")
    assert e2.value.category == "topic.hate speech"


@pytest.mark.parametrize(
    "text",
    [
        "The stock of paper in the office is low.",
        "Summarise the market research report for the board.",
        "How do I kill a zombie process in Linux?",
    ],
)
def test_single_weak_phrases_do_not_fire(text: str) -> None:
    assert SEED.inspect_text(text).findings == ()


def test_users_extend_and_tune_topics() -> None:
    engine = ContentInspector(
        {
            "blockList": ["investment advice", "gambling"],
            "topics": {
                "investment advice": {"phrases": {"moonshot": 1.0}},
                "gambling": {"phrases": {"bet": 0.5, "casino": 0.6}, "threshold": 1.0},
            },
            "defaultAction": "flag",
        }
    )
    assert [f.category for f in engine.inspect_text("any moonshot ideas?").findings] == [
        "topic.investment advice"
    ]
    assert engine.inspect_text("a bet").findings == ()
    cats = {f.category for f in engine.inspect_text("a bet at the casino").findings}
    assert cats == {"topic.gambling"}


def test_topic_can_replace_the_builtin_lexicon() -> None:
    engine = ContentInspector(
        {
            "topics": {"medical advice": {"phrases": {"dosage": 1.0}, "extend": False}},
            "defaultAction": "flag",
        }
    )
    assert engine.inspect_text("I need medical advice").findings == ()
    assert len(engine.inspect_text("what dosage?").findings) == 1


def test_direction_limits_where_an_entry_applies() -> None:
    engine = ContentInspector({"blockList": [{"phrase": "internal only", "direction": "output"}]})
    assert engine.inspect_text("this is internal only", "input").findings == ()
    with pytest.raises(ContentBlockedError) as e:
        engine.inspect_text("this is internal only", "output")
    assert e.value.direction == "output"


NOISE = ["", "\u200b", "\u00ad", "ﬁ", "ß", "İ", "é", "—", "“", " ", "\n", "Ｔ", "а", "x"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["project", " ", "titan", "Proj", "ect", *NOISE]), max_size=14))
def test_every_normalised_span_maps_back_to_text_that_folds_to_it(parts: list[str]) -> None:
    text = "".join(parts)
    norm = normalize(text)
    for m in re.finditer(r"\w+", norm.text):
        s, e = norm.to_original(m.start(), m.end())
        assert 0 <= s <= e <= len(text)
        folded = normalize(text[s:e]).text
        assert m.group() in folded  # the original span covers the normalised word


def test_regex_offsets_are_characters_after_non_ascii_text() -> None:
    engine = ContentInspector(
        {
            "blockList": [{"regex": r"ACME-\d{6}", "action": "redact", "name": "ticket"}],
            "allowList": [{"regex": "ACME-000000"}],
        }
    )
    text = "Ünïcödé — “quotes” 你好 ACME-123456 and ACME-000000 end"
    out = engine.inspect_text(text)
    assert out.text == "Ünïcödé — “quotes” 你好 [TICKET_1] and ACME-000000 end"
    (f,) = out.findings
    assert text[f.start : f.end] == "ACME-123456"
