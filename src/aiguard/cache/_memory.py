"""The in-process backend: cachetools' LRU caches with expiry, bounded by entries and by bytes.

Why two cachetools classes: while every answer has been stored with the same TTL (the usual
case) the entries live in a ``TTLCache``, which costs far less per store than a
``TLRUCache`` (a heap ordered by Python comparisons, which a full cache churns on every
store). The first store with another TTL (``cache_ttl=``, a per-tenant ``ttlSeconds``) moves
them, once and for good, into a ``TLRUCache``, whose expiry is per entry. Both evict the least
recently used entry when full and drop expired ones first, so nothing else changes; each
slot carries its own expiry time so the move keeps it. Entries are kept
as objects (frozen pydantic models), so a hit costs a dict lookup and no decoding; their size
for the byte bound is the length of their serialised form, measured once when stored. The
first hit on an entry replaces its response with the copy every hit is served as
(``cached=True``, ``cost=0.0``), so later hits need no copy at all and misses never pay it.
cachetools is not thread-safe (even a read reorders the LRU), hence the lock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import Cache, TLRUCache, TTLCache

from .._stages import CacheHit
from ._codec import encode

__all__ = ["MemoryBackend"]


@dataclass(slots=True)
class _Slot:
    hit: CacheHit
    expires: float
    """On the backend's timer: what a ``TLRUCache`` needs, and all a move into one keeps."""
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


def _ttu(_key: str, slot: _Slot, _now: float) -> float:
    return slot.expires


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
        self._timer = timer
        self._lock = threading.Lock()
        self._ttl: float | None = None
        """The TTL every entry of the ``TTLCache`` has; ``None`` before the first store and
        once entries with different TTLs live in a ``TLRUCache``."""
        self._data: TTLCache[str, _Slot] | TLRUCache[str, _Slot] = self._uniform(1.0)

    def _bounds(self) -> dict[str, Any]:
        if self.max_bytes is None:
            # Bounded by entries only: the cache's own ``maxsize`` is ``max_entries``.
            return {"maxsize": self.max_entries, "timer": self._timer}
        return {"maxsize": self.max_bytes, "timer": self._timer, "getsizeof": _sizeof}

    def _uniform(self, ttl: float) -> TTLCache[str, _Slot]:
        return TTLCache(ttl=ttl, **self._bounds())

    def _retune(self, ttl: float) -> TTLCache[str, _Slot] | TLRUCache[str, _Slot]:
        """The cache a store with a TTL other than ``self._ttl`` goes into (under the lock):
        a fresh ``TTLCache`` while nothing live is held, else a ``TLRUCache`` holding the live
        entries in the same recency order and with the same expiry times."""
        old = self._data
        if len(old) == 0:  # expires first: nothing live to keep
            self._ttl = ttl
            self._data = self._uniform(ttl)
            return self._data
        live = []
        with contextlib.suppress(KeyError):  # raised once it is empty
            while True:
                live.append(old.popitem())  # least recently used first; expired ones dropped
        self._ttl = None
        new: TLRUCache[str, _Slot] = TLRUCache(ttu=_ttu, **self._bounds())
        for key, slot in live:
            new[key] = slot
        self._data = new
        return new

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
            size = 1
        else:
            size = len(encode(hit))
            if size > self.max_bytes:
                return  # cachetools would raise "value too large"; it simply does not fit
        slot = _Slot(hit, self._timer() + ttl, size)
        with self._lock:
            data = self._data
            if ttl != self._ttl and not isinstance(data, TLRUCache):
                data = self._retune(ttl)
            data[key] = slot
            if self.max_bytes is not None:
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
