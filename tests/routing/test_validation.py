"""Bad routing configuration is refused when the client is built, with the rule's path."""

from __future__ import annotations

from typing import Any

import pytest

import aiguard
from aiguard.errors import ConfigError, PolicyError
from aiguard.policy import Policy
from aiguard.policy.routing import EndpointGroup, EndpointRoutingSpec, GroupMember
from aiguard.routing import CircuitConfig, GroupOptions, PolicyRouter

from ._harness import endpoints

EPS = endpoints("on-prem-llm", "cloud-llm")


def problems(spec: Any, **kw: Any) -> str:
    with pytest.raises(PolicyError) as info:
        PolicyRouter(EPS, spec, **kw)
    return str(info.value)


def test_rule_default_and_member_naming_unknown_endpoints() -> None:
    msg = problems(
        {
            "rules": [
                {"match": {"region": "EU"}, "routeTo": "on-prem-llm"},
                {"match": {"region": "US"}, "routeTo": "clod-llm"},
            ],
            "default": "nowhere",
            "groups": {"g": {"members": ["cloud-llm", "ghost"]}},
        }
    )
    assert "3 problem(s)" in msg
    assert "endpointRouting.rules[1].routeTo: 'clod-llm' is not an endpoint, group or alias" in msg
    assert "endpointRouting.default: 'nowhere'" in msg
    assert "endpointRouting.groups.g.members[1]: unknown endpoint 'ghost'" in msg


def test_empty_group_negative_and_all_zero_weights() -> None:
    spec = EndpointRoutingSpec.model_construct(
        rules=(),
        default=None,
        aliases={},
        groups={
            "empty": EndpointGroup.model_construct(strategy="fallback", members=()),
            "neg": EndpointGroup.model_construct(
                strategy="weighted",
                members=(GroupMember.model_construct(endpoint="cloud-llm", weight=-1),),
            ),
            "zero": EndpointGroup.model_construct(
                strategy="weighted",
                members=tuple(GroupMember.model_construct(endpoint=e, weight=0) for e in EPS),
            ),
        },
    )
    msg = problems(spec)
    assert "endpointRouting.groups.empty.members: a group needs at least one endpoint" in msg
    assert "endpointRouting.groups.neg.members[0].weight: must be >= 0, got -1" in msg
    assert "endpointRouting.groups.zero.members: weights are all zero" in msg


def test_alias_cycles_and_dangling_aliases() -> None:
    spec = EndpointRoutingSpec.model_construct(
        rules=(), default=None, groups={}, aliases={"x": "y", "y": "x", "z": "nothing"}
    )
    msg = problems(spec)
    assert "endpointRouting.aliases.x: alias cycle x -> y -> x" in msg
    assert "endpointRouting.aliases.z: 'nothing' is not an endpoint or group" in msg


def test_the_policy_model_refuses_bad_weights_and_alias_chains_with_paths() -> None:
    group = {"strategy": "weighted", "members": [{"endpoint": "a", "weight": -2}]}
    with pytest.raises(PolicyError) as info:
        Policy.from_dict({"spec": {"endpointRouting": {"groups": {"g": group}}}})
    assert "spec.endpointRouting.groups.g.members[0].weight" in str(info.value)
    with pytest.raises(PolicyError) as info:
        Policy.from_dict({"spec": {"endpointRouting": {"aliases": {"p": "q", "q": "p"}}}})
    assert "aliases.p" in str(info.value)


def test_group_options_are_checked() -> None:
    spec = {"groups": {"g": {"strategy": "sticky", "members": ["cloud-llm"]}}}
    msg = problems(
        spec,
        groups={
            "g": GroupOptions(sticky_key="colour", failover_on=frozenset({"teapot"})),
            "h": GroupOptions(),
        },
    )
    assert "endpointRouting.groups.g.stickyKey: 'colour' is not a context attribute" in msg
    assert "endpointRouting.groups.g.failoverOn: unknown 'teapot'" in msg
    assert "endpointRouting.groups.h: group options given for an undefined group" in msg


def test_a_policy_naming_an_unknown_endpoint_fails_when_the_router_is_built() -> None:
    policy = Policy.from_dict(
        {"spec": {"endpointRouting": {"rules": [{"match": {"region": "EU"}, "routeTo": "eu"}]}}}
    )
    with pytest.raises(PolicyError) as info:
        PolicyRouter.from_policy(policy, EPS)
    assert "spec.endpointRouting.rules[0].routeTo: 'eu'" in str(info.value)


def test_bad_circuit_and_retry_settings() -> None:
    from aiguard.retry import RetryBudget, RetryPolicy

    with pytest.raises(ConfigError):
        CircuitConfig(failure_threshold=0)
    with pytest.raises(ConfigError):
        CircuitConfig(cooldown=10, max_cooldown=5)
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError):
        RetryPolicy(deadline=0)
    with pytest.raises(ConfigError):
        RetryBudget(ratio=2)


def test_policy_errors_are_config_errors_before_anything_is_sent() -> None:
    assert issubclass(PolicyError, aiguard.errors.ConfigError)


def test_an_override_naming_an_unknown_endpoint_fails_with_its_path() -> None:
    policy = Policy.from_dict(
        {
            "spec": {
                "endpointRouting": {"default": "cloud-llm"},
                "overrides": [
                    {"match": {"tenant": "a"}, "spec": {"endpointRouting": {"default": "eu"}}},
                    {
                        "match": {"tenant": "b"},
                        "spec": {"endpointRouting": {"groups": {"g": {"members": ["x"]}}}},
                    },
                ],
            }
        }
    )
    with pytest.raises(PolicyError) as info:
        PolicyRouter.from_policy(policy, EPS)
    msg = str(info.value)
    assert "spec.overrides[0].spec.endpointRouting.default: 'eu'" in msg
    assert "spec.overrides[1].spec.endpointRouting.groups.g.members[0]: unknown endpoint 'x'" in msg
