"""Content inspection: find PII, secrets, blocked phrases and topics in what leaves the
process and what comes back, and block, redact, mask, hash or flag them, all in process.

Build a :class:`ContentInspector` once from a :class:`ModerationSpec` (the policy's
``contentModeration`` section) and share it; give each call its own :class:`Vault`.
"""

from __future__ import annotations

from ._actions import Vault
from ._compile import CustomDetector
from ._messages import RequestResult, ResponseResult
from ._regex import check_pattern
from ._stage import InspectionStage
from .engine import ContentInspector, TextResult
from .findings import Finding
from .moderator import ModerationVerdict, Moderator
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
from .stream import StreamInspector

__all__ = [
    "AllowEntry",
    "BlockEntry",
    "ContentInspector",
    "CustomDetector",
    "CustomDetectorSpec",
    "Finding",
    "InspectionStage",
    "ModerationSpec",
    "ModerationVerdict",
    "Moderator",
    "ModeratorSettings",
    "PiiSpec",
    "RequestResult",
    "ResponseResult",
    "SecretsSpec",
    "StreamInspector",
    "TextResult",
    "TopicSpec",
    "Vault",
    "check_pattern",
]
