"""One cached answer as bytes: the raw response plus, for a streamed answer, its raw events.

Why keep the events: a streaming caller that hits the cache must see the very events the
provider sent (chunking, tool-call deltas, usage) rather than a re-synthesised stream, and a
non-streaming caller gets the aggregated response. The format is versioned JSON so a newer
aiguard can refuse (treat as a miss) what it does not understand instead of misreading it.
"""

from __future__ import annotations

import zlib
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .._stages import CacheHit
from .._types import ChatResponse, StreamEvent

__all__ = ["compress", "decode", "decompress", "encode"]


class _Stored(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = 1
    response: ChatResponse
    events: tuple[StreamEvent, ...] | None = None


def encode(hit: CacheHit) -> bytes:
    """JSON bytes; ``None`` fields are omitted (they come back as their defaults)."""
    stored = _Stored(response=hit.response, events=hit.events)
    return stored.__pydantic_serializer__.to_json(stored, exclude_none=True)


def decode(data: bytes) -> CacheHit:
    """The inverse of ``encode``; raises ``ValueError`` (pydantic's) on anything else."""
    stored = _Stored.model_validate_json(data)
    return CacheHit(stored.response, stored.events)


def compress(hit: CacheHit, level: int = 6) -> bytes:
    return zlib.compress(encode(hit), level)


def decompress(data: bytes) -> CacheHit:
    try:
        raw = zlib.decompress(data)
    except zlib.error as e:
        raise ValueError(f"cached value is not zlib data: {e}") from None
    return decode(raw)
