"""What every codec's decoder does the same way, whatever the provider's wire format.

Each decoder reads a body with plain indexing inside one ``try`` and turns any lookup or type
failure into a ``DecodeError``; which exceptions count and how the error reads are the same
for all of them, so they are written here once. Only the ``raise`` calls into this module:
the ``try`` stays inline in the decoder, where it costs nothing while bodies are well formed
(``decode_chat`` runs on every OpenAI call).

Anthropic, Bedrock and Gemini also all send a tool call's input as a JSON *object*, which
becomes the JSON *text* our ``FunctionCall.arguments`` holds (OpenAI's shape).
"""

from __future__ import annotations

import json
from typing import Any

from .._types import FunctionCall, ToolCall
from ..errors import DecodeError

__all__ = ["SHAPE_ERRORS", "arguments_json", "invalid_json", "shape_error", "tool_call"]

SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError)
"""What reading a body of the wrong shape raises: a missing key or item, a wrong type."""


def shape_error(what: str, error: Exception, provider: str) -> DecodeError:
    """A whole body (``what``: ``"chat completion"``, ``"Converse"``...) lacks a field."""
    return DecodeError(f"{what} body lacks {error!s} or has the wrong shape", provider=provider)


def invalid_json(what: str, error: ValueError, provider: str, data: str) -> DecodeError:
    """One streamed ``data:`` payload (``what``: ``"stream chunk"``...) is not JSON."""
    return DecodeError(
        f"{what} is not valid JSON: {error}", provider=provider, body_snippet=data[:200]
    )


def arguments_json(value: Any) -> str:
    """A tool call's input object as the JSON text of ``FunctionCall.arguments``."""
    return json.dumps(value or {}, ensure_ascii=False)


def tool_call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    """A tool call whose input came as a JSON object (Anthropic, Bedrock, Gemini)."""
    return ToolCall(
        id=str(call_id), function=FunctionCall(name=str(name), arguments=arguments_json(arguments))
    )
