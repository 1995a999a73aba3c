"""Test your application offline against a real local LLM provider.

``FakeProvider`` is an HTTP server on 127.0.0.1 that speaks providers' wire formats (OpenAI's
chat completions, responses and embeddings, streaming included). Script its answers with
``Reply``, make it misbehave with ``Fault``, and assert on ``requests`` -- exactly what left
your process::

    from aiguard.testing import FakeProvider, Reply, Fault

    with FakeProvider() as fake:
        fake.script(Reply(text="hello", usage=(10, 5)))
        fake.fault(Fault.status_code(429, retry_after=1))
        ...  # point OpenAICompatible(base_url=fake.openai_url, ...) at it

With pytest, the ``fake_provider`` fixture (from ``aiguard.testing.pytest_plugin``) gives a
started instance per test. See ``docs/testing.md``.

Wire formats plug in through ``register_route``: a module registers a handler per endpoint
and the server core applies scripts, faults and the request log to all of them alike.
"""

from __future__ import annotations

from . import (  # noqa: F401
    _wire_anthropic,
    _wire_azure,
    _wire_bedrock,
    _wire_gemini,
    _wire_openai,
    _wire_openai_responses,
)
from ._fake import FakeProvider
from ._script import Fault, Reply
from ._wire import (
    Body,
    Call,
    RecordedRequest,
    Stream,
    WireError,
    WireFormat,
    register_route,
)
from ._wire_oauth import FakeTokenEndpoint

__all__ = [
    "Body",
    "Call",
    "FakeProvider",
    "FakeTokenEndpoint",
    "Fault",
    "RecordedRequest",
    "Reply",
    "Stream",
    "WireError",
    "WireFormat",
    "register_route",
]
