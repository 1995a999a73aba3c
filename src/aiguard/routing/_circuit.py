"""One circuit breaker per endpoint: stop sending to an endpoint that keeps failing.

Why a breaker and not only retries: retries help one call through a blip, but when an endpoint
is down every call would still pay its timeouts and backoff before failing over. After
``failure_threshold`` consecutive failures the breaker *opens* and routing skips the endpoint
outright (no waiting); after ``cooldown`` it turns *half-open* and lets exactly one call probe
it. The probe's success closes the breaker; its failure reopens it with a doubled cooldown (up
to ``max_cooldown``), so a long outage is probed less and less often.

A breaker is shared by every call of a client, from any thread or task, so each one guards
its state with a lock; the lock is never held across I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError

__all__ = ["CircuitBreaker", "CircuitConfig", "CircuitState"]

CircuitState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class CircuitConfig:
    """When a breaker opens and how long it stays open."""

    failure_threshold: int = 5
    """Consecutive failures (retryable errors: 5xx, 429, timeouts, resets) that open it."""
    cooldown: float = 30.0
    """Seconds an open breaker waits before letting one probe through."""
    max_cooldown: float = 300.0
    """Cap for the cooldown, which doubles each time a probe fails."""

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ConfigError(
                f"circuit failure_threshold must be >= 1, got {self.failure_threshold!r}"
            )
        if self.cooldown <= 0 or self.max_cooldown < self.cooldown:
            raise ConfigError(
                f"circuit cooldown must be > 0 and <= max_cooldown, got cooldown="
                f"{self.cooldown!r}, max_cooldown={self.max_cooldown!r}"
            )


class CircuitBreaker:
    """The breaker of one endpoint. ``token`` identifies the call holding the probe."""

    __slots__ = (
        "_clock",
        "_cooldown",
        "_failures",
        "_listener",
        "_lock",
        "_probe",
        "_probe_since",
        "_reopen_at",
        "_state",
        "config",
        "name",
    )

    def __init__(
        self,
        name: str,
        config: CircuitConfig,
        clock: Callable[[], float],
        listener: Callable[[str, bool], None] | None = None,
    ) -> None:
        """``listener(name, closed)`` hears every change between closed and not closed."""
        self.name = name
        self._listener = listener
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._state: CircuitState = "closed"
        self._failures = 0
        self._cooldown = config.cooldown
        self._reopen_at = 0.0
        self._probe: object | None = None
        self._probe_since = 0.0

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state!r})"

    @property
    def state(self) -> CircuitState:
        """The state as routing would see it now (an elapsed cooldown reads as half-open)."""
        state = self._state
        if state == "open" and self._clock() >= self._reopen_at:
            return "half_open"
        return state

    @property
    def is_closed(self) -> bool:
        """Lock-free fast path for routing: a closed breaker needs no further thought."""
        return self._state == "closed"

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        return max(0.0, self._reopen_at - self._clock()) if self._state == "open" else 0.0

    def acquire(self, token: object) -> str | None:
        """May ``token``'s call use this endpoint? ``None``: yes; otherwise why not.

        A half-open breaker admits one call (the probe) and refuses the rest until the probe
        reports. A probe that never reports (its call was abandoned without a word) is given
        up after one cooldown, so a lost token cannot keep an endpoint out of rotation.
        """
        if self._state == "closed":
            return None
        with self._lock:
            now = self._clock()
            if self._state == "open":
                if now < self._reopen_at:
                    return f"circuit open (next probe in {self._reopen_at - now:.1f}s)"
                self._state = "half_open"
                self._probe = None
            if self._state == "half_open":
                if self._probe is None or self._probe is token:
                    self._probe, self._probe_since = token, now
                    return None
                if now - self._probe_since >= self._cooldown:
                    self._probe, self._probe_since = token, now
                    return None
                return "circuit half-open (a probe is in flight)"
            return None

    def release(self, token: object) -> None:
        """``token``'s call ended without trying the endpoint: hand the probe back."""
        if self._probe is token:
            with self._lock:
                if self._probe is token:
                    self._probe = None

    def record_success(self) -> None:
        if self._state == "closed" and self._failures == 0:
            return
        with self._lock:
            if self._state == "open":
                return  # a call from before the trip: not evidence about now
            self._close()

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            if self._state == "closed":
                self._failures += 1
                if self._failures >= self.config.failure_threshold:
                    self._open(now)
            elif self._state == "half_open":
                self._cooldown = min(self._cooldown * 2, self.config.max_cooldown)
                self._open(now)

    def _open(self, now: float) -> None:
        was_closed = self._state == "closed"
        self._state = "open"
        self._reopen_at = now + self._cooldown
        self._probe = None
        if was_closed and self._listener is not None:
            self._listener(self.name, False)

    def _close(self) -> None:
        was_closed = self._state == "closed"
        self._state = "closed"
        self._failures = 0
        self._cooldown = self.config.cooldown
        self._probe = None
        if not was_closed and self._listener is not None:
            self._listener(self.name, True)

    def reset(self) -> None:
        """Close the breaker and forget its history (tests, operator action)."""
        with self._lock:
            self._close()
