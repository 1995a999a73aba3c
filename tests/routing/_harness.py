"""Scripted OpenAI-compatible endpoints over ``httpx.MockTransport``, a fake clock, and one
runner that drives either client, so every end-to-end test runs against both.

Each endpoint is a host (``http://<name>.test/v1``); a test queues what each host answers
next (a reply, an error status, a timeout, a reset, a malformed body, a stream cut after N
events). Nothing sleeps: the client's ``sleep=`` records the wait and moves the clock.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

import aiguard
from aiguard._call import Call, Endpoint
from aiguard.providers import OpenAICompatible
from aiguard.providers._base import Capabilities
from aiguard.retry import RetryBudget, RetryPolicy
from aiguard.routing import (
    CircuitConfig,
    EndpointHealth,
    GroupOptions,
    PolicyRouter,
    RouteDecision,
    route_decision,
)

KEY = "sk-test-" + "routing" * 3


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Answer:
    kind: str
    text: str = "hello there"
    status: int = 200
    headers: Mapping[str, str] | None = None
    code: str | None = None
    after: int = 0


def ok(text: str = "hello there") -> Answer:
    return Answer("ok", text)


def status(code: int, *, retry_after: float | None = None, err: str | None = None) -> Answer:
    headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
    return Answer("status", status=code, headers=headers, code=err)


def timeout() -> Answer:
    return Answer("timeout")


def reset() -> Answer:
    return Answer("reset")


def malformed() -> Answer:
    return Answer("malformed")


def cut(after: int, text: str = "hello there") -> Answer:
    """A stream that breaks (connection lost) after ``after`` content events."""
    return Answer("cut", text, after=after)


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body for both clients; raises ``error`` after the chunks, if given."""

    def __init__(self, chunks: list[bytes], error: Exception | None = None) -> None:
        self.chunks = chunks
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for c in self.chunks:
            yield c
        if self.error is not None:
            raise self.error


def _sse(text: str, model: str) -> list[bytes]:
    out = []
    for i in range(0, len(text), 3):
        delta = {"index": 0, "delta": {"content": text[i : i + 3]}}
        chunk = {"id": "c1", "model": model, "choices": [delta]}
        out.append(f"data: {json.dumps(chunk)}\n\n".encode())
    stop = {"index": 0, "delta": {}, "finish_reason": "stop"}
    end = {"id": "c1", "model": model, "choices": [stop]}
    out.append(f"data: {json.dumps(end)}\n\n".encode())
    out.append(b"data: [DONE]\n\n")
    return out


class Script:
    """What each host answers next (FIFO; an empty queue answers ``ok()``), and a log."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Answer]] = defaultdict(deque)
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def add(self, host: str, *answers: Answer) -> None:
        self.queues[host].extend(answers)

    def hosts(self) -> list[str]:
        """The endpoint each request went to, in order."""
        return [h for h, _ in self.requests]

    def handler(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host.removesuffix(".test")
        body = json.loads(request.content)
        self.requests.append((host, body))
        q = self.queues[host]
        a = q.popleft() if q else ok()
        model = body.get("model", "m")
        if a.kind == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if a.kind == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        if a.kind == "malformed":
            return httpx.Response(200, content=b'{"choices": [ {"mess', request=request)
        if a.kind == "status":
            err = {"error": {"message": f"status {a.status}", "type": "x", "code": a.code}}
            return httpx.Response(a.status, json=err, headers=dict(a.headers or {}))
        if body.get("stream"):
            chunks = _sse(a.text, model)
            if a.kind == "cut":
                gone = httpx.RemoteProtocolError("peer closed connection mid-body")
                return httpx.Response(200, stream=_Body(chunks[: a.after], gone))
            return httpx.Response(200, stream=_Body(chunks))
        payload = {
            "id": "c1",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": a.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
        return httpx.Response(200, json=payload)


# --------------------------------------------------------------------------- building


class Recorder:
    """A telemetry stage that keeps every finished call, so tests can read its notes."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def start(self, call: Call) -> None:
        return None

    def event(self, call: Call, name: str, attributes: Mapping[str, Any]) -> None:
        return None

    def attempt_start(self, call: Call, endpoint: Endpoint, attempt: int) -> None:
        return None

    def attempt_end(self, call: Call, error: BaseException | None) -> None:
        return None

    def finish(self, call: Call) -> None:
        self.calls.append(call)


def provider(
    name: str, caps: Capabilities | None = None, url: str | None = None
) -> OpenAICompatible:
    return OpenAICompatible(
        url or f"http://{name}.test/v1", model=f"model-{name}", api_key=KEY, capabilities=caps
    )


