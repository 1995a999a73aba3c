"""A self-contained HTML usage report: inline CSS and SVG, no scripts, no network.

The page opens from a file on an air-gapped laptop and prints cleanly, which is where
compliance reviews happen. Every value from the audit log is escaped before it is written.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from html import escape
from pathlib import Path

from ._audit import AuditRecord
from ._report import AuditReader, TimeArg, UsageRow, epoch, load, usage_summary

__all__ = ["write_html_report"]

_W, _H = 640, 220
_L, _R, _T, _B = 56, 12, 12, 40  # plot margins: room for axis labels
_OUTCOME_COLORS = {
    "ok": "#2e7d32",
    "cached": "#64b5f6",
    "blocked": "#c62828",
    "limited": "#ef6c00",
    "refused": "#8e24aa",
    "error": "#6d4c41",
    "cancelled": "#9e9e9e",
}
_IN, _OUT, _COST, _P50, _P95 = "#1565c0", "#90caf9", "#6a1b9a", "#00897b", "#f4511e"


def _nice_max(v: float) -> float:
    """A round axis maximum at or above ``v`` (1, 2, 2.5, 5 x 10^n)."""
    if v <= 0:
        return 1.0
    exp = 10.0 ** int(f"{v:e}".split("e")[1])
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if v <= m * exp:
            return m * exp
    return 10.0 * exp  # pragma: no cover - the loop always returns


def _fmt(v: float) -> str:
    if v >= 1_000_000:
        return f"{v / 1_000_000:g}M"
    if v >= 1_000:
        return f"{v / 1_000:g}k"
    return f"{v:g}"


def _axes(labels: Sequence[str], top: float, unit: str) -> list[str]:
    pw, ph = _W - _L - _R, _H - _T - _B
    out = []
    for i in range(5):
        v = top * i / 4
        y = _T + ph - ph * i / 4
        out.append(f'<line x1="{_L}" x2="{_W - _R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(
            f'<text x="{_L - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(v) + unit)}</text>'
        )
    step = max(1, math.ceil(len(labels) / 10))
    slot = pw / max(1, len(labels))
    for i, lab in enumerate(labels):
        if i % step == 0:
            x = _L + slot * (i + 0.5)
            day = escape(lab[5:])  # MM-DD: the year is in the page header
            out.append(f'<text x="{x:.1f}" y="{_H - _B + 16}" text-anchor="middle">{day}</text>')
    return out


def _svg(title: str, body: list[str], legend: Sequence[tuple[str, str]], height: float = _H) -> str:
    keys = "".join(
        f'<span class="key"><i style="background:{c}"></i>{escape(n)}</span>' for n, c in legend
    )
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg viewBox="0 0 {_W} {height:.0f}" role="img" aria-label="{escape(title)}">'
        + "".join(body)
        + f"</svg><div class=legend>{keys}</div></figure>"
    )


def stacked_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    unit: str = "",
) -> str:
    """Columns per label, each stacked from ``series`` (name, colour, values)."""
    totals = [sum(s[2][i] for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0.0))
    pw, ph = _W - _L - _R, _H - _T - _B
    slot = pw / max(1, len(labels))
    bw = max(1.0, slot * 0.7)
    body = _axes(labels, top, unit)
    for i, lab in enumerate(labels):
        y = float(_T + ph)
        for name, color, values in series:
            v = values[i]
            if v <= 0:
                continue
            h = ph * v / top
            y -= h
            x = _L + slot * i + (slot - bw) / 2
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(lab)} {escape(name)}: {v:,.6g}</title></rect>'
            )
    return _svg(title, body, [(n, c) for n, c, _ in series])


def lines(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    unit: str = "",
) -> str:
    top = _nice_max(max((v for s in series for v in s[2]), default=0.0))
    pw, ph = _W - _L - _R, _H - _T - _B
    slot = pw / max(1, len(labels))
    body = _axes(labels, top, unit)
    for name, color, values in series:
        pts = [(_L + slot * (i + 0.5), _T + ph - ph * v / top) for i, v in enumerate(values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        body += [
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
            f"<title>{escape(labels[i])} {escape(name)}: {values[i]:,.0f}{escape(unit)}</title>"
            "</circle>"
            for i, (x, y) in enumerate(pts)
        ]
    return _svg(title, body, [(n, c) for n, c, _ in series])


def hbars(title: str, items: Sequence[tuple[str, float]], color: str) -> str:
    if not items:
        return _svg(title, ['<text x="20" y="30">No findings in this period.</text>'], [], 50)
    top = _nice_max(max(v for _, v in items))
    row = 26.0
    label_w = 200
    body = []
    for i, (name, v) in enumerate(items):
        y = 10 + row * i
        w = (_W - label_w - 60) * v / top
        body.append(
            f'<text x="{label_w - 8}" y="{y + row * 0.65:.1f}" text-anchor="end">'
            f"{escape(name[:32])}</text>"
            f'<rect x="{label_w}" y="{y:.1f}" width="{w:.1f}" height="{row * 0.7:.1f}" '
            f'fill="{color}"><title>{escape(name)}: {v:,.0f}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + row * 0.65:.1f}">{v:,.0f}</text>'
        )
    return _svg(title, body, [], 20 + row * len(items))


def _days(records: Sequence[AuditRecord], lo: float | None, hi: float | None) -> list[str]:
    """Every UTC day of the period, including quiet ones, so gaps show as gaps."""
    if not records and (lo is None or hi is None):
        return []
    start = lo if lo is not None else records[0].time
    end = hi - 1e-6 if hi is not None else records[-1].time
    d = datetime.fromtimestamp(start, tz=timezone.utc).date()
    last = datetime.fromtimestamp(end, tz=timezone.utc).date()
    out: list[str] = []
    while d <= last and len(out) < 3660:
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


def _table(title: str, group: str, rows: Iterable[UsageRow], limit: int = 25) -> str:
    head = (
        f"<tr><th>{escape(group)}</th><th>calls</th><th>tokens</th><th>cost $</th>"
        "<th>violations</th><th>blocked</th><th>errors</th><th>cache hit</th>"
        "<th>p50 ms</th><th>p95 ms</th></tr>"
    )
    body = "".join(
        f"<tr><td>{escape(' / '.join(r.key))}</td><td>{r.calls:,}</td><td>{r.tokens:,}</td>"
        f"<td>{r.cost:,.4f}</td><td>{r.violations:,}</td><td>{r.blocked:,}</td>"
        f"<td>{r.errors:,}</td><td>{r.cache_hit_rate:.0%}</td><td>{r.p50_ms:,.0f}</td>"
        f"<td>{r.p95_ms:,.0f}</td></tr>"
        for r in list(rows)[:limit]
    )
    return f"<section><h2>{escape(title)}</h2><table>{head}{body}</table></section>"


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;
background:#fafafa}h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.sub{color:#666;margin-bottom:16px}.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{color:#666;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px;
margin-top:16px}figure{background:#fff;border:1px solid #ddd;border-radius:6px;margin:0;
padding:10px}figcaption{font-weight:600;margin-bottom:4px}svg{width:100%;height:auto}
svg text{font-size:11px;fill:#555}.grid{stroke:#eee}.legend{font-size:12px;color:#555}
.key{margin-right:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px;
border-radius:2px}table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #e3e3e3;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f0f0f0}
"""


