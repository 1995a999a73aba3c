"""aiguard's own CPU per call, with the network replaced by canned provider bytes.

Socket costs on a shared machine drift by hundreds of microseconds between runs, which hides
differences of tens of microseconds in the end-to-end rows of ``bench_core``. Here the client's
I/O returns a prepared OpenAI response, so the figure is only what aiguard itself spends
(JSON encoding and decoding included, which raw httpx users pay too). Use it to compare two
versions of the code; use ``bench_core`` for the ratios against raw httpx.

    python bench/bench_pipeline.py                 # every scenario
    python bench/bench_pipeline.py full-sdk --profile tottime
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import aiguard
from _harness import report
from aiguard._effects import RawResponse, Send
from aiguard._sync_client import _SyncIO
from aiguard.providers import OpenAICompatible
from bench_core import CTX, PROMPT_1KB, SHORT, full_policy, sdk_telemetry

warnings.simplefilter("ignore")  # unknown-price warnings for the canned model name

_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the canned provider."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
).encode()
_HEADERS = httpx.Headers(
    {"content-type": "application/json", "content-length": str(len(_BODY)), "x-request-id": "r1"}
)


class _CannedIO(_SyncIO):
    """Answers every ``Send`` with the same response; every other effect runs as usual."""

    __slots__ = ()

    def perform(self, eff: Any) -> Any:
        if type(eff) is Send:
            return RawResponse(200, _HEADERS, _BODY)
        return super().perform(eff)


def canned(client: aiguard.Client) -> aiguard.Client:
    client._io = _CannedIO(client._http, time.sleep)
    return client


def endpoints() -> dict[str, Any]:
    return {"llm": OpenAICompatible("http://127.0.0.1:9/v1", "bench")}


def scenarios(tmp: Path) -> dict[str, Callable[[], Callable[[], Any]]]:
    """Name -> a factory returning the call to time (built lazily: the SDK is heavy)."""
    counter = iter(range(10**12))

    def bare() -> Callable[[], Any]:
        from aiguard._stages import NO_RETRY, NO_TELEMETRY

        stages: Any = {"observers": (), "retry": NO_RETRY, "telemetry": NO_TELEMETRY}
        c = canned(aiguard.Client(endpoints(), stages=stages))
        return lambda: c.chat(SHORT, max_tokens=20)

    def default() -> Callable[[], Any]:
        c = canned(aiguard.Client(endpoints()))
        return lambda: c.chat(SHORT, max_tokens=20)

    def full(sdk: bool) -> Callable[[], Callable[[], Any]]:
        def make() -> Callable[[], Any]:
            policy = aiguard.Policy.from_dict(full_policy(tmp / f"audit-{sdk}.db"))
            tel = sdk_telemetry(policy)[0] if sdk else None
            c = canned(aiguard.Client(endpoints(), policy=policy, telemetry=tel))

            def call() -> None:
                msgs = [{"role": "user", "content": f"{next(counter)} {PROMPT_1KB}"}]
                c.chat(msgs, max_tokens=20, temperature=0, context=CTX)

            return call

        return make

    def cache_hit() -> Callable[[], Any]:
        policy = {
            "apiVersion": "v1",
            "kind": "AIAPIGatewayPolicy",
            "metadata": {"name": "cache-only"},
            "spec": {"authentication": {"type": "none"}, "cache": {"enabled": True}},
        }
        c = canned(aiguard.Client(endpoints(), policy=policy))
        msgs = [{"role": "user", "content": PROMPT_1KB}]
        return lambda: c.chat(msgs, max_tokens=20, temperature=0)

    return {
        "bare": bare,
        "default": default,
        "full-nosdk": full(False),
        "full-sdk": full(True),
        "cache-hit": cache_hit,
    }


def best_us(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    """Fastest of ``repeats`` rounds: with no sockets, the minimum is the repeatable figure."""
    for _ in range(min(n, 500)):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t) / n * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--profile", metavar="SORT", help="cProfile the scenario, sorted by SORT")
    parser.add_argument("-n", type=int, default=3000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aiguard-bench-"))
    table = scenarios(tmp)
    names = args.names or list(table)
    print("pipeline: aiguard's CPU per call with canned provider bytes (no sockets)")
    for name in names:
        fn = table[name]()
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.runcall(lambda f=fn: [f() for _ in range(args.n)])
            pstats.Stats(prof, stream=sys.stdout).sort_stats(args.profile).print_stats(50)
            continue
        report(f"{name} (process CPU, incl. JSON and any worker thread)", best_us(fn, args.n), "us")


if __name__ == "__main__":
    main()
