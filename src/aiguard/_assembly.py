"""Build the pipeline's stages from a policy.

This is the one place that knows which engine serves which part of the policy document; the
pipeline and the clients only see the stage protocols. Engines are imported here, when a client
is built, so that ``import aiguard`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._call import Endpoint
from .errors import ConfigError

__all__ = ["build_stages", "coerce_policy"]


def coerce_policy(policy: Any) -> Any:
    """A ``Policy`` from a ``Policy``, a dict, YAML/JSON text or a file path (or ``None``)."""
    if policy is None:
        return None
    from .policy import Policy

    return Policy.coerce(policy)


def build_stages(
    endpoints: Mapping[str, Endpoint],
    policy: Any,
    *,
    clock: Callable[[], float] | None = None,
    pricing: Any = None,
    telemetry: Any = None,
) -> dict[str, Any]:
    """Stage implementations for ``policy``; what it does not govern keeps the defaults.

    Without a policy a client still gets retries with backoff, circuit breakers and
    OpenTelemetry spans (which cost next to nothing until an SDK is configured).
    """
    from .routing import routing_stages
    from .telemetry import Telemetry, TelemetryStage, audit_log_from_policy

    stages: dict[str, Any] = {}
    if policy is None:
        tel = telemetry if telemetry is not None else Telemetry()
        stages["telemetry"] = TelemetryStage(tel)
        stages.update(routing_stages(endpoints, None, clock=clock, telemetry=stages["telemetry"]))
        return stages

    from .inspect import InspectionStage
    from .policy.stage import PolicyAuthorizer

    spec = policy.spec
    stages["authorizer"] = PolicyAuthorizer(policy)
    inspector = InspectionStage()
    inspector.prepare(spec.content_moderation)  # e.g. a missing hashKeyEnv fails here, not mid-call
    stages["inspector"] = inspector
    limiter = _limiter(policy, pricing)
    if limiter is not None:
        stages["limiter"] = limiter
    if telemetry is None:
        capture = getattr(spec.logging, "capture_content", False) or None
        telemetry = Telemetry(
            audit=_audit_log(spec.logging, audit_log_from_policy),
            policy_hash=policy.hash,
            capture_content=capture,
        )
    stages["telemetry"] = TelemetryStage(telemetry)
    cache = _cache(policy, stages["telemetry"])
    if cache is not None:
        stages["cache"] = cache
    stages.update(routing_stages(endpoints, policy, clock=clock, telemetry=stages["telemetry"]))
    return stages


def _audit_log(section: Any, build: Callable[[Any], Any]) -> Any:
    try:
        return build(section)
    except OSError as e:
        raise ConfigError(
            f"spec.logging.path: cannot open the audit store {section.path!r}: {e.strerror or e}"
        ) from e


def _limiter(policy: Any, pricing: Any) -> Any:
    """The limits stage; calls whose overrides change ``rateLimit`` get that section's
    limits, counted in the same store."""
    from .limits import LimitStage, limiter_from_policy, store_from_policy
    from .policy.stage import routed_policy

    spec = policy.spec.rate_limit
    overridden = any("rateLimit" in (o.spec or {}) for o in policy.spec.overrides or ())
    base = limiter_from_policy(spec, prices=pricing)
    if not overridden:
        return LimitStage(base) if base is not None else None
    store = base.store if base is not None else store_from_policy(spec)
    by_section: dict[int, Any] = {id(spec): base}
    keep: list[Any] = [spec]  # keeps ids stable while the client lives

    def select(call: Any) -> Any:
        eff = routed_policy(call)
        section = eff.rate_limit if eff is not None else spec
        key = id(section)
        if key not in by_section:
            keep.append(section)
            by_section[key] = limiter_from_policy(section, prices=pricing, store=store)
        return by_section[key]

    shown = base
    for o in policy.spec.overrides:  # client.usage() needs a limiter even if the base has none
        if shown is None and "rateLimit" in o.spec:
            section = policy.layer({"spec": {"rateLimit": o.spec["rateLimit"]}}).spec.rate_limit
            shown = limiter_from_policy(section, prices=pricing, store=store)
    if shown is None:  # overrides name rateLimit but set no limit anywhere
        return None
    return LimitStage(shown, select=select)


def _cache(policy: Any, telemetry: Any) -> Any:
    """The response cache, when the base section or any override turns it on."""
    section = policy.spec.cache
    overrides = getattr(policy.spec, "overrides", None) or ()
    wanted = bool(section is not None and section.enabled) or any(
        (o.spec.get("cache") or {}).get("enabled") for o in overrides
    )
    if not wanted:
        return None
    from .cache import ResponseCache

    def report(call: Any, note: Any) -> None:
        result = "hit" if note.result in ("hit", "coalesced") else "miss"
        telemetry.event(call, "aiguard.cache", {"result": result})

    return ResponseCache.from_spec(section, policy_hash=policy.hash, observer=report)
