"""The ``logging`` section: the audit record every call leaves behind.

Content (prompts and answers) is not captured unless asked for, because an audit log that
holds every prompt becomes the most sensitive store in the system.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from ._model import PositiveInt, Section

__all__ = ["LoggingSpec"]


class LoggingSpec(Section):
    """Audit logging of every call: who, what policy decided, which endpoint, usage, cost."""

    enabled: bool = False
    """Write an audit record for every call."""
    retention_days: PositiveInt | None = None
    """Days a record is kept: the ``sqlite`` and ``jsonl`` sinks delete older records; the
    ``logging`` and ``otel`` sinks attach it to each record for the log backend to honour."""
    sink: Literal["sqlite", "jsonl", "logging", "otel"] = "sqlite"
    """``sqlite`` (the embedded default) and ``jsonl`` write to ``path``; ``logging`` uses the
    ``aiguard.audit`` logger; ``otel`` emits OpenTelemetry log events."""
    path: str | None = None
    """File for the ``sqlite`` and ``jsonl`` sinks; ``sqlite`` defaults to
    ``aiguard-audit.db`` in the working directory."""
    capture_content: bool = False
    """Record prompts and answers (after redaction) in the audit record."""

    @model_validator(mode="after")
    def _valid(self) -> LoggingSpec:
        if self.sink == "jsonl" and not self.path:
            raise ValueError(".path: required for sink 'jsonl'")
        if self.sink not in ("sqlite", "jsonl") and self.path:
            raise ValueError(f".path: only used by sinks 'sqlite' and 'jsonl', not {self.sink!r}")
        return self
