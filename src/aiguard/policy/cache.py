"""The ``cache`` section: when an identical request may be answered from a stored reply.

Off by default, deterministic requests only by default, and never shared between tenants
unless asked: a cache that returns one tenant's answer to another is a data leak.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from ._model import PositiveInt, Section

__all__ = ["CacheSpec"]


class CacheSpec(Section):
    """Response caching keyed on the whole (redacted) request, route and tenant."""

    enabled: bool = False
    ttl_seconds: PositiveInt = 3600
    """How long a stored reply may be served."""
    max_entries: PositiveInt = 10_000
    """Memory backend: entries kept before the least recently used are evicted."""
    max_bytes: PositiveInt | None = None
    """Memory backend: total size of stored replies before eviction."""
    deterministic_only: bool = True
    """Cache only requests with ``temperature: 0`` or a ``seed``."""
    share_across_tenants: bool = False
    """Let tenants share answers to identical requests (the tenant leaves the cache key)."""
    backend: Literal["memory", "redis"] = "memory"
    """``memory`` (one process) or ``redis`` (shared by a fleet)."""
    url: str | None = None
    """Redis URL; required for the ``redis`` backend."""

    @model_validator(mode="after")
    def _valid(self) -> CacheSpec:
        if self.backend == "redis" and not self.url:
            raise ValueError(".url: required for backend 'redis' (redis://host:6379/0)")
        if self.backend != "redis" and self.url:
            raise ValueError(".url: only used by backend 'redis'")
        if self.url and not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f".url: must start with redis://, rediss:// or unix://, got {self.url!r}"
            )
        return self
