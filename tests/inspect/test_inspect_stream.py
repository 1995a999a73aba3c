"""Streams: whatever the chunking, the caller sees what non-streamed inspection would give,
and nothing after a blocking violation."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiguard.errors import ContentBlockedError
from aiguard.inspect import ContentInspector, StreamInspector, Vault

REDACT = ContentInspector(
    {
        "pii": {"action": "redact", "restore": True},
        "secrets": {"action": "redact"},
        "blockList": [{"phrase": "project titan", "action": "mask"}],
    }
)


def chunks_of(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points)]


def run(engine: ContentInspector, chunks: list[str], vault: Vault | None = None) -> str:
    s = engine.stream(vault=vault)
    return "".join(s.feed(c) for c in chunks) + s.finish()


def test_pii_split_across_chunks_is_still_redacted() -> None:
    out = run(REDACT, ["Contact bob@exa", "mple.com or call (415) 55", "5-2671 now"])
    assert out == "Contact [EMAIL_1] or call [PHONE_1] now"


def test_phrase_split_across_chunks() -> None:
    assert run(REDACT, ["about PROJ", "ECT Ti", "tan."]) == "about ****."


FRAGMENTS = [
    "hello ",
    "world. ",
    "bob@example.com ",
    "(415) 555-2671 ",
    "4111 1111 1111 1111 ",
    "project titan ",
    "version 1.2.3 ",
    "order #1002349876 ",
    "\n",
    "amy@example.org, ",
    "GB82 WEST 1234 5698 7654 32 ",
]


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=15),
)
def test_any_chunking_gives_the_non_streamed_result(parts: list[str], cuts: list[int]) -> None:
    text = "".join(parts)
    expected = REDACT.inspect_text(text, "output").text
    assert run(REDACT, chunks_of(text, cuts)) == expected


def test_nothing_after_a_block_is_released() -> None:
    engine = ContentInspector({"blockList": ["investment advice", "PII"]})
    s = engine.stream()
    released = s.feed("Here is a long harmless introduction. " * 5)
    with pytest.raises(ContentBlockedError) as e:
        released += s.feed("Write to bob@example.com")
        released += s.feed(" and more text after it")
        released += s.finish()
    assert "bob" not in released and "more text" not in released
    assert e.value.direction == "output"
    assert e.value.start == len("Here is a long harmless introduction. " * 5) + len("Write to ")
    with pytest.raises(ContentBlockedError):
        s.feed("anything")
    with pytest.raises(ContentBlockedError):
        s.finish()


def test_streamed_placeholders_are_restored_even_when_split() -> None:
    vault = Vault()
    REDACT.inspect_text("I am bob@example.com", vault=vault)
    out = run(REDACT, ["Hello [EM", "AIL", "_1], nice to meet you"], vault)
    assert out == "Hello bob@example.com, nice to meet you"


def test_holdback_is_bounded() -> None:
    s = REDACT.stream()
    released = ""
    for _ in range(100):
        released += s.feed("plain words and more plain words ")
    assert s.pending < 200
    assert released + s.finish() == "plain words and more plain words " * 100


def test_long_secret_split_over_many_chunks_is_redacted_whole() -> None:
    key = "sk-" + "proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 4
    text = f"the key is {key} ok"
    assert run(REDACT, [text[i : i + 7] for i in range(0, len(text), 7)]) == (
        "the key is [SECRET_1] ok"
    )


def test_topic_score_accumulates_across_the_stream() -> None:
    engine = ContentInspector({"blockList": ["investment advice"]})
    s = engine.stream()
    s.feed("Which stocks should I pick? " + "Some unrelated filler text here. " * 10)
    with pytest.raises(ContentBlockedError):
        s.feed("Also, is it a good time to buy? Guaranteed returns? ")
        s.finish()


def test_stream_without_rules_passes_text_through() -> None:
    engine = ContentInspector({"enabled": False})
    s = engine.stream()
    assert s.feed("abc") == "abc"
    assert s.finish() == ""


def test_text_without_spaces_is_not_held_back_like_a_token() -> None:
    s = REDACT.stream()
    released = s.feed("这是一个没有空格的很长的句子，" * 40)
    assert len(released) > 400
    assert s.pending <= 96


def test_streamed_tool_arguments_stay_valid_json() -> None:
    import json

    args = '{"to": "bob@example.com", "card": 4111111111111111, "note": "say \\"hi\\""}'
    s = StreamInspector(REDACT, Vault(), "output", json_text=True)
    out = "".join(s.feed(args[i : i + 5]) for i in range(0, len(args), 5)) + s.finish()
    assert json.loads(out) == {"to": "[EMAIL_1]", "card": "[CARD_1]", "note": 'say "hi"'}
