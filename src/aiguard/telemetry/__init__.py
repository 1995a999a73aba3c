"""OpenTelemetry GenAI spans and metrics, the audit log, and usage reports.

The pipeline drives a ``Telemetry``: ``start_call`` opens a call's span and returns a
``CallRecorder`` whose methods mirror the pipeline's stages. An ``AuditLog`` writes one
``AuditRecord`` per call off the call path into its sinks; ``SQLiteAuditStore`` is the
embedded default and what ``usage_summary`` and ``write_html_report`` read.
"""

from __future__ import annotations

from ._audit import AuditRecord, Violation
from ._console import console
from ._html import write_html_report
from ._policy import audit_log_from_policy
from ._recorder import AttemptRecorder, CallRecorder
from ._report import UsageRow, UsageSummary, usage_summary
from ._sinks import JSONLinesSink, LoggingSink, OTelLogSink
from ._sqlite import SQLiteAuditStore
from ._stage import TelemetryStage
from ._telemetry import Telemetry, capture_content_from_env
from ._writer import AuditLog, AuditSink

__all__ = [
    "AttemptRecorder",
    "AuditLog",
    "AuditRecord",
    "AuditSink",
    "CallRecorder",
    "JSONLinesSink",
    "LoggingSink",
    "OTelLogSink",
    "SQLiteAuditStore",
    "Telemetry",
    "TelemetryStage",
    "UsageRow",
    "UsageSummary",
    "Violation",
    "audit_log_from_policy",
    "capture_content_from_env",
    "console",
    "usage_summary",
    "write_html_report",
]
