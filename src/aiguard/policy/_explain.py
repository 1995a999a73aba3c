"""``Policy.explain``: what the policy would decide for a request, as plain data.

Computed from the policy alone, so it can run in a CLI, a test or an admin page without an
endpoint, a counter store or a network. Each decision is ``{"step": ..., ...}`` in pipeline
order; values are JSON types only. Overrides that match on ``endpoint`` apply from routing on
(limits, cache, logging), as they do in the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._context import CallContext
from .._types import ChatRequest, EmbeddingRequest
from ..errors import AIGuardError
from .matching import read_attribute

if TYPE_CHECKING:
    from .document import Policy
    from .effective import EffectivePolicy

__all__ = ["explain"]

_KEY_ATTR = {
    "tenant": "tenant",
    "user": "user",
    "route": "route",
    "region": "region",
    "run": "run_id",
    "model": "model",
    "endpoint": "endpoint",
}


def _request_facts(request: Any) -> tuple[str, str | None, list[str]]:
    """``(operation, model, offered tool names)`` of whatever the caller passed."""
    if request is None:
        return "chat", None, []
    if isinstance(request, ChatRequest):
        return "chat", request.model, [t.function.name for t in request.tools or ()]
    if isinstance(request, EmbeddingRequest):
        return "embeddings", request.model, []
    if isinstance(request, Mapping):
        op = "embeddings" if "input" in request or "inputs" in request else "chat"
        tools = []
        for t in request.get("tools") or ():
            fn = t.get("function", {}) if isinstance(t, Mapping) else {}
            if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
                tools.append(fn["name"])
        model = request.get("model")
        return op, model if isinstance(model, str) else None, tools
    raise TypeError(
        f"explain() takes a ChatRequest, EmbeddingRequest, dict or None, "
        f"got {type(request).__name__}"
    )


def explain(policy: Policy, request: Any, context: CallContext) -> list[dict[str, Any]]:
    operation, model, tools = _request_facts(request)
    out: list[dict[str, Any]] = [
        {"step": "policy", "name": policy.metadata.name, "hash": policy.hash}
    ]
    try:
        eff = policy.resolve(context, model=model)
    except AIGuardError as e:
        out.append({"step": "overrides", "error": str(e), "outcome": "refuse"})
        return out
    overrides: dict[str, Any] = {"step": "overrides", "matched": list(eff.matched)}
    out.append(overrides)
    out.append(_authorize(eff, operation, context, model, tools))
    out.append(_moderation(eff))
    route = _route(eff, context, model)
    out.append(route)
    # Stages after routing see overrides that match on the chosen endpoint too.
    endpoint = route["target"] if route["group"] is None else None
    if endpoint is not None:
        try:
            routed = policy.resolve(context, model=model, endpoint=endpoint)
        except AIGuardError as e:
            out.append({"step": "overrides", "error": str(e), "outcome": "refuse"})
            return out
        if routed.matched != eff.matched:
            overrides["matchedAfterRouting"] = list(routed.matched)
            eff = routed
    out.append(_limits(eff, context, model, endpoint))
    spec = eff.spec
    out.append(
        {
            "step": "cache",
            "enabled": spec.cache.enabled,
            "ttlSeconds": spec.cache.ttl_seconds,
            "deterministicOnly": spec.cache.deterministic_only,
            "shareAcrossTenants": spec.cache.share_across_tenants,
            "backend": spec.cache.backend,
        }
    )
    out.append(
        {
            "step": "logging",
            "enabled": spec.logging.enabled,
            "sink": spec.logging.sink,
            "captureContent": spec.logging.capture_content,
            "retentionDays": spec.logging.retention_days,
        }
    )
    return out


def _authorize(
    eff: EffectivePolicy, operation: str, ctx: CallContext, model: str | None, tools: list[str]
) -> dict[str, Any]:
    auth = eff.authentication
    required = sorted(eff.required_scopes(operation, model, ctx.route))
    missing = sorted(set(required) - ctx.scopes)
    denied = [t for t in tools if not eff.tool_allowed(t)]
    return {
        "step": "authorize",
        "type": auth.type,
        "operation": operation,
        "required": required,
        "held": sorted(ctx.scopes),
        "missing": missing,
        "tools": {"offered": tools, "denied": denied},
        "outcome": "refuse" if missing or denied else "allow",
    }


def _route(eff: EffectivePolicy, ctx: CallContext, model: str | None) -> dict[str, Any]:
    routing = eff.endpoint_routing
    index = routing.rule_for(ctx, model)
    target: str | None
    if index is not None:
        rule = routing.rules[index]
        target, source = rule.route_to, f"rules[{index}]"
        decision: dict[str, Any] = {"rule": index, "name": rule.name, "mandatory": rule.mandatory}
    elif routing.default is not None:
        target, source, decision = routing.default, "default", {}
    else:
        target, source, decision = model, "requested model", {}
    resolved = routing.aliases.get(target, target) if target is not None else None
    group = routing.groups.get(resolved) if resolved is not None else None
    decision.update(
        {
            "step": "route",
            "source": source,
            "routeTo": target,
            "target": resolved,
            "group": (
                {
                    "strategy": group.strategy,
                    "members": [
                        {"endpoint": m.endpoint, "weight": m.weight} for m in group.members
                    ],
                }
                if group is not None
                else None
            ),
        }
    )
    return decision


def _limits(
    eff: EffectivePolicy, ctx: CallContext, model: str | None, endpoint: str | None
) -> dict[str, Any]:
    rl = eff.rate_limit
    rules = []
    for rule in rl.rules():
        if rule.key == ("global",):
            key: dict[str, Any] = {"global": True}
        else:
            key = {k: read_attribute(ctx, _KEY_ATTR.get(k, k), model, endpoint) for k in rule.key}
        rules.append({"name": rule.name, "limits": rule.counts(), "key": key})
    return {
        "step": "limits",
        "rules": rules,
        "mode": rl.mode,
        "maxWait": rl.effective_max_wait if rl.mode == "wait" else None,
        "failMode": rl.fail_mode,
        "store": rl.store.type,
    }


def _moderation(eff: EffectivePolicy) -> dict[str, Any]:
    mod = eff.content_moderation
    entries: list[Any] = []
    for item in mod.block_list:
        if isinstance(item, str):
            entries.append(item)
        else:
            entries.append(item.model_dump(mode="json", by_alias=True, exclude_none=True))
    return {
        "step": "moderation",
        "enabled": mod.enabled,
        "blockList": entries if mod.enabled else [],
        "allowListEntries": len(mod.allow_list) if mod.enabled else 0,
        "pii": (
            mod.pii.model_dump(mode="json", by_alias=True) if mod.enabled and mod.pii else None
        ),
        "secrets": (
            mod.secrets.model_dump(mode="json", by_alias=True)
            if mod.enabled and mod.secrets
            else None
        ),
        "topics": sorted(mod.topics) if mod.enabled else [],
        "defaultAction": mod.default_action,
    }
