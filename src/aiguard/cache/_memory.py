"""The in-process backend: cachetools' time-aware LRU, bounded by entries and by bytes.

Why ``TLRUCache`` rather than ``TTLCache``: a call may override the TTL (``cache_ttl=``), so
expiry is per entry; eviction when full is least-recently-used either way. Entries are kept
as objects (frozen pydantic models), so a hit costs a dict lookup and no decoding; their size
for the byte bound is the length of their serialised form, measured once when stored. The
first hit on an entry replaces its response with the copy every hit is served as
(``cached=True``, ``cost=0.0``), so later hits need no copy at all and misses never pay it.
cachetools is not thread-safe (even a read reorders the LRU), hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import Cache, TLRUCache

from .._stages import CacheHit
from ._codec import encode

__all__ = ["MemoryBackend"]


@dataclass(slots=True)
class _Slot:
    hit: CacheHit
    ttl: float
    size: int
    marked: bool = False


def _marked(hit: CacheHit) -> CacheHit:
    """``hit`` as every hit is served: ``cached=True``, ``cost=0.0`` (the pipeline copies a
    response that does not read so; made once per entry, it is shared by all later hits)."""
    r = hit.response
    if r.cached and r.cost == 0.0:
        return hit
    return CacheHit(r.model_copy(update={"cached": True, "cost": 0.0}), hit.events)


_holds = Cache.__contains__
"""Whether an entry (live or expired) is held: one dict lookup, no clock read. A miss tested
this way costs no ``KeyError`` (``TLRUCache.__getitem__`` raises two on the way out)."""


def _ttu(_key: str, slot: _Slot, now: float) -> float:
    return now + slot.ttl


def _sizeof(slot: _Slot) -> int:
    return slot.size


class MemoryBackend:
    """Answers kept in this process, lost on restart, never shared between processes.

    ``max_entries`` bounds the number of answers and ``max_bytes`` (optional) their total
    serialised size; the least recently used go first, and an answer larger than
    ``max_bytes`` on its own is not stored. ``timer`` is the monotonic clock expiry is
    measured on (tests inject one they move by hand).
    """

    blocking = False
    """Lookups never wait on I/O, so the stage calls this backend inline (no ``Io``)."""

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1 or None, got {max_bytes!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._data: TLRUCache[str, _Slot]
        if max_bytes is None:
            self._data = TLRUCache(maxsize=max_entries, ttu=_ttu, timer=timer)
        else:
            self._data = TLRUCache(maxsize=max_bytes, ttu=_ttu, timer=timer, getsizeof=_sizeof)

    def get(self, key: str) -> CacheHit | None:
        with self._lock:
            data = self._data
            if not _holds(data, key):
                return None
            try:
                slot = data[key]  # one lookup; ``.get`` would check expiry twice
            except KeyError:  # held but expired
                return None
            if not slot.marked:  # the first hit marks the entry; misses never pay it
                slot.hit = _marked(slot.hit)
                slot.marked = True
            return slot.hit

    def set(self, key: str, hit: CacheHit, ttl: float) -> None:
        if self.max_bytes is None:
            # Bounded by entries only: the TLRU's own ``maxsize`` is ``max_entries``.
            slot = _Slot(hit, ttl, 1)
            with self._lock:
                self._data[key] = slot
            return
        size = len(encode(hit))
        if size > self.max_bytes:
            return  # cachetools would raise "value too large"; it simply does not fit
        slot = _Slot(hit, ttl, size)
        with self._lock:
            data = self._data
            data[key] = slot
            while len(data) > self.max_entries:
                data.popitem()

    async def aget(self, key: str) -> CacheHit | None:
        return self.get(key)

    async def aset(self, key: str, hit: CacheHit, ttl: float) -> None:
        self.set(key, hit, ttl)

    def __len__(self) -> int:
        with self._lock:
            self._data.expire()
            return len(self._data)

    @property
    def size_bytes(self) -> int:
        """Total serialised size held (only measured when ``max_bytes`` is set)."""
        with self._lock:
            return int(self._data.currsize) if self.max_bytes is not None else 0

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
