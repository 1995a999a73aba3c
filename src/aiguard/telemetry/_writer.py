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
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ._audit import AuditRecord, complete, content_hashes, record_fields, record_of
from ._sqlite import SQLiteAuditStore

# How long the writer waits for more records before writing a partial batch. ``flush``,
# ``close``, a full batch and a submit waiting for room end the wait early.
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
# is the cheapest thing to build and to unpack on the writer thread. The record may also be
# the tuple of its fields without the last three (``submit_fields``): no record object is
# then built on the call path, and none at all for a SQLite store, which binds the fields.
_Entry = tuple["AuditRecord | tuple[Any, ...]", Any, Any, bool]


class _Marker:
    """Queued behind the records it waits for: ``flush`` waits on it, ``close`` stops the
    writer with it."""

    __slots__ = ("done", "stop")

    def __init__(self, stop: bool = False) -> None:
        self.done = threading.Event()
        self.stop = stop


class AuditLog:
    """Accepts records on the call path and writes them off it.

    ``submit`` never raises, and by default never blocks: it returns ``False`` when the record
    had to be dropped because ``queue_size`` records are already waiting. ``full_wait_s``
    lets it wait that long for room first (the writer gets the CPU meanwhile), for an
    application that would rather slow down than lose an audit record when its writer falls
    behind. ``purge_interval_s`` is how often the writer enforces retention on the sinks
    (they also purge when opened); ``clock`` is the monotonic clock that schedules it.

    The call path pays for a tuple, one uncontended lock and a queue put, all in C. The
    writer is woken once per batch, not once per record: it blocks in the queue's ``get``
    until the first record after an idle spell, then lingers up to ``_LINGER_S`` so that a
    busy application's records go into one transaction (a commit costs far more than a row,
    and every wake-up of the writer is a GIL hand-off that a CPU-bound caller pays for). The
    linger ends early for whoever is waiting: ``flush`` and ``close`` (which queue a marker
    behind the records they wait for, so the writer signals no one after an ordinary batch),
    a full batch, and a submit waiting for room.
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
        # The writer stops lingering once this many entries wait behind the one it holds: a
        # full batch, or a full queue (further records would be dropped). ``submit`` takes
        # its fast path while the queue stays two below it.
        self._enough = min(batch_size - 1, queue_size)
        self._calm = self._enough - 1
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
        # Records and markers, in order. A C queue: ``put`` wakes a writer blocked in ``get``
        # without any Python-level condition code on either side.
        self._queue: queue.SimpleQueue[_Entry | _Marker] = queue.SimpleQueue()
        # A plain lock: the call path takes it once per record, uncontended; it orders
        # ``submit`` against ``close`` (nothing is queued behind the closing marker).
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # only for ``full_wait_s``
        # The writer lingers in ``acquire(timeout=...)`` on this lock, held while nobody is in
        # a hurry; releasing it (``_hurry_writer``) ends the linger. A raw lock, not an Event:
        # the wait is one C call, and the call path never touches it.
        self._hurry = threading.Lock()
        self._hurry.acquire()
        # Who waits on the writer: flush/close markers it has not reached yet, and submits
        # waiting for room. While there is anyone, the writer does not linger.
        self._waiting = 0
        self._accepted = 0
        self._written = 0
        self._write_errors = 0
        self._stopped = False  # the writer has passed the closing marker and exited

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
        return self._put((record, request, response, capture_content))

    def submit_fields(
        self, fields: tuple[Any, ...], request: Any, response: Any, capture_content: bool
    ) -> bool:
        """``submit`` for a record given as its fields in declaration order, without
        ``input_hash``, ``output_hash`` and ``content`` (the writer adds them). The pipeline's
        stage has no use for a record object, and the SQLite store needs none either."""
        return self._put((fields, request, response, capture_content))

    def _put(self, entry: _Entry) -> bool:
        q = self._queue
        with self._lock:
            n = q.qsize()
            if n < self._calm and not self._closed:  # the usual case: room, no batch waiting
                q.put(entry)
                self._accepted += 1
                return True
            accepted = self._put_busy(entry, n)
        if not accepted:
            self._drop()
        return accepted

    def _put_busy(self, entry: _Entry, n: int) -> bool:
        """``_put`` with the lock held when the log is closed, the queue full, or a batch
        is waiting: the writer is told not to linger."""
        q = self._queue
        full = self._closed or n >= self._maxsize
        if full and self._full_wait and not self._closed:
            self._waiting += 1
            self._hurry_writer()
            try:
                self._room.wait_for(self._room_or_closed, self._full_wait)
            finally:
                self._waiting -= 1
            full = self._closed or q.qsize() >= self._maxsize
        if full:
            return False
        q.put(entry)
        self._accepted += 1
        self._hurry_writer()
        return True

    def _hurry_writer(self) -> None:
        """End the writer's linger now (or its next one). Called with ``_lock`` held, so two
        callers cannot both release the lock."""
        if self._hurry.locked():
            self._hurry.release()

    def _room_or_closed(self) -> bool:
        return self._closed or self._queue.qsize() < self._maxsize

    def _drop(self) -> None:
        with self._lock:
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
        marker = _Marker()
        with self._lock:
            if self._stopped:
                return True  # closed and drained: everything accepted was written
            self._queue.put(marker)
            self._waiting += 1
            self._hurry_writer()
        return marker.done.wait(timeout)

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
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._room.notify_all()  # a submit waiting for room gives up: the log is closed
            self._queue.put(_Marker(stop=True))  # behind every accepted record
            self._waiting += 1
            self._hurry_writer()
        atexit.unregister(self.close)
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
        if self._closed:
            self._stopped = True  # no writer in this process: nothing would answer a flush
        else:
            self._thread = threading.Thread(target=self._run, name="aiguard-audit", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        q, limit, hurry = self._queue, self._batch, self._hurry
        while True:
            # Until the next record, or at least once a second (a test clock may have moved
            # the purge time meanwhile).
            wait = min(max(self._next_purge - self._clock(), 0.001), 1.0)
            try:
                first = q.get(timeout=wait)
            except queue.Empty:
                first = None
            if type(first) is tuple:
                # Linger so that a busy app writes one transaction per batch, not one per call
                # (a commit costs far more than a row), unless someone is waiting. Re-arm the
                # hurry lock first: a release from before now is stale, and what it announced
                # (a marker, a submit waiting for room, a full batch or queue) is checked after
                # the re-arm; a release from after the check ends the wait.
                hurry.acquire(False)
                if not self._waiting and q.qsize() < self._enough:
                    hurry.acquire(timeout=_LINGER_S)
            taken = [] if first is None else [first]
            n = min(q.qsize(), limit - len(taken))
            taken += [q.get() for _ in range(n)]
            if taken and self._full_wait:  # a caller may be waiting for room
                with self._lock:
                    self._room.notify_all()
            if self._clock() >= self._next_purge:  # before the write: flush() implies it
                self._next_purge = self._clock() + self._purge_every
                self.purge()
            if self._drain(taken):
                return

    def _drain(self, taken: list[_Entry | _Marker]) -> bool:
        """Write the records taken, releasing each marker once what precedes it is written;
        ``True`` once the closing marker is reached."""
        records: list[_Entry] = []
        stop = False
        for item in taken:
            if type(item) is tuple:
                records.append(item)
                continue
            assert isinstance(item, _Marker)
            if records:
                self._write(records)
                records = []
            stop = stop or item.stop
            with self._lock:
                self._waiting -= 1
            item.done.set()
        if records:
            self._write(records)
        if stop:  # only markers can follow the closing one: release any flush waiting
            with self._lock:  # and no flush queues one after this (it sees ``_stopped``)
                self._stopped = True
                while not self._queue.empty():
                    late = self._queue.get()
                    if isinstance(late, _Marker):
                        late.done.set()
        return stop

    def _write(self, batch: list[_Entry]) -> None:
        # Every record as its fields, hashes included; record objects only for sinks that
        # take them (the SQLite store binds the fields as they are).
        rows: list[tuple[Any, ...]] = []
        hash_key = self._hash_key
        for item, request, response, capture in batch:
            try:
                if isinstance(item, tuple):
                    rows.append(item + content_hashes(request, response, capture, hash_key))
                else:
                    rows.append(
                        record_fields(
                            complete(
                                item, request, response, capture_content=capture, hash_key=hash_key
                            )
                        )
                    )
            except Exception:  # a record we cannot hash is still kept, without hashes
                rows.append(
                    (*item, None, None, None) if isinstance(item, tuple) else record_fields(item)
                )
        records: list[AuditRecord] | None = None
        ok = True
        for sink in self.sinks:
            try:
                if type(sink) is SQLiteAuditStore:
                    sink.write_fields(rows)
                    continue
                if records is None:
                    records = [record_of(r) for r in rows]
                sink.write(records)
            except Exception as e:
                ok = False
                _log.warning("aiguard audit sink %s failed: %s", type(sink).__name__, e)
        if ok:
            self._written += len(rows)
        else:
            self._write_errors += len(rows)


def _after_fork(ref: weakref.ref[AuditLog]) -> None:
    log = ref()
    if log is not None:
        log._restart_in_child()
