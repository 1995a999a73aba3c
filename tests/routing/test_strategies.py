"""Group strategies: weighted shares, least-busy, lowest-latency with exploration, sticky."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from aiguard._call import Call
from aiguard.routing import CircuitConfig, EndpointHealth, GroupOptions, PolicyRouter

from ._harness import FakeClock, endpoints
from .test_router import call


def _router(
    strategy: str,
    members: list[Any],
    *,
    seed: int = 1,
    options: GroupOptions | None = None,
    health: EndpointHealth | None = None,
) -> PolicyRouter:
    names = [m if isinstance(m, str) else m["endpoint"] for m in members]
    eps = endpoints(*names)
    spec = {"groups": {"g": {"strategy": strategy, "members": members}}, "default": "g"}
    return PolicyRouter(
        eps,
        spec,
        rng=random.Random(seed),
        groups={"g": options} if options else None,
        health=health or EndpointHealth(eps, clock=FakeClock()),
    )


def _first(router: PolicyRouter, c: Call | None = None) -> str:
    return router.route(c or call())[0].name


def test_weighted_picks_are_within_two_percent_of_the_weights() -> None:
    members = [
        {"endpoint": "stable", "weight": 70},
        {"endpoint": "canary", "weight": 20},
        {"endpoint": "next", "weight": 10},
    ]
    r = _router("weighted", members, seed=2026)
    picks = Counter(_first(r) for _ in range(10_000))
    for name, weight in (("stable", 0.7), ("canary", 0.2), ("next", 0.1)):
        assert abs(picks[name] / 10_000 - weight) <= 0.02, picks


def test_weighted_plan_keeps_every_member_as_a_spare() -> None:
    r = _router("weighted", [{"endpoint": "a", "weight": 1}, {"endpoint": "b", "weight": 3}])
    for _ in range(20):
        assert sorted(e.name for e in r.route(call())) == ["a", "b"]


def test_weighted_share_of_an_open_member_spreads_by_weight() -> None:
    members = [
        {"endpoint": "a", "weight": 50},
        {"endpoint": "b", "weight": 25},
        {"endpoint": "c", "weight": 25},
    ]
    r = _router("weighted", members, seed=5)
    r.health.breakers["a"].record_failure()
    for _ in range(4):
        r.health.breakers["a"].record_failure()
    assert r.health.state("a") == "open"
    picks = Counter(_first(r) for _ in range(4000))
    assert picks["a"] == 0
    assert abs(picks["b"] / 4000 - 0.5) <= 0.03


def test_least_busy_prefers_fewest_in_flight() -> None:
    r = _router("least-busy", ["a", "b", "c"])
    assert [e.name for e in r.route(call())] == ["a", "b", "c"]
    busy = [call() for _ in range(3)]
    r.health.attempt_started(busy[0], r.endpoints["a"])
    r.health.attempt_started(busy[1], r.endpoints["a"])
    r.health.attempt_started(busy[2], r.endpoints["b"])
    assert [e.name for e in r.route(call())] == ["c", "b", "a"]
    r.health.call_finished(busy[0])  # an abandoned call gives its slot back
    assert r.health.inflight("a") == 1


def test_lowest_latency_measures_everyone_then_prefers_the_fastest() -> None:
    clock = FakeClock()
    eps = endpoints("a", "b", "c")
    health = EndpointHealth(eps, clock=clock, latency_alpha=0.5)
    r = _router("lowest-latency", ["a", "b", "c"], health=health,
                options=GroupOptions(exploration=0.0))  # fmt: skip
    for name, seconds in (("a", 0.9), ("b", 0.2)):
        c = call()
        c.started = clock()
        from aiguard._call import Attempt

        c.attempts.append(Attempt(name, 1, clock(), clock() + seconds))
        health.attempt_started(c, eps[name])
        health.attempt_ended(c, None)
    assert health.latency("b") == pytest.approx(0.2)
    assert [e.name for e in r.route(call())] == ["c", "b", "a"]  # c is still unmeasured


def test_lowest_latency_explores_a_share_of_calls() -> None:
    eps = endpoints("a", "b")
    health = EndpointHealth(eps, clock=FakeClock())
    health._stats["a"].ewma = 0.1
    health._stats["b"].ewma = 5.0
    r = _router("lowest-latency", ["a", "b"], health=health, seed=3,
                options=GroupOptions(exploration=0.2))  # fmt: skip
    picks = Counter(_first(r) for _ in range(5000))
    assert 0.05 < picks["b"] / 5000 < 0.15  # half the explorations pick b


def test_sticky_keeps_a_tenant_on_one_member_and_moves_only_its_keys() -> None:
    r = _router("sticky", ["a", "b", "c"], options=GroupOptions(sticky_key="tenant"))
    tenants = [f"t{i}" for i in range(300)]
    home = {t: _first(r, call(tenant=t)) for t in tenants}
    assert all(_first(r, call(tenant=t)) == home[t] for t in tenants)
    spread = Counter(home.values())
    assert min(spread.values()) > 60, spread  # roughly a third each

    for _ in range(5):
        r.health.breakers["b"].record_failure()
    moved = {t: _first(r, call(tenant=t)) for t in tenants}
    assert all(moved[t] == home[t] for t in tenants if home[t] != "b")
    assert all(moved[t] != "b" for t in tenants)


def test_sticky_hash_is_stable_across_routers_and_without_key_uses_listed_order() -> None:
    r1 = _router("sticky", ["a", "b", "c"])
    r2 = _router("sticky", ["a", "b", "c"], seed=99)
    for u in ("u-1", "u-2", "u-3", "u-4"):
        assert [e.name for e in r1.route(call(user=u))] == [e.name for e in r2.route(call(user=u))]
    assert [e.name for e in r1.route(call())] == ["a", "b", "c"]


def test_half_open_member_admits_one_probe_call_at_a_time() -> None:
    clock = FakeClock()
    eps = endpoints("a", "b")
    health = EndpointHealth(
        eps, clock=clock, circuit=CircuitConfig(failure_threshold=1, cooldown=5)
    )
    r = _router("fallback", ["a", "b"], health=health)
    health.breakers["a"].record_failure()
    clock.advance(5)
    probe, other = call(), call()
    assert [e.name for e in r.route(probe)] == ["a", "b"]
    assert [e.name for e in r.route(other)] == ["b"]
    health.call_finished(probe)  # the probe call ended without reaching a: hand it back
    assert [e.name for e in r.route(call())] == ["a", "b"]
