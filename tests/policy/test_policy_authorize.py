"""Scopes and tool governance: what a principal may do under a policy."""

from __future__ import annotations

import pytest

from aiguard import CallContext
from aiguard.errors import (
    InvalidRequestError,
    MissingScopeError,
    PolicyViolation,
    ToolNotAllowedError,
)
from aiguard.policy import Policy


def ctx(*scopes: str, **kw: str) -> CallContext:
    return CallContext.build(scopes=scopes, **kw)


def test_seed_requires_every_listed_scope_for_every_call(seed: Policy) -> None:
    seed.authorize("chat", ctx("ai.read", "ai.write"))
    seed.authorize("embeddings", ctx("ai.read", "ai.write", "other"))
    with pytest.raises(MissingScopeError) as info:
        seed.authorize("chat", ctx("ai.read"))
    assert info.value.missing == ("ai.write",)
    assert "ai.write" in str(info.value)
    assert isinstance(info.value, PolicyViolation)
    assert info.value.category == "scope"


def test_empty_context_is_refused_when_scopes_are_required(seed: Policy) -> None:
    with pytest.raises(MissingScopeError) as info:
        seed.authorize("chat", CallContext())
    assert info.value.missing == ("ai.read", "ai.write")


def test_no_authentication_section_allows_everyone() -> None:
    Policy().authorize("chat", CallContext())
    Policy.from_dict({"spec": {"authentication": {"type": "none"}}}).authorize(
        "embeddings", CallContext()
    )


def test_operation_model_and_route_scopes_add_up() -> None:
    policy = Policy.from_dict(
        {
            "spec": {
                "authentication": {
                    "type": "apiKey",
                    "scopes": ["ai.use"],
                    "operations": {"embeddings": ["ai.embed"]},
                    "models": {"gpt-4*": ["ai.premium"], "cloud-llm": ["ai.external"]},
                    "routes": {"support-*": ["support"]},
                }
            }
        }
    )
    policy.authorize("chat", ctx("ai.use"), model="small")
    with pytest.raises(MissingScopeError) as info:
        policy.authorize("embeddings", ctx("ai.use"))
    assert info.value.missing == ("ai.embed",)
    with pytest.raises(MissingScopeError) as info:
        policy.authorize("chat", ctx("ai.use"), model="gpt-4o")
    assert info.value.missing == ("ai.premium",)
    assert "model 'gpt-4o'" in info.value.required_for
    policy.authorize("chat", ctx("ai.use", "ai.premium"), model="gpt-4o")
    # The route comes from the context unless given explicitly.
    with pytest.raises(MissingScopeError, match="support"):
        policy.authorize("chat", ctx("ai.use", route="support-bot"))
    with pytest.raises(MissingScopeError, match="support"):
        policy.authorize("chat", ctx("ai.use"), route="support-mail")
    policy.authorize("chat", ctx("ai.use", "support", route="support-bot"))


def test_unknown_operation_is_a_programming_error(seed: Policy) -> None:
    with pytest.raises(InvalidRequestError, match="unknown operation 'complete'"):
        seed.authorize("complete", ctx("ai.read", "ai.write"))


def test_tool_deny_wins_over_allow_and_allow_restricts() -> None:
    policy = Policy.from_dict(
        {
            "spec": {
                "authentication": {
                    "tools": {"allow": ["search_*", "calculator"], "deny": ["search_private"]}
                }
            }
        }
    )
    policy.authorize("chat", CallContext(), tools=["search_web", "calculator"])
    with pytest.raises(ToolNotAllowedError) as info:
        policy.authorize("chat", CallContext(), tools=["search_web", "search_private"])
    assert info.value.tool == "search_private"
    assert info.value.direction == "input"
    with pytest.raises(ToolNotAllowedError, match="'shell'"):
        policy.authorize("chat", CallContext(), tools=["shell"])
    eff = policy.resolve(CallContext())
    eff.check_tool_calls(["calculator"])
    with pytest.raises(ToolNotAllowedError) as info:
        eff.check_tool_calls(["calculator", "shell"])
    assert info.value.direction == "output"


def test_deny_only_list_allows_everything_else() -> None:
    policy = Policy.from_dict({"spec": {"authentication": {"tools": {"deny": ["rm_rf"]}}}})
    policy.authorize("chat", CallContext(), tools=["anything"])
    with pytest.raises(ToolNotAllowedError):
        policy.authorize("chat", CallContext(), tools=["rm_rf"])


def test_scope_check_is_memoised_but_never_stale() -> None:
    policy = Policy.from_dict(
        {"spec": {"authentication": {"type": "oauth2", "models": {"big": ["ai.big"]}}}}
    )
    for _ in range(3):
        policy.authorize("chat", ctx(), model="small")
        with pytest.raises(MissingScopeError):
            policy.authorize("chat", ctx(), model="big")
