"""What every subcommand shares: exit codes, argument parsing helpers and output.

Exit codes are part of the CLI's contract (scripts and CI branch on them), so they live here
as named constants and are documented in ``docs/cli.md``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._context import CallContext
    from ..policy import Policy

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_USAGE",
    "InvalidInput",
    "UsageError",
    "context_dict",
    "emit_json",
    "load_policy",
    "parse_context",
    "parse_list",
    "parse_time",
    "table",
]

EXIT_OK = 0
"""The command did what was asked (a valid policy, an allowed call, clean or rewritten text)."""
EXIT_INVALID = 1
"""Invalid input: a policy that does not load, a missing file, an unreadable audit store."""
EXIT_BLOCKED = 2
"""The policy would block: ``check`` found a blocking rule, ``explain`` a refused call."""
EXIT_USAGE = 64
"""The command line itself is wrong (``EX_USAGE`` from ``sysexits.h``)."""


class UsageError(Exception):
    """A mistake on the command line; reported with exit code 64."""


class InvalidInput(Exception):
    """Input the command cannot use (a file, a date, a store); reported with exit code 1."""


_CONTEXT_KEYS = {
    "user": "user",
    "tenant": "tenant",
    "region": "region",
    "route": "route",
    "run": "run_id",
    "run_id": "run_id",
    "runId": "run_id",
    "data_classification": "data_classification",
    "dataClassification": "data_classification",
    "classification": "data_classification",
}


def parse_list(value: str | None) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]`` (empty items dropped)."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_context(values: list[str] | None, scopes: str | None = None) -> CallContext:
    """A ``CallContext`` from ``--context k=v,k=v`` (repeatable) and ``--scopes a,b``.

    Keys are the context's fields in either spelling (``run_id``/``runId``,
    ``data_classification``/``dataClassification``) and ``tags.<name>`` for tags.
    """
    from .._context import CallContext

    fields: dict[str, Any] = {}
    tags: dict[str, str] = {}
    for chunk in values or []:
        for item in parse_list(chunk):
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                raise UsageError(f"--context: expected key=value, got {item!r}")
            if key.startswith("tags.") and len(key) > 5:
                tags[key[5:]] = value
            elif key in _CONTEXT_KEYS:
                fields[_CONTEXT_KEYS[key]] = value
            elif key == "scopes":
                raise UsageError("--context: give scopes with --scopes a,b")
            else:
                known = ", ".join([*sorted(set(_CONTEXT_KEYS) - {"run", "classification"}),
                                   "tags.<name>"])  # fmt: skip
                raise UsageError(f"--context: unknown key {key!r}; keys: {known}")
    return CallContext.build(**fields, tags=tags, scopes=parse_list(scopes))


def context_dict(ctx: CallContext) -> dict[str, Any]:
    """The set fields of a context, JSON-ready (for ``--json`` output and headings)."""
    out: dict[str, Any] = {}
    for name in ("user", "tenant", "region", "route", "run_id", "data_classification"):
        value = getattr(ctx, name)
        if value is not None:
            out[name] = value
    if ctx.tags:
        out["tags"] = dict(ctx.tags)
    out["scopes"] = sorted(ctx.scopes)
    return out


def load_policy(path: str) -> Policy:
    """The policy in ``path`` (YAML, or JSON by extension). Raises ``InvalidInput`` for a
    missing file and lets ``PolicyError`` (every problem, with paths) through."""
    from ..policy import Policy

    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"{path}: no such file")
    if file.suffix.lower() == ".json":
        return Policy.from_json(file)
    return Policy.from_yaml(file)


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str | None, name: str, now: datetime | None = None) -> datetime | None:
    """``2026-03-01``, ``2026-03-01T12:00`` (UTC unless an offset is given) or a duration
    back from now: ``30m``, ``24h``, ``7d``, ``2w``."""
    if value is None:
        return None
    text = value.strip()
    rel = _RELATIVE.match(text)
    if rel:
        now = now or datetime.now(timezone.utc)
        return now - timedelta(**{_UNITS[rel.group(2)]: int(rel.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{name}: expected a date (2026-03-01), a time (2026-03-01T12:00) or a duration "
            f"such as 24h or 7d, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def emit_json(data: Any, out: IO[str]) -> None:
    out.write(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False))
    out.write("\n")


def table(rows: list[list[str]], head: list[str] | None = None) -> str:
    """Left-aligned columns separated by two spaces (the last column is not padded)."""
    all_rows = ([head] if head else []) + rows
    if not all_rows:
        return ""
    widths = [max(len(r[i]) for r in all_rows if i < len(r)) for i in range(len(all_rows[0]))]
    lines = []
    for n, row in enumerate(all_rows):
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        if head and n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
