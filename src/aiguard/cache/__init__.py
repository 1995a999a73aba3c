"""Response caching that is never wrong: exact keys, tenant isolation, stream replay,
single-flight, and a Redis backend for fleets.

Plug the stage into a client::

    from aiguard.cache import MemoryBackend, ResponseCache

    cache = ResponseCache(MemoryBackend(max_entries=10_000, max_bytes=64 << 20), ttl=3600)
    client = aiguard.Client(endpoints=..., stages={"cache": cache})
    client.chat("2+2?", temperature=0)                 # miss: goes upstream, stored
    client.chat("2+2?", temperature=0).cached          # True: nothing sent

See ``docs/caching.md`` for what goes into a key, what is stored, and how single-flight and
backend failures behave.
"""

from __future__ import annotations

from ._keys import KEY_SCHEMA_VERSION, UncacheableRequest, cache_key, canonical_request, key_prefix
from ._memory import MemoryBackend
from ._redis import RedisBackend
from ._stage import CacheBackend, CacheNote, CacheStats, ResponseCache

__all__ = [
    "KEY_SCHEMA_VERSION",
    "CacheBackend",
    "CacheNote",
    "CacheStats",
    "MemoryBackend",
    "RedisBackend",
    "ResponseCache",
    "UncacheableRequest",
    "cache_key",
    "canonical_request",
    "key_prefix",
]
