"""Shared benchmark plumbing: a FakeProvider in another process, CPU timing, result lines.

The server runs in a child process so that ``time.process_time()`` in the benchmark process
counts only the client's CPU: raw httpx and aiguard are measured against the same server in one
run, and the difference is what aiguard adds.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def server_process() -> Iterator[str]:
    """The URL of a FakeProvider running in a child process (``python -m aiguard.testing``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiguard.testing", "--until-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_us_per_call(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    """Median over ``repeats`` of process CPU microseconds per call."""
    for _ in range(min(n, 200)):
        fn()
    samples = []
    for _ in range(repeats):
        t = time.process_time()
        for _ in range(n):
            fn()
        samples.append((time.process_time() - t) / n * 1e6)
    return statistics.median(samples)


def interleaved(fns: dict[str, Callable[[], Any]], n: int, rounds: int = 3) -> dict[str, float]:
    """Best CPU us per call for each function, measured in alternating rounds.

    Socket costs on a shared machine drift by hundreds of microseconds between runs; taking
    turns and keeping each one's best keeps the drift out of the comparison.
    """
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], cpu_us_per_call(fn, n, repeats=3))
    return best


def report(name: str, value: float, unit: str, target: str = "") -> None:
    print(f"  {name:<58} {value:>10.1f} {unit:<6} {target}")
