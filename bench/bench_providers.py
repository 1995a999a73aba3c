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
from collections.abc import Callable
from typing import Any

import aiguard
from _harness import cpu_us_per_call, report, server_process
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


def codec_us(provider: Provider) -> float:
    body = _rendered(provider, Reply(text="Hello, benchmark! " * 4, usage=(20, 16)), stream=False)
    raw = RawResponse(200, {"content-type": "application/json"}, body.content)
    request = ChatRequest(messages=coerce_messages(MESSAGES), max_tokens=64)
    auth = provider.auth_headers()
    if not isinstance(auth, dict):
        auth = auth.sync()

    def once() -> None:
        provider.build_chat(request, stream=False, auth=auth)
        provider.parse_chat(raw)

    return best_us(once, 1000)


def stream_chunks(provider: Provider) -> list[bytes]:
    pieces = [f"tok{i} " for i in range(CHUNKS)]
    stream = _rendered(provider, Reply(chunks=pieces, usage=(20, CHUNKS)), stream=True)
    assert isinstance(stream, Stream)
    return stream.events


def best_us(fn: Callable[[], Any], n: int, repeats: int = 9) -> float:
    """Minimum over repeats of CPU microseconds per call: the least noisy figure on a
    shared machine for code that does no I/O."""
    for _ in range(max(1, n // 10)):
        fn()
    samples = []
    for _ in range(repeats):
        t = time.process_time()
        for _ in range(n):
            fn()
        samples.append((time.process_time() - t) / n * 1e6)
    return min(samples)


def stream_us_per_chunk(provider: Provider, chunks: list[bytes]) -> float:
    def once() -> None:
        d = provider.stream_decoder()
        for c in chunks:
            d.feed(c)
        d.close()

    return best_us(once, 30) / CHUNKS


def raw_floor_us_per_chunk(chunks: list[bytes], *, frames: bool) -> float:
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

    return best_us(eventstream if frames else sse, 30) / CHUNKS


def main() -> dict[str, float]:
    results: dict[str, float] = {}
    print("providers: codec CPU per call (build_chat + parse_chat), no network")
    base = {name: f("http://127.0.0.1:9") for name, f in ADAPTERS.items()}
    codec = {name: codec_us(p) for name, p in base.items()}
    for name, us in codec.items():
        report(f"{name} codec CPU/call", us, "us", f"{us / codec['openai']:.2f}x openai (<= 1.3x)")
        results[f"codec_{name}_us"] = us

    print(f"providers: stream decode at {CHUNKS} chunks, per chunk (floor: raw line/frame read)")
    per_chunk: dict[str, float] = {}
    for name, p in base.items():
        chunks = stream_chunks(p)
        us = stream_us_per_chunk(p, chunks)
        per_chunk[name] = us
        own_floor = raw_floor_us_per_chunk(chunks, frames=name == "bedrock")
        report(
            f"{name} decode/chunk",
            us,
            "us",
            f"floor {own_floor:.1f}, +{us - own_floor:.1f} us (<= 5), "
            f"{us / per_chunk['openai']:.2f}x openai",
        )
        results[f"stream_{name}_us_per_chunk"] = us
        results[f"stream_{name}_added_us"] = us - own_floor

    print("providers: whole Client.chat against FakeProvider (child process)")
    with server_process() as url:
        calls: dict[str, float] = {}
        for name, factory in ADAPTERS.items():
            client = aiguard.Client({"llm": factory(url)})
            calls[name] = cpu_us_per_call(lambda c=client: c.chat(MESSAGES, max_tokens=64), 500)
            client.close()
            ratio = calls[name] / calls["openai"]
            report(f"{name} Client.chat CPU/call", calls[name], "us", f"{ratio:.2f}x openai")
            results[f"call_{name}_us"] = calls[name]
    return results


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"  (ran in {time.perf_counter() - t:.1f} s)")
