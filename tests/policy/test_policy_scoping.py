"""Scoped overrides, layering, and resolution per call."""

from __future__ import annotations

from typing import Any

import pytest

from aiguard import CallContext
from aiguard.errors import MissingScopeError, PolicyError
from aiguard.policy import Policy

BASE: dict[str, Any] = {
    "metadata": {"name": "org"},
    "spec": {
        "authentication": {"type": "oauth2", "scopes": ["ai.use"]},
        "rateLimit": {"requestsPerMinute": 60, "tokensPerDay": 1000},
        "contentModeration": {"enabled": True, "blockList": ["PII"]},
        "endpointRouting": {"rules": [{"match": {"region": "EU"}, "routeTo": "eu-llm"}]},
        "overrides": [
            {
                "name": "acme",
                "match": {"tenant": "acme"},
                "spec": {"rateLimit": {"requestsPerMinute": 600}},
            },
            {
                "name": "acme-eu-gold",
                "match": {"tenant": ["acme", "acme-*"], "region": "EU", "tags": {"tier": "gold"}},
                "spec": {"rateLimit": {"requestsPerMinute": 6000}, "cache": {"enabled": True}},
            },
            {
                "name": "big-model",
                "match": {"model": "gpt-4*"},
                "spec": {"authentication": {"scopes": ["ai.use", "ai.premium"]}},
            },
        ],
    },
}


@pytest.fixture
def policy() -> Policy:
    return Policy.from_dict(BASE)


def test_no_match_keeps_the_base(policy: Policy) -> None:
    eff = policy.resolve(CallContext(tenant="other"))
    assert eff.matched == ()
    assert eff.rate_limit.requests_per_minute == 60
    assert eff.spec is policy.spec


def test_matching_override_changes_only_what_it_sets(policy: Policy) -> None:
    eff = policy.resolve(CallContext(tenant="acme"))
    assert eff.matched == ("acme",)
    assert eff.rate_limit.requests_per_minute == 600
    assert eff.rate_limit.tokens_per_day == 1000  # untouched field kept
    assert eff.content_moderation.block_list == policy.spec.content_moderation.block_list


def test_later_overrides_win_and_lists_wildcards_tags_match(policy: Policy) -> None:
    gold = CallContext.build(tenant="acme-labs", region="EU", tags={"tier": "gold"})
    eff = policy.resolve(gold)
    assert eff.matched == ("acme-eu-gold",)
    assert eff.cache.enabled is True
    both = CallContext.build(tenant="acme", region="EU", tags={"tier": "gold"})
    eff = policy.resolve(both)
    assert eff.matched == ("acme", "acme-eu-gold")
    assert eff.rate_limit.requests_per_minute == 6000
    # A missing tag never matches, even a wildcard.
    assert policy.resolve(CallContext(tenant="acme", region="EU")).matched == ("acme",)


def test_model_scoped_override_changes_authorization(policy: Policy) -> None:
    policy.authorize("chat", CallContext.build(scopes={"ai.use"}), model="small")
    with pytest.raises(MissingScopeError, match=r"ai\.premium"):
        policy.authorize("chat", CallContext.build(scopes={"ai.use"}), model="gpt-4o")


def test_resolution_is_memoised_per_distinct_key(policy: Policy) -> None:
    a1 = policy.resolve(CallContext(tenant="acme", user="u1"))
    a2 = policy.resolve(CallContext(tenant="acme", user="u2"))
    assert a1 is a2  # the user is not read by any override, so it is not part of the key
    assert policy.resolve(CallContext(tenant="acme")) is a1


def test_overrides_combining_into_an_invalid_spec_fail_closed() -> None:
    policy = Policy.from_dict(
        {
            "spec": {
                "overrides": [
                    {"match": {"tenant": "a"}, "spec": {"rateLimit": {"mode": "wait"}}},
                    {
                        "match": {"region": "EU"},
                        "spec": {"rateLimit": {"mode": "wait", "maxWait": 2}},
                    },
                    {"match": {"user": "u"}, "spec": {"rateLimit": {"mode": "reject"}}},
                ]
            }
        }
    )
    assert policy.resolve(CallContext(region="EU")).rate_limit.max_wait == 2
    with pytest.raises(PolicyError, match="together"):
        policy.resolve(CallContext(region="EU", user="u"))


def test_layering_later_wins_field_by_field_and_lists_replace(policy: Policy) -> None:
    app = {
        "metadata": {"name": "app"},
        "spec": {
            "rateLimit": {"tokensPerDay": 5000},
            "contentModeration": {"blockList": ["secrets"]},
        },
    }
    layered = policy.layer(app)
    assert layered.metadata.name == "app"
    assert layered.spec.rate_limit.requests_per_minute == 60  # from the org layer
    assert layered.spec.rate_limit.tokens_per_day == 5000  # the app layer wins
    assert [str(e) for e in layered.spec.content_moderation.block_list] != [
        str(e) for e in policy.spec.content_moderation.block_list
    ]  # the list was replaced, not extended
    assert len(layered.spec.content_moderation.block_list) == 1
    assert layered.spec.authentication.scopes == ("ai.use",)
    assert layered.spec.overrides == policy.spec.overrides
    # Per-call layer on top, memoised.
    call = Policy.from_dict({"spec": {"cache": {"enabled": True}}})
    final = layered.layer(call)
    assert final.spec.cache.enabled and final.spec.rate_limit.tokens_per_day == 5000
    assert layered.layer(call) is final
    assert policy.layer(app, call) == final


def test_a_layer_that_breaks_the_policy_is_refused(policy: Policy) -> None:
    with pytest.raises(PolicyError, match="maxWait"):
        policy.layer({"spec": {"rateLimit": {"maxWait": 3}}})


def test_referenced_endpoints_include_overrides() -> None:
    policy = Policy.from_dict(
        {
            "spec": {
                "endpointRouting": {
                    "rules": [{"match": {"region": "EU"}, "routeTo": "pool"}],
                    "default": "fast",
                    "groups": {"pool": {"members": ["a", {"endpoint": "b", "weight": 3}]}},
                    "aliases": {"fast": "c"},
                },
                "overrides": [
                    {"match": {"tenant": "t"}, "spec": {"endpointRouting": {"default": "d"}}}
                ],
            }
        }
    )
    assert policy.referenced_endpoints() == {"a", "b", "c", "d"}


def test_python_snake_case_overrides_apply_like_camel_case() -> None:
    from aiguard.policy import OverrideRule, PolicySpec, RateLimitSpec

    snake = Policy(
        spec=PolicySpec(
            rate_limit=RateLimitSpec(requests_per_minute=60),
            overrides=(
                OverrideRule(
                    match={"tenant": "acme"}, spec={"rate_limit": {"requests_per_minute": 600}}
                ),
            ),
        )
    )
    camel = Policy.from_dict(
        {
            "spec": {
                "rateLimit": {"requestsPerMinute": 60},
                "overrides": [
                    {"match": {"tenant": "acme"}, "spec": {"rateLimit": {"requestsPerMinute": 600}}}
                ],
            }
        }
    )
    assert snake.resolve(CallContext(tenant="acme")).rate_limit.requests_per_minute == 600
    assert snake.hash == camel.hash


def test_snake_case_dict_layer_applies(policy: Policy) -> None:
    layered = policy.layer({"spec": {"rate_limit": {"tokens_per_day": 7}}})
    assert layered.spec.rate_limit.tokens_per_day == 7
    assert layered.spec.rate_limit.requests_per_minute == 60
