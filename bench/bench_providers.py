"""Per-adapter cost: Anthropic, Gemini, Vertex, Bedrock and Azure against the OpenAI adapter.

Three measurements, CPU microseconds (``time.process_time``), medians of repeats:

1. codec, non-streaming: ``build_chat`` + ``parse_chat`` on a canned body, per call;
2. streaming decode at 200 chunks: ``stream_decoder().feed`` per chunk, each wire event its
   own chunk, against reading the raw SSE lines (split + ``json.loads``, the floor any client
   pays), and against the OpenAI decoder;
3. a whole ``Client.chat`` per adapter against FakeProvider in a child process (the fake
   speaks every adapter's wire format), against the OpenAI adapter.

Bodies and streams are rendered by the fake's own wire modules, so every adapter decodes the
same answer in its provider's shape. Targets (issue 3): each adapter within 1.3x of OpenAI;
streaming adds <= 5 us per chunk over raw SSE line reading.
"""

from __future__ import annotations

import json
import struct
import time
import warnings
from collections.abc import Callable
from typing import Any

import aiguard
from _harness import report, server_process
from aiguard._effects import RawResponse
from aiguard._types import ChatRequest, coerce_messages
from aiguard.providers import OpenAICompatible
from aiguard.providers._base import Provider
from aiguard.providers.anthropic import Anthropic
from aiguard.providers.azure import AzureOpenAI
from aiguard.providers.bedrock import Bedrock
from aiguard.providers.gemini import Gemini, VertexAI
from aiguard.testing import Reply
from aiguard.testing._wire import Call, RecordedRequest, Stream

KEY = "bench-" + "k" * 16
AWS = ("AKIA" + "BENCH" * 3 + "X", "bench-" + "s" * 30)
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello to the benchmark."},
]
CHUNKS = 200

Factory = Callable[[str], Provider]

ADAPTERS: dict[str, Factory] = {
    "openai": lambda url: OpenAICompatible(base_url=f"{url}/v1", model="bench", api_key=KEY),
    "anthropic": lambda url: Anthropic("claude-bench", api_key=KEY, base_url=url),
    "gemini": lambda url: Gemini("gemini-bench", api_key=KEY, base_url=url),
    "vertex": lambda url: VertexAI("gemini-bench", project="p", access_token=KEY, base_url=url),
    "bedrock": lambda url: Bedrock(
        "anthropic.claude-bench-v1:0",
        region="us-east-1",
        aws_access_key_id=AWS[0],
        aws_secret_access_key=AWS[1],
        base_url=url,
    ),
    "azure": lambda url: AzureOpenAI("bench", endpoint=url, api_key=KEY),
}


def _rendered(provider: Provider, reply: Reply, *, stream: bool) -> Any:
    """Ask the fake's route for ``provider``'s request to render ``reply`` (no network)."""
    from aiguard.testing import FakeProvider

    request = ChatRequest(messages=coerce_messages(MESSAGES), max_tokens=64)
    auth = provider.auth_headers()
    if not isinstance(auth, dict):
        auth = auth.sync()
    http = provider.build_chat(request, stream=stream, auth=auth)
    path, _, qs = http.url.split("://", 1)[1].partition("/")[2].partition("?")
    fake = FakeProvider()
    route, params = fake._match("POST", "/" + path)
    assert route is not None, http.url
    query = dict(p.split("=", 1) for p in qs.split("&")) if qs else {}
    headers = {k.lower(): v for k, v in http.headers.items()}
    rec = RecordedRequest(
        "POST", "/" + path, headers, json.loads(http.content), http.content, 0.0, query, params,
        "req_bench",
    )  # fmt: skip
    return route.handler(Call(rec, params, reply, 1, 4, 8))


def codec_fn(provider: Provider) -> Callable[[], None]:
    body = _rendered(provider, Reply(text="Hello, benchmark! " * 4, usage=(20, 16)), stream=False)
    raw = RawResponse(200, {"content-type": "application/json"}, body.content)
    request = ChatRequest(messages=coerce_messages(MESSAGES), max_tokens=64)
    auth = provider.auth_headers()
    if not isinstance(auth, dict):
        auth = auth.sync()

    def once() -> None:
        provider.build_chat(request, stream=False, auth=auth)
        provider.parse_chat(raw)

    return once


