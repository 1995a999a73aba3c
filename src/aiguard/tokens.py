"""Token counting and prices, offline.

OpenAI-family models are counted exactly with tiktoken (``o200k_base`` for gpt-4o, gpt-4.1,
gpt-4.5, gpt-5 and the o-series; ``cl100k_base`` for gpt-4 and gpt-3.5), from encoding files
shipped inside aiguard and verified against tiktoken's pinned SHA-256 hashes. Nothing is
downloaded and nothing is loaded at import: the first count loads its encoding once.

Every other model family gets a documented, deliberately generous estimate
(``ceil(utf8_bytes / 3)`` per text, 4 tokens per message, 1,600 per image) flagged
``estimated=True``; limits reserve it and settlement replaces it with the provider's usage.

>>> from aiguard.tokens import count_request, PriceTable
>>> count_request(request, model="gpt-4o-mini").tokens
>>> PriceTable().cost("gpt-4o-mini", usage)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._tokens._chat import TokenCount, count_chat, count_text, image_size
from ._tokens._encodings import encoding_name_for_model, get_encoding, loaded_encodings
from ._tokens._prices import (
    DEFAULT_PRICES,
    Price,
    PriceTable,
    UnknownModelPriceWarning,
    normalize_model,
)
from ._types import ChatRequest, MessageInput, Tool, coerce_messages
from .errors import InvalidRequestError

if TYPE_CHECKING:
    import tiktoken

    from ._types import Usage

__all__ = [
    "DEFAULT_PRICES",
    "Price",
    "PriceTable",
    "TokenCount",
    "UnknownModelPriceWarning",
    "cost",
    "count_messages",
    "count_request",
    "count_text",
    "encoding_for_model",
    "encoding_name_for_model",
    "image_size",
    "loaded_encodings",
    "normalize_model",
]


def count_messages(
    messages: str | Sequence[MessageInput],
    model: str,
    *,
    tools: Sequence[Tool] | None = None,
) -> TokenCount:
    """Prompt tokens of a chat, including per-message overhead, names, tools and images."""
    return count_chat(coerce_messages(messages), model, tools)


def count_request(request: ChatRequest, model: str | None = None) -> TokenCount:
    """Prompt tokens of ``request`` for ``model`` (the provider's model id; defaults to
    ``request.model``)."""
    name = model or request.model
    if not name:
        raise InvalidRequestError("count_request needs a model: pass model=... (e.g. 'gpt-4o')")
    return count_chat(request.messages, name, request.tools)


def encoding_for_model(model: str) -> tiktoken.Encoding | None:
    """The shipped tiktoken encoding of an OpenAI model; ``None`` for other families."""
    name = encoding_name_for_model(model)
    return None if name is None else get_encoding(name)


def cost(model: str, usage: Usage, prices: PriceTable | None = None) -> float | None:
    """Dollars for ``usage`` on ``model`` from ``prices`` (default: the built-in table)."""
    return (prices if prices is not None else _default_table()).cost(model, usage)


@functools.lru_cache(maxsize=1)
def _default_table() -> PriceTable:
    """One shared built-in table, so "warn once per unknown model" holds process-wide."""
    return PriceTable()
