"""Incremental Server-Sent Events parsing, shared by every streaming adapter.

Chunks arrive split anywhere (mid-line, mid-UTF-8 sequence); the parser keeps the unfinished
tail and returns only complete events. It follows the WHATWG rules adapters rely on: ``data:``
lines of one event are joined with newlines, ``:`` lines are comments, a blank line ends an event.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEParser", "ServerSentEvent"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str | None
    data: str


class SSEParser:
    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[ServerSentEvent] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data or self._event is not None:
                    out.append(ServerSentEvent(self._event, "\n".join(self._data)))
                self._event = None
                self._data = []
                continue
            text = line.decode("utf-8", "replace")
            if text[0] == ":":
                continue
            field, _, value = text.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                self._data.append(value)
            elif field == "event":
                self._event = value
        self._buf = buf[start:]
        return out

    @property
    def pending(self) -> bool:
        """True when bytes or an unterminated event are held (the body ended mid-event)."""
        return bool(self._buf.strip()) or bool(self._data)
