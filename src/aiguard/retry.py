"""When a failed attempt is tried again, and when the call moves to the next endpoint.

The pipeline asks two questions after each failed attempt (``aiguard._stages.RetryPolicy``):
``next_wait`` (retry the same endpoint after this many seconds, or ``None``) and
``fail_over`` (try the next endpoint of the plan). :class:`RetryPolicy` answers them with
tenacity's strategy objects, so backoff and stop conditions compose the way tenacity users
know (``stop_after_attempt(3) | stop_before_delay(30)``), while the pipeline keeps the one
retry loop for both clients. Rules:

* only retryable errors are retried (429, 408, 5xx incl. 529, connection errors, timeouts,
  malformed bodies, streams that broke before their first event); never 400/401/403/404 or a
  content-filter refusal;
* a provider's ``Retry-After``/``retry-after-ms`` is waited exactly, up to ``max_retry_after``;
  beyond it the endpoint is left for the next one rather than waited on;
* ``deadline`` bounds the whole call, every attempt and endpoint included, from its start;
* a :class:`RetryBudget` caps retries to a share of calls, so an outage does not multiply
  the load on the failing provider (a "retry storm");
* an endpoint whose circuit breaker opened is not waited on;
* failover happens on retryable errors once retries are spent, and on context-window or
  content-filter refusals when the route's group lists them in ``failover_on``.

aiguard owns retries: providers' HTTP clients never retry on their own, so the layers do not
multiply.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenacity import Future, RetryCallState, Retrying
from tenacity.stop import stop_after_attempt, stop_base, stop_before_delay
from tenacity.wait import wait_base, wait_random_exponential

from .errors import (
    AllEndpointsFailedError,
    ConfigError,
    ContentFilteredError,
    ContextWindowExceeded,
    ProviderError,
)

if TYPE_CHECKING:
    from ._call import Call, Endpoint
    from .routing import EndpointHealth

__all__ = ["FullJitter", "RetryBudget", "RetryPolicy", "is_retryable"]

NOTES_KEY = "retry"
"""``call.notes`` key: one tenacity ``RetryCallState`` per endpoint, and the decisions."""


def is_retryable(error: BaseException) -> bool:
    """Whether trying the same request again may succeed."""
    if not isinstance(error, ProviderError) or isinstance(error, AllEndpointsFailedError):
        return False
    return error.retryable


class FullJitter(wait_random_exponential):
    """tenacity's full-jitter backoff (``uniform(min, multiplier * 2**(n-1))``, capped at
    ``max``) drawing from an injected ``random.Random``, so tests can replay it exactly."""

    def __init__(
        self,
        multiplier: float = 0.5,
        max: float = 8.0,
        *,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(multiplier=multiplier, max=max)
        self.rng = rng or random.Random()

    def __call__(self, retry_state: RetryCallState) -> float:
        high = super(wait_random_exponential, self).__call__(retry_state)
        return self.rng.uniform(self.min, high)


class RetryBudget:
    """A token bucket of retries earned by calls: each call deposits ``ratio`` tokens (up to
    ``capacity``), each retry spends one. ``min_per_second`` retries are always allowed, so a
    quiet client can still retry its occasional blip.

    Why: when most calls fail, per-call retry limits still multiply traffic by the attempt
    count exactly when the provider can least take it; a shared budget caps the extra load at
    ``ratio`` of the calls, and the call moves on to the next endpoint instead.
    """

    __slots__ = ("_clock", "_last", "_lock", "_reserve", "_tokens", "capacity", "min_per_second",
                 "ratio")  # fmt: skip

    def __init__(
        self,
        ratio: float = 0.2,
        *,
        min_per_second: float = 1.0,
        capacity: float = 20.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not 0 <= ratio <= 1 or min_per_second < 0 or capacity < 0:
            raise ConfigError(
                "RetryBudget: ratio must be in [0, 1], min_per_second and capacity >= 0"
            )
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.capacity = capacity
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._tokens = capacity
        self._reserve = min_per_second
        self._last = self._clock()

    @property
    def available(self) -> float:
        return self._tokens

    def deposit(self) -> None:
        """One call started."""
        if self._tokens < self.capacity:
            with self._lock:
                self._tokens = min(self.capacity, self._tokens + self.ratio)

    def try_spend(self) -> bool:
        """Take one retry's worth; ``False`` when the budget is spent."""
        with self._lock:
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            now = self._clock()
            cap = max(1.0, self.min_per_second)
            self._reserve = min(cap, self._reserve + (now - self._last) * self.min_per_second)
            self._last = now
            if self.min_per_second > 0 and self._reserve >= 1:
                self._reserve -= 1
                return True
            return False


