"""The seed policy's ``rateLimit`` becomes enforced limits, named after its own fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiguard._context import CallContext
from aiguard.errors import BudgetExceeded, RateLimited
from aiguard.limits import MemoryStore, SQLiteStore, limiter_from_policy, limits_from_policy
from aiguard.policy import Policy, RateLimitSpec

from ._clock import FakeClock

SEED = """\
apiVersion: v1
kind: AIAPIGatewayPolicy
metadata:
  name: secure-llm-endpoint
spec:
  authentication:
    type: oauth2
    scopes: ["ai.read", "ai.write"]
  rateLimit:
    requestsPerMinute: 60
    tokensPerDay: 100000
  contentModeration:
    enabled: true
    blockList:
      - "hate speech"
      - "PII"
      - "investment advice"
  logging:
    enabled: true
    retentionDays: 90
  endpointRouting:
    rules:
      - match: { region: "EU" }
        routeTo: "on-prem-llm"
      - match: { region: "US" }
        routeTo: "cloud-llm"
"""


def test_seed_policy_limits_are_enforced_per_tenant_and_user(clock: FakeClock) -> None:
    spec = Policy.from_yaml(SEED).spec.rate_limit
    lim = limiter_from_policy(spec, store=MemoryStore(clock=clock))
    assert lim is not None
    assert [(x.name, x.metric, x.amount, x.per, x.key) for x in lim.limits] == [
        ("default.requestsPerMinute", "requests", 60, "minute", ("tenant", "user")),
        ("default.tokensPerDay", "tokens", 100_000, "day", ("tenant", "user")),
    ]
    ctx = CallContext(tenant="acme", user="u-1")
    for _ in range(60):
        lim.admit(lim.demand(ctx, tokens=10))
    with pytest.raises(RateLimited, match=r"default\.requestsPerMinute"):
        lim.admit(lim.demand(ctx, tokens=10))
    other = CallContext(tenant="acme", user="u-2")
    with pytest.raises(BudgetExceeded, match=r"default\.tokensPerDay"):
        lim.admit(lim.demand(other, tokens=100_001))


def test_rules_modes_and_stores_carry_over(tmp_path: Path) -> None:
    spec = RateLimitSpec.model_validate(
        {
            "mode": "wait",
            "maxWait": 5,
            "failMode": "open",
            "limits": [{"name": "team", "key": ["tenant"], "costPerMonth": 50, "maxConcurrent": 4}],
            "store": {"type": "sqlite", "path": str(tmp_path / "l.db")},
        }
    )
    limits = limits_from_policy(spec)
    assert [(x.name, x.mode, x.max_wait, x.fail_open) for x in limits] == [
        ("team.costPerMonth", "wait", 5.0, True),
        ("team.maxConcurrent", "wait", 5.0, True),
    ]
    lim = limiter_from_policy(spec)
    assert lim is not None and isinstance(lim.store, SQLiteStore)
    lim.close()


def test_no_counts_means_no_limiter() -> None:
    assert limiter_from_policy(RateLimitSpec()) is None
