"""What limits and token counting cost per call, and how many Redis round trips they take.

Run: .venv/bin/python bench/bench_limits.py
Prints CPU microseconds per operation (median of 5 repeats) and the targets from issue 5:
in-memory admit + settle <= 10 us; exactly 1 Redis round trip per admit and per settle;
counting a 1 KB prompt <= 30 us after warm-up; no encoding loaded at import.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import cpu_us_per_call, report
from aiguard._types import ChatRequest, Message, Usage
from aiguard.limits import Limit, Limiter, MemoryStore, SQLiteStore
from aiguard.tokens import count_request, count_text, encoding_for_model

BIG = 10**12
USAGE = Usage(input_tokens=50, output_tokens=20)
PROMPT_1KB = (
    "Summarise the quarterly report for the board. Revenue grew 12% year over year, driven by "
    "the enterprise segment; churn fell to 3.1%. Operating costs rose because of hiring in "
    "support and infrastructure. List three risks and three opportunities, each in one line. "
) * 4
PROMPT_1KB = PROMPT_1KB[:1024]


def admit_settle(lim: Limiter, demand: Any) -> None:
    res = lim.admit(demand).reservation
    assert res is not None
    lim.settle(res, USAGE)


def bench_memory() -> None:
    print("in-memory store (target: admit + settle <= 10 us)")
    cases = {
        "1 limit  (requests/minute)": [Limit.requests(BIG)],
        "2 limits (requests/minute + tokens/day)": [Limit.requests(BIG), Limit.tokens(BIG)],
        "3 limits (+ concurrent)": [
            Limit.requests(BIG),
            Limit.tokens(BIG),
            Limit.concurrent(10**6),
        ],
    }
    for name, limits in cases.items():
        lim = Limiter(limits, MemoryStore())
        d = lim.demand(tokens=100)
        us = cpu_us_per_call(lambda lim=lim, d=d: admit_settle(lim, d), 20_000)  # type: ignore[misc]
        report(f"admit + settle, {name}", us, "us")
    lim = Limiter([Limit.requests(BIG, key=("user",)), Limit.tokens(BIG)], MemoryStore())
    req = ChatRequest(messages=(Message(role="user", content=PROMPT_1KB),), max_tokens=200)

    def full() -> None:
        admit_settle(lim, lim.demand(None, endpoint="e", model="gpt-4o-mini", request=req))

    report("demand (counts 1 KB prompt) + admit + settle", cpu_us_per_call(full, 5_000), "us")


def bench_sqlite() -> None:
    print("SQLite store (one BEGIN IMMEDIATE transaction per admit and per settle)")
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        lim = Limiter([Limit.requests(BIG), Limit.tokens(BIG)], store)
        d = lim.demand(tokens=100)
        report(
            "admit + settle, 2 limits", cpu_us_per_call(lambda: admit_settle(lim, d), 2_000), "us"
        )
        store.close()


@contextmanager
def redis_url() -> Iterator[str | None]:
    url = os.environ.get("AIGUARD_REDIS_URL")
    if url:
        yield url
        return
    exe = shutil.which("redis-server")
    if exe is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        import redis

        c = redis.Redis(port=port)
        for _ in range(200):
            try:
                c.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def bench_redis() -> None:
    print("Redis store (target: exactly 1 round trip per admit and per settle)")
    with redis_url() as url:
        if url is None:
            print("  redis-server not installed and AIGUARD_REDIS_URL not set: skipped")
            return
        import redis

        from aiguard.limits import RedisStore

        class Counting(redis.Redis):  # type: ignore[misc]
            sent = 0

            def execute_command(self, *args: Any, **kw: Any) -> Any:
                Counting.sent += 1
                return super().execute_command(*args, **kw)

        client = Counting.from_url(url)
        limits = [Limit.requests(BIG), Limit.tokens(BIG), Limit.concurrent(10**6)]
        lim = Limiter(limits, RedisStore(client, prefix="bench:"))
        d = lim.demand(tokens=100)
        admit_settle(lim, d)  # load the scripts once
        stats0 = client.info("commandstats")
        n = 2_000
        Counting.sent = 0
        admits = settles = 0
        for _ in range(n):
            before = Counting.sent
            res = lim.admit(d).reservation
            admits += Counting.sent - before
            before = Counting.sent
            assert res is not None
            lim.settle(res, USAGE)
            settles += Counting.sent - before
        stats1 = client.info("commandstats")
        evals = stats1["cmdstat_evalsha"]["calls"] - stats0["cmdstat_evalsha"]["calls"]
        report("client round trips per admit (3 limits)", admits / n, "")
        report("client round trips per settle (3 limits)", settles / n, "")
        report("server EVALSHA calls per admit + settle (INFO commandstats)", evals / n, "")
        wall = time.perf_counter()
        for _ in range(n):
            admit_settle(lim, d)
        report(
            "wall time per admit + settle over loopback",
            (time.perf_counter() - wall) / n * 1e6,
            "us",
        )
        client.close()


def bench_tokens() -> None:
    print("token counting (target: 1 KB prompt <= 30 us after warm-up)")
    code = (
        "import time, aiguard, aiguard.tokens as t, aiguard.limits; "
        "assert t.loaded_encodings() == frozenset(), 'loaded at import'; "
        "s = time.perf_counter(); t.count_text('hi', 'gpt-4o'); "
        "print(time.perf_counter() - s)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    print("  encodings loaded by `import aiguard, aiguard.tokens, aiguard.limits`:   none")
    report("first use: load + verify + build o200k_base (once)", float(out.stdout) * 1e3, "ms")
    count_text(PROMPT_1KB, "gpt-4o")
    count_text(PROMPT_1KB, "gpt-4")
    # Distinct prompts defeat the per-text count cache: this is the cost of real BPE work.
    fresh = [f"{i:06d} {PROMPT_1KB}"[:1024] for i in range(40_000)]

    def distinct(model: str) -> Callable[[], Any]:
        it = iter(fresh * 4)
        return lambda: count_text(next(it), model)

    enc = encoding_for_model("gpt-4o")
    assert enc is not None
    floor = iter(fresh * 4)
    report(
        "floor: tiktoken encode_ordinary, 1 KB, o200k_base",
        cpu_us_per_call(lambda: enc.encode_ordinary(next(floor)), 5_000),
        "us",
    )
    report(
        "count_text, distinct 1 KB prompts, gpt-4o",
        cpu_us_per_call(distinct("gpt-4o"), 5_000),
        "us",
    )
    report(
        "count_text, distinct 1 KB prompts, gpt-4", cpu_us_per_call(distinct("gpt-4"), 5_000), "us"
    )
    report(
        "count_text, repeated 1 KB prompt, gpt-4o (cached count)",
        cpu_us_per_call(lambda: count_text(PROMPT_1KB, "gpt-4o"), 20_000),
        "us",
    )
    req = ChatRequest(
        messages=(
            Message(role="system", content=PROMPT_1KB),
            Message(role="user", content="What changed since last quarter?"),
        )
    )
    report(
        "count_request, 1 KB system prompt + question (cached system prompt)",
        cpu_us_per_call(lambda: count_request(req, "gpt-4o"), 20_000),
        "us",
    )
    report(
        "estimate, 1 KB, claude-sonnet-4-5 (no tokenizer)",
        cpu_us_per_call(lambda: count_text(PROMPT_1KB, "claude-sonnet-4-5"), 20_000),
        "us",
    )


def main() -> None:
    print(f"bench_limits (python {sys.version.split()[0]})")
    bench_memory()
    bench_tokens()
    bench_sqlite()
    bench_redis()


if __name__ == "__main__":
    main()
