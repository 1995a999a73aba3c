"""Hardening figures: evasion detection rates and memory under a long run.

Run: ``.venv/bin/python bench/bench_hardening.py`` (``--quick`` for a shorter run,
``--calls N`` for the memory run's length, default 20,000).

Prints:
  * the detection rate of the evasion corpus (``tests/hardening/evasion_corpus.py``) per
    technique and per channel, with the seed-style policy (PII, secrets, hate speech,
    investment advice; everything blocks): what ``docs/hardening.md`` reports;
  * RSS (``VmRSS`` after ``gc.collect()``) every tenth of a long run of calls with the full
    policy against a FakeProvider in a child process, and the growth between the half-way
    point and the end (the CI test asserts < 2 MB at 4,000 calls; this runs 20,000).

``evasion_rows()`` and ``memory_rows()`` return the figures for a summary table.
Figures to read, never assertions.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

QUICK = "--quick" in sys.argv


def evasion_rows() -> dict[str, list[tuple[str, int, int]]]:
    """``{"technique": [(name, caught, total)], "channel": [...], "target": [...]}``."""
    from hardening.evasion_corpus import CASES, attempt

    counts: dict[str, dict[str, list[int]]] = {
        k: defaultdict(lambda: [0, 0]) for k in ("technique", "channel", "target")
    }
    for case in CASES:
        caught = attempt(case)
        for kind, name in (
            ("technique", case.technique),
            ("channel", case.channel),
            ("target", case.target),
        ):
            counts[kind][name][0] += caught
            counts[kind][name][1] += 1
    return {k: [(n, c, t) for n, (c, t) in v.items()] for k, v in counts.items()}


def _rss_kb() -> int:
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _backlog(audit: Any) -> int:
    """Audit records accepted and not yet written (or failed): the writer's queue depth."""
    return max(0, int(audit.accepted - audit.written - audit.write_errors))


def memory_rows(calls: int) -> list[tuple[int, int, int]]:
    """``[(calls made, RSS KB, audit records queued)]`` every tenth of ``calls`` with the full
    policy, sync client, a third of the calls streamed, a quarter cacheable over a rotating
    set of questions. The last row is taken after the audit log is flushed."""
    import tempfile

    import aiguard
    from _harness import server_process
    from aiguard.policy import Policy
    from aiguard.providers import OpenAICompatible
    from aiguard.telemetry import TelemetryStage
    from hardening._harness import FakeClock, Otel, fake_key, full_policy, telemetry

    policy = Policy.coerce(full_policy(maxEntries=256))
    clock = FakeClock()
    otel = Otel(keep_spans=False)
    rows: list[tuple[int, int, int]] = []
    with tempfile.TemporaryDirectory() as tmp, server_process() as url:
        tel = telemetry(otel, Path(tmp) / "audit.db", policy)
        eps = {
            name: OpenAICompatible(f"{url}/v1", "gpt-4o-mini", api_key=fake_key(name))
            for name in ("primary", "backup")
        }
        client = aiguard.Client(
            eps,
            policy=policy,
            clock=clock,
            sleep=clock.sleep,
            telemetry=tel,
            stages={"telemetry": TelemetryStage(tel)},
        )
        step = max(1, calls // 10)
        for i in range(calls):
            if i % step == 0:
                assert tel.audit is not None
                rows.append((i, _rss_kb(), _backlog(tel.audit)))
            ctx = {"tenant": f"t{i % 5}", "user": f"u{i % 7}", "scopes": {"ai.use"}}
            if i % 4 == 0:
                text, opts = f"cacheable question {i % 1_000}", {"temperature": 0}
            else:
                text, opts = f"question {i} " + "lorem ipsum " * 10, {"max_tokens": 64}
            try:
                if i % 3 == 1:
                    with client.stream(text, context=ctx, **opts) as s:
                        for _ in s:
                            pass
                else:
                    client.chat(text, context=ctx, **opts)
            except aiguard.AIGuardError:
                pass
        assert tel.audit is not None
        queued = _backlog(tel.audit)
        rows.append((calls, _rss_kb(), queued))
        tel.audit.flush(60)
        rows.append((calls, _rss_kb(), _backlog(tel.audit)))
        client.close()
        tel.close()
    otel.shutdown()
    return rows


def _print_rates(title: str, rows: list[tuple[str, int, int]]) -> None:
    print(f"\n  {title:<24} {'caught':>7} {'cases':>6} {'rate':>7}")
    for name, caught, total in rows:
        print(f"  {name:<24} {caught:>7} {total:>6} {caught / total:>7.0%}")


def main() -> None:
    print("Hardening: evasion detection (tests/hardening/evasion_corpus.py)")
    rows = evasion_rows()
    caught = sum(c for _, c, _ in rows["technique"])
    total = sum(t for _, _, t in rows["technique"])
    print(f"  overall: {caught}/{total} caught ({caught / total:.0%})")
    _print_rates("technique", rows["technique"])
    _print_rates("channel", rows["channel"])
    _print_rates("target", rows["target"])

    calls = 4_000 if QUICK else 20_000
    if "--calls" in sys.argv:
        calls = int(sys.argv[sys.argv.index("--calls") + 1])
    print(f"\nHardening: memory over {calls:,} calls (full policy, sync client)")
    t = time.perf_counter()
    mem = memory_rows(calls)
    wall = time.perf_counter() - t
    for n, kb, queued in mem:
        print(f"  after {n:>7,} calls  RSS {kb / 1024:8.1f} MB  audit queue {queued:>6,}")
    half = min(mem, key=lambda r: abs(r[0] - calls // 2))
    print(
        f"  growth from call {half[0]:,} to {calls:,}: {(mem[-2][1] - half[1]) / 1024:+.2f} MB "
        f"(target < 2 MB; before the final audit flush); {wall:.0f} s wall"
    )


if __name__ == "__main__":
    main()
