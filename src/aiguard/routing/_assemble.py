"""One call that builds the route, retry and observer stages sharing one ``EndpointHealth``.

Why one function: the router, the retry policy and the observer only work together when they
share the same breakers, budget, clock and random source; building them separately makes it
easy to give each its own and end up with breakers that never hear of a success.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._circuit import CircuitConfig
from ._compile import GroupOptions
from ._health import EndpointHealth
from ._router import PolicyRouter

if TYPE_CHECKING:
    from .._call import Endpoint
    from .._stages import Telemetry
    from ..policy.document import Policy

__all__ = ["routing_stages"]


def routing_stages(
    endpoints: Mapping[str, Endpoint],
    policy: Policy | None = None,
    *,
    telemetry: Telemetry | None = None,
    clock: Callable[[], float] | None = None,
    rng: random.Random | None = None,
    groups: Mapping[str, GroupOptions] | None = None,
    circuit: CircuitConfig | None = None,
    retry: Mapping[str, Any] | None = None,
    budget: bool = True,
) -> dict[str, Any]:
    """``{"router", "retry", "telemetry"}`` for a client's stages.

    The observer that feeds breakers, in-flight counts, latencies and the retry budget is
    registered in ``observers`` when the pipeline has that hook; until then it wraps
    ``telemetry`` (the stage it forwards to; the default does nothing), and the returned
    ``telemetry`` must be the one the client uses.
    ``retry`` holds :class:`~aiguard.retry.RetryPolicy` keyword arguments; ``budget=False``
    turns the retry budget off. Without a policy the router sends ``model=`` to the endpoint
    of that name, and a lone endpoint takes calls that name none (as the direct router does).
    """
    from .._stages import NO_TELEMETRY, Stages
    from ..retry import RetryBudget, RetryPolicy

    rng = rng or random.Random()
    health = EndpointHealth(endpoints, circuit=circuit, clock=clock)
    if policy is not None:
        router = PolicyRouter.from_policy(policy, endpoints, groups=groups, health=health, rng=rng)
    else:
        spec = {"default": next(iter(endpoints))} if len(endpoints) == 1 else None
        router = PolicyRouter(endpoints, spec, groups=groups, health=health, rng=rng)
    spend = RetryBudget(clock=clock) if budget else None
    options = dict(retry or {})
    options.setdefault("rng", rng)
    policy_ = RetryPolicy(health=health, budget=spend, clock=clock, **options)
    stages: dict[str, Any] = {"router": router, "retry": policy_}
    if "observers" in Stages.__dataclass_fields__:
        stages["observers"] = (health.observe(None, spend),)
        stages["telemetry"] = telemetry or NO_TELEMETRY
    else:
        stages["telemetry"] = health.observe(telemetry or NO_TELEMETRY, spend)
    return stages
