"""Single-flight: identical concurrent misses make one upstream call, the others wait for it.

Why a hand-rolled primitive: the waiters may be threads (``Client``) or asyncio tasks on any
event loop (``AsyncClient``), and the leader may be either too. A ``Flight`` therefore holds a
``threading.Event`` for blocking waiters and a list of ``(loop, future)`` pairs that it
settles with ``call_soon_threadsafe``, so a sync leader can wake async waiters and the other
way round. Waiting is always bounded: a waiter that times out simply makes its own call.

A leader must never wait on itself: a thread that holds an unfinished stream and then asks
for the same answer would block forever. ``Flight`` remembers the leader's thread and task so
a waiter in that position proceeds at once instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from threading import get_ident

from .._stages import CacheHit

__all__ = ["Flight", "current_owner"]


def current_owner() -> tuple[int, asyncio.Task[object] | None]:
    """The running thread and, inside a coroutine, the running task."""
    # ``_get_running_loop`` answers None outside a loop where ``current_task`` raises: a
    # sync caller (the common case) pays no exception.
    loop = asyncio.events._get_running_loop()
    return get_ident(), (asyncio.current_task(loop) if loop is not None else None)


_LOCK = threading.RLock()
"""Guards every flight's resolution against waiters registering (a few instructions each, so
one lock serves them all rather than one made per flight). Re-entrant, like
``ResponseCache._lock``: a finaliser run by the garbage collector may resolve a flight."""


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Flight:
    """One upstream call in progress for a key; resolved exactly once.

    Most flights are never waited on, so the ``threading.Event`` blocking waiters sleep on is
    made by the first of them (under the lock), not with every flight.
    """

    __slots__ = ("_done", "_event", "_futures", "answer", "error", "task", "thread")

    def __init__(self) -> None:
        self.thread, self.task = current_owner()
        self.answer: CacheHit | None = None
        self.error: BaseException | None = None
        self._done = False
        self._event: threading.Event | None = None
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] | None = None

    @property
    def done(self) -> bool:
        return self._done

    def resolve(self, answer: CacheHit | None, error: BaseException | None) -> None:
        """Publish the leader's outcome and wake every waiter; later calls are ignored."""
        with _LOCK:
            if self._done:
                return
            self.answer = answer
            self.error = error
            self._done = True
            futures, self._futures = self._futures, None
            event = self._event
        if event is not None:
            event.set()
        for loop, fut in futures or ():
            # A closed loop raises RuntimeError: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, fut)

    # ------------------------------------------------------------------ waiting

    def would_deadlock_sync(self) -> bool:
        """A blocking wait in the leader's own thread can never be woken by the leader."""
        return threading.get_ident() == self.thread

    def would_deadlock_async(self) -> bool:
        thread, task = current_owner()
        if task is not None and task is self.task:
            return True
        # A sync leader in this thread (a suspended sync stream): nothing guarantees it moves.
        return self.task is None and thread == self.thread

    def wait(self, timeout: float) -> bool:
        """Block until resolved; ``False`` on timeout."""
        event = self._event
        if event is None:
            made = threading.Event()  # allocated outside the lock: nothing in it can re-enter
            with _LOCK:
                if self._done:
                    return True
                if self._event is None:
                    self._event = made
                event = self._event
        return event.wait(timeout)

    async def wait_async(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)  # allocated outside the lock: nothing in it can re-enter
        with _LOCK:
            if self._done:
                return True
            if self._futures is None:
                self._futures = [entry]
            else:
                self._futures.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            return self._done
        return True
