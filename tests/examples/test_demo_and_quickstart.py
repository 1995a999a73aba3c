"""`make demo` and the quickstart run offline and show what the README says they show."""

from __future__ import annotations

from .test_examples import run


def test_demo_shows_the_seed_policy_at_work() -> None:
    out = run("demo.py")
    assert "refused: missing scope(s) ai.read, ai.write" in out
    assert "EU -> on-prem-llm" in out and "US -> cloud-llm" in out
    assert "requests sent while blocking: 0" in out
    assert "blocked: input blocked by policy: pii.payment_card" in out
    assert "answered after a retry" in out
    assert "default.tokensPerDay" in out
    assert "TOTAL" in out  # the audit summary table


def test_quickstart_runs_offline() -> None:
    out = run("quickstart.py")
    assert "chat     : 'echo: Say hello in five words.'" in out
    assert "embed    : 2 vectors" in out
