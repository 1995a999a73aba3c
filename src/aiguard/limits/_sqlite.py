"""Counters in a SQLite file: survives restarts, shared by processes on one host.

Each admit and each settle is one ``BEGIN IMMEDIATE`` transaction: SQLite's write lock is
taken before the counters are read, so two processes can never both read "99 of 100" and both
admit. The transaction runs the same pure rules as the memory store (``_state.py``). A file
that is not a database, or rows aiguard did not write, raise ``LimitStoreCorrupted`` naming
the file: counters are never silently reset.
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ..errors import ConfigError
from ._errors import LimitStoreCorrupted, LimitStoreUnavailable
from ._model import ALGO_LEASE
from ._state import AdmitItem, Outcome, SettleItem, State, admit_all, settle_all

__all__ = ["SQLiteStore"]

_SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS aiguard_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aiguard_counters (
    key TEXT PRIMARY KEY, a REAL NOT NULL, b REAL NOT NULL, c REAL NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aiguard_leases (
    key TEXT NOT NULL, lease TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, lease)
) WITHOUT ROWID;
"""
_SWEEP_EVERY = 1000


def _is_wal(conn: sqlite3.Connection) -> bool:
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"


_UNAVAILABLE = ("locked", "busy", "unable to open", "readonly", "disk I/O", "full")
"""Operational errors that say the file cannot be used right now, not that it is damaged."""


class SQLiteStore:
    """A SQLite file of counters. ``clock`` returns epoch seconds (inject one in tests);
    ``timeout`` is how long to wait for another process's transaction before failing with
    ``LimitStoreUnavailable``."""

    native_async = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 5.0,
    ) -> None:
        p = os.fspath(path)
        if not p or p == ":memory:":
            raise ConfigError(
                "SQLiteStore needs a file path shared by the processes; for one process use "
                "MemoryStore()"
            )
        parent = os.path.dirname(os.path.abspath(p))
        if not os.path.isdir(parent):
            raise ConfigError(f"SQLiteStore: directory {parent} does not exist; create it first")
        if not timeout > 0:
            raise ConfigError(f"SQLiteStore timeout must be > 0 seconds, got {timeout!r}")
        self.path = p
        self._clock = clock
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writes = 0

    # ------------------------------------------------------------------ connection

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        # New thread, or a forked child (a SQLite connection must never cross a fork).
        with self._errors():
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            try:
                # Switching the journal mode needs the database to itself: only the first
                # connection to a new file does it (WAL persists), so threads and processes
                # opening an existing store never wait on one another here.
                if not _is_wal(conn):
                    try:
                        conn.execute("PRAGMA journal_mode=WAL")
                    except sqlite3.OperationalError:
                        if not _is_wal(conn):  # else another connection switched it first
                            raise
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
                conn.execute(
                    "INSERT OR IGNORE INTO aiguard_meta VALUES ('schema', ?)", (_SCHEMA_VERSION,)
                )
                row = conn.execute("SELECT value FROM aiguard_meta WHERE name='schema'").fetchone()
            except BaseException:
                conn.close()
                raise
        if row is None or row[0] != _SCHEMA_VERSION:
            conn.close()
            raise LimitStoreCorrupted(
                f"limit store {self.path}: schema version {row[0] if row else None!r} is not "
                f"{_SCHEMA_VERSION!r} (written by another aiguard version?)",
                where=self.path,
            )
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._all_lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as e:
            msg = str(e)
            if any(w in msg for w in _UNAVAILABLE):
                raise LimitStoreUnavailable(f"limit store {self.path}: {msg}") from e
            raise LimitStoreCorrupted(
                f"limit store {self.path} is damaged: {msg}", where=self.path
            ) from e
        except sqlite3.DatabaseError as e:
            raise LimitStoreCorrupted(
                f"limit store {self.path} is damaged ({e}); move it aside to start fresh, "
                "counters are not reset automatically",
                where=self.path,
            ) from e

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ------------------------------------------------------------------ state I/O

    def _load(
        self, conn: sqlite3.Connection, keys: Sequence[str], lease_keys: Sequence[str]
    ) -> dict[str, State]:
        states: dict[str, State] = {}
        marks = ",".join("?" * len(keys))
        for key, a, b, c, expires in conn.execute(
            f"SELECT key, a, b, c, expires FROM aiguard_counters WHERE key IN ({marks})",
            tuple(keys),
        ):
            for v in (a, b, c, expires):
                if not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise LimitStoreCorrupted(
                        f"limit store {self.path}: counter {key!r} holds {v!r}, not a number",
                        where=f"{self.path}:{key}",
                    )
            st = State(float(a), float(b), float(c))
            st.expires = float(expires)
            states[key] = st
        if lease_keys:
            marks = ",".join("?" * len(lease_keys))
            for key, lease, exp in conn.execute(
                f"SELECT key, lease, expires FROM aiguard_leases WHERE key IN ({marks})",
                tuple(lease_keys),
            ):
                st = states.setdefault(key, State())
                if st.leases is None:
                    st.leases = {}
                st.leases[lease] = float(exp)
        return states

    def _save(
        self, conn: sqlite3.Connection, states: dict[str, State], lease_keys: Sequence[str]
    ) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO aiguard_counters VALUES (?, ?, ?, ?, ?)",
            [(k, st.a, st.b, st.c, st.expires) for k, st in states.items()],
        )
        for k in lease_keys:
            st = states.get(k)
            conn.execute("DELETE FROM aiguard_leases WHERE key = ?", (k,))
            if st is not None and st.leases:
                conn.executemany(
                    "INSERT INTO aiguard_leases VALUES (?, ?, ?)",
                    [(k, lease, exp) for lease, exp in st.leases.items()],
                )

    def _sweep(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute(
            "DELETE FROM aiguard_counters WHERE expires < ? OR (expires < ? AND c <= 0)",
            (now - 3600, now),
        )
        conn.execute("DELETE FROM aiguard_leases WHERE expires < ?", (now,))

    # ------------------------------------------------------------------ the store protocol

    def admit(self, items: Sequence[AdmitItem], lease_id: str) -> Outcome:
        keys = [it.key for it in items]
        lease_keys = [it.key for it in items if it.algo == ALGO_LEASE]
        with self._write() as conn:
            now = self._clock()
            states = self._load(conn, keys, lease_keys)
            outcome = admit_all(items, states, now, lease_id)
            if outcome.status == 0:
                self._save(conn, states, lease_keys)
                self._writes += 1
                if self._writes % _SWEEP_EVERY == 0:
                    self._sweep(conn, now)
            return outcome

    def settle(self, items: Sequence[SettleItem]) -> None:
        keys = [it.key for it in items]
        lease_keys = [it.key for it in items if it.algo == ALGO_LEASE]
        with self._write() as conn:
            states = self._load(conn, keys, lease_keys)
            settle_all(items, states, self._clock())
            self._save(conn, states, lease_keys)

    def peek(self, keys: Sequence[str]) -> tuple[list[State | None], float]:
        conn = self._conn()
        with self._errors():
            states = self._load(conn, keys, keys)
        return [states.get(k) for k in keys], self._clock()

    async def aadmit(self, items: Sequence[AdmitItem], lease_id: str) -> Outcome:
        return await asyncio.to_thread(self.admit, items, lease_id)

    async def asettle(self, items: Sequence[SettleItem]) -> None:
        await asyncio.to_thread(self.settle, items)

    async def apeek(self, keys: Sequence[str]) -> tuple[list[State | None], float]:
        return await asyncio.to_thread(self.peek, keys)

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for c in conns:
            c.close()
        self._local = threading.local()
