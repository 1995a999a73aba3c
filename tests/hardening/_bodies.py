"""Valid provider bodies, rendered by the FakeProvider's own wire routes (no socket)."""

from __future__ import annotations

import functools
import json
from urllib.parse import parse_qsl, unquote

from aiguard._types import ChatRequest, coerce_messages
from aiguard.providers._base import Provider
from aiguard.testing import Reply, Stream
from aiguard.testing._wire import Body, Call, RecordedRequest, registered_routes

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
REPLY = Reply(text="hello there world", tool_calls=[("f", {"a": [1, "x"]})], usage=(3, 4))


def _render(provider: Provider, *, stream: bool) -> Body | Stream:
    request = ChatRequest(messages=coerce_messages("hi"), tools=TOOLS)
    auth = provider.auth_headers()
    if not isinstance(auth, dict):
        auth = auth.sync()
    http = provider.build_chat(request, stream=stream, auth=auth)
    target = "/" + http.url.split("://", 1)[1].partition("/")[2]
    path, _, qs = target.partition("?")
    for route in registered_routes():
        if route.method != "POST":
            continue
        m = route.regex.match(path) if route.regex is not None else None
        if route.pattern == path or m:
            params = {k: unquote(v) for k, v in m.groupdict().items()} if m else {}
            break
    else:
        raise AssertionError(f"no fake route for {path}")
    headers = {k.lower(): v for k, v in http.headers.items()}
    rec = RecordedRequest(
        "POST", path, headers, json.loads(http.content), http.content, 0.0,
        dict(parse_qsl(qs)), params, "req_fuzz",
    )  # fmt: skip
    return route.handler(Call(rec, params, REPLY, 1, 3, 8))


@functools.cache
def valid_bodies(provider: Provider) -> tuple[bytes, bytes]:
    """(a whole non-streaming body, a whole stream) as ``provider`` would receive them."""
    body = _render(provider, stream=False)
    stream = _render(provider, stream=True)
    assert isinstance(body, Body) and isinstance(stream, Stream)
    return body.content, b"".join(stream.events)
