"""The generated reference page must match the models it documents."""

from __future__ import annotations

from pathlib import Path

from aiguard.policy._reference import render_reference

PAGE = Path(__file__).resolve().parents[2] / "docs" / "policy-reference.md"


def test_committed_reference_is_current() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_reference(), (
        "docs/policy-reference.md is stale: run .venv/bin/python scripts/gen_policy_reference.py"
    )


def test_reference_lists_every_seed_key() -> None:
    page = render_reference()
    for key in (
        "spec.authentication.scopes",
        "spec.rateLimit.requestsPerMinute",
        "spec.rateLimit.tokensPerDay",
        "spec.contentModeration.blockList",
        "spec.logging.retentionDays",
        "spec.endpointRouting.rules[].match.region",
        "spec.endpointRouting.rules[].routeTo",
    ):
        assert f"`{key}`" in page
