"""The plug-in surface for wire formats: routes, what a handler sees, and what it returns.

The server core knows HTTP, scripts and faults; it knows nothing about any provider. A wire
format is a module that calls ``register_route`` for each endpoint it serves, with a handler
that turns a ``Call`` (the recorded request, path parameters and the scripted ``Reply``, or
``None`` for echo mode) into a ``Body`` or a ``Stream``, and a ``WireFormat`` that renders the
format's error shapes. Faults are applied by the core on top of what handlers return, which is
why a ``Stream`` is a list of framed events with its content-free ``head`` and terminal
``tail`` marked: "cut after 3", "drop the terminal event" and "error mid-stream" then mean the
same thing for SSE and for AWS event-stream frames.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._script import Fault, Reply

__all__ = [
    "Body",
    "Call",
    "RecordedRequest",
    "Route",
    "Stream",
    "WireError",
    "WireFormat",
    "dumps",
    "echo_reply",
    "embedding_vector",
    "make_route",
    "parts_text",
    "register_route",
    "registered_routes",
    "sse",
    "word_count",
]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request exactly as it reached the fake: what left the process under test.

    ``headers`` has lower-cased names; ``json`` is the parsed body (``None`` when the body is
    not JSON); ``path`` excludes the query string, which is parsed into ``query``; ``params``
    holds the route's path parameters (``{"model": ...}``); ``request_id`` is the
    ``x-request-id`` the fake answered with; ``time`` is ``time.time()`` at arrival.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    json: Any
    body: bytes
    time: float
    query: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    request_id: str = ""

    @property
    def stream(self) -> bool:
        """Whether the JSON body asked for a stream (``"stream": true``)."""
        return isinstance(self.json, dict) and self.json.get("stream") is True


@dataclass(slots=True)
class Body:
    """A complete response."""

    status: int
    content: bytes
    content_type: str = "application/json"
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class Stream:
    """A streamed 200 response: framed events, sent one write each.

    ``head`` counts leading events that carry no content (OpenAI's role chunk, Anthropic's
    ``message_start``); ``tail`` counts the trailing terminal events whose absence a client
    must detect (OpenAI's ``[DONE]``). Fault ``after=N`` counts events after the head.
    """

    events: list[bytes]
    head: int = 0
    tail: int = 1
    content_type: str = "text/event-stream"
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class Call:
    """What a handler gets: the request, its path parameters and the reply to render."""

    request: RecordedRequest
    params: Mapping[str, str]
    reply: Reply | None
    seq: int
    chunk_size: int
    embed_dimensions: int


class WireError(Exception):
    """Raised by a handler for a request the real API would reject (rendered as an error)."""

    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class WireFormat:
    """A provider family's error shapes. Subclass and override for each format.

    The defaults are OpenAI's shapes, which most compatible servers copy.
    """

    name: str = "openai"

    def error(self, status: int, fault: Fault | None, message: str | None = None) -> Body:
        """The error response for ``status``; ``fault`` may carry message/code/type."""
        msg = (fault.message if fault else None) or message or f"HTTP {status}"
        err = {
            "message": msg,
            "type": (fault.type if fault else None) or "error",
            "param": None,
            "code": fault.code if fault else None,
        }
        return Body(status, dumps({"error": err}))

    def stream_error(self, fault: Fault) -> bytes:
        """One framed in-stream error event."""
        err = {"message": fault.message or "error in stream", "code": fault.status}
        return sse(dumps({"error": err}))

    def malformed(self, *, stream: bool) -> bytes:
        """A body (or one framed event) that claims JSON and is not."""
        return sse(b'{"id": "broken", "choices": [{') if stream else b'{"id": "broken", "cho'


Handler = Callable[[Call], "Body | Stream"]
IsStream = Callable[[RecordedRequest, Mapping[str, str]], bool]


def _json_stream_flag(request: RecordedRequest, params: Mapping[str, str]) -> bool:
    return request.stream


@dataclass(frozen=True, slots=True)
class Route:
    """``(method, pattern) -> handler``. Patterns are literal paths with ``{name}`` parameters
    matching one path segment or the part of it before a ``:`` verb
    (``/v1beta/models/{model}:generateContent``).

    ``replies=False`` routes never consume scripted replies (embeddings, token endpoints);
    ``faults=False`` routes only take faults aimed at them with ``Fault.on(path)`` (a fake
    OAuth2 token endpoint must not eat the fault meant for the model call).
    """

    method: str
    pattern: str
    handler: Handler
    wire: WireFormat
    is_stream: IsStream = _json_stream_flag
    replies: bool = True
    faults: bool = True
    regex: re.Pattern[str] | None = None


_ROUTES: list[Route] = []
_PARAM = re.compile(r"\{(\w+)\}")


def make_route(
    method: str,
    pattern: str,
    handler: Handler,
    wire: WireFormat,
    is_stream: IsStream = _json_stream_flag,
    replies: bool = True,
    faults: bool = True,
) -> Route:
    regex = None
    if "{" in pattern:
        parts = _PARAM.split(pattern)
        rx = "".join(f"(?P<{p}>[^/]+?)" if i % 2 else re.escape(p) for i, p in enumerate(parts))
        regex = re.compile(rx + "$")
    return Route(method.upper(), pattern, handler, wire, is_stream, replies, faults, regex)


def register_route(
    method: str,
    pattern: str,
    handler: Handler,
    wire: WireFormat,
    *,
    is_stream: IsStream = _json_stream_flag,
    replies: bool = True,
    faults: bool = True,
) -> Route:
    """Add a route to every ``FakeProvider`` created afterwards. A later registration of the
    same method and pattern replaces the earlier one, so a test can override a format."""
    route = make_route(method, pattern, handler, wire, is_stream, replies, faults)
    _ROUTES[:] = [r for r in _ROUTES if (r.method, r.pattern) != (route.method, pattern)]
    _ROUTES.append(route)
    return route


def registered_routes() -> list[Route]:
    return list(_ROUTES)


# --------------------------------------------------------------------------- helpers for formats


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as real APIs send it (one shared encoder: ``json.dumps`` with
    options builds a new one per call, which is a third of the cost)."""
    return _ENCODE(obj).encode()


def sse(data: bytes, event: str | None = None) -> bytes:
    """One Server-Sent Event (``data`` must be a single line, as JSON from ``dumps`` is)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def parts_text(content: Any, kinds: Container[str] = ("text",)) -> str:
    """A message's text: a string as is, or the ``text`` of its parts of the given types
    (chat completions call them ``text``; the Responses API ``input_text``/``output_text``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") in kinds
        )
    return ""


def word_count(text: str) -> int:
    """The fake's deterministic token count: whitespace-separated words."""
    return len(text.split())


_WORD = re.compile(r"\S+")


def echo_reply(last_user: str, max_tokens: object) -> Reply:
    """Echo mode's answer, held to the request's output limit the way a model is held to it.

    A real provider never answers past ``max_tokens``; an echo that did would make tests of
    truncation handling impossible and would hand a caller's output path far more text than
    it asked for. The answer keeps its first ``max_tokens`` words (the fake's tokens) and
    then finishes with ``"length"``, which each wire format renders as its own reason.
    """
    text = f"echo: {last_user}"
    if type(max_tokens) is not int or max_tokens < 1:
        return Reply(text=text)
    for i, word in enumerate(_WORD.finditer(text), 1):
        if i == max_tokens:
            end = word.end()
            if text[end:].strip():
                return Reply(text=text[:end], finish_reason="length")
            break
    return Reply(text=text)


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector from a hash of ``text`` (same text -> same vector)."""
    raw = b""
    counter = 0
    seed = text.encode()
    while len(raw) < 2 * dimensions:
        raw += hashlib.blake2b(seed + counter.to_bytes(4, "little")).digest()
        counter += 1
    ints = struct.unpack(f"<{dimensions}H", raw[: 2 * dimensions])
    vec = [(v / 32767.5) - 1.0 for v in ints]
    norm = sum(x * x for x in vec) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in vec]
