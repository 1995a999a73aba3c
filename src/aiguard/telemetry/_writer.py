"""The audit log's background writer: the call path only enqueues.

A call must never wait on disk or fail because the audit store did. Records go into a bounded
queue; one daemon thread drains it in batches into every sink. When the queue is full the
record is counted as dropped and reported (a warning, ``dropped``, and a metric), never lost
silently, unless ``full_wait_s`` lets the caller wait for room first. ``close()`` and
interpreter exit drain everything that was accepted.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ._audit import AuditRecord, complete

_LINGER_S = 0.02

__all__ = ["AuditLog", "AuditSink"]

_log = logging.getLogger("aiguard.telemetry")


@runtime_checkable
class AuditSink(Protocol):
    """Where audit records end up. Called only from the writer thread."""

    def write(self, records: Sequence[AuditRecord]) -> None: ...

    def purge(self) -> int:
        """Delete what is older than the retention period; return how many went."""
        ...

    def close(self) -> None: ...


# What the call path hands over: (record, request, response, capture_content). A plain tuple
# is the cheapest thing to build and to unpack on the writer thread.
_Entry = tuple[AuditRecord, Any, Any, bool]


class AuditLog:
    """Accepts records on the call path and writes them off it.

    ``submit`` never raises, and by default never blocks: it returns ``False`` when the record
    had to be dropped because ``queue_size`` records are already waiting. ``full_wait_s``
    lets it wait that long for room first (the writer gets the CPU meanwhile), for an
    application that would rather slow down than lose an audit record when its writer falls
    behind. ``purge_interval_s`` is how often the writer enforces retention on the sinks
    (they also purge when opened); ``clock`` is the monotonic clock that schedules it.

    The call path pays for a tuple, one uncontended lock and a deque append. The writer is
    woken once per batch, not once per record: it sleeps on an event that the first record
    after an idle spell sets, then lingers ``_LINGER_S`` so that a busy application's records
    go into one transaction (a commit costs far more than a row, and every wake-up of the
    writer is a GIL hand-off that a CPU-bound caller pays for).
    """

    def __init__(
        self,
        sinks: AuditSink | Sequence[AuditSink],
        *,
        queue_size: int = 10_000,
        batch_size: int = 256,
        purge_interval_s: float = 3600.0,
        hash_key: bytes | None = None,
        full_wait_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sinks: tuple[AuditSink, ...] = (
            (sinks,) if isinstance(sinks, AuditSink) else tuple(sinks)
        )
        if not self.sinks:
            raise ConfigError("AuditLog needs at least one sink, e.g. SQLiteAuditStore(path)")
        if queue_size < 1 or batch_size < 1:
            raise ConfigError("AuditLog queue_size and batch_size must be at least 1")
        if purge_interval_s <= 0:
            raise ConfigError("AuditLog purge_interval_s must be positive (seconds)")
        if not full_wait_s >= 0:
            raise ConfigError("AuditLog full_wait_s must be zero or a positive number of seconds")
        self._full_wait = float(full_wait_s)
        self._maxsize = queue_size
        self._batch = batch_size
        self._purge_every = purge_interval_s
        self._hash_key = hash_key
        self._clock = clock
        self._fresh_state()
        self._dropped = 0
        self._closed = False
        self._next_purge = clock() + purge_interval_s
        self._thread = threading.Thread(target=self._run, name="aiguard-audit", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        if hasattr(os, "register_at_fork"):
            # A pre-forking server (gunicorn --preload) forks after the log exists: the child
            # has no writer thread and must not share the parent's SQLite connection.
            os.register_at_fork(after_in_child=functools.partial(_after_fork, weakref.ref(self)))

    def _fresh_state(self) -> None:
        self._pending: deque[_Entry] = deque()
        # A plain lock: the call path takes it once per record, uncontended (directly, not
        # through the condition's Python-level ``__enter__``).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._accepted = 0
        self._processed = 0
        self._written = 0
        self._write_errors = 0

    # ------------------------------------------------------------------ call path
    def submit(
        self,
        record: AuditRecord,
        *,
        request: Any = None,
        response: Any = None,
        capture_content: bool = False,
    ) -> bool:
        """Queue one record; ``request``/``response`` must already be redacted.

        They are used off the call path for content hashes, and for content only when
        ``capture_content`` is true.
        """
        entry = (record, request, response, capture_content)
        with self._lock:
            full = self._closed or len(self._pending) >= self._maxsize
            if full and self._full_wait and not self._closed:
                self._cond.wait_for(self._room_or_closed, self._full_wait)
                full = self._closed or len(self._pending) >= self._maxsize
            if not full:
                self._pending.append(entry)
                self._accepted += 1
        if full:
            self._drop()
            return False
        wake = self._wake
        if not wake.is_set():  # the writer is asleep (or about to be): one wake-up per batch
            wake.set()
        return True

    def _room_or_closed(self) -> bool:
        return self._closed or len(self._pending) < self._maxsize

    def _drop(self) -> None:
        with self._cond:
            self._dropped += 1
            n = self._dropped
        if n & (n - 1) == 0:  # 1, 2, 4, 8...: reported, without flooding the log
            _log.warning(
                "aiguard audit log dropped %d record(s) so far: the writer cannot keep up "
                "or the log is closed (raise queue_size or use a faster sink)",
                n,
            )

    # ------------------------------------------------------------------ counters
    @property
    def accepted(self) -> int:
        return self._accepted

    @property
    def written(self) -> int:
        return self._written

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def write_errors(self) -> int:
        return self._write_errors

    # ------------------------------------------------------------------ lifecycle
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every accepted record has reached the sinks; ``False`` on timeout."""
        with self._cond:
            target = self._accepted
            return self._cond.wait_for(lambda: self._processed >= target, timeout)

    def purge(self) -> int:
        """Enforce retention now on every sink (the writer also does it periodically)."""
        total = 0
        for sink in self.sinks:
            try:
                total += sink.purge()
            except Exception as e:  # a sink failure must not reach the caller
                _log.warning("aiguard audit purge failed on %s: %s", type(sink).__name__, e)
        return total

    def close(self, timeout: float | None = 30.0) -> None:
        """Write everything accepted, then close the sinks. Safe to call twice."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()  # a submit waiting for room gives up: the log is closed
        atexit.unregister(self.close)
        self._wake.set()
        self._thread.join(timeout)
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:
                _log.warning("aiguard audit sink %s failed to close: %s", type(sink).__name__, e)
        if self._dropped:
            _log.warning("aiguard audit log closed; %d record(s) were dropped", self._dropped)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _restart_in_child(self) -> None:
        """After ``fork``: fresh queue, locks, sink handles and writer thread.

        Records the parent accepted stay the parent's to write; the child starts empty.
        """
        self._fresh_state()
        for sink in self.sinks:
            reopen = getattr(sink, "after_fork", None)
            if callable(reopen):
                reopen()
        if not self._closed:
            self._thread = threading.Thread(target=self._run, name="aiguard-audit", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        pending, wake = self._pending, self._wake
        while True:
            if not pending and not self._closed:
                wait = max(0.0, self._next_purge - self._clock())
                wake.clear()  # then look again: a record queued meanwhile has set it anew
                if not pending and not self._closed:
                    wake.wait(min(wait, 1.0) if wait else 0.001)
            if pending and len(pending) < self._batch and not self._closed:
                # Linger briefly so a busy app writes one transaction per batch, not one per
                # call (a commit costs far more than a row).
                time.sleep(_LINGER_S)
            stop = self._closed  # read before draining: whatever was accepted is written
            n = min(len(pending), self._batch)
            batch = [pending.popleft() for _ in range(n)]
            if batch and self._full_wait:  # a caller may be waiting for room
                with self._cond:
                    self._cond.notify_all()
            if self._clock() >= self._next_purge:  # before the write: flush() implies it
                self._next_purge = self._clock() + self._purge_every
                self.purge()
            if batch:
                self._write(batch)
            if stop and not pending:
                return

    def _write(self, batch: list[_Entry]) -> None:
        records: list[AuditRecord] = []
        hash_key = self._hash_key
        for record, request, response, capture in batch:
            try:
                records.append(
                    complete(record, request, response, capture_content=capture, hash_key=hash_key)
                )
            except Exception:  # a record we cannot hash is still kept, without hashes
                records.append(record)
        ok = True
        for sink in self.sinks:
            try:
                sink.write(records)
            except Exception as e:
                ok = False
                _log.warning("aiguard audit sink %s failed: %s", type(sink).__name__, e)
        with self._cond:
            if ok:
                self._written += len(records)
            else:
                self._write_errors += len(records)
            self._processed += len(batch)
            self._cond.notify_all()


def _after_fork(ref: weakref.ref[AuditLog]) -> None:
    log = ref()
    if log is not None:
        log._restart_in_child()
