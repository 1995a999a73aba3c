"""Where a call goes: policy rules, endpoint groups, load balancing and circuit breaking.

* :class:`PolicyRouter` is the pipeline's *route* stage, built from the policy's
  ``endpointRouting`` section (rules, default, groups, aliases) and the client's endpoints.
* :class:`EndpointHealth` holds what the client learnt about its endpoints (breakers, calls
  in flight, latency); the router, the retry policy and :class:`HealthObserver` share it.
* :class:`GroupOptions` carries the group settings the policy document has no field for.

:func:`routing_stages` builds the three stages that must share one health object (router,
retry policy, observer). The retry and failover rules live in :mod:`aiguard.retry`.
"""

from __future__ import annotations

from ._assemble import routing_stages
from ._circuit import CircuitBreaker, CircuitConfig, CircuitState
from ._compile import CompiledRouting, GroupOptions
from ._health import EndpointHealth, HealthObserver
from ._router import NOTES_KEY, CircuitOpenError, PolicyRouter, RouteDecision, route_decision

__all__ = [
    "NOTES_KEY",
    "CircuitBreaker",
    "CircuitConfig",
    "CircuitOpenError",
    "CircuitState",
    "CompiledRouting",
    "EndpointHealth",
    "GroupOptions",
    "HealthObserver",
    "PolicyRouter",
    "RouteDecision",
    "route_decision",
    "routing_stages",
]
