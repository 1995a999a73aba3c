"""The in-process backend: a time-aware LRU, bounded by entries and by bytes.

Why per-entry expiry: a call may override the TTL (``cache_ttl=``), so expiry is per entry;
eviction when full is least-recently-used. Entries are kept as objects (frozen pydantic
models), never serialised, so a hit costs a dict lookup and no decoding; their size for the
byte bound is the length of their serialised form, measured once when stored (and only when
``max_bytes`` is set). The first hit on an entry replaces its response with the copy every
hit is served as (``cached=True``, ``cost=0.0``), so later hits need no copy at all.

Why not cachetools' ``TLRUCache``: it is the same algorithm (an ordered dict for recency, a
heap for expiry), but written for generality, and its bookkeeping (an ordering object per
entry compared in Python, a size per entry in a second dict) was most of a store's cost. Here
the heap holds plain tuples and one slot per entry carries its value, expiry and size. Expired
entries are dropped before every store (so they never push a live entry out) and are never
returned. The lock makes it thread-safe (even a read reorders the LRU).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .._stages import CacheHit
from ._codec import encode

__all__ = ["MemoryBackend"]


class _Slot:
    __slots__ = ("expires", "hit", "marked", "seq", "size")

    def __init__(self, hit: CacheHit, expires: float, size: int, seq: int) -> None:
        self.hit = hit
        self.expires = expires
        self.size = size
        self.seq = seq
        self.marked = False


def _marked(hit: CacheHit) -> CacheHit:
    """``hit`` as every hit is served: ``cached=True``, ``cost=0.0`` (the pipeline copies a
    response that does not read so; made once per entry, it is shared by all later hits)."""
    r = hit.response
    if r.cached and r.cost == 0.0:
        return hit
    return CacheHit(r.model_copy(update={"cached": True, "cost": 0.0}), hit.events)


_HEAP_SLACK = 2
"""Rebuild the expiry heap when it holds this many times more records than live entries
(records of replaced or evicted entries are left in it and skipped when they surface)."""


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
        self._data: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first
        self._heap: list[tuple[float, int, str]] = []  # (expires, seq, key)
        self._seq = itertools.count()
        self._bytes = 0

    def get(self, key: str) -> CacheHit | None:
        with self._lock:
            slot = self._data.get(key)
            if slot is None:
                return None
            if self._timer() < slot.expires:
                self._data.move_to_end(key)
                if not slot.marked:  # the first hit marks the entry; misses never pay it
                    slot.hit = _marked(slot.hit)
                    slot.marked = True
                return slot.hit
            self._drop(key, slot)  # expired: never served
            return None

    def set(self, key: str, hit: CacheHit, ttl: float) -> None:
        max_bytes = self.max_bytes
        size = 1
        if max_bytes is not None:
            size = len(encode(hit))
            if size > max_bytes:
                return  # it does not fit on its own; whatever the key held stays
        with self._lock:
            now = self._timer()
            data = self._data
            heap = self._heap
            if heap and heap[0][0] <= now:
                self._expire(now)
            old = data.get(key)
            if old is not None:
                self._drop(key, old)
            expires = now + ttl
            if not now < expires:
                return  # already expired: storing it would only hide nothing
            if len(data) >= self.max_entries:
                self._evict_entries()
            if max_bytes is not None:
                while data and self._bytes + size > max_bytes:
                    self._drop(*data.popitem(last=False))
                self._bytes += size
            seq = next(self._seq)
            data[key] = _Slot(hit, expires, size, seq)
            if len(heap) > _HEAP_SLACK * len(data) + 64:
                heap = self._rebuild_heap()
            heapq.heappush(heap, (expires, seq, key))

    def _drop(self, key: str, slot: _Slot) -> None:
        """Remove ``key`` (currently holding ``slot``); its heap record goes stale."""
        self._data.pop(key, None)
        if self.max_bytes is not None:
            self._bytes -= slot.size

    def _evict_entries(self) -> None:
        data = self._data
        while len(data) >= self.max_entries:
            slot = data.popitem(last=False)[1]
            if self.max_bytes is not None:
                self._bytes -= slot.size

    def _expire(self, now: float) -> None:
        """Drop every entry whose time is up (earliest expiry first)."""
        heap, data = self._heap, self._data
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            slot = data.get(key)
            if slot is not None and slot.seq == seq:
                self._drop(key, slot)

    def _rebuild_heap(self) -> list[tuple[float, int, str]]:
        heap = self._heap = [(s.expires, s.seq, k) for k, s in self._data.items()]
        heapq.heapify(heap)
        return heap

    async def aget(self, key: str) -> CacheHit | None:
        return self.get(key)

    async def aset(self, key: str, hit: CacheHit, ttl: float) -> None:
        self.set(key, hit, ttl)

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._timer())
            return len(self._data)

    @property
    def size_bytes(self) -> int:
        """Total serialised size held (only measured when ``max_bytes`` is set)."""
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._heap.clear()
            self._bytes = 0
