"""Content inspection: find PII, secrets, blocked phrases and topics in what leaves and
what comes back, and block, redact, mask, hash or flag them, all in process."""

from __future__ import annotations

from ._regex import check_pattern
from .spec import (
    AllowEntry,
    BlockEntry,
    CustomDetectorSpec,
    ModerationSpec,
    ModeratorSettings,
    PiiSpec,
    SecretsSpec,
    TopicSpec,
)

__all__ = [
    "AllowEntry",
    "BlockEntry",
    "CustomDetectorSpec",
    "ModerationSpec",
    "ModeratorSettings",
    "PiiSpec",
    "SecretsSpec",
    "TopicSpec",
    "check_pattern",
]
