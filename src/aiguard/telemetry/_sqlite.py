"""The embedded audit store: one SQLite file, WAL, retention enforced on every read.

WAL with ``synchronous=NORMAL`` keeps the file consistent when the writing process is killed
mid-transaction (the unfinished batch is simply absent on reopen); ``synchronous="FULL"``
also survives power loss at the cost of an fsync per batch. Several processes may share the
file: SQLite serialises the writers and ``busy_timeout`` absorbs the waits.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from itertools import chain
from operator import attrgetter, truth
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ._audit import AuditRecord, Violation

__all__ = ["SQLiteAuditStore"]

_COLUMNS = (
    "record_id", "time", "operation", "outcome", "principal", "tenant", "region", "route",
    "run_id", "requested_model", "endpoint", "provider", "model", "error_type", "violations",
    "input_tokens", "output_tokens", "cost", "latency_ms", "cache_hit", "attempts", "stream",
    "request_id", "response_id", "policy_hash", "input_hash", "output_hash", "content",
)  # fmt: skip
_FILTERS = frozenset(
    ("tenant", "principal", "model", "endpoint", "provider", "outcome", "route", "region")
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  {", ".join(c + (" REAL NOT NULL" if c == "time" else "") for c in _COLUMNS)}
);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time);
CREATE INDEX IF NOT EXISTS audit_tenant_time ON audit(tenant, time);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
_SCHEMA_VERSION = "1"
_DAY = 86400.0


class SQLiteAuditStore:
    """An audit sink you can also query; reports read from it.

    ``retention_days`` (the policy's ``logging.retentionDays``) is enforced three ways:
    records older than it are purged when the store opens, whenever ``purge()`` runs (the
    ``AuditLog`` writer calls it periodically), and every query filters them out, so an old
    record is never returned even between purges. ``clock`` gives epoch seconds; tests inject
    one. ``None`` keeps records forever.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retention_days: float | None = None,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention_days is not None and retention_days <= 0:
            raise ConfigError(
                f"retention_days must be a positive number of days or None, got {retention_days!r}"
            )
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = Path(path)
        self.retention_days = retention_days
        self._clock = clock
        self._lock = threading.Lock()
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._target = str(path)
        self._synchronous = synchronous
        self._db = self._connect()
        self._cur = self._db.cursor()  # the writer's, reused: a cursor per batch costs more
        self.purge()

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self._target, timeout=30.0, check_same_thread=False, isolation_level=None
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute("PRAGMA busy_timeout=30000")
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)", (_SCHEMA_VERSION,)
            )
        except sqlite3.DatabaseError as e:
            raise ConfigError(f"cannot open audit store {self._target!r}: {e}") from e
        return db

    # ------------------------------------------------------------------ sink
    def write(self, records: Sequence[AuditRecord]) -> None:
        """Insert the records in one transaction: all of them or (on error) none."""
        self.write_fields([_record_fields(r) for r in records])

    def write_fields(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """``write`` for records given as their fields, every one in ``AuditRecord``'s
        declaration order: what the ``AuditLog`` writer hands this store, so that it builds
        no record object only for this store to read back."""
        self._insert(_bindable(rows), len(rows))

    def _insert(self, params: list[Any], rows: int) -> None:
        if not params:
            return
        # Several rows per statement (executing a statement costs more than a row), in a few
        # fixed shapes: preparing a statement of many rows costs as much as writing hundreds
        # of them, so a new shape for every batch size would be paid again and again.
        chunks = _chunks(rows)
        with self._lock:
            cur = self._cur
            if len(chunks) == 1:  # one statement: atomic without BEGIN and COMMIT
                cur.execute(_insert_sql(rows), params)
                return
            cur.execute("BEGIN IMMEDIATE")
            try:
                start = 0
                for size in chunks:
                    end = start + size * _NCOL
                    cur.execute(_insert_sql(size), params[start:end])
                    start = end
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def cutoff(self) -> float | None:
        """Epoch seconds before which records are out of retention (``None``: keep all)."""
        if self.retention_days is None:
            return None
        return self._clock() - self.retention_days * _DAY

    def purge(self) -> int:
        cut = self.cutoff()
        if cut is None:
            return 0
        with self._lock:
            cur = self._db.execute("DELETE FROM audit WHERE time < ?", (cut,))
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def after_fork(self) -> None:
        """In a forked child: a connection of its own (SQLite forbids sharing one across
        ``fork``); the inherited one is abandoned, not closed, as the parent still uses it."""
        self._lock = threading.Lock()
        self._db = self._connect()
        self._cur = self._db.cursor()

    def __enter__(self) -> SQLiteAuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ queries
    def records(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        **where: str,
    ) -> Iterator[AuditRecord]:
        """Records in time order, never older than the retention period.

        ``since``/``until`` are epoch seconds; keyword filters match columns exactly
        (``tenant=``, ``principal=``, ``model=``, ``endpoint=``, ``provider=``, ``outcome=``,
        ``route=``, ``region=``).
        """
        bad = set(where) - _FILTERS
        if bad:
            raise ConfigError(
                f"unknown audit filter(s) {', '.join(sorted(bad))}; "
                f"valid: {', '.join(sorted(_FILTERS))}"
            )
        clauses: list[str] = []
        args: list[Any] = []
        lower = [x for x in (since, self.cutoff()) if x is not None]
        if lower:
            clauses.append("time >= ?")
            args.append(max(lower))
        if until is not None:
            clauses.append("time < ?")
            args.append(until)
        for k, v in sorted(where.items()):
            clauses.append(f"{k} = ?")
            args.append(v)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY time, seq"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        for row in rows:
            yield _from_row(row)

    def count(self) -> int:
        """How many records are within retention."""
        cut = self.cutoff()
        with self._lock:
            if cut is None:
                (n,) = self._db.execute("SELECT COUNT(*) FROM audit").fetchone()
            else:
                (n,) = self._db.execute(
                    "SELECT COUNT(*) FROM audit WHERE time >= ?", (cut,)
                ).fetchone()
        return int(n)

    def integrity_ok(self) -> bool:
        with self._lock:
            (res,) = self._db.execute("PRAGMA integrity_check").fetchone()
        return bool(res == "ok")


_NCOL = len(_COLUMNS)
_ROWS_PER_INSERT = 32  # 896 parameters: under the 999 of SQLite builds before 3.32
# SQLite stores a NaN parameter as NULL. The sqlite3 module binds a float directly but a
# ``None`` only after a failed adapter lookup (several microseconds per NULL column).
_NULL = float("nan")


_SHAPES = tuple(1 << i for i in range(_ROWS_PER_INSERT.bit_length() - 1, -1, -1))


@functools.lru_cache(maxsize=64)
def _chunks(rows: int) -> tuple[int, ...]:
    """Statement sizes for ``rows`` rows: as many full statements as fit, then the binary
    digits of the rest (27 rows: 16 + 8 + 2 + 1), so only ``_SHAPES`` are ever prepared."""
    full, rest = divmod(rows, _ROWS_PER_INSERT)
    return (_ROWS_PER_INSERT,) * full + tuple(size for size in _SHAPES if rest & size)


@functools.lru_cache(maxsize=len(_SHAPES))
def _insert_sql(rows: int) -> str:
    # The columns in the record's field order: rows are bound as they come, not permuted.
    marks = "(" + ", ".join("?" * _NCOL) + ")"
    return f"INSERT INTO audit ({', '.join(_FIELD_NAMES)}) VALUES " + ", ".join([marks] * rows)


def _violations_json(v: Sequence[Violation]) -> str:
    return json.dumps([list(x) for x in v])


_FIELD_NAMES = tuple(f.name for f in fields(AuditRecord))
if sorted(_FIELD_NAMES) != sorted(_COLUMNS):  # every field is a column, and only those
    raise ImportError("SQLiteAuditStore's columns must be AuditRecord's fields")
_record_fields = attrgetter(*_FIELD_NAMES)  # a record's fields, read straight from its slots
_VIOLATIONS = _FIELD_NAMES.index("violations")
_CACHE_HIT = _FIELD_NAMES.index("cache_hit")
_STREAM = _FIELD_NAMES.index("stream")

_AS_INT = (0, 1).__getitem__  # a truth value as the integer SQLite stores


def _bindable(rows: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Every row's fields, one flat list ready to bind: NULL as NaN, booleans as integers,
    violations as JSON. The last two column by column over the whole batch, in C."""
    flat = list(chain.from_iterable(rows))
    if len(flat) != _NCOL * len(rows):
        raise ValueError(f"every audit row needs {_NCOL} fields")
    # A comprehension beats ``map({None: NaN}.get, flat, flat)``: no hash of every value.
    out = [_NULL if v is None else v for v in flat]
    out[_CACHE_HIT::_NCOL] = map(_AS_INT, map(truth, flat[_CACHE_HIT::_NCOL]))
    out[_STREAM::_NCOL] = map(_AS_INT, map(truth, flat[_STREAM::_NCOL]))
    out[_VIOLATIONS::_NCOL] = [
        _violations_json(v) if v else _NULL for v in flat[_VIOLATIONS::_NCOL]
    ]
    return out


def _from_row(row: Sequence[Any]) -> AuditRecord:
    d = dict(zip(_COLUMNS, row, strict=True))
    d["violations"] = tuple(Violation(*v) for v in json.loads(d["violations"] or "[]"))
    return AuditRecord.from_dict(d)
