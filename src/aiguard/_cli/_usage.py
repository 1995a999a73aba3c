"""``aiguard usage`` and ``aiguard report``: the audit store's reports from a shell.

Thin wrappers over :func:`aiguard.telemetry.usage_summary` and
:func:`~aiguard.telemetry.write_html_report`; what they add is refusing to invent an empty
store when the path is wrong (the store's constructor would create one).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO, Any

from ._common import EXIT_OK, InvalidInput, UsageError, emit_json, parse_list, parse_time

__all__ = ["report", "usage"]


def _open(path: str) -> Any:
    from ..telemetry import SQLiteAuditStore

    if not Path(path).is_file():
        raise InvalidInput(f"{path}: no such audit store (logging.sink: sqlite writes one)")
    return SQLiteAuditStore(path)


def usage(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print calls, tokens, cost, findings and latency per group."""
    from ..telemetry import usage_summary
    from ..telemetry._report import GROUPS

    keys = parse_list(args.by) or ["tenant"]
    bad = [k for k in keys if k not in GROUPS]
    if bad:
        raise UsageError(f"--by: cannot group by {', '.join(bad)}; choose from {', '.join(GROUPS)}")
    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    store = _open(args.db)
    try:
        summary = usage_summary(store, keys, since=since, until=until)
    finally:
        store.close()
    if args.json:
        emit_json(
            {
                "groupBy": list(summary.group_by),
                "since": summary.since,
                "until": summary.until,
                "rows": [_row(r, summary.group_by) for r in summary.rows],
                "total": _row(summary.total, None),
            },
            out,
        )
    else:
        out.write(summary.to_text() + "\n")
    return EXIT_OK


def _row(r: Any, keys: tuple[str, ...] | None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if keys is not None:
        data["group"] = dict(zip(keys, r.key, strict=True))
    data.update(
        calls=r.calls,
        inputTokens=r.input_tokens,
        outputTokens=r.output_tokens,
        cost=round(r.cost, 6),
        violations=r.violations,
        blocked=r.blocked,
        errors=r.errors,
        cacheHitRate=round(r.cache_hit_rate, 4),
        p50Ms=r.p50_ms,
        p95Ms=r.p95_ms,
    )
    return data


def report(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Write the offline HTML usage report."""
    from ..telemetry import write_html_report

    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    store = _open(args.db)
    try:
        path = write_html_report(store, args.output, since=since, until=until, title=args.title)
    finally:
        store.close()
    if args.json:
        emit_json({"output": str(path)}, out)
    else:
        out.write(f"wrote {path}\n")
    return EXIT_OK
