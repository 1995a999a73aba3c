"""Shared benchmark plumbing: a FakeProvider in another process, CPU timing, result lines.

The server runs in a child process so that ``time.process_time()`` in the benchmark process
counts only the client's CPU: raw httpx and aiguard are measured against the same server in one
run, and the difference is what aiguard adds.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
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


def paired(
    fns: dict[str, Callable[[], Any]], block: int = 20, rounds: int = 100
) -> dict[str, float]:
    """Median CPU us per call for each function, measured in short alternating blocks.

    Socket costs here drift by hundreds of microseconds over seconds; blocks of ``block``
    calls taken in turn see the same drift, and the median over ``rounds`` blocks ignores the
    blocks a neighbour process disturbed.
    """
    for fn in fns.values():
        for _ in range(min(block * 10, 300)):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.process_time()
            for _ in range(block):
                fn()
            samples[name].append((time.process_time() - t) / block * 1e6)
    return {name: statistics.median(v) for name, v in samples.items()}


async def paired_async(
    fns: dict[str, Callable[[], Awaitable[Any]]], width: int = 50, rounds: int = 40
) -> dict[str, float]:
    """``paired`` for coroutines: each block is ``width`` calls in flight at once."""

    async def batch(fn: Callable[[], Awaitable[Any]]) -> None:
        await asyncio.gather(*(fn() for _ in range(width)))

    for fn in fns.values():
        for _ in range(3):
            await batch(fn)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.process_time()
            await batch(fn)
            samples[name].append((time.process_time() - t) / width * 1e6)
    return {name: statistics.median(v) for name, v in samples.items()}


def report(name: str, value: float, unit: str, target: str = "") -> None:
    print(f"  {name:<58} {value:>10.1f} {unit:<6} {target}")
