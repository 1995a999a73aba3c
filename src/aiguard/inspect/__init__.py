"""Content inspection: find PII, secrets, blocked phrases and topics in what leaves the
process and what comes back, and block, redact, mask, hash or flag them, all in process.

Build a :class:`ContentInspector` once from a :class:`ModerationSpec` (the policy's
``contentModeration`` section) and share it; give each call its own :class:`Vault`.

Names load on first use, so that the policy model (which only needs :mod:`.spec`) does not
pay for the engine at import time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "Vault": "._actions",
    "CustomDetector": "._compile",
    "RequestResult": "._messages",
    "ResponseResult": "._messages",
    "check_pattern": "._regex",
    "InspectionStage": "._stage",
    "ContentInspector": ".engine",
    "TextResult": ".engine",
    "Finding": ".findings",
    "ModerationVerdict": ".moderator",
    "Moderator": ".moderator",
    "StreamInspector": ".stream",
    **{
        name: ".spec"
        for name in (
            "AllowEntry",
            "BlockEntry",
            "CustomDetectorSpec",
            "ModerationSpec",
            "ModeratorSettings",
            "PiiSpec",
            "SecretsSpec",
            "TopicSpec",
        )
    },
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
