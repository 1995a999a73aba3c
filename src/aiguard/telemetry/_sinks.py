"""Audit sinks besides SQLite: JSON Lines files, Python ``logging``, OpenTelemetry logs.

Each is called from the writer thread only, so none needs its own locking.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError
from . import _semconv as sc
from ._audit import AuditRecord

__all__ = ["JSONLinesSink", "LoggingSink", "OTelLogSink"]

_DAY = 86400.0


class JSONLinesSink:
    """One JSON object per line, rotated by size like ``RotatingFileHandler``.

    ``audit.jsonl`` is current; ``audit.jsonl.1`` ... ``.<backups>`` are older. Retention
    works per file: a rotated file whose newest record is older than ``retention_days`` is
    deleted (its modification time is when its last record was written). ``fsync=True``
    makes every batch durable before the writer moves on.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = 50 * 1024 * 1024,
        backups: int = 10,
        retention_days: float | None = None,
        fsync: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 1 or backups < 0:
            raise ConfigError("JSONLinesSink: max_bytes must be >= 1 and backups >= 0")
        if retention_days is not None and retention_days <= 0:
            raise ConfigError(f"retention_days must be positive or None, got {retention_days!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.backups = backups
        self.retention_days = retention_days
        self._fsync = fsync
        self._clock = clock
        self._file: IO[str] | None = None
        self.purge()

    def _open(self) -> IO[str]:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        return self._file

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.path.exists():
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def write(self, records: Sequence[AuditRecord]) -> None:
        f = self._open()
        for r in records:
            line = r.to_json() + "\n"
            if f.tell() > 0 and f.tell() + len(line) > self.max_bytes:
                f.flush()
                self._rotate()
                f = self._open()
            f.write(line)
        f.flush()
        if self._fsync:
            os.fsync(f.fileno())

    def files(self) -> list[Path]:
        """Current file first, then rotated ones from newest to oldest."""
        out = [self.path] if self.path.exists() else []
        i = 1
        while (p := self.path.with_name(f"{self.path.name}.{i}")).exists():
            out.append(p)
            i += 1
        return out

    def records(
        self, *, since: float | None = None, until: float | None = None
    ) -> Iterator[AuditRecord]:
        """Every record in the files, oldest file first, within retention and the period.

        A line that does not parse (the torn last line of a process killed mid-write) is
        skipped, so a report can always be built from what is on disk.
        """
        lower = [x for x in (since, self._cutoff()) if x is not None]
        lo = max(lower) if lower else None
        for path in reversed(self.files()):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        r = AuditRecord.from_dict(json.loads(line))
                    except (ValueError, TypeError):
                        continue
                    if (lo is None or r.time >= lo) and (until is None or r.time < until):
                        yield r

    def _cutoff(self) -> float | None:
        if self.retention_days is None:
            return None
        return self._clock() - self.retention_days * _DAY

    def purge(self) -> int:
        """Delete rotated files entirely out of retention; returns how many files went."""
        cut = self._cutoff()
        if cut is None:
            return 0
        gone = 0
        for p in self.files()[1:]:
            if p.stat().st_mtime < cut:
                p.unlink(missing_ok=True)
                gone += 1
        return gone

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def after_fork(self) -> None:
        """In a forked child: open the file afresh (appends stay whole lines, but rotation
        is not coordinated across processes: give each process its own path)."""
        self._file = None


class LoggingSink:
    """Each record as one INFO line on the ``aiguard.audit`` logger, JSON in the message.

    The record's fields also ride along in ``extra={"aiguard_audit": {...}}`` for structured
    handlers. Deleting old lines is the logging backend's business: ``retention_days`` is
    attached to every record (``extra["aiguard_retention_days"]``) for it to honour.
    """

    def __init__(
        self,
        logger: logging.Logger | str = sc.AUDIT_LOGGER,
        level: int = logging.INFO,
        *,
        retention_days: float | None = None,
    ) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level
        self.retention_days = retention_days

    def write(self, records: Sequence[AuditRecord]) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        for r in records:
            extra = {"aiguard_audit": r.to_dict(), "aiguard_retention_days": self.retention_days}
            self.logger.log(self.level, "%s", r.to_json(), extra=extra)

    def purge(self) -> int:
        return 0

    def close(self) -> None:
        return None


def _otel_attributes(r: AuditRecord, retention_days: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if retention_days is not None:
        out["aiguard.retention_days"] = retention_days
    for k, v in r.to_dict().items():
        if v is None or k == "content":
            continue
        if k == "violations":
            if v:
                out["aiguard.violations"] = [f"{c}:{a}:{d}" for c, a, d in v]
            continue
        out[f"aiguard.{k}"] = v
    return out


class OTelLogSink:
    """Records as OpenTelemetry log records (event ``aiguard.audit.record``).

    Uses the logs API shipped in ``opentelemetry-api`` (still under ``opentelemetry._logs``,
    i.e. marked experimental upstream). Attributes carry the record; the redacted content, when
    captured, is the body. Retention belongs to the log backend; ``retention_days`` is attached
    to every record as ``aiguard.retention_days`` for it to honour.
    """

    def __init__(self, logger_provider: Any = None, *, retention_days: float | None = None) -> None:
        self.retention_days = retention_days
        try:
            from opentelemetry._logs import SeverityNumber, get_logger
        except ImportError as e:  # pragma: no cover - present in every supported version
            raise ConfigError(
                "OTelLogSink needs opentelemetry-api with the logs API (>= 1.25)"
            ) from e
        self._info = SeverityNumber.INFO
        self._logger = get_logger(sc.INSTRUMENTATION_NAME, logger_provider=logger_provider)

    def write(self, records: Sequence[AuditRecord]) -> None:
        for r in records:
            fields: dict[str, Any] = {
                "timestamp": int(r.time * 1e9),
                "severity_number": self._info,
                "severity_text": "INFO",
                "body": r.content,
                "attributes": _otel_attributes(r, self.retention_days),
                "event_name": sc.AUDIT_EVENT,
            }
            try:
                self._logger.emit(**fields)
            except TypeError:  # an API from before keyword emit and event names
                from opentelemetry._logs import LogRecord

                del fields["event_name"]
                self._logger.emit(LogRecord(**fields))

    def purge(self) -> int:
        return 0

    def close(self) -> None:
        return None
