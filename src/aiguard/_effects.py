"""The edges of the pipeline: what it asks a driver to do, as plain data.

The pipeline never performs I/O. It yields one of these and the sync or async driver performs
it and sends the result back (or throws the exception in). This is what lets one core serve two
clients: the drivers are twenty lines each and contain no decisions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._types import StreamEvent

__all__ = [
    "CloseStream",
    "Emit",
    "HttpRequest",
    "Io",
    "RawResponse",
    "ReadAll",
    "ReadChunk",
    "Send",
    "Sleep",
]


@dataclass(slots=True)
class HttpRequest:
    """A request as an adapter builds it; the driver hands it to httpx unchanged."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes = b""
    timeout: float | None = None


@dataclass(slots=True)
class Send:
    """Send ``request``. Non-streaming: the driver returns a ``RawResponse``. Streaming: it
    returns an open handle with ``status_code`` and ``headers``; the body is read with
    ``ReadChunk``/``ReadAll`` and released with ``CloseStream``."""

    request: HttpRequest
    stream: bool = False


@dataclass(slots=True)
class ReadChunk:
    """The next raw bytes of an open stream; ``b""`` at its end."""

    handle: Any


@dataclass(slots=True)
class ReadAll:
    """The rest of an open stream's body (used for error bodies)."""

    handle: Any


@dataclass(slots=True)
class CloseStream:
    handle: Any


@dataclass(slots=True)
class Sleep:
    """Wait; drivers use ``time.sleep``/``asyncio.sleep`` unless a test injects its own."""

    seconds: float


@dataclass(slots=True)
class Emit:
    """Hand one stream event to the caller; the driver resumes the pipeline on the next pull."""

    event: StreamEvent


@dataclass(slots=True)
class Io:
    """A call into an edge with a sync and, optionally, a native async form.

    Stages return this when they must touch a store (SQLite, Redis) or a remote service. The
    async driver awaits ``async_`` when present and otherwise calls ``sync`` inline: right for
    in-memory work that never blocks.
    """

    sync: Callable[[], Any]
    async_: Callable[[], Awaitable[Any]] | None = field(default=None)


@dataclass(slots=True)
class RawResponse:
    """A complete HTTP response, as the adapters' pure decoders take it."""

    status_code: int
    headers: Any
    """A case-insensitive mapping (``httpx.Headers``)."""
    content: bytes
