"""``docs/cli.md`` stays in step with the parser, and every policy in the pages this CLI and
the recipes own loads (a documented policy that does not validate is a broken promise)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from aiguard import cli
from aiguard.policy import Policy

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    DOCS / "cli.md",
    DOCS / "concepts.md",
    DOCS / "migrating-from-litellm.md",
    *sorted((DOCS / "recipes").glob("*.md")),
]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                for inner, subsub in _subparsers(sub).items():
                    found[f"{name} {inner}"] = subsub
    return found


def test_every_command_and_option_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    commands = _subparsers(cli.build_parser())
    for name, sub in commands.items():
        if name == "policy":
            continue
        assert f"## `aiguard {name}`" in text, name
        for action in sub._actions:
            if action.help == argparse.SUPPRESS:
                continue
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in text, f"{name} {flag}"


def test_exit_codes_table_matches_the_constants() -> None:
    text = (DOCS / "cli.md").read_text()
    for code in (cli.EXIT_OK, cli.EXIT_INVALID, cli.EXIT_BLOCKED, cli.EXIT_USAGE):
        assert f"| `{code}` |" in text


def _policies() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)):
            if "kind: AIAPIGatewayPolicy" in block:
                found.append((f"{page.relative_to(DOCS)}#{i}", block))
    return found


@pytest.mark.parametrize(("where", "text"), _policies(), ids=[w for w, _ in _policies()])
def test_documented_policies_load(where: str, text: str) -> None:
    policy = Policy.from_yaml(text)
    assert policy.metadata.name


def test_the_pages_are_found() -> None:
    assert len(_policies()) >= 5
