"""Shared benchmark plumbing: a FakeProvider in another process, CPU timing, result lines.

The server runs in a child process so that ``time.process_time()`` in the benchmark process
counts only the client's CPU: raw httpx and aiguard are measured against the same server in one
run, and the difference is what aiguard adds.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _serve(q: Any, stop: Any) -> None:
    from aiguard.testing import FakeProvider

    with FakeProvider() as fake:
        q.put(fake.url)
        stop.wait()


@contextmanager
def server_process() -> Iterator[str]:
    """The URL of a FakeProvider running in a child process."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    stop = ctx.Event()
    p = ctx.Process(target=_serve, args=(q, stop), daemon=True)
    p.start()
    try:
        yield str(q.get(timeout=30))
    finally:
        stop.set()
        p.join(timeout=10)
        if p.is_alive():
            p.kill()


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


def report(name: str, value: float, unit: str, target: str = "") -> None:
    print(f"  {name:<58} {value:>10.1f} {unit:<6} {target}")
