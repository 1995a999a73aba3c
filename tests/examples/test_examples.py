"""Every scenario example runs offline, exits 0 and prints what it promises.

Each runs in a subprocess, as a user would run it, so the test also proves the example needs
nothing but the installed package and its own policy file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiguard.cli import EXIT_OK, main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(name: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=os.getcwd(),  # the scratch directory (conftest): examples write their audit log there
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_fintech_support_bot() -> None:
    out = run("fintech_support_bot.py")
    sent = next(line for line in out.splitlines() if "provider received:" in line)
    assert "[CARD_1]" in sent and "[EMAIL_1]" in sent
    assert "4111" not in sent and "jane.doe@example.com" not in sent
    reads = next(line for line in out.splitlines() if "customer reads:" in line)
    assert "4111 1111 1111 1111" in reads and "jane.doe@example.com" in reads
    assert "refused: topic.investment advice (input); requests sent: 0" in out
    assert "refused: topic.investment advice (output)" in out
    assert "refused: missing scope(s) ai.write" in out


def test_healthcare_routing() -> None:
    out = run("healthcare_routing.py")
    assert "patient summary  -> on-prem-llm (openai-compatible)" in out
    assert "general question -> cloud-llm (bedrock)" in out
    assert "asked for cloud-llm, served by on-prem-llm" in out
    assert "EU clinic        -> on-prem-llm" in out
    part4 = out.split("4. ")[1].split("5. ")[0]
    assert "general question -> on-prem-llm" in part4
    assert "from on-prem-llm; requests to the cloud: 0" in out
    assert "route: on-prem-llm from rules[0] 'phi-stays-on-prem', mandatory=True" in out


def test_saas_tenant_budgets() -> None:
    out = run("saas_tenant_budgets.py")
    part2 = out.split("2. ")[1].split("3. ")[0].splitlines()
    assert [line.split()[0] for line in part2[1:]] == ["200"] * 4 + ["429", "200"]
    assert "429 acme-apps: slow down" in part2[5]
    assert part2[6].strip().startswith("200 globex-labs")
    assert "402 globex-labs: daily token budget spent (default.tokensPerDay)" in out
    assert "acme-apps: 532 of 600 tokens left today" in out
    table = out.split("usage by tenant")[1]
    rows = {line.split()[0]: line.split() for line in table.splitlines() if line.strip()}
    assert rows["acme-apps"][1] == "6" and rows["globex-labs"][1] == "5"
    assert rows["TOTAL"][1] == "11"
    assert "HTML report: report.html" in out


def test_agent_loop() -> None:
    out = run("agent_loop.py")
    assert 'step 1: calculator({"expression":"6*7"}) -> 42' in out
    assert "answer after 2 step(s): 6 times 7 is 42." in out
    assert "refused: tool 'shell' is not allowed by the policy (input); requests sent: 0" in out
    assert "stopped at step 1: tool 'shell' is not allowed by the policy" in out
    assert "stopped at step 4: run budget spent (per-run.tokensPerDay)" in out
    assert "a new run starts afresh: answer after 1 step(s)" in out


@pytest.mark.parametrize(
    "name",
    ["fintech-support-bot", "healthcare-routing", "saas-tenant-budgets", "agent-loop"],
)
def test_example_policies_validate(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", str(EXAMPLES / "policies" / f"{name}.yaml")]) == EXIT_OK
    assert f"valid policy '{name}'" in capsys.readouterr().out
