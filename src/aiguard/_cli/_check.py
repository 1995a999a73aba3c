"""``aiguard check``: run a policy's content inspection over a text, offline.

It answers "what would this policy do to this prompt?" before anything is deployed. Output
never repeats what a rule matched: a blocked text is withheld entirely (a secret pasted into a
terminal must not end up in CI logs), and findings carry categories and offsets only.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

from ._common import (
    EXIT_BLOCKED,
    EXIT_OK,
    UsageError,
    emit_json,
    load_policy,
    parse_context,
    table,
)

__all__ = ["check"]


def _read_text(args: argparse.Namespace, stdin: IO[str]) -> str:
    if args.text is not None and args.source is not None:
        raise UsageError("check: give --text or '-' (stdin), not both")
    if args.text is not None:
        return str(args.text)
    if args.source not in (None, "-"):
        raise UsageError(f"check: unexpected argument {args.source!r}; use --text or '-'")
    if args.source is None and stdin.isatty():
        raise UsageError("check: no text; pass --text TEXT or '-' to read standard input")
    return stdin.read()


def _finding(f: Any) -> dict[str, Any]:
    return {
        "category": f.category,
        "action": f.action,
        "direction": f.direction,
        "start": f.start,
        "end": f.end,
        "detector": f.detector,
        "replacement": f.replacement,
        **({"score": round(f.score, 3)} if f.score is not None else {}),
    }


def check(
    args: argparse.Namespace, out: IO[str], err: IO[str], stdin: IO[str] | None = None
) -> int:
    """Inspect the text; exit 2 if a ``block`` rule fires, else print the rewritten text."""
    from ..inspect import ContentInspector

    policy = load_policy(args.file)
    text = _read_text(args, stdin if stdin is not None else sys.stdin)
    ctx = parse_context(args.context, args.scopes)
    spec = policy.resolve(ctx).content_moderation
    inspector = ContentInspector(spec)
    direction = args.direction
    if not inspector.active(direction):
        err.write(f"note: the policy inspects nothing in the {direction} direction\n")
    found = inspector.scan(text, direction)
    blocked = [f for f in found if f.action == "block"]
    if blocked:
        findings, result, outcome = found, None, "blocked"
    else:
        inspected = inspector.inspect_text(text, direction)
        findings, result = list(inspected.findings), inspected.text
        rewritten = any(f.action != "flag" for f in findings)
        outcome = "redacted" if rewritten else ("flagged" if findings else "clean")
    if args.json:
        emit_json(
            {
                "file": args.file,
                "direction": direction,
                "outcome": outcome,
                "text": result,
                "findings": [_finding(f) for f in findings],
            },
            out,
        )
    else:
        _print(out, outcome, result, findings, blocked)
    return EXIT_BLOCKED if blocked else EXIT_OK


def _print(
    out: IO[str], outcome: str, result: str | None, findings: list[Any], blocked: list[Any]
) -> None:
    if outcome == "blocked":
        cats = ", ".join(sorted({f.category for f in blocked}))
        out.write(f"BLOCKED by {cats}: nothing would be sent (text withheld)\n")
    else:
        out.write(f"{outcome.upper()}\n{result}\n")
    if findings:
        rows = [
            [
                f.category,
                f.action,
                str(f.start),
                str(f.end),
                f.detector,
                f.replacement or "",
            ]
            for f in findings
        ]
        out.write("\n" + table(rows, ["category", "action", "start", "end", "detector", "as"]))
        out.write("\n")
