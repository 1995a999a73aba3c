"""The public API for adding a wire format (or any extra endpoint) to ``FakeProvider``.

A format registers a handler per route; the handler renders a ``Call`` (the recorded request,
path parameters, the scripted ``Reply`` or ``None`` for echo mode) as a ``Body`` or a
``Stream``, and a ``WireFormat`` subclass renders the format's errors. See
``docs/testing.md`` ("Adding a wire format") and ``_wire_openai.py`` for a complete example.
"""

from __future__ import annotations

from ._script import Fault, Reply
from ._wire import (
    Body,
    Call,
    RecordedRequest,
    Route,
    Stream,
    WireError,
    WireFormat,
    dumps,
    embedding_vector,
    register_route,
    registered_routes,
    sse,
    word_count,
)

__all__ = [
    "Body",
    "Call",
    "Fault",
    "RecordedRequest",
    "Reply",
    "Route",
    "Stream",
    "WireError",
    "WireFormat",
    "dumps",
    "embedding_vector",
    "register_route",
    "registered_routes",
    "sse",
    "word_count",
]
