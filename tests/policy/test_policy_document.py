"""Loading, dumping and hashing the policy document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aiguard import CallContext
from aiguard.errors import ConfigError, PolicyError
from aiguard.policy import Policy, PolicySpec, RateLimitSpec

SEED = Path(__file__).with_name("seed_policy.yaml")


def test_seed_loads_exactly_as_written(seed: Policy) -> None:
    assert seed.api_version == "v1"
    assert seed.kind == "AIAPIGatewayPolicy"
    assert seed.metadata.name == "secure-llm-endpoint"
    spec = seed.spec
    assert spec.authentication.type == "oauth2"
    assert spec.authentication.scopes == ("ai.read", "ai.write")
    assert spec.rate_limit.requests_per_minute == 60
    assert spec.rate_limit.tokens_per_day == 100_000
    assert spec.content_moderation.enabled is True
    assert len(spec.content_moderation.block_list) == 3
    assert spec.logging.enabled is True
    assert spec.logging.retention_days == 90
    rules = spec.endpoint_routing.rules
    assert [(r.match.region, r.route_to) for r in rules] == [
        ("EU", "on-prem-llm"),
        ("US", "cloud-llm"),
    ]


def test_seed_file_is_the_sample_from_the_seed_article() -> None:
    # The committed copy must stay byte-identical to the seed's sample block.
    text = SEED.read_text()
    assert text.startswith("apiVersion: v1\nkind: AIAPIGatewayPolicy\n")
    assert 'blockList:\n      - "hate speech"\n      - "PII"\n      - "investment advice"' in text


def test_yaml_text_path_string_and_path_object_load_the_same(seed: Policy) -> None:
    assert Policy.from_yaml(SEED.read_text()) == seed
    assert Policy.from_yaml(str(SEED)) == seed


def test_dict_json_and_yaml_round_trip(seed: Policy) -> None:
    data = seed.to_dict()
    assert data["apiVersion"] == "v1" and data["kind"] == "AIAPIGatewayPolicy"
    assert data["spec"]["rateLimit"] == {"requestsPerMinute": 60, "tokensPerDay": 100000}
    assert Policy.from_dict(data) == seed
    assert Policy.from_json(seed.to_json()) == seed
    assert Policy.from_yaml(seed.to_yaml()) == seed
    json.dumps(data)  # plain JSON types only


def test_python_construction_uses_snake_case_and_matches_the_yaml(seed: Policy) -> None:
    built = Policy(
        metadata={"name": "secure-llm-endpoint"},
        spec=PolicySpec(
            authentication={"type": "oauth2", "scopes": ["ai.read", "ai.write"]},
            rate_limit=RateLimitSpec(requests_per_minute=60, tokens_per_day=100_000),
            content_moderation={
                "enabled": True,
                "block_list": ["hate speech", "PII", "investment advice"],
            },
            logging={"enabled": True, "retention_days": 90},
            endpoint_routing={
                "rules": [
                    {"match": {"region": "EU"}, "route_to": "on-prem-llm"},
                    {"match": {"region": "US"}, "route_to": "cloud-llm"},
                ]
            },
        ),
    )
    assert built.hash == seed.hash


def test_hash_is_stable_across_forms_and_changes_with_content(seed: Policy) -> None:
    raw = yaml.safe_load(SEED.read_text())
    assert Policy.from_dict(raw).hash == seed.hash
    assert Policy.from_json(json.dumps(raw)).hash == seed.hash
    assert len(seed.hash) == 64 and int(seed.hash, 16) >= 0
    # Key order and explicit defaults do not change what the policy does, nor its hash.
    raw_reordered = {"spec": raw["spec"], "metadata": raw["metadata"], "kind": raw["kind"]}
    raw_reordered["apiVersion"] = "v1"
    raw_reordered["spec"]["cache"] = {"enabled": False}
    assert Policy.from_dict(raw_reordered).hash == seed.hash
    raw["spec"]["rateLimit"]["requestsPerMinute"] = 61
    assert Policy.from_dict(raw).hash != seed.hash
    raw["spec"]["rateLimit"]["requestsPerMinute"] = 60
    raw["metadata"]["name"] = "other"
    assert Policy.from_dict(raw).hash != seed.hash


def test_hash_changes_with_a_secret_without_revealing_it() -> None:
    def doc(key: str) -> Policy:
        return Policy.from_dict({"spec": {"contentModeration": {"hashKey": key}}})

    k1, k2 = "k" * 8 + "1", "k" * 8 + "2"  # built at run time, not credential literals
    assert doc(k1).hash != doc(k2).hash
    assert k1 not in json.dumps(doc(k1).to_dict())
    assert Policy.from_dict(doc(k1).to_dict(reveal_secrets=True)) == doc(k1)


def test_every_mistake_is_reported_at_once_with_paths() -> None:
    text = SEED.read_text().replace("requestsPerMinute: 60", "requestsPerMinute: sixty")
    text = text.replace("tokensPerDay: 100000", "tokensPerDya: 100000")
    text = text.replace("type: oauth2", "type: oauth3")
    text = text.replace('region: "US"', 'regoin: "US"')
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(text)
    problems = info.value.problems
    assert "spec.rateLimit.requestsPerMinute: expected an integer, got 'sixty'" in problems
    assert (
        "spec.rateLimit.tokensPerDya: unknown key 'tokensPerDya'; did you mean 'tokensPerDay'?"
        in problems
    )
    assert any(p.startswith("spec.authentication.type: expected one of 'oauth2'") for p in problems)
    assert (
        "spec.endpointRouting.rules[1].match.regoin: unknown key 'regoin'; did you mean 'region'?"
        in problems
    )
    assert len(problems) == 4
    assert isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"rateLimit": {"requestsPerMinute": 0}}, "spec.rateLimit.requestsPerMinute: expected a"),
        ({"rateLimit": {"costPerDay": -5}}, "spec.rateLimit.costPerDay: expected a positive"),
        ({"rateLimit": {"requestsPerMinute": "60"}}, "expected an integer, got '60'"),
        ({"rateLimit": {"requestsPerMinute": True}}, "expected an integer, got True"),
        ({"rateLimit": {"key": ["global", "user"]}}, "'global' cannot be combined"),
        ({"rateLimit": {"key": ["tenant", "usr"]}}, "key[1]: unknown attribute 'usr'; did you"),
        ({"rateLimit": {"maxWait": 5}}, "spec.rateLimit.maxWait: only applies with mode 'wait'"),
        ({"rateLimit": {"store": {"type": "redis"}}}, "spec.rateLimit.store.url: required"),
        ({"rateLimit": {"limits": [{"key": ["tenant"]}]}}, "spec.rateLimit.limits[0]: sets no"),
        ({"cache": {"maxEntries": 0}}, "spec.cache.maxEntries: expected a positive"),
        ({"logging": {"sink": "jsonl"}}, "spec.logging.path: required for sink 'jsonl'"),
        ({"authentication": {"scopes": ["a"]}}, "spec.authentication.type: is 'none'"),
        ({"authentication": {"type": "oauth2", "scopes": "ai.read"}}, "expected a list"),
        ({"endpointRouting": {"rules": [{"match": {}}]}}, "rules[0].routeTo: required"),
        (
            {"endpointRouting": {"groups": {"g": {"members": ["a"]}}, "aliases": {"g": "a"}}},
            "spec.endpointRouting.aliases.g: is also a group name",
        ),
        (
            {"endpointRouting": {"rules": [{"match": {"endpoint": "x"}, "routeTo": "a"}]}},
            "rules[0].match.endpoint: routing decides the endpoint",
        ),
        ({"contentModeration": {"blockList": [{"regex": "(a+)+$"}]}}, "blockList[0]"),
        ({"contentModeration": {"blockList": [{"regex": "(unclosed"}]}}, "blockList[0]"),
        ({"bogus": 1}, "spec.bogus: unknown key 'bogus'; valid keys: authentication"),
    ],
)
def test_bad_values_are_refused_with_a_path(spec: dict[str, object], expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict({"spec": spec})
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_wrong_document_kind_and_version() -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict({"apiVersion": "v2", "kind": "Deployment"})
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "got an empty document"),
        ("- a\n- b\n", "got list"),
        ("spec: [unclosed\n", "line 2"),
        ("spec: {}\nspec: {}\n", "duplicate key 'spec'"),
    ],
)
def test_unreadable_yaml_is_a_policy_error(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(text)
    assert expected in str(info.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError, match="no such file"):
        Policy.from_yaml(missing)
    with pytest.raises(PolicyError, match="no such file"):
        Policy.from_yaml(str(missing))


def test_missing_pyyaml_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ConfigError, match=r"pip install aiguard\[yaml\]"):
        Policy.from_yaml("spec: {}\n")


def test_policy_is_frozen(seed: Policy) -> None:
    with pytest.raises(ValueError):
        seed.metadata = seed.metadata  # type: ignore[misc]


def test_coerce_accepts_the_forms_a_client_takes(seed: Policy) -> None:
    assert Policy.coerce(seed) is seed
    assert Policy.coerce(None) is None
    assert Policy.coerce(seed.to_dict()) == seed
    assert Policy.coerce(SEED) == seed
    with pytest.raises(ConfigError, match="policy must be"):
        Policy.coerce(42)  # type: ignore[arg-type]


def test_copies_do_not_reuse_derived_state(seed: Policy) -> None:
    seed.resolve(CallContext())  # warm the memo tables
    renamed = seed.model_copy(update={"metadata": seed.metadata.model_copy(update={"name": "x"})})
    assert renamed.hash != seed.hash
    assert renamed.resolve(CallContext()).name == "x"


def test_any_existing_file_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "policy.txt"
    path.write_text(SEED.read_text())
    assert Policy.from_yaml(str(path)) == Policy.from_yaml(SEED)


def test_multi_document_yaml_is_refused() -> None:
    with pytest.raises(PolicyError, match="not valid YAML"):
        Policy.from_yaml("spec: {}\n---\nspec: {}\n")
