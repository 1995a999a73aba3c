"""Core overhead: aiguard's client vs raw httpx on the same local server (no policy).

Targets (issue 2): sync non-streaming <= 100 us added CPU per call; async at 50 concurrent
<= 150 us added; `import aiguard` cold <= 200 ms median; RSS flat across 10,000 calls.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time

import httpx

import aiguard
from aiguard.providers import OpenAICompatible

from _harness import cpu_us_per_call, report, server_process

MESSAGES = [{"role": "user", "content": "Say hello to the benchmark."}]


def raw_sync(http: httpx.Client, url: str) -> None:
    body = json.dumps({"model": "bench", "messages": MESSAGES, "max_tokens": 20}).encode()
    r = http.post(url, content=body, headers={"content-type": "application/json"})
    data = json.loads(r.content)
    assert data["choices"][0]["message"]["content"]


async def raw_async(http: httpx.AsyncClient, url: str) -> None:
    body = json.dumps({"model": "bench", "messages": MESSAGES, "max_tokens": 20}).encode()
    r = await http.post(url, content=body, headers={"content-type": "application/json"})
    data = json.loads(r.content)
    assert data["choices"][0]["message"]["content"]


def async_cpu_us(make_call, n_batches: int, concurrency: int = 50) -> float:  # type: ignore[no-untyped-def]
    async def run() -> float:
        async def batch() -> None:
            await asyncio.gather(*(make_call() for _ in range(concurrency)))

        for _ in range(3):
            await batch()
        samples = []
        for _ in range(3):
            t = time.process_time()
            for _ in range(n_batches):
                await batch()
            samples.append((time.process_time() - t) / (n_batches * concurrency) * 1e6)
        return statistics.median(samples)

    return asyncio.run(run())


def import_ms() -> float:
    code = "import time; t=time.perf_counter(); import aiguard; print(time.perf_counter()-t)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code])) * 1000 for _ in range(11)]
    return statistics.median(runs)


def main() -> dict[str, float]:
    results: dict[str, float] = {}
    print("core: aiguard vs raw httpx, same FakeProvider in a child process")
    with server_process() as url:
        base = f"{url}/v1"
        http = httpx.Client()
        raw = cpu_us_per_call(lambda: raw_sync(http, f"{base}/chat/completions"), 1000)
        client = aiguard.Client({"llm": OpenAICompatible(base, "bench")})
        ours = cpu_us_per_call(lambda: client.chat(MESSAGES, max_tokens=20), 1000)
        report("sync raw httpx CPU/call", raw, "us")
        report("sync aiguard CPU/call (no policy)", ours, "us")
        report("sync added CPU/call", ours - raw, "us", "target <= 100 us")
        report("sync ratio aiguard/raw", ours / raw, "x")
        results.update(sync_raw=raw, sync_aiguard=ours, sync_added=ours - raw)

        async def araw() -> None:
            await raw_async(ahttp, f"{base}/chat/completions")

        async def ours_async() -> None:
            await aclient.chat(MESSAGES, max_tokens=20)

        ahttp = httpx.AsyncClient(limits=httpx.Limits(max_connections=100))
        aclient = aiguard.AsyncClient({"llm": OpenAICompatible(base, "bench")})
        a_raw = async_cpu_us(araw, 20)
        a_ours = async_cpu_us(ours_async, 20)
        report("async x50 raw httpx CPU/call", a_raw, "us")
        report("async x50 aiguard CPU/call", a_ours, "us")
        report("async added CPU/call", a_ours - a_raw, "us", "target <= 150 us")
        results.update(async_raw=a_raw, async_aiguard=a_ours, async_added=a_ours - a_raw)

        for _ in range(1000):
            client.chat(MESSAGES, max_tokens=20)
        rss_1k = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for _ in range(9000):
            client.chat(MESSAGES, max_tokens=20)
        rss_10k = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report("peak RSS after 1k calls", rss_1k, "MB")
        report("peak RSS after 10k calls", rss_10k, "MB", "target: flat")
        results.update(rss_growth_mb=rss_10k - rss_1k)
    ms = import_ms()
    report("import aiguard (cold, median of 11)", ms, "ms", "target <= 200 ms")
    results["import_ms"] = ms
    return results


if __name__ == "__main__":
    main()
