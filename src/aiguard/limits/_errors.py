"""Why a limit store failed: unreachable (a per-limit fail-open may apply) or corrupted
(always an error: a counter must never silently reset)."""

from __future__ import annotations

from ..errors import LimitStoreError

__all__ = ["LimitStoreCorrupted", "LimitStoreUnavailable"]


class LimitStoreUnavailable(LimitStoreError):
    """The store could not be reached (connection refused, timeout, database locked)."""


class LimitStoreCorrupted(LimitStoreError):
    """The store holds something aiguard did not write: a damaged SQLite file, a Redis key
    of the wrong type. ``where`` names the file or key. Never fails open."""

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(message)
        self.where = where