class RetryPolicy:
    """Implements the pipeline's ``RetryPolicy`` protocol.

    ``max_attempts`` is per endpoint (3: one try and two retries); ``wait`` and ``stop`` are
    tenacity strategies (``stop`` is combined with the attempt and deadline stops); ``clock``
    must be the client's clock. ``health`` (shared with the router) lets a retry stop waiting
    on an endpoint whose breaker has opened; ``budget=None`` disables the retry budget.
    """

    __slots__ = (
        "_clock",
        "_retrying",
        "budget",
        "deadline",
        "health",
        "max_attempts",
        "max_retry_after",
        "stop",
        "wait",
    )

    def __init__(
        self,
        *,
        max_attempts: int = 3,
        wait: wait_base | None = None,
        stop: stop_base | None = None,
        deadline: float | None = 120.0,
        max_retry_after: float = 60.0,
        budget: RetryBudget | None = None,
        health: EndpointHealth | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {max_attempts!r}")
        if deadline is not None and deadline <= 0:
            raise ConfigError(f"deadline must be > 0 seconds or None, got {deadline!r}")
        if max_retry_after < 0:
            raise ConfigError(f"max_retry_after must be >= 0, got {max_retry_after!r}")
        self.max_attempts = max_attempts
        self.wait: wait_base = wait or FullJitter(rng=rng)
        combined: stop_base = stop_after_attempt(max_attempts)
        if deadline is not None:
            combined = combined | stop_before_delay(deadline)
        if stop is not None:
            combined = combined | stop
        self.stop = combined
        self.deadline = deadline
        self.max_retry_after = max_retry_after
        self.budget = budget
        self.health = health
        self._clock = clock or time.monotonic
        self._retrying = Retrying()

    # ------------------------------------------------------------------ the protocol

    def next_wait(
        self, call: Call, endpoint: Endpoint, attempt: int, error: ProviderError
    ) -> float | None:
        if not is_retryable(error):
            return self._log(call, endpoint, attempt, error, None, "not retryable")
        if self.health is not None and self.health.is_open(endpoint.name):
            return self._log(call, endpoint, attempt, error, None, "circuit open")
        now = self._clock()
        state = self._state(call, endpoint, attempt, error, now)
        retry_after = error.retry_after
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                why = f"retry-after {retry_after:g}s > cap {self.max_retry_after:g}s"
                return self._log(call, endpoint, attempt, error, None, why)
            wait = float(retry_after)
        else:
            wait = float(self.wait(state))
        state.upcoming_sleep = wait
        if self.stop(state):
            return self._log(call, endpoint, attempt, error, None, "attempts or deadline spent")
        if self.budget is not None and not self.budget.try_spend():
            return self._log(call, endpoint, attempt, error, None, "retry budget spent")
        state.idle_for += wait
        return self._log(call, endpoint, attempt, error, wait, "retry")

    def fail_over(self, call: Call, endpoint: Endpoint, error: ProviderError) -> bool:
        if isinstance(error, (ContextWindowExceeded, ContentFilteredError)):
            reason = "context_window" if isinstance(error, ContextWindowExceeded) else (
                "content_filter")  # fmt: skip
            return reason in _failover_on(call) and not self._expired(call)
        return is_retryable(error) and not self._expired(call)

    # ------------------------------------------------------------------ deadline

    def time_left(self, call: Call) -> float | None:
        """Seconds of the call's deadline still unspent (``None``: no deadline)."""
        if self.deadline is None:
            return None
        return self.deadline - (self._clock() - call.started)

    def _expired(self, call: Call) -> bool:
        left = self.time_left(call)
        return left is not None and left <= 0

    # ------------------------------------------------------------------ bookkeeping

    def _state(
        self, call: Call, endpoint: Endpoint, attempt: int, error: ProviderError, now: float
    ) -> RetryCallState:
        """tenacity's view of this endpoint's attempts, timed from the call's start so that
        ``stop_before_delay`` is a deadline across endpoints, not per endpoint."""
        notes: dict[str, Any] = call.notes.setdefault(NOTES_KEY, {"states": {}, "log": []})
        states: dict[str, RetryCallState] = notes["states"]
        state = states.get(endpoint.name)
        if state is None:
            state = states[endpoint.name] = RetryCallState(self._retrying, None, (), {})
            state.start_time = call.started
        state.attempt_number = attempt
        outcome = Future(attempt)
        outcome.set_exception(error)
        state.outcome, state.outcome_timestamp = outcome, now
        return state

    @staticmethod
    def _log(
        call: Call,
        endpoint: Endpoint,
        attempt: int,
        error: ProviderError,
        wait: float | None,
        why: str,
    ) -> float | None:
        notes: dict[str, Any] = call.notes.setdefault(NOTES_KEY, {"states": {}, "log": []})
        notes["log"].append(
            {
                "endpoint": endpoint.name,
                "attempt": attempt,
                "error": type(error).__name__,
                "status": error.status_code,
                "wait": wait,
                "decision": why,
            }
        )
        return wait


def _failover_on(call: Call) -> frozenset[str]:
    decision = call.notes.get("routing")
    found = getattr(decision, "failover_on", None)
    return found if isinstance(found, frozenset) else frozenset()
