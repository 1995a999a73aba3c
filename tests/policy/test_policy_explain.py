"""explain(): the decisions a policy would take, as plain data, without sending anything."""

from __future__ import annotations

import json
from typing import Any

from aiguard import CallContext, ChatRequest, Message
from aiguard.policy import Policy


def step(decisions: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in decisions if d["step"] == name)


def test_seed_explained_for_an_eu_reader(seed: Policy) -> None:
    ctx = CallContext.build(user="u-42", tenant="acme", region="EU", scopes={"ai.read"})
    request = ChatRequest(messages=(Message(role="user", content="hi"),), model="chat")
    decisions = seed.explain(request, ctx)
    json.dumps(decisions)  # JSON-serialisable as promised
    assert decisions[0] == {"step": "policy", "name": "secure-llm-endpoint", "hash": seed.hash}
    auth = step(decisions, "authorize")
    assert auth["required"] == ["ai.read", "ai.write"]
    assert auth["held"] == ["ai.read"]
    assert auth["missing"] == ["ai.write"]
    assert auth["outcome"] == "refuse"
    route = step(decisions, "route")
    assert (route["source"], route["routeTo"]) == ("rules[0]", "on-prem-llm")
    limits = step(decisions, "limits")
    assert limits["rules"] == [
        {
            "name": "default",
            "limits": {"requestsPerMinute": 60, "tokensPerDay": 100000},
            "key": {"tenant": "acme", "user": "u-42"},
        }
    ]
    moderation = step(decisions, "moderation")
    assert moderation["enabled"] is True
    assert len(moderation["blockList"]) == 3
    assert step(decisions, "cache")["enabled"] is False
    assert step(decisions, "logging")["retentionDays"] == 90


def test_explain_reports_overrides_default_route_groups_and_tools() -> None:
    policy = Policy.from_dict(
        {
            "spec": {
                "authentication": {"tools": {"deny": ["shell"]}},
                "endpointRouting": {
                    "rules": [{"match": {"region": "EU"}, "routeTo": "eu", "mandatory": True}],
                    "default": "fast",
                    "aliases": {"fast": "pool"},
                    "groups": {"pool": {"strategy": "weighted", "members": ["a", "b"]}},
                },
                "overrides": [
                    {
                        "name": "vip",
                        "match": {"tags": {"vip": "yes"}},
                        "spec": {"cache": {"enabled": True}},
                    }
                ],
            }
        }
    )
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "shell"}}],
    }
    decisions = policy.explain(request, CallContext.build(region="US", tags={"vip": "yes"}))
    assert step(decisions, "overrides")["matched"] == ["vip"]
    assert step(decisions, "cache")["enabled"] is True
    route = step(decisions, "route")
    assert route["source"] == "default" and route["target"] == "pool"
    assert route["group"]["strategy"] == "weighted"
    auth = step(decisions, "authorize")
    assert auth["tools"] == {"offered": ["shell"], "denied": ["shell"]}
    assert auth["outcome"] == "refuse"
    eu = step(policy.explain(None, CallContext(region="EU")), "route")
    assert eu["mandatory"] is True and eu["routeTo"] == "eu"


def test_explain_without_routing_uses_the_requested_model() -> None:
    decisions = Policy().explain({"model": "cloud-llm", "input": ["a"]}, CallContext())
    assert step(decisions, "authorize")["operation"] == "embeddings"
    assert step(decisions, "route")["target"] == "cloud-llm"
    assert step(decisions, "moderation")["enabled"] is False


def test_endpoint_overrides_apply_after_routing(seed: Policy) -> None:
    policy = seed.layer(
        {
            "spec": {
                "overrides": [
                    {
                        "name": "on-prem-limits",
                        "match": {"endpoint": "on-prem-llm"},
                        "spec": {"rateLimit": {"requestsPerMinute": 5, "key": ["endpoint"]}},
                    }
                ]
            }
        }
    )
    decisions = policy.explain(None, CallContext(region="EU"))
    assert step(decisions, "overrides") == {
        "step": "overrides",
        "matched": [],
        "matchedAfterRouting": ["on-prem-limits"],
    }
    limits = step(decisions, "limits")["rules"][0]
    assert limits["limits"]["requestsPerMinute"] == 5
    assert limits["key"] == {"endpoint": "on-prem-llm"}
    us = step(policy.explain(None, CallContext(region="US")), "limits")["rules"][0]
    assert us["limits"]["requestsPerMinute"] == 60
