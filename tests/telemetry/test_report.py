"""Usage summaries and the offline HTML report, read from the audit store."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aiguard import errors
from aiguard.telemetry import (
    AuditRecord,
    SQLiteAuditStore,
    Violation,
    usage_summary,
    write_html_report,
)

from ._fakes import FakeClock
from ._sample import sample_records

DAY = 86400.0
REPO = Path(__file__).resolve().parents[2]


def _rec(t: float, **kw: object) -> AuditRecord:
    base: dict[str, object] = {"time": t, "operation": "chat", "outcome": "ok"}
    base.update(kw)
    return AuditRecord(**base)  # type: ignore[arg-type]


def test_summary_by_tenant_counts_what_a_bill_needs(clock: FakeClock) -> None:
    t = clock.now
    records = [
        _rec(t + i, tenant="acme", input_tokens=10, output_tokens=5, cost=0.01, latency_ms=i + 1)
        for i in range(20)
    ]
    records += [
        _rec(t, tenant="globex", cache_hit=True, outcome="cached", cost=0.5, input_tokens=3),
        _rec(
            t,
            tenant="globex",
            outcome="blocked",
            violations=(Violation("pii.email", "block"), Violation("secrets", "block")),
        ),
    ]
    summary = usage_summary(records, "tenant")
    acme, globex = summary.rows
    assert acme.key == ("acme",)
    assert (acme.calls, acme.input_tokens, acme.output_tokens) == (20, 200, 100)
    assert acme.cost == pytest.approx(0.20)
    assert (acme.p50_ms, acme.p95_ms) == (10, 19)  # nearest rank over 1..20 ms
    assert globex.calls == 2 and globex.cache_hit_rate == 0.5
    assert globex.cost == 0.0  # a cache hit spent nothing
    assert (globex.violations, globex.blocked) == (2, 1)
    assert summary.total.calls == 22


def test_summary_groups_by_several_keys_and_by_day(clock: FakeClock) -> None:
    t = datetime(2026, 3, 1, 23, 0, tzinfo=timezone.utc).timestamp()
    records = [
        _rec(t, tenant="acme", model="m1"),
        _rec(t + 2 * 3600, tenant="acme", model="m1"),  # the next UTC day
        _rec(t, tenant="acme", model="m2"),
    ]
    by_day = usage_summary(records, "day")
    assert [(r.key, r.calls) for r in by_day.rows] == [(("2026-03-01",), 2), (("2026-03-02",), 1)]
    pairs = usage_summary(records, ["tenant", "model"])
    assert sorted((r.key, r.calls) for r in pairs.rows) == [
        (("acme", "m1"), 2),
        (("acme", "m2"), 1),
    ]


def test_summary_reads_the_store_within_retention_and_since(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db", retention_days=30, clock=clock.time)
    now = clock.now
    store.write([_rec(now - 40 * DAY, tenant="old"), _rec(now - 5 * DAY), _rec(now - DAY)])
    assert usage_summary(store, "tenant").total.calls == 2
    since = datetime.fromtimestamp(now - 2 * DAY, tz=timezone.utc)
    assert usage_summary(store, "tenant", since=since).total.calls == 1


def test_text_table_has_a_row_per_group_and_a_total(clock: FakeClock) -> None:
    text = usage_summary(sample_records(clock.now, days=3), "model").to_text()
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["model", "calls", "in"]
    assert any(line.startswith("gpt-4o-mini") for line in lines)
    assert lines[-1].startswith("TOTAL")
    assert len({len(line) for line in lines[1:2]}) == 1


def test_bad_group_or_time_says_what_is_allowed() -> None:
    with pytest.raises(errors.ConfigError, match="choose from: tenant, user"):
        usage_summary([], "colour")
    with pytest.raises(errors.ConfigError, match="since must be a datetime"):
        usage_summary([], "tenant", since="yesterday")  # type: ignore[arg-type]


def test_html_report_is_self_contained_and_escaped(tmp_path: Path, clock: FakeClock) -> None:
    records = sample_records(clock.now, days=7)
    records.append(_rec(clock.now, tenant="<script>alert(1)</script>"))
    out = write_html_report(records, tmp_path / "report.html", clock=clock.time)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 5
    assert "<script" not in html  # no scripts at all, and the hostile tenant is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert "Calls per day, by outcome" in html and "By tenant" in html


def test_html_report_of_an_empty_period_still_renders(tmp_path: Path) -> None:
    html = write_html_report([], tmp_path / "empty.html").read_text()
    assert "no records in this period" in html


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_the_report_renders_in_headless_chromium(tmp_path: Path, clock: FakeClock) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this")
    store = SQLiteAuditStore(tmp_path / "a.db", retention_days=90, clock=clock.time)
    store.write(sample_records(clock.now - 14 * DAY))
    page = write_html_report(store, tmp_path / "report.html", clock=clock.time)
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1280,1500",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = shot.read_bytes()
    assert _png_size(data) == (1280, 1500)
    assert len(data) > 20_000  # charts and tables drew something, not a blank page
    if os.environ.get("AIGUARD_UPDATE_SCREENSHOT"):
        (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "img" / "report.png")