def write_html_report(
    store: AuditReader | Iterable[AuditRecord],
    path: str | os.PathLike[str],
    *,
    since: TimeArg = None,
    until: TimeArg = None,
    title: str = "aiguard usage report",
    clock: Callable[[], float] = time.time,
) -> Path:
    """Write one offline HTML page of usage over time; returns the path written.

    Charts: calls per day by outcome, tokens per day, cost per day, p50/p95 latency per day
    and violations by category; tables by tenant, user, model and endpoint.
    """
    lo, hi = epoch(since, "since"), epoch(until, "until")
    records = sorted(load(store, lo, hi), key=lambda r: r.time)
    days = _days(records, lo, hi)
    by_day = {r.key[0]: r for r in usage_summary(records, "day").rows}
    per_outcome: dict[str, list[float]] = {o: [0.0] * len(days) for o in _OUTCOME_COLORS}
    index = {d: i for i, d in enumerate(days)}
    categories: dict[str, float] = {}
    for r in records:
        i = index.get(r.day)
        if i is not None:
            per_outcome.setdefault(r.outcome, [0.0] * len(days))[i] += 1
        for v in r.violations:
            key = f"{v.category} ({v.action})"
            categories[key] = categories.get(key, 0) + 1
    empty = UsageRow(key=("",))
    day_rows = [by_day.get(d, empty) for d in days]
    total = usage_summary(records, "day").total
    period = f"{days[0]} to {days[-1]} (UTC)" if days else "no records in this period"
    generated = datetime.fromtimestamp(clock(), tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cards = [
        (f"{total.calls:,}", "calls"),
        (f"{total.tokens:,}", "tokens"),
        (f"${total.cost:,.2f}", "cost"),
        (f"{total.violations:,}", "policy findings"),
        (f"{total.blocked:,}", "blocked"),
        (f"{total.cache_hit_rate:.0%}", "cache hit rate"),
        (f"{total.p95_ms:,.0f} ms", "p95 latency"),
    ]
    charts = [
        stacked_bars(
            "Calls per day, by outcome",
            days,
            [(o, _OUTCOME_COLORS.get(o, "#999"), v) for o, v in per_outcome.items() if any(v)],
        ),
        stacked_bars(
            "Tokens per day",
            days,
            [
                ("input", _IN, [float(r.input_tokens) for r in day_rows]),
                ("output", _OUT, [float(r.output_tokens) for r in day_rows]),
            ],
        ),
        stacked_bars("Cost per day (USD)", days, [("cost", _COST, [r.cost for r in day_rows])]),
        lines(
            "Latency per day",
            days,
            [
                ("p50", _P50, [r.p50_ms for r in day_rows]),
                ("p95", _P95, [r.p95_ms for r in day_rows]),
            ],
            unit=" ms",
        ),
        hbars(
            "Policy findings by category",
            sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))[:12],
            "#c62828",
        ),
    ]
    tables = [
        _table("By tenant", "tenant", usage_summary(records, "tenant").rows),
        _table("By user", "user", usage_summary(records, "user").rows),
        _table("By model", "model", usage_summary(records, "model").rows),
        _table("By endpoint", "endpoint", usage_summary(records, "endpoint").rows),
    ]
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><div class=sub>{escape(period)} &middot; generated "
        f"{escape(generated)} &middot; {total.calls:,} audit records</div>"
        "<div class=cards>"
        + "".join(
            f"<div class=card><b>{escape(v)}</b><span>{escape(k)}</span></div>" for v, k in cards
        )
        + "</div><div class=charts>"
        + "".join(charts)
        + "</div>"
        + "".join(tables)
        + "</body></html>\n"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out