def stream_chunks(provider: Provider) -> list[bytes]:
    pieces = [f"tok{i} " for i in range(CHUNKS)]
    stream = _rendered(provider, Reply(chunks=pieces, usage=(20, CHUNKS)), stream=True)
    assert isinstance(stream, Stream)
    return stream.events


def decode_fn(provider: Provider, chunks: list[bytes]) -> Callable[[], None]:
    def once() -> None:
        d = provider.stream_decoder()
        for c in chunks:
            d.feed(c)
        d.close()

    return once


def floor_fn(chunks: list[bytes], *, frames: bool) -> Callable[[], None]:
    """The floor a hand-written client pays: split SSE lines and ``json.loads`` each
    ``data:`` line; for AWS event-stream, cut frames by their length prefix and
    ``json.loads`` each payload (no CRC or header checks)."""

    def sse() -> None:
        for c in chunks:
            for line in c.split(b"\n"):
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    json.loads(line[6:])

    def eventstream() -> None:
        for c in chunks:
            pos = 0
            while pos < len(c):
                total, hlen = struct.unpack_from(">II", c, pos)
                json.loads(c[pos + 12 + hlen : pos + total - 4])
                pos += total

    return eventstream if frames else sse


def interleaved(fns: dict[str, Callable[[], None]], n: int, rounds: int = 9) -> dict[str, float]:
    """CPU microseconds per call of each function: the minimum over ``rounds``, taken in
    turns (A, B, C, A, B, C...) so that load from other processes on a shared machine falls
    on every candidate alike instead of on whichever ran during a busy spell."""
    best = dict.fromkeys(fns, float("inf"))
    for fn in fns.values():
        for _ in range(max(1, n // 10)):
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.process_time()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.process_time() - t) / n * 1e6)
    return best


def main() -> dict[str, float]:
    # bench model names are unpriced on purpose (no adapter pays for a price lookup)
    warnings.filterwarnings("ignore", message="no price known")
    results: dict[str, float] = {}
    print("providers: codec CPU per call (build_chat + parse_chat), no network")
    base = {name: f("http://127.0.0.1:9") for name, f in ADAPTERS.items()}
    codec = interleaved({name: codec_fn(p) for name, p in base.items()}, 500)
    for name, us in codec.items():
        report(f"{name} codec CPU/call", us, "us", f"{us / codec['openai']:.2f}x openai (<= 1.3x)")
        results[f"codec_{name}_us"] = us

    print(f"providers: stream decode at {CHUNKS} chunks, per chunk (floor: raw line/frame read)")
    chunks = {name: stream_chunks(p) for name, p in base.items()}
    fns = {name: decode_fn(p, chunks[name]) for name, p in base.items()}
    fns.update({f"floor:{n}": floor_fn(c, frames=n == "bedrock") for n, c in chunks.items()})
    timed = {k: v / CHUNKS for k, v in interleaved(fns, 20).items()}
    for name in base:
        us, floor = timed[name], timed[f"floor:{name}"]
        report(
            f"{name} decode/chunk",
            us,
            "us",
            f"floor {floor:.1f}, +{us - floor:.1f} us (<= 5), {us / timed['openai']:.2f}x openai",
        )
        results[f"stream_{name}_us_per_chunk"] = us
        results[f"stream_{name}_added_us"] = us - floor

    print("providers: whole Client.chat against FakeProvider (child process)")
    with server_process() as url:
        clients = {name: aiguard.Client({"llm": f(url)}) for name, f in ADAPTERS.items()}
        fns = {
            name: (lambda c=c: c.chat(MESSAGES, max_tokens=64))  # type: ignore[misc]
            for name, c in clients.items()
        }
        calls = interleaved(fns, 100, rounds=7)
        for c in clients.values():
            c.close()
    for name, us in calls.items():
        report(f"{name} Client.chat CPU/call", us, "us", f"{us / calls['openai']:.2f}x openai")
        results[f"call_{name}_us"] = us
    return results


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"  (ran in {time.perf_counter() - t:.1f} s)")
