"""SSE framing survives any split of the byte stream."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aiguard.providers._sse import SSEParser

BODY = (
    b": keep-alive comment\r\n"
    b'event: message\r\ndata: {"a": 1}\r\n\r\n'
    b"data: line one\ndata: line two\n\n"
    b"data: caf\xc3\xa9\n\n"
    b"data: [DONE]\n\n"
)


def parse(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    p = SSEParser()
    out = []
    for c in chunks:
        out.extend((e.event, e.data) for e in p.feed(c))
    return out


def test_events_fields_and_comments() -> None:
    assert parse([BODY]) == [
        ("message", '{"a": 1}'),
        (None, "line one\nline two"),
        (None, "café"),
        (None, "[DONE]"),
    ]


@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [BODY[a:b] for a, b in zip([0, *points], [*points, len(BODY)], strict=True)]
    assert parse(chunks) == parse([BODY])


def test_unterminated_event_is_pending() -> None:
    p = SSEParser()
    assert p.feed(b"data: partial") == []
    assert p.pending
