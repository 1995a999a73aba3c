"""Retries and failover end to end, through both clients, on scripted faults and a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiguard.errors import (
    AllEndpointsFailedError,
    BadRequestError,
    ContextWindowExceeded,
    ServerError,
    StreamInterrupted,
)
from aiguard.retry import RetryBudget
from aiguard.routing import CircuitConfig, GroupOptions

from ._harness import Runner, cut, malformed, ok, reset, status, timeout

Run = Callable[..., Runner]


async def test_429_with_retry_after_then_success(run: Run) -> None:
    r = run(names=("a",))
    r.env.script.add("a", status(429, retry_after=2.5), ok("fine"))
    reply = await r.chat()
    assert reply.text == "fine"
    assert r.env.sleeps == [2.5]
    assert r.env.script.hosts() == ["a", "a"]


async def test_retry_after_above_the_cap_fails_over_instead_of_waiting(run: Run) -> None:
    r = run(max_retry_after=10.0)
    r.env.script.add("a", status(429, retry_after=600))
    reply = await r.chat()
    assert reply.endpoint == "b"
    assert r.env.sleeps == []


async def test_503_until_retries_are_spent_then_failover(run: Run) -> None:
    r = run(max_attempts=3)
    r.env.script.add("a", *[status(503)] * 3)
    reply = await r.chat()
    assert reply.endpoint == "b"
    assert r.env.script.hosts() == ["a", "a", "a", "b"]
    assert len(r.env.sleeps) == 2
    # full jitter: each wait is within [0, 0.5 * 2**(n-1)]
    assert 0 <= r.env.sleeps[0] <= 0.5 and 0 <= r.env.sleeps[1] <= 1.0


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (status(529), "OverloadedError"),
        (status(500), "ServerError"),
        (status(408), "RequestTimeoutError"),
        (timeout(), "TimeoutError"),
        (reset(), "ConnectError"),
        (malformed(), "DecodeError"),
    ],
    ids=["529", "500", "408", "timeout", "reset", "malformed-json"],
)
async def test_retryable_failures_are_retried_on_the_same_endpoint(
    run: Run, answer: object, error: str
) -> None:
    r = run()
    r.env.script.add("a", answer)
    reply = await r.chat()
    assert reply.endpoint == "a"
    assert r.env.script.hosts() == ["a", "a"]
    assert [entry["error"] for entry in r.env.retry_log] == [error]


@pytest.mark.parametrize("code", [400, 401, 403, 404])
async def test_client_errors_are_never_retried_nor_failed_over(run: Run, code: int) -> None:
    r = run()
    r.env.script.add("a", status(code))
    with pytest.raises(Exception) as info:
        await r.chat()
    assert getattr(info.value, "status_code", None) == code
    assert r.env.script.hosts() == ["a"]
    assert r.env.sleeps == []


async def test_content_filter_is_not_retried(run: Run) -> None:
    r = run()
    r.env.script.add("a", status(400, err="content_filter"))
    with pytest.raises(BadRequestError):
        await r.chat()
    assert r.env.script.hosts() == ["a"]


async def test_context_window_fails_over_only_when_the_group_says_so(run: Run) -> None:
    r = run()
    r.env.script.add("a", status(400, err="context_length_exceeded"))
    with pytest.raises(ContextWindowExceeded):
        await r.chat()
    assert r.env.script.hosts() == ["a"]

    r2 = run(groups={"pool": GroupOptions(failover_on=frozenset({"context_window"}))})
    r2.env.script.add("a", status(400, err="context_length_exceeded"))
    assert (await r2.chat()).endpoint == "b"
    assert r2.env.script.hosts() == ["a", "b"]


async def test_all_endpoints_down_is_one_error_listing_every_attempt(run: Run) -> None:
    r = run(names=("a", "b", "c"), max_attempts=2)
    r.env.script.add("a", status(503), status(503))
    r.env.script.add("b", timeout(), timeout())
    r.env.script.add("c", reset(), status(502))
    with pytest.raises(AllEndpointsFailedError) as info:
        await r.chat()
    e = info.value
    assert [name for name, _ in e.attempts] == ["a", "a", "b", "b", "c", "c"]
    kinds = [type(err).__name__ for _, err in e.attempts]
    assert kinds == ["ServerError", "ServerError", "TimeoutError", "TimeoutError",
                     "ConnectError", "ServerError"]  # fmt: skip
    text = str(e)
    assert (
        "all 6 attempt(s) failed" in text and "a: ServerError" in text and "c: ConnectError" in text
    )


async def test_deadline_bounds_all_attempts_and_endpoints(run: Run) -> None:
    r = run(names=("a", "b"), deadline=5.0, max_attempts=10)
    r.env.script.add("a", *[status(429, retry_after=2)] * 10)
    r.env.script.add("b", *[status(429, retry_after=2)] * 10)
    with pytest.raises(AllEndpointsFailedError):
        await r.chat()
    assert sum(r.env.sleeps) <= 5.0
    assert r.env.sleeps == [2.0, 2.0]  # a third wait would end past the deadline
    # the deadline is spent when b is reached: b gets one try, no waiting
    assert r.env.script.hosts() == ["a", "a", "a", "b"]


async def test_retry_budget_stops_a_retry_storm(run: Run) -> None:
    budget = RetryBudget(ratio=0.1, capacity=2, min_per_second=0)
    circuit = CircuitConfig(failure_threshold=1000)  # the budget alone, no breaker
    r = run(names=("a",), budget=budget, max_attempts=5, circuit=circuit)
    for _ in range(5):
        r.env.script.add("a", *[status(503)] * 5)
        with pytest.raises((AllEndpointsFailedError, ServerError)):
            await r.chat()
        r.env.script.queues["a"].clear()
    sent = len(r.env.script.requests)
    # without the budget: 5 calls x 5 attempts = 25 requests; with it: 5 + 2 + deposits
    assert sent <= 5 + 2 + 1
    assert any(e["decision"] == "retry budget spent" for e in r.env.retry_log)


# --------------------------------------------------------------------------- streams


async def test_stream_cut_before_the_first_token_fails_over(run: Run) -> None:
    r = run(max_attempts=1)
    r.env.script.add("a", cut(after=0))
    seen: list[str] = []
    final = await r.stream(seen=seen)
    assert final.endpoint == "b"
    assert "".join(seen) == "hello there"
    assert r.env.script.hosts() == ["a", "b"]


async def test_stream_cut_before_the_first_token_is_retried(run: Run) -> None:
    r = run(names=("a",))
    r.env.script.add("a", cut(after=0))
    final = await r.stream()
    assert final.text == "hello there" and r.env.script.hosts() == ["a", "a"]


async def test_stream_cut_after_the_first_token_raises_with_partial_text(run: Run) -> None:
    r = run()
    r.env.script.add("a", cut(after=2, text="hello there"))
    seen: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        await r.stream(seen=seen)
    assert info.value.partial_text == "hello " == "".join(seen)
    assert r.env.script.hosts() == ["a"]  # no failover once the caller saw text


async def test_stream_error_status_fails_over(run: Run) -> None:
    r = run(max_attempts=1)
    r.env.script.add("a", status(503))
    assert (await r.stream()).endpoint == "b"


# --------------------------------------------------------------------------- circuit


async def test_circuit_opens_after_failures_and_half_opens_after_cooldown(run: Run) -> None:
    r = run(circuit=CircuitConfig(failure_threshold=3, cooldown=30.0), max_attempts=1)
    env = r.env
    env.script.add("a", status(503), status(503), status(503))
    for _ in range(3):
        assert (await r.chat()).endpoint == "b"
    assert env.health.state("a") == "open"
    env.script.requests.clear()

    reply = await r.chat()  # a is skipped outright: not tried, not waited on
    assert reply.endpoint == "b" and env.script.hosts() == ["b"]
    decision = env.last_decision
    assert decision is not None
    assert decision.skipped[0][0] == "a" and "circuit open" in decision.skipped[0][1]

    env.clock.advance(30.0)
    env.script.requests.clear()
    assert (await r.chat()).endpoint == "a"  # the probe
    assert env.health.state("a") == "closed"


async def test_failed_probe_reopens_the_circuit(run: Run) -> None:
    r = run(circuit=CircuitConfig(failure_threshold=1, cooldown=10.0), max_attempts=1)
    env = r.env
    env.script.add("a", status(503))
    await r.chat()
    env.clock.advance(10.0)
    env.script.add("a", status(503))
    assert (await r.chat()).endpoint == "b"
    assert env.health.state("a") == "open"
    env.clock.advance(10.0)  # the cooldown doubled
    assert env.health.state("a") == "open"
    env.clock.advance(10.0)
    assert env.health.state("a") == "half_open"


async def test_every_circuit_open_fails_fast_without_sending(run: Run) -> None:
    r = run(names=("a",), circuit=CircuitConfig(failure_threshold=1, cooldown=60.0))
    r.env.script.add("a", status(500))
    with pytest.raises(ServerError):  # the breaker opened: no retry waits on it
        await r.chat()
    assert r.env.script.hosts() == ["a"]
    r.env.script.requests.clear()
    with pytest.raises(Exception) as info:
        await r.chat()
    assert type(info.value).__name__ == "CircuitOpenError"
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60
    assert r.env.script.requests == []


async def test_retries_stop_waiting_once_the_circuit_opens(run: Run) -> None:
    r = run(circuit=CircuitConfig(failure_threshold=2, cooldown=60.0), max_attempts=5)
    r.env.script.add("a", *[status(503)] * 5)
    assert (await r.chat()).endpoint == "b"
    assert r.env.script.hosts() == ["a", "a", "b"]
