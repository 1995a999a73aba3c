"""The breaker's state machine and the retry policy's answers, without HTTP."""

from __future__ import annotations

import random
import threading

import pytest
from tenacity.stop import stop_after_delay
from tenacity.wait import wait_fixed

from aiguard._call import Call, Endpoint
from aiguard._context import CallContext
from aiguard._types import ChatRequest, coerce_messages
from aiguard.errors import (
    AuthenticationError,
    ConnectError,
    ContentFilteredError,
    DecodeError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
    TimeoutError,
)
from aiguard.retry import FullJitter, RetryBudget, RetryPolicy, is_retryable
from aiguard.routing import CircuitBreaker, CircuitConfig

from ._harness import FakeClock, provider


def breaker(clock: FakeClock, threshold: int = 3, cooldown: float = 10.0) -> CircuitBreaker:
    return CircuitBreaker("a", CircuitConfig(threshold, cooldown, 40.0), clock)


def test_breaker_opens_after_consecutive_failures_only() -> None:
    clock = FakeClock()
    b = breaker(clock)
    b.record_failure()
    b.record_failure()
    b.record_success()  # the streak is broken
    b.record_failure()
    b.record_failure()
    assert b.state == "closed"
    b.record_failure()
    assert b.state == "open"
    assert b.acquire(object()) == "circuit open (next probe in 10.0s)"


def test_half_open_single_probe_then_close_or_reopen_with_longer_cooldown() -> None:
    clock = FakeClock()
    b = breaker(clock, threshold=1)
    b.record_failure()
    clock.advance(10)
    assert b.state == "half_open"
    probe, other = object(), object()
    assert b.acquire(probe) is None
    assert b.acquire(other) == "circuit half-open (a probe is in flight)"
    b.record_failure()  # the probe failed
    assert b.state == "open" and b.retry_in() == pytest.approx(20.0)
    clock.advance(20)
    assert b.acquire(other) is None
    b.record_success()
    assert b.state == "closed"
    b.record_failure()
    assert b.retry_in() == pytest.approx(10.0)  # success reset the cooldown


def test_a_lost_probe_is_given_up_after_a_cooldown() -> None:
    clock = FakeClock()
    b = breaker(clock, threshold=1)
    b.record_failure()
    clock.advance(10)
    assert b.acquire(object()) is None
    assert b.acquire(object()) is not None
    clock.advance(10)
    assert b.acquire(object()) is None


def test_breaker_is_thread_safe() -> None:
    clock = FakeClock()
    b = breaker(clock, threshold=1)
    b.record_failure()
    clock.advance(10)
    won: list[object] = []

    def grab() -> None:
        token = object()
        if b.acquire(token) is None:
            won.append(token)

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1


# --------------------------------------------------------------------------- retry policy

EP = Endpoint("a", provider("a"))


def new_call(clock: FakeClock) -> Call:
    c = Call("chat", ChatRequest(messages=coerce_messages("Hi")), CallContext())
    c.started = clock()
    return c


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (RateLimitError("x", status_code=429), True),
        (ServerError("x", status_code=503), True),
        (OverloadedError("x", status_code=529), True),
        (ConnectError("x"), True),
        (TimeoutError("x"), True),
        (DecodeError("x"), True),
        (StreamInterrupted("x"), True),
        (AuthenticationError("x", status_code=401), False),
        (PermissionDeniedError("x", status_code=403), False),
        (NotFoundError("x", status_code=404), False),
        (ContentFilteredError("x", status_code=400), False),
    ],
)
def test_only_retryable_errors_are_retried(error: Exception, retry: bool) -> None:
    assert is_retryable(error) is retry
    clock = FakeClock()
    policy = RetryPolicy(clock=clock, rng=random.Random(1))
    assert (policy.next_wait(new_call(clock), EP, 1, error) is not None) is retry  # type: ignore[arg-type]


def test_full_jitter_is_reproducible_and_bounded() -> None:
    clock = FakeClock()
    waits = []
    for _ in range(2):
        policy = RetryPolicy(max_attempts=6, clock=clock, rng=random.Random(42), deadline=None)
        c = new_call(clock)
        waits.append([policy.next_wait(c, EP, n, ServerError("x")) for n in range(1, 6)])
    assert waits[0] == waits[1]
    for n, w in enumerate(waits[0], start=1):
        assert w is not None and 0 <= w <= min(8.0, 0.5 * 2 ** (n - 1))


def test_retry_after_is_honoured_exactly_up_to_the_cap() -> None:
    clock = FakeClock()
    policy = RetryPolicy(clock=clock, max_retry_after=30)
    c = new_call(clock)
    assert policy.next_wait(c, EP, 1, RateLimitError("x", retry_after=12.5)) == 12.5
    assert policy.next_wait(c, EP, 1, RateLimitError("x", retry_after=31)) is None
    assert c.notes["retry"]["log"][-1]["decision"] == "retry-after 31s > cap 30s"


def test_tenacity_strategies_compose() -> None:
    clock = FakeClock()
    policy = RetryPolicy(
        max_attempts=10, wait=wait_fixed(1), stop=stop_after_delay(2.5), clock=clock, deadline=None
    )
    c = new_call(clock)
    assert policy.next_wait(c, EP, 1, ServerError("x")) == 1
    clock.advance(3)
    assert policy.next_wait(c, EP, 2, ServerError("x")) is None


def test_deadline_refuses_waits_that_end_past_it_and_failover_after_it() -> None:
    clock = FakeClock()
    policy = RetryPolicy(clock=clock, deadline=10, wait=wait_fixed(4), max_attempts=9)
    c = new_call(clock)
    assert policy.next_wait(c, EP, 1, ServerError("x")) == 4
    clock.advance(7)
    assert policy.next_wait(c, EP, 2, ServerError("x")) is None  # 7 + 4 > 10
    assert policy.fail_over(c, EP, ServerError("x"))
    assert policy.time_left(c) == pytest.approx(3)
    clock.advance(3)
    assert not policy.fail_over(c, EP, ServerError("x"))


def test_budget_allows_a_share_of_calls_plus_a_trickle() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.5, capacity=1, min_per_second=1, clock=clock)
    assert budget.try_spend()  # starts full
    assert budget.try_spend()  # the reserve
    assert not budget.try_spend()
    budget.deposit()
    budget.deposit()
    assert budget.try_spend()
    assert not budget.try_spend()
    clock.advance(1)
    assert budget.try_spend()  # one per second, always


def test_full_jitter_is_a_tenacity_wait() -> None:
    from tenacity.wait import wait_base

    assert isinstance(FullJitter(), wait_base)
    assert isinstance(FullJitter() + wait_fixed(1), wait_base)
