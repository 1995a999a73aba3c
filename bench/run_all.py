"""Run every benchmark, one process each, and end with the summary table (bench_core).

Timing lives here, never in the test suite. Each script prints its figures next to the
issue's target; the machine's load shows in the raw httpx baseline, so read ratios, not
absolute microseconds, when comparing runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ORDER = [
    "bench_policy.py",
    "bench_inspect.py",
    "bench_limits.py",
    "bench_routing.py",
    "bench_cache.py",
    "bench_telemetry.py",
    "bench_providers.py",
    "bench_hardening.py",
    "bench_core.py",  # last: it prints the summary table
]


def main() -> int:
    failed = []
    for name in ORDER:
        path = HERE / name
        if not path.exists():
            continue
        print(f"\n########## {name}", flush=True)
        if subprocess.call([sys.executable, str(path)], cwd=HERE) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
