"""Usage summaries of the audit log: calls, tokens, cost, violations, cache and latency.

Works over any store with ``records(since=..., until=...)`` (``SQLiteAuditStore``) or over a
plain iterable of ``AuditRecord``, so a report can be built from JSON Lines files too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ._audit import AuditRecord

__all__ = ["GROUPS", "UsageRow", "UsageSummary", "usage_summary"]

GROUPS: dict[str, str] = {
    "tenant": "tenant",
    "user": "principal",
    "principal": "principal",
    "model": "model",
    "endpoint": "endpoint",
    "provider": "provider",
    "route": "route",
    "region": "region",
    "outcome": "outcome",
    "day": "day",
}
_NONE = "(none)"


@runtime_checkable
class AuditReader(Protocol):
    def records(
        self, *, since: float | None = None, until: float | None = None
    ) -> Iterable[AuditRecord]: ...


TimeArg = datetime | float | int | None


def epoch(value: TimeArg, name: str) -> float | None:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ConfigError(f"{name} must be a datetime or epoch seconds, got {type(value).__name__}")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (what a reader can check by counting); 0 for no values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class UsageRow:
    """The totals of one group (``key`` holds the group's values, in ``group_by`` order)."""

    key: tuple[str, ...]
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    violations: int = 0
    blocked: int = 0
    errors: int = 0
    cache_hits: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def add(self, r: AuditRecord) -> None:
        self.calls += 1
        self.input_tokens += r.input_tokens
        self.output_tokens += r.output_tokens
        if r.cost and not r.cache_hit:
            self.cost += r.cost
        self.violations += len(r.violations)
        self.blocked += r.outcome == "blocked"
        self.errors += r.outcome == "error"
        self.cache_hits += r.cache_hit
        self.latencies_ms.append(r.latency_ms)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.calls if self.calls else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(sorted(self.latencies_ms), 50)

    @property
    def p95_ms(self) -> float:
        return percentile(sorted(self.latencies_ms), 95)


_HEAD = ("calls", "in tok", "out tok", "cost $", "violations", "blocked", "errors", "cache hit",
         "p50 ms", "p95 ms")  # fmt: skip


def _cells(r: UsageRow) -> list[str]:
    return [
        f"{r.calls:,}",
        f"{r.input_tokens:,}",
        f"{r.output_tokens:,}",
        f"{r.cost:,.4f}",
        f"{r.violations:,}",
        f"{r.blocked:,}",
        f"{r.errors:,}",
        f"{r.cache_hit_rate:.0%}",
        f"{r.p50_ms:,.0f}",
        f"{r.p95_ms:,.0f}",
    ]


@dataclass
class UsageSummary:
    group_by: tuple[str, ...]
    rows: list[UsageRow]
    total: UsageRow
    since: float | None = None
    until: float | None = None

    def to_text(self) -> str:
        """An aligned plain-text table, one row per group and a total."""
        head = [*self.group_by, *_HEAD]
        body = [[*r.key, *_cells(r)] for r in self.rows]
        foot = [["TOTAL", *[""] * (len(self.group_by) - 1), *_cells(self.total)]]
        table = [head, *body, *foot]
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        n = len(self.group_by)

        def line(row: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i < n else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()

        rule = "  ".join("-" * w for w in widths)
        out = [line(head), rule, *(line(r) for r in body), rule, line(foot[0])]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()


def _group_value(r: AuditRecord, column: str) -> str:
    v: Any = r.day if column == "day" else getattr(r, column)
    return _NONE if v is None else str(v)


def load(
    source: AuditReader | Iterable[AuditRecord], since: float | None, until: float | None
) -> list[AuditRecord]:
    """The records of a store (it applies retention) or of an iterable, within the period."""
    if isinstance(source, AuditReader):
        return list(source.records(since=since, until=until))
    return [
        r
        for r in source
        if (since is None or r.time >= since) and (until is None or r.time < until)
    ]


def usage_summary(
    store: AuditReader | Iterable[AuditRecord],
    group_by: str | Sequence[str] = "tenant",
    *,
    since: TimeArg = None,
    until: TimeArg = None,
) -> UsageSummary:
    """Totals per group, ordered by cost then calls (the biggest spenders first).

    ``group_by`` is one or more of ``tenant``, ``user``, ``model``, ``endpoint``,
    ``provider``, ``route``, ``region``, ``outcome`` and ``day`` (UTC). ``since``/``until``
    are datetimes or epoch seconds; records out of the store's retention never appear.
    """
    keys = (group_by,) if isinstance(group_by, str) else tuple(group_by)
    if not keys:
        raise ConfigError(f"group_by needs at least one of: {', '.join(GROUPS)}")
    bad = [k for k in keys if k not in GROUPS]
    if bad:
        raise ConfigError(f"cannot group by {', '.join(bad)}; choose from: {', '.join(GROUPS)}")
    lo, hi = epoch(since, "since"), epoch(until, "until")
    columns = [GROUPS[k] for k in keys]
    groups: dict[tuple[str, ...], UsageRow] = {}
    total = UsageRow(key=("TOTAL",))
    for r in load(store, lo, hi):
        key = tuple(_group_value(r, c) for c in columns)
        row = groups.get(key)
        if row is None:
            row = groups[key] = UsageRow(key=key)
        row.add(r)
        total.add(r)
    ordered = sorted(groups.values(), key=lambda g: (-g.cost, -g.calls, g.key))
    if keys == ("day",):
        ordered = sorted(groups.values(), key=lambda g: g.key)
    return UsageSummary(keys, ordered, total, lo, hi)
