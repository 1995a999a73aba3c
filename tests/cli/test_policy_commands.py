"""``aiguard policy validate`` and ``aiguard policy explain``, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiguard.cli import EXIT_BLOCKED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, main

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "policies" / "secure-llm-endpoint.yaml"
MULTI = ROOT / "examples" / "policies" / "multi-tenant.yaml"

BAD = """\
apiVersion: v1
kind: AIAPIGatewayPolicy
metadata: {name: bad}
spec:
  authentication: {type: oauth3}
  rateLimit: {requestsPerMinute: sixty, tokensPerDya: 5}
  endpointRouting:
    rules:
      - match: {regoin: EU}
        routeTo: on-prem-llm
"""


@pytest.fixture
def bad_policy(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def test_validate_accepts_the_seed_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", str(SEED)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "valid policy 'secure-llm-endpoint'" in out
    assert "cloud-llm, on-prem-llm" in out


def test_validate_lists_every_problem_with_its_path_on_stderr(
    bad_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "validate", str(bad_policy)]) == EXIT_INVALID
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "invalid (4 problem(s))" in captured.err
    for path in (
        "spec.authentication.type",
        "spec.rateLimit.requestsPerMinute",
        "spec.rateLimit.tokensPerDya",
        "spec.endpointRouting.rules[0].match.regoin",
    ):
        assert f"  - {path}: " in captured.err
    assert "did you mean 'tokensPerDay'?" in captured.err


def test_validate_json_splits_paths_from_messages(
    bad_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "validate", str(bad_policy), "--json"]) == EXIT_INVALID
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    assert [p["path"] for p in data["problems"]] == [
        "spec.authentication.type",
        "spec.rateLimit.requestsPerMinute",
        "spec.rateLimit.tokensPerDya",
        "spec.endpointRouting.rules[0].match.regoin",
    ]
    assert data["problems"][1]["message"] == "expected an integer, got 'sixty'"


def test_validate_json_of_a_valid_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", str(MULTI), "--json"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True
    assert data["name"] == "support-assistant"
    assert len(data["hash"]) == 64
    assert data["overrides"] == ["acme-enterprise", "eu-gold"]
    assert "on-prem-llm" in data["referencedEndpoints"]


def test_validate_reports_broken_yaml_with_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nspec: {rateLimit: [\n")
    assert main(["policy", "validate", str(path), "--json"]) == EXIT_INVALID
    (problem,) = json.loads(capsys.readouterr().out)["problems"]
    assert problem["path"].startswith("line ")
    assert "not valid YAML" in problem["message"]


def test_validate_reads_json_policies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "AIAPIGatewayPolicy", "spec": {}}))
    assert main(["policy", "validate", str(path)]) == EXIT_OK
    assert "valid policy 'default'" in capsys.readouterr().out


def test_validate_warns_about_a_missing_hash_key_variable_without_failing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIGUARD_CLI_TEST_KEY", raising=False)
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: v1\nkind: AIAPIGatewayPolicy\nspec:\n  contentModeration:\n"
        "    pii: {action: hash}\n    hashKeyEnv: AIGUARD_CLI_TEST_KEY\n"
    )
    assert main(["policy", "validate", str(path)]) == EXIT_OK
    assert "warning:" in capsys.readouterr().err


def test_a_missing_file_is_invalid_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "validate", str(tmp_path / "nope.yaml")]) == EXIT_INVALID
    assert "no such file" in capsys.readouterr().err


def test_explain_shows_route_limits_and_refusal(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["policy", "explain", str(SEED), "--context", "region=EU,tenant=acme", "--scopes",
         "ai.read"]
    )  # fmt: skip
    assert code == EXIT_BLOCKED
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "on-prem-llm from rules[0]" in lines["route"]
    assert "missing ai.write" in lines["authorize"]
    assert "requestsPerMinute 60" in lines["limits"]
    assert "tenant=acme" in lines["limits"]
    assert lines["outcome"].split()[1] == "REFUSE:"


def test_explain_allowed_call_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "policy",
        "explain",
        str(SEED),
        "--context",
        "region=US",
        "--scopes",
        "ai.read,ai.write",
    ]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert "cloud-llm from rules[1]" in out
    assert "ALLOW" in out


def test_explain_json_applies_overrides_and_groups(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["policy", "explain", str(MULTI), "--json", "--model", "chat", "--scopes", "ai.use",
            "--context", "region=EU", "--context", "tenant=acme,tags.tier=gold"]  # fmt: skip
    assert main(args) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["outcome"] == "allow"
    assert data["context"] == {
        "tenant": "acme",
        "region": "EU",
        "tags": {"tier": "gold"},
        "scopes": ["ai.use"],
    }
    steps = {d["step"]: d for d in data["decisions"]}
    assert steps["overrides"]["matched"] == ["acme-enterprise", "eu-gold"]
    assert steps["route"]["target"] == "eu-pool"
    assert steps["route"]["mandatory"] is True
    assert steps["cache"]["ttlSeconds"] == 3600


def test_explain_flags_a_denied_tool(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["policy", "explain", str(MULTI), "--scopes", "ai.use", "--tools",
            "calculator,search_internal_wiki"]  # fmt: skip
    assert main(args) == EXIT_BLOCKED
    assert "tool(s) not allowed: search_internal_wiki" in capsys.readouterr().out


def test_explain_embeddings_needs_its_scope(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["policy", "explain", str(MULTI), "--operation", "embeddings", "--scopes", "ai.use"]
    assert main(args) == EXIT_BLOCKED
    assert "missing ai.embed" in capsys.readouterr().out


def test_explain_of_an_invalid_policy_is_exit_one(
    bad_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "explain", str(bad_policy)]) == EXIT_INVALID
    assert "spec.authentication.type" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["policy", "explain", str(SEED), "--context", "regoin=EU"], "unknown key 'regoin'"),
        (["policy", "explain", str(SEED), "--context", "region"], "expected key=value"),
        (["policy", "explain", str(SEED), "--context", "scopes=a"], "--scopes"),
        (["policy"], "needs a command"),
        ([], "needs a command"),
        (["polcy"], "invalid choice"),
        (["policy", "validate"], "required"),
        (["policy", "explain", str(SEED), "--operation", "images"], "invalid choice"),
    ],
)
def test_usage_errors_exit_64(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_help_and_version_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "exit codes:" in out
    assert "aiguard policy validate" in out
    assert main(["check", "--help"]) == EXIT_OK
    assert "Matched text is never printed" in " ".join(capsys.readouterr().out.split())
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out.startswith("aiguard ")
