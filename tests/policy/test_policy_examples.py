"""The example policies shipped in examples/policies load, and layer as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiguard import CallContext
from aiguard.policy import Policy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_loads_and_round_trips(path: Path) -> None:
    policy = Policy.from_yaml(path)
    assert Policy.from_dict(policy.to_dict()) == policy


def test_app_layer_over_org_default() -> None:
    org = Policy.from_yaml(EXAMPLES / "org-default.yaml")
    app = Policy.from_yaml(EXAMPLES / "app-layer.yaml")
    policy = org.layer(app)
    assert policy.metadata.name == "billing-bot"
    assert policy.spec.authentication.scopes == ("ai.use",)
    assert policy.spec.rate_limit.tokens_per_day == 100000
    assert policy.spec.rate_limit.requests_per_minute == 30
    assert len(policy.spec.content_moderation.block_list) == 3
    assert not policy.resolve(CallContext()).tool_allowed("exec_python")


def test_multi_tenant_example_decisions() -> None:
    policy = Policy.from_yaml(EXAMPLES / "multi-tenant.yaml")
    acme = policy.resolve(CallContext(tenant="acme"))
    assert acme.rate_limit.requests_per_minute == 600
    assert [r.name for r in acme.rate_limit.rules()] == ["default", "tenant-budget", "fleet"]
    assert policy.referenced_endpoints() == {
        "on-prem-llm",
        "azure-eu",
        "cloud-llm",
        "cloud-llm-backup",
        "cloud-llm-gpt4",
    }
