"""Counters in this process's memory: the default store.

One ``threading.Lock`` guards a dict of counters. Every critical section is a short, pure
state transition with no I/O and no ``await``, so the same lock is correct for threads and
for asyncio tasks (which can never be suspended while holding it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ._state import AdmitItem, Outcome, SettleItem, State, admit_all, settle_all

__all__ = ["MemoryStore"]

_SWEEP_EVERY = 4096
_GRACE = 3600.0
"""A counter whose window ended (or bucket drained) this long ago is dropped even if a call
admitted into it never settled (its process died): no settlement can matter to it any more."""


class MemoryStore:
    """Thread-safe and asyncio-safe counters for one process. ``clock`` returns epoch
    seconds (UTC windows are computed from it); inject one in tests."""

    native_async = False

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, State] = {}
        self._admits = 0

    def admit(self, items: Sequence[AdmitItem], lease_id: str) -> Outcome:
        # acquire/try/finally rather than ``with``: the same critical section without the
        # context-manager protocol's calls (about 1k instructions; every call admits).
        lock = self._lock
        lock.acquire()
        try:
            now = self._clock()
            self._admits += 1
            if self._admits >= _SWEEP_EVERY:
                self._sweep(now)
            return admit_all(items, self._states, now, lease_id)
        finally:
            lock.release()

    def _sweep(self, now: float) -> None:
        """Drop counters that have drained or whose window ended, so memory stays bounded by
        the keys active in the last period rather than every key ever seen."""
        self._admits = 0
        stale = now - _GRACE
        dead = [
            k
            for k, st in self._states.items()
            if st.expires <= stale or (st.expires <= now and st.c <= 0.0)
        ]
        for k in dead:
            del self._states[k]

    def settle(self, items: Sequence[SettleItem]) -> None:
        lock = self._lock
        lock.acquire()  # as in ``admit``
        try:
            settle_all(items, self._states, self._clock())
        finally:
            lock.release()

    def peek(self, keys: Sequence[str]) -> tuple[list[State | None], float]:
        with self._lock:
            out: list[State | None] = []
            for k in keys:
                st = self._states.get(k)
                if st is None:
                    out.append(None)
                    continue
                copy = State(st.a, st.b, st.c)
                copy.leases = dict(st.leases) if st.leases is not None else None
                out.append(copy)
            return out, self._clock()

    async def aadmit(self, items: Sequence[AdmitItem], lease_id: str) -> Outcome:
        return self.admit(items, lease_id)

    async def asettle(self, items: Sequence[SettleItem]) -> None:
        self.settle(items)

    async def apeek(self, keys: Sequence[str]) -> tuple[list[State | None], float]:
        return self.peek(keys)

    def close(self) -> None:
        """Nothing to release; present so every store can be closed the same way."""