def endpoints(
    *names: str,
    caps: Mapping[str, Capabilities] | None = None,
    urls: Mapping[str, str] | None = None,
) -> dict[str, Endpoint]:
    caps = caps or {}
    urls = urls or {}
    return {n: Endpoint(n, provider(n, caps.get(n), urls.get(n))) for n in names}


class Env:
    """A router, retry policy and health for a set of endpoints, on a fake clock."""

    def __init__(
        self,
        names: tuple[str, ...] = ("a", "b"),
        routing: Any = None,
        *,
        policy: Any = None,
        caps: Mapping[str, Capabilities] | None = None,
        urls: Mapping[str, str] | None = None,
        groups: Mapping[str, GroupOptions] | None = None,
        circuit: CircuitConfig | None = None,
        budget: RetryBudget | None = None,
        seed: int = 7,
        **retry: Any,
    ) -> None:
        self.clock = FakeClock()
        self.script = Script()
        self.sleeps: list[float] = []
        self.endpoints = endpoints(*names, caps=caps, urls=urls)
        self.real = urls is not None
        """Real servers (``FakeProvider``): the clients use real HTTP, not the script."""
        self.health = EndpointHealth(self.endpoints, circuit=circuit, clock=self.clock)
        rng = random.Random(seed)
        if policy is not None:
            self.router = PolicyRouter.from_policy(
                policy, self.endpoints, groups=groups, health=self.health, rng=rng
            )
        else:
            if routing is None:
                routing = {"default": names[0]} if len(names) == 1 else {
                    "groups": {"pool": {"members": list(names)}}, "default": "pool"}  # fmt: skip
            self.router = PolicyRouter(
                self.endpoints, routing, groups=groups, health=self.health, rng=rng
            )
        self.budget = budget
        retry.setdefault("rng", random.Random(seed))
        self.retry = RetryPolicy(health=self.health, budget=budget, clock=self.clock, **retry)
        self.recorder = Recorder()
        self.observer = self.health.observe(self.recorder, budget)

    @property
    def last_decision(self) -> RouteDecision | None:
        return route_decision(self.recorder.calls[-1])

    @property
    def retry_log(self) -> list[dict[str, Any]]:
        """Every retry decision of every call, in order."""
        return [e for c in self.recorder.calls for e in c.notes.get("retry", {}).get("log", [])]

    def stages(self) -> dict[str, Any]:
        return {"router": self.router, "retry": self.retry, "telemetry": self.observer}

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    async def _asleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def providers(self) -> dict[str, OpenAICompatible]:
        return {n: e.provider for n, e in self.endpoints.items()}  # type: ignore[misc]

    def sync_client(self) -> aiguard.Client:
        http = (
            None if self.real else httpx.Client(transport=httpx.MockTransport(self.script.handler))
        )
        return aiguard.Client(
            self.providers(), http_client=http, clock=self.clock, sleep=self._sleep,
            stages=self.stages(),  # type: ignore[arg-type]
        )  # fmt: skip

    def async_client(self) -> aiguard.AsyncClient:
        transport = httpx.MockTransport(self.script.handler)
        http = None if self.real else httpx.AsyncClient(transport=transport)
        return aiguard.AsyncClient(
            self.providers(), http_client=http, clock=self.clock, sleep=self._asleep,
            stages=self.stages(),  # type: ignore[arg-type]
        )  # fmt: skip


class Runner:
    """``chat``/``stream`` through the sync or the async client, same signature."""

    def __init__(self, kind: str, env: Env) -> None:
        self.kind = kind
        self.env = env
        self._sync: aiguard.Client | None = None
        self._async: aiguard.AsyncClient | None = None

    async def chat(self, text: str = "Hi", **kw: Any) -> aiguard.ChatResponse:
        if self.kind == "sync":
            self._sync = self._sync or self.env.sync_client()
            return self._sync.chat(text, **kw)
        self._async = self._async or self.env.async_client()
        return await self._async.chat(text, **kw)

    async def stream(
        self, text: str = "Hi", seen: list[str] | None = None, **kw: Any
    ) -> aiguard.ChatResponse:
        """Stream to the end; ``seen`` collects the text as the caller received it."""
        seen = seen if seen is not None else []
        if self.kind == "sync":
            self._sync = self._sync or self.env.sync_client()
            with self._sync.stream(text, **kw) as s:
                for ev in s:
                    seen.append(ev.text)
                return s.response
        self._async = self._async or self.env.async_client()
        async with self._async.stream(text, **kw) as s:
            async for ev in s:
                seen.append(ev.text)
            return s.response

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
        if self._async is not None:
            await self._async.aclose()


Factory = Callable[..., Runner]
