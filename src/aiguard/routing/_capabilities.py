"""Can this endpoint serve this request? Features as bit masks, the prompt against the window.

Why bit masks: the check runs for every member of every plan on every call, so a request's
needs are computed once and each endpoint's gaps once at build time; the per-endpoint test is
then one ``&``. The context-window test is the only costly one (it counts tokens), so it runs
only for endpoints that declare a window, and only when a cheap upper bound on the prompt
does not already prove it fits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._call import PROMPT_TOKENS_NOTE
from .._types import ChatRequest, TextPart

if TYPE_CHECKING:
    from .._call import Call
    from ..providers._base import Capabilities

__all__ = ["describe", "lacks", "needs", "prompt_tokens", "window_reason"]

TOOLS = 1
IMAGES = 2
JSON_SCHEMA = 4
JSON_MODE = 8
STREAMING = 16
EMBEDDINGS = 32

_NAMES = (
    (TOOLS, "tools"),
    (IMAGES, "image input"),
    (JSON_SCHEMA, "JSON schema output"),
    (JSON_MODE, "JSON mode"),
    (STREAMING, "streaming"),
    (EMBEDDINGS, "embeddings"),
)


def lacks(caps: Capabilities) -> int:
    """The features an endpoint cannot serve."""
    missing = 0
    if not caps.tools:
        missing |= TOOLS
    if not caps.images:
        missing |= IMAGES
    if not caps.json_schema:
        missing |= JSON_SCHEMA
    if not caps.json_mode:
        missing |= JSON_MODE
    if not caps.streaming:
        missing |= STREAMING
    if not caps.embeddings:
        missing |= EMBEDDINGS
    return missing


def needs(call: Call) -> int:
    """The features ``call`` uses."""
    if call.operation == "embeddings":
        return EMBEDDINGS
    request = call.request
    assert isinstance(request, ChatRequest)
    n = STREAMING if call.stream else 0
    if request.tools:
        n |= TOOLS
    rf = request.response_format
    if rf is not None:
        if rf.type == "json_schema":
            n |= JSON_SCHEMA
        elif rf.type == "json_object":
            n |= JSON_MODE
    for m in request.messages:
        if type(m.content) is tuple:
            n |= IMAGES if any(type(p) is not TextPart for p in m.content) else 0
    return n


def describe(missing: int) -> str:
    return "cannot serve " + ", ".join(name for bit, name in _NAMES if missing & bit)


def _upper_bound(request: ChatRequest) -> int | None:
    """Tokens the prompt certainly does not exceed, or ``None`` when no cheap bound exists.

    A byte-level BPE token covers at least one UTF-8 byte, a character is at most four bytes,
    and a message's framing costs well under 16 tokens; images and tools have no such bound.
    """
    if request.tools:
        return None
    total = 16
    for m in request.messages:
        c = m.content
        if isinstance(c, str):
            total += 4 * len(c) + 16
        elif c is None:
            total += 16
        else:
            return None
        if m.tool_calls:
            return None
        total += 4 * (len(m.name or "") + len(m.tool_call_id or ""))
    return total


def prompt_tokens(call: Call, model: str) -> int:
    """The prompt's tokens for ``model`` (exact for OpenAI models, a generous estimate else)."""
    memo: dict[str, int] | None = call.notes.get(PROMPT_TOKENS_NOTE)
    if memo is None:
        memo = call.notes[PROMPT_TOKENS_NOTE] = {}
    found = memo.get(model)
    if found is None:
        from ..tokens import count_request

        request = call.request
        assert isinstance(request, ChatRequest)
        found = memo[model] = count_request(request, model=model).tokens
    return found


def window_reason(call: Call, model: str, window: int) -> str | None:
    """Why an endpoint with a ``window``-token context cannot take this prompt, if it cannot."""
    request = call.request
    if not isinstance(request, ChatRequest):
        return None
    bound = _upper_bound(request)
    if bound is not None and bound <= window:
        return None
    tokens = prompt_tokens(call, model)
    if tokens > window:
        return f"context window {window} < estimated prompt {tokens} tokens"
    return None
