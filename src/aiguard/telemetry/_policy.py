"""The policy's ``logging`` section turned into an ``AuditLog``.

Takes the parsed section (``aiguard.policy`` ``LoggingSpec``) or the raw mapping from YAML
(``{enabled: true, retentionDays: 90}``), so the telemetry package does not import the policy
package and either can load first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from ._sinks import JSONLinesSink, LoggingSink, OTelLogSink
from ._sqlite import SQLiteAuditStore
from ._writer import AuditLog, AuditSink

__all__ = ["audit_log_from_policy"]

_SINKS = ("sqlite", "jsonl", "logging", "otel")


def _field(section: Any, snake: str, camel: str, default: Any) -> Any:
    if isinstance(section, Mapping):
        return section.get(camel, section.get(snake, default))
    return getattr(section, snake, default)


def audit_log_from_policy(
    section: Any,
    *,
    clock: Callable[[], float] = time.time,
    default_path: str = "aiguard-audit.db",
    **log_options: Any,
) -> AuditLog | None:
    """An ``AuditLog`` as the section says, or ``None`` when ``enabled`` is false or absent.

    ``sink`` defaults to ``sqlite`` at ``default_path`` when the section names neither sink
    nor path (the seed policy's ``{enabled: true, retentionDays: 90}``). ``log_options`` go
    to ``AuditLog`` (``queue_size``, ``purge_interval_s``...).
    """
    if section is None or not _field(section, "enabled", "enabled", False):
        return None
    days = _field(section, "retention_days", "retentionDays", None)
    if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float))):
        raise ConfigError(f"logging.retentionDays must be a number of days, got {days!r}")
    path = _field(section, "path", "path", None)
    kind = _field(section, "sink", "sink", None) or "sqlite"
    if kind not in _SINKS:
        raise ConfigError(f"logging.sink must be one of {', '.join(_SINKS)}, got {kind!r}")
    sink: AuditSink
    if kind == "sqlite":
        sink = SQLiteAuditStore(path or default_path, retention_days=days, clock=clock)
    elif kind == "jsonl":
        if not path:
            raise ConfigError("logging.path is required for sink 'jsonl'")
        sink = JSONLinesSink(path, retention_days=days, clock=clock)
    elif kind == "logging":
        sink = LoggingSink(retention_days=days)
    else:
        sink = OTelLogSink(retention_days=days)
    return AuditLog(sink, **log_options)


def capture_content_of(section: Any) -> bool:
    """The section's ``captureContent`` switch (off unless set)."""
    return bool(section is not None and _field(section, "capture_content", "captureContent", False))
