"""AWS event-stream framing: our decoder against an independent encoder and botocore's parser.

Framing as documented in https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html
and https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html (prelude, prelude CRC,
typed headers, payload, message CRC; CRC32 over big-endian fields).
"""

from __future__ import annotations

import binascii
import struct
import uuid

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from aiguard.errors import DecodeError
from aiguard.providers._eventstream import EventStreamDecoder, encode_message

from ._provider_helpers import split_at


def independent_encode(headers: list[tuple[str, int, bytes]], payload: bytes) -> bytes:
    """A second, deliberately naive encoder: ``(name, type, raw value bytes)`` headers."""
    block = b""
    for name, kind, value in headers:
        block += bytes([len(name)]) + name.encode() + bytes([kind]) + value
    total = 16 + len(block) + len(payload)
    prelude = struct.pack(">II", total, len(block))
    msg = prelude + struct.pack(">I", binascii.crc32(prelude)) + block + payload
    return msg + struct.pack(">I", binascii.crc32(msg))


def _str(v: str) -> bytes:
    return struct.pack(">H", len(v.encode())) + v.encode()


ALL_TYPES = independent_encode(
    [
        ("t", 0, b""),
        ("f", 1, b""),
        ("byte", 2, struct.pack(">b", -3)),
        ("short", 3, struct.pack(">h", 300)),
        ("int", 4, struct.pack(">i", -70000)),
        ("long", 5, struct.pack(">q", 2**40)),
        ("bytes", 6, _str("ab")),
        (":event-type", 7, _str("contentBlockDelta")),
        ("ts", 8, struct.pack(">q", 1700000000000)),
        ("id", 9, uuid.UUID(int=1).bytes),
    ],
    b'{"delta":{"text":"hi"}}',
)


def test_decodes_every_header_type() -> None:
    (msg,) = EventStreamDecoder().feed(ALL_TYPES)
    assert msg.headers == {
        "t": True,
        "f": False,
        "byte": -3,
        "short": 300,
        "int": -70000,
        "long": 2**40,
        "bytes": b"ab",
        ":event-type": "contentBlockDelta",
        "ts": 1700000000000,
        "id": uuid.UUID(int=1),
    }
    assert msg.payload == b'{"delta":{"text":"hi"}}'


def test_our_encoder_round_trips_through_botocore() -> None:
    frame = encode_message(
        {":message-type": "event", ":event-type": "messageStop", "n": 5, "b": True}, b"{}"
    )
    buf = EventStreamBuffer()
    buf.add_data(frame)
    (m,) = list(buf)
    assert m.headers == {":message-type": "event", ":event-type": "messageStop", "n": 5, "b": True}
    assert m.payload == b"{}"


messages = st.lists(
    st.tuples(
        st.dictionaries(
            st.text(min_size=1, max_size=10),
            st.one_of(
                st.text(max_size=20),
                st.integers(-(2**31), 2**31 - 1),
                st.booleans(),
                st.binary(max_size=10),
            ),
            max_size=4,
        ),
        st.binary(max_size=300),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=80, deadline=None)
@given(msgs=messages, cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=10))
def test_any_split_of_any_messages(
    msgs: list[tuple[dict[str, object], bytes]], cuts: list[int]
) -> None:
    body = b"".join(encode_message(h, p) for h, p in msgs)  # type: ignore[arg-type]
    dec = EventStreamDecoder()
    out = [m for piece in split_at(body, cuts) for m in dec.feed(piece)]
    assert [(m.headers, m.payload) for m in out] == msgs
    assert not dec.pending


@pytest.mark.parametrize("where", ["prelude", "message", "payload"])
def test_crc_failures_are_decode_errors(where: str) -> None:
    frame = bytearray(encode_message({":event-type": "x"}, b'{"a": 1}'))
    index = {"prelude": 9, "message": len(frame) - 1, "payload": len(frame) - 6}[where]
    frame[index] ^= 0x01
    with pytest.raises(DecodeError, match="CRC"):
        EventStreamDecoder("bedrock").feed(bytes(frame))


def test_impossible_lengths_and_bad_headers() -> None:
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(DecodeError, match="impossible"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", binascii.crc32(prelude)) + b"\0" * 8)
    with pytest.raises(DecodeError, match="headers"):
        EventStreamDecoder().feed(independent_encode([("x", 42, b"")], b""))
    with pytest.raises(DecodeError, match="headers"):  # string longer than the header block
        EventStreamDecoder().feed(
            independent_encode([("x", 7, struct.pack(">H", 50) + b"ab")], b"")
        )


def test_partial_frame_is_pending() -> None:
    frame = encode_message({"a": "b"}, b"xyz")
    dec = EventStreamDecoder()
    assert dec.feed(frame[:-3]) == []
    assert dec.pending
    assert len(dec.feed(frame[-3:])) == 1 and not dec.pending
