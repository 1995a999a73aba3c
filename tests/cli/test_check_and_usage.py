"""``aiguard check``, ``aiguard usage`` and ``aiguard report``; one subprocess run of the
installed entry point (``python -m aiguard``)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiguard.cli import EXIT_BLOCKED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from aiguard.telemetry import AuditRecord, SQLiteAuditStore, Violation

POLICY = """\
apiVersion: v1
kind: AIAPIGatewayPolicy
metadata: {name: check-me}
spec:
  contentModeration:
    blockList: ["PII", "secrets", "investment advice"]
    pii: {action: redact}
    secrets: {action: block}
  overrides:
    - name: acme-masks
      match: {tenant: acme}
      spec:
        contentModeration: {pii: {action: mask}}
"""


def _fake_key() -> str:
    """Looks like an OpenAI project key to the detector; built here, never stored."""
    return "sk-" + "proj-" + "Zq3" * 16


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def test_check_prints_the_redacted_text_and_findings(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "Mail jane.doe@example.com about card 4111 1111 1111 1111"
    assert main(["check", str(policy), "--text", text]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "REDACTED"
    assert out.splitlines()[1] == "Mail [EMAIL_1] about card [CARD_1]"
    assert "jane.doe" not in out and "4111" not in out
    assert "pii.email" in out and "pii.payment_card" in out


def test_check_json_has_offsets_into_the_original(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "Mail jane.doe@example.com now"
    assert main(["check", str(policy), "--json", "--text", text]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["outcome"] == "redacted"
    assert data["text"] == "Mail [EMAIL_1] now"
    (finding,) = data["findings"]
    assert text[finding["start"] : finding["end"]] == "jane.doe@example.com"
    assert finding | {"start": 0, "end": 0} == {
        "category": "pii.email",
        "action": "redact",
        "direction": "input",
        "start": 0,
        "end": 0,
        "detector": "email",
        "replacement": "[EMAIL_1]",
    }


def test_a_blocked_text_is_withheld_and_exits_2(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = _fake_key()
    text = f"here is my key {key} and jane@example.com"
    assert main(["check", str(policy), "--text", text]) == EXIT_BLOCKED
    out = capsys.readouterr().out
    assert key not in out and key[:12] not in out
    assert "jane@example.com" not in out
    assert out.startswith("BLOCKED by secrets.openai_key")
    assert "pii.email" in out  # every finding is listed, not only the first


def test_a_blocked_text_in_json_has_no_text(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(policy), "--json", "--text", f"k={_fake_key()}"]) == EXIT_BLOCKED
    raw = capsys.readouterr().out
    assert _fake_key() not in raw
    data = json.loads(raw)
    assert data["outcome"] == "blocked"
    assert data["text"] is None
    assert {f["action"] for f in data["findings"]} == {"block"}


def test_check_reads_stdin_and_honours_overrides(
    policy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("card 4111 1111 1111 1111"))
    assert main(["check", str(policy), "-", "--context", "tenant=acme"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "card ****1111"


def test_check_topic_block_and_clean_text(policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "Which stocks should I buy? Give me investment advice."
    assert main(["check", str(policy), "--text", text]) == EXIT_BLOCKED
    assert "topic.investment advice" in capsys.readouterr().out
    assert main(["check", str(policy), "--text", "What are your opening hours?"]) == EXIT_OK
    assert capsys.readouterr().out == "CLEAN\nWhat are your opening hours?\n"


def test_check_output_direction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: v1\nkind: AIAPIGatewayPolicy\nspec:\n  contentModeration:\n"
        "    pii: {action: redact, direction: output}\n"
    )
    text = "write to jane@example.com"
    assert main(["check", str(path), "--text", text]) == EXIT_OK
    captured = capsys.readouterr()
    assert "CLEAN" in captured.out and "inspects nothing" in captured.err
    assert main(["check", str(path), "--text", text, "--direction", "output"]) == EXIT_OK
    assert "write to [EMAIL_1]" in capsys.readouterr().out


def test_check_argument_mistakes(policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(policy), "-", "--text", "x"]) == EXIT_USAGE
    assert "not both" in capsys.readouterr().err
    assert main(["check", str(policy), "file.txt"]) == EXIT_USAGE
    assert main(["check", str(policy) + ".missing", "--text", "x"]) == EXIT_INVALID


# ------------------------------------------------------------------------ usage and report


@pytest.fixture
def audit_db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    now = time.time()
    rows = [
        ("acme", "gpt-4o-mini", "ok", 100, 20, 0.002, ()),
        ("acme", "gpt-4o-mini", "ok", 50, 10, 0.001, ()),
        ("acme", "gpt-4o", "blocked", 0, 0, None, (Violation("pii.email", "block"),)),
        ("globex", "gpt-4o-mini", "ok", 10, 5, 0.0005, ()),
    ]
    with SQLiteAuditStore(path) as store:
        store.write(
            [
                AuditRecord(
                    time=now - 60 * i,
                    operation="chat",
                    outcome=outcome,
                    tenant=tenant,
                    model=model,
                    input_tokens=tin,
                    output_tokens=tout,
                    cost=cost,
                    violations=violations,
                    latency_ms=100.0 + i,
                )
                for i, (tenant, model, outcome, tin, tout, cost, violations) in enumerate(rows)
            ]
            + [AuditRecord(time=now - 30 * 86400, operation="chat", outcome="ok", tenant="old")]
        )
    return path


def test_usage_table_by_tenant(audit_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--db", str(audit_db)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["tenant", "calls"]
    acme = next(line for line in lines if line.startswith("acme"))
    assert acme.split()[1:3] == ["3", "150"]
    assert lines[-1].startswith("TOTAL")
    assert any(line.startswith("old") for line in lines)


def test_usage_json_grouped_and_since(audit_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--db", str(audit_db), "--by", "tenant,model", "--since", "7d",
                 "--json"]) == EXIT_OK  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["groupBy"] == ["tenant", "model"]
    groups = {(r["group"]["tenant"], r["group"]["model"]): r for r in data["rows"]}
    assert set(groups) == {("acme", "gpt-4o-mini"), ("acme", "gpt-4o"), ("globex", "gpt-4o-mini")}
    assert groups[("acme", "gpt-4o")]["blocked"] == 1
    assert groups[("acme", "gpt-4o-mini")]["inputTokens"] == 150
    assert data["total"]["calls"] == 4


def test_usage_mistakes(audit_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--db", str(audit_db), "--by", "colour"]) == EXIT_USAGE
    assert "cannot group by colour" in capsys.readouterr().err
    assert main(["usage", "--db", str(audit_db), "--since", "last tuesday"]) == EXIT_INVALID
    assert "--since" in capsys.readouterr().err
    missing = tmp_path / "missing.db"
    assert main(["usage", "--db", str(missing)]) == EXIT_INVALID
    assert "no such audit store" in capsys.readouterr().err
    assert not missing.exists()  # no empty store was created by mistake
    assert main(["usage"]) == EXIT_USAGE


def test_report_writes_an_offline_page(
    audit_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r" / "report.html"
    out.parent.mkdir()
    assert main(["report", "--db", str(audit_db), "-o", str(out), "--since", "2d"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    html = out.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "acme" in html and "old" not in html.split("<body", 1)[1].split("tenant", 1)[0]


def test_python_dash_m_runs_the_same_command(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY)
    done = subprocess.run(
        [sys.executable, "-m", "aiguard", "check", str(path), "--json", "-"],
        input=f"token {_fake_key()}",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_BLOCKED
    assert json.loads(done.stdout)["outcome"] == "blocked"
    assert _fake_key() not in done.stdout + done.stderr


def test_a_file_that_is_not_an_audit_store_is_invalid_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, " * 100)
    assert main(["usage", "--db", str(path)]) == EXIT_INVALID
    assert "cannot open audit store" in capsys.readouterr().err
