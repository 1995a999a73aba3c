"""A settable clock for the limits tests: epoch seconds that move only when told."""

from __future__ import annotations

from datetime import datetime, timezone

T0 = datetime(2026, 3, 10, 12, 0, 0, tzinfo=timezone.utc).timestamp()


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
