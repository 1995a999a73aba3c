"""The pipeline hooks routing asked for (an attempt observer, a deadline clamp).

Skipped until ``Stages`` has ``observers``; then the same health object is fed by the hook
instead of by wrapping the telemetry stage, and each attempt's timeout is clamped to what the
call's deadline leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aiguard._stages import Stages
from aiguard.routing import CircuitConfig

from ._harness import Env, Runner, status

pytestmark = pytest.mark.skipif(
    "observers" not in Stages.__dataclass_fields__,
    reason="the pipeline's attempt-observer hook is not applied yet",
)
Run = Callable[..., Runner]


class Hooked(Env):
    """Telemetry is a plain recorder; the health object hears attempts through the hook."""

    def stages(self) -> dict[str, Any]:
        observer = self.health.observe(None, self.budget)
        return {
            "router": self.router,
            "retry": self.retry,
            "telemetry": self.recorder,
            "observers": (observer,),
        }


async def test_breaker_learns_through_the_observer_hook(run: Run) -> None:
    env = Hooked(circuit=CircuitConfig(failure_threshold=2, cooldown=30.0), max_attempts=1)
    r = run(env)
    env.script.add("a", status(503), status(503))
    for _ in range(2):
        assert (await r.chat()).endpoint == "b"
    assert env.health.state("a") == "open"
    env.clock.advance(30)
    assert (await r.chat()).endpoint == "a"
    assert env.health.state("a") == "closed"
    assert env.health.inflight("a") == env.health.inflight("b") == 0


async def test_each_attempt_timeout_is_clamped_to_the_deadline(run: Run) -> None:
    env = Hooked(deadline=5.0, max_attempts=5)
    timeouts: list[float] = []
    answer = env.script.handler

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return answer(request)

    env.script.handler = handler  # type: ignore[method-assign]
    r = run(env)
    env.script.add("a", status(429, retry_after=2))
    await r.chat()
    assert timeouts == [pytest.approx(5.0), pytest.approx(3.0)]
