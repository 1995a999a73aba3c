"""What inspection found, in a form that is safe to log, trace and put in audit records.

A :class:`Finding` says *what* was found and *where*, never the text itself: findings travel
to telemetry and audit sinks, and a finding that carried the credit-card number it found would
leak exactly what the policy exists to protect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["Finding", "FlowDirection", "Hit"]

FlowDirection: TypeAlias = Literal["input", "output"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection and what was done about it.

    ``category`` is dotted: ``pii.email``, ``secrets.aws_access_key_id``, ``topic.hate speech``,
    ``phrase``/``regex`` (or the entry's ``name``), ``moderator.<label>``. ``location`` names
    the part of the request or response (``messages[2].content``,
    ``messages[1].tool_calls[0].arguments``, ``text``); ``start``/``end`` are offsets into
    that part's original text, and ``message_index`` the message it belongs to.
    """

    category: str
    action: str
    direction: FlowDirection
    start: int
    end: int
    location: str = "text"
    message_index: int | None = None
    detector: str = ""
    score: float | None = None
    """Topic score or moderator confidence; ``None`` for deterministic detectors."""
    replacement: str | None = None
    """The placeholder or mask written in place of the text (never the original)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A detector's raw result: a span of the scanned text. Internal to the engine."""

    start: int
    end: int
    category: str
    label: str
    """Placeholder label: ``EMAIL`` gives ``[EMAIL_1]``."""
    detector: str
    priority: int = 50
    """Wins overlaps against lower priorities (an IBAN over the card number inside it)."""
    score: float | None = None
