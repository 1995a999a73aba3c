"""A moderator double shared by the moderation tests of the client, guards and the SDK."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from aiguard.inspect import ModerationVerdict


class Judge:
    """Flags "forbidden" (with its span), fails (``mode="fail"``), or, with ``mode="hang"``,
    waits for texts containing ``hang_on``: on an Event the test sets when it ends (sync),
    or forever (async, cancelled by the timeout)."""

    def __init__(self, mode: str = "ok", hang_on: str = "") -> None:
        self.mode = mode
        self.hang_on = hang_on
        self.seen: list[str] = []
        self.release = threading.Event()

    def _hangs(self, text: str) -> bool:
        return self.mode == "hang" and self.hang_on in text

    def moderate(self, text: str) -> Sequence[ModerationVerdict]:
        self.seen.append(text)
        if self._hangs(text):
            self.release.wait(10)
        if self.mode == "fail":
            raise RuntimeError("moderation endpoint down")
        at = text.find("forbidden")
        return [ModerationVerdict("harm", 0.9, start=at, end=at + 9)] if at >= 0 else []

    async def amoderate(self, text: str) -> Sequence[ModerationVerdict]:
        if self._hangs(text):
            self.seen.append(text)
            await asyncio.Event().wait()
        return self.moderate(text)


def moderated_policy(**moderator: Any) -> dict[str, Any]:
    """A policy that redacts PII (restored in answers) and runs a moderator."""
    return {
        "spec": {
            "contentModeration": {
                "blockList": ["PII"],
                "pii": {"action": "redact", "restore": True},
                "moderator": {"timeout": 0.2, **moderator},
            },
            "logging": {"enabled": False},
        }
    }
