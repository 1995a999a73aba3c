"""The seed policy's ``endpointRouting`` and data residency, end to end through both clients."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import aiguard
from aiguard.errors import NoRouteError
from aiguard.policy import Policy
from aiguard.routing import CircuitConfig

from ._harness import Env, Runner, status

Run = Callable[..., Runner]
SEED = Path(__file__).parent.parent / "policy" / "seed_policy.yaml"
NAMES = ("on-prem-llm", "cloud-llm")


def seed_policy() -> Policy:
    return Policy.from_yaml(SEED)


def mandatory_policy() -> Policy:
    return Policy.from_dict(
        {
            "spec": {
                "endpointRouting": {
                    "rules": [
                        {"match": {"region": "EU"}, "routeTo": "on-prem-llm", "mandatory": True},
                        {"match": {"region": "US"}, "routeTo": "cloud-llm"},
                    ],
                    "default": "cloud-llm",
                }
            }
        }
    )


async def test_seed_policy_routes_eu_on_prem_and_us_to_the_cloud(run: Run) -> None:
    r = run(Env(NAMES, policy=seed_policy()))
    assert (await r.chat(context={"region": "EU"})).endpoint == "on-prem-llm"
    assert (await r.chat(context={"region": "US"})).endpoint == "cloud-llm"
    with aiguard.context(region="EU"):
        assert (await r.chat()).endpoint == "on-prem-llm"
    with pytest.raises(NoRouteError):
        await r.chat(context={"region": "APAC"})
    assert r.env.script.hosts() == ["on-prem-llm", "cloud-llm", "on-prem-llm"]


async def test_eu_always_lands_on_prem_even_when_the_caller_names_the_cloud(run: Run) -> None:
    r = run(Env(NAMES, policy=mandatory_policy()))
    for _ in range(3):
        reply = await r.chat(model="cloud-llm", context={"region": "EU"})
        assert reply.endpoint == "on-prem-llm"
    stream = await r.stream(model="cloud-llm", context={"region": "EU"})
    assert stream.endpoint == "on-prem-llm"
    assert set(r.env.script.hosts()) == {"on-prem-llm"}
    decision = r.env.last_decision
    assert decision is not None and decision.model_overridden and decision.mandatory


async def test_eu_never_fails_over_to_the_cloud_when_on_prem_is_down(run: Run) -> None:
    env = Env(NAMES, policy=mandatory_policy(), circuit=CircuitConfig(failure_threshold=2))
    r = run(env)
    env.script.add("on-prem-llm", *[status(503)] * 10)
    for _ in range(2):
        with pytest.raises(aiguard.errors.ProviderError):
            await r.chat(context={"region": "EU"})
    with pytest.raises(aiguard.errors.ProviderError) as info:
        await r.chat(context={"region": "EU"})
    assert type(info.value).__name__ == "CircuitOpenError"
    assert "cloud-llm" not in env.script.hosts()
    # US traffic is unaffected
    assert (await r.chat(context={"region": "US"})).endpoint == "cloud-llm"


async def test_a_non_mandatory_rule_falls_back_to_the_default_route(run: Run) -> None:
    policy = Policy.from_dict(
        {
            "spec": {
                "endpointRouting": {
                    "rules": [{"match": {"tenant": "acme"}, "routeTo": "on-prem-llm"}],
                    "default": "cloud-llm",
                }
            }
        }
    )
    env = Env(NAMES, policy=policy, max_attempts=1)
    r = run(env)
    env.script.add("on-prem-llm", status(502))
    assert (await r.chat(context={"tenant": "acme"})).endpoint == "cloud-llm"
    assert env.script.hosts() == ["on-prem-llm", "cloud-llm"]


async def test_policy_overrides_can_change_routing_per_call(run: Run) -> None:
    policy = Policy.from_dict(
        {
            "spec": {
                "endpointRouting": {"default": "cloud-llm"},
                "overrides": [
                    {
                        "name": "acme-on-prem",
                        "match": {"tenant": "acme"},
                        "spec": {"endpointRouting": {"default": "on-prem-llm"}},
                    }
                ],
            }
        }
    )
    r = run(Env(NAMES, policy=policy))
    assert (await r.chat(context={"tenant": "acme"})).endpoint == "on-prem-llm"
    assert (await r.chat(context={"tenant": "other"})).endpoint == "cloud-llm"


async def test_routing_stages_wire_router_retry_and_observer_together(kind: str) -> None:
    import httpx

    from aiguard.routing import routing_stages

    from ._harness import FakeClock, Script, endpoints

    script = Script()
    clock = FakeClock()
    eps = endpoints(*NAMES)
    stages = routing_stages(eps, mandatory_policy(), clock=clock, retry={"max_attempts": 1})
    observer = stages["observers"][0] if "observers" in stages else stages["telemetry"]
    assert stages["router"].health is stages["retry"].health is observer.health
    providers = {n: e.provider for n, e in eps.items()}
    script.add("on-prem-llm", status(503))
    if kind == "sync":
        http = httpx.Client(transport=httpx.MockTransport(script.handler))
        with aiguard.Client(providers, http_client=http, clock=clock, stages=stages) as c:  # type: ignore[arg-type]
            with pytest.raises(aiguard.errors.ServerError):
                c.chat("Hi", model="cloud-llm", context={"region": "EU"})
            assert c.chat("Hi", context={"region": "US"}).endpoint == "cloud-llm"
    else:
        ahttp = httpx.AsyncClient(transport=httpx.MockTransport(script.handler))
        async with aiguard.AsyncClient(
            providers,
            http_client=ahttp,
            clock=clock,
            stages=stages,  # type: ignore[arg-type]
        ) as ac:
            with pytest.raises(aiguard.errors.ServerError):
                await ac.chat("Hi", model="cloud-llm", context={"region": "EU"})
            assert (await ac.chat("Hi", context={"region": "US"})).endpoint == "cloud-llm"
    assert script.hosts() == ["on-prem-llm", "cloud-llm"]


def test_routing_stages_without_a_policy_behave_like_direct_routing() -> None:
    from aiguard.routing import routing_stages

    from ._harness import endpoints
    from .test_router import call

    one = routing_stages(endpoints("only"))["router"]
    assert [e.name for e in one.route(call())] == ["only"]
    two = routing_stages(endpoints("a", "b"))["router"]
    assert [e.name for e in two.route(call("b"))] == ["b"]
    with pytest.raises(NoRouteError):
        two.route(call())
