"""AWS event-stream binary framing (``application/vnd.amazon.eventstream``), both directions.

Bedrock's ConverseStream (like Transcribe, S3 Select, Kinesis) frames each event as::

    [total length u32][headers length u32][prelude CRC32 u32]
    [headers ...][payload ...]
    [message CRC32 u32]

all big-endian; the prelude CRC covers the first 8 bytes, the message CRC everything before
it. Each header is ``[name length u8][name][type u8][value]`` with typed values (strings and
bytes carry a u16 length). We decode it ourselves instead of pulling in botocore's parser so
the adapter stays sans-IO and checks every CRC: a corrupted frame is a ``DecodeError``, never
a silently wrong answer. The encoder exists for the fake provider and the tests.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from typing import NamedTuple
from zlib import crc32

from ..errors import DecodeError

__all__ = ["EventStreamDecoder", "EventStreamMessage", "HeaderValue", "encode_message"]

HeaderValue = bool | int | bytes | str | uuid.UUID

_PRELUDE = struct.Struct(">II")
_U32 = struct.Struct(">I")
_MIN_FRAME = 16  # prelude (12) + message CRC (4)
MAX_FRAME = 16 * 1024 * 1024  # the service's limit; anything larger is garbage, not a frame

_FIXED: dict[int, tuple[int, str]] = {2: (1, ">b"), 3: (2, ">h"), 4: (4, ">i"), 5: (8, ">q")}


class EventStreamMessage(NamedTuple):
    """One decoded frame (a tuple: built once per streamed event, so it must be cheap)."""

    headers: dict[str, HeaderValue]
    payload: bytes


def _parse_headers(data: bytes, provider: str | None) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    i, n = 0, len(data)
    try:
        while i < n:
            j = i + 1 + data[i]
            name = data[i + 1 : j].decode("utf-8")
            kind = data[j]
            i = j + 1
            value: HeaderValue
            if kind == 7 or kind == 6:  # strings first: nearly every header is one
                end = i + 2 + ((data[i] << 8) | data[i + 1])
                if end > n:
                    raise ValueError("header value runs past the header block")
                value = data[i + 2 : end].decode("utf-8") if kind == 7 else data[i + 2 : end]
                i = end
            elif kind == 0:
                value = True
            elif kind == 1:
                value = False
            elif kind in _FIXED:
                size, fmt = _FIXED[kind]
                (value,) = struct.unpack_from(fmt, data, i)
                i += size
            elif kind == 8:  # timestamp, milliseconds since the epoch
                (value,) = struct.unpack_from(">q", data, i)
                i += 8
            elif kind == 9:
                if i + 16 > n:
                    raise ValueError("uuid header runs past the header block")
                value = uuid.UUID(bytes=data[i : i + 16])
                i += 16
            else:
                raise ValueError(f"unknown header value type {kind}")
            headers[name] = value
        if i != n:
            raise ValueError("header block length does not match its headers")
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as e:
        raise DecodeError(f"malformed event-stream headers: {e}", provider=provider) from e
    return headers


class EventStreamDecoder:
    """Incremental: ``feed`` any split of the body, get back the messages now complete."""

    __slots__ = ("_buf", "_known", "_provider")

    def __init__(self, provider: str | None = None) -> None:
        self._buf = b""
        self._provider = provider
        # Frames of one event type carry byte-identical header blocks, so parsed blocks are
        # remembered (a few distinct ones per stream). The dicts are shared: read-only.
        self._known: dict[bytes, dict[str, HeaderValue]] = {}

    @property
    def pending(self) -> bool:
        """True when a partial frame is buffered (the body ended mid-message)."""
        return bool(self._buf)

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        # Chunks usually hold whole frames, so the buffer is usually empty and ``data`` is
        # parsed in place; a split frame costs one concatenation when its rest arrives.
        buf = self._buf + data if self._buf else data
        out: list[EventStreamMessage] = []
        pos = 0
        n = len(buf)
        view = memoryview(buf)
        while n - pos >= 12:
            total, headers_len = _PRELUDE.unpack_from(buf, pos)
            if total < _MIN_FRAME or total > MAX_FRAME or headers_len > total - _MIN_FRAME:
                raise DecodeError(
                    f"event-stream frame has impossible lengths (total={total}, "
                    f"headers={headers_len})",
                    provider=self._provider,
                )
            (prelude_crc,) = _U32.unpack_from(buf, pos + 8)
            if crc32(view[pos : pos + 8]) != prelude_crc:
                raise DecodeError("event-stream prelude CRC mismatch", provider=self._provider)
            if n - pos < total:
                break
            end = pos + total
            (message_crc,) = _U32.unpack_from(buf, end - 4)
            if crc32(view[pos : end - 4]) != message_crc:
                raise DecodeError("event-stream message CRC mismatch", provider=self._provider)
            h_start = pos + 12
            h_end = h_start + headers_len
            block = bytes(buf[h_start:h_end])
            headers = self._known.get(block)
            if headers is None:
                headers = _parse_headers(block, self._provider)
                if len(self._known) < 32:
                    self._known[block] = headers
            out.append(EventStreamMessage(headers, bytes(buf[h_end : end - 4])))
            pos = end
        view.release()
        self._buf = bytes(buf[pos:]) if pos < n else b""
        return out


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    head = bytes([len(raw_name)]) + raw_name
    if isinstance(value, bool):
        return head + bytes([0 if value else 1])
    if isinstance(value, int):
        return head + b"\x04" + struct.pack(">i", value)
    if isinstance(value, uuid.UUID):
        return head + b"\x09" + value.bytes
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return head + b"\x07" + struct.pack(">H", len(raw)) + raw
    return head + b"\x06" + struct.pack(">H", len(value)) + value


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One framed message; string header values use type 7, ints type 4 (int32)."""
    hdrs = b"".join(_encode_header(k, v) for k, v in headers.items())
    total = 12 + len(hdrs) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(hdrs))
    head = prelude + _U32.pack(crc32(prelude))
    body = head + hdrs + payload
    return body + _U32.pack(crc32(body))
