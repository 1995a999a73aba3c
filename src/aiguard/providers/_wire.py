"""Small conversions the non-OpenAI codecs (Anthropic, Gemini, Bedrock) all need.

Our unified messages follow OpenAI's shapes: images are URLs or ``data:`` URIs and tool
arguments are JSON *text*. The other providers want base64 blocks with a media type and tool
input as a JSON *object*, so each conversion lives here once, with errors that name the
message to fix.
"""

from __future__ import annotations

import json
from typing import Any

from .._types import ChatRequest, Message, TextPart
from ..errors import InvalidRequestError

__all__ = [
    "add_turn",
    "parse_data_uri",
    "split_system",
    "tool_arguments",
    "tool_result_text",
]


def parse_data_uri(url: str) -> tuple[str, str] | None:
    """``data:image/png;base64,AAAA`` -> ``("image/png", "AAAA")``; ``None`` for other URLs."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        raise InvalidRequestError(
            "image data URI must be base64 encoded: data:<media-type>;base64,<data>"
        )
    media_type = head[: -len(";base64")] or "application/octet-stream"
    return media_type, data


def tool_arguments(arguments: str, where: str) -> dict[str, Any]:
    """An assistant tool call's JSON text -> the object providers want as tool input."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        raise InvalidRequestError(
            f"{where}: tool call arguments must be a JSON object, got invalid JSON"
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{where}: tool call arguments must be a JSON object")
    return value


def tool_result_text(m: Message) -> str:
    """A ``tool`` message's content as text (image parts are not tool results anywhere)."""
    return m.text


def add_turn(turns: list[dict[str, Any]], role: str, key: str, items: list[Any]) -> None:
    """Append a ``{"role": role, key: items}`` turn, or extend the last turn when it has the
    same role: Bedrock and Gemini want the roles to alternate, so tool results and the user
    text that follows them travel as one user turn."""
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: items})


def split_system(request: ChatRequest) -> tuple[str | None, list[tuple[int, Message]]]:
    """Hoist system/developer messages into one instruction; keep the rest with their index.

    Anthropic, Gemini and Bedrock take the system prompt beside the conversation, not in it.
    """
    system: list[str] = []
    rest: list[tuple[int, Message]] = []
    for i, m in enumerate(request.messages):
        if m.role in ("system", "developer"):
            c = m.content
            if isinstance(c, tuple) and not all(isinstance(p, TextPart) for p in c):
                raise InvalidRequestError(f"messages[{i}]: a system message can only hold text")
            system.append(m.text)
        else:
            rest.append((i, m))
    return ("\n\n".join(system) if system else None), rest
