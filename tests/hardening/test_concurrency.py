"""Concurrency: one client shared by 16 threads, or by 1,000 asyncio tasks.

Mixed tenants and regions, limits, cache and routing, against two real loopback fakes that
echo. What must hold:

* every answer is the one a serial run gives (echo of the prompt as sent, redaction included),
  and every request reached the endpoint routing names for it;
* identical cacheable questions go upstream once per tenant (single-flight + cache), never
  across tenants;
* limits hold exactly: ``requestsPerMinute: 100`` on a frozen clock admits exactly 100 calls,
  whatever the interleaving; ``maxConcurrent: 4`` never lets a fifth attempt be in flight;
* budgets settle exactly (reserved 0, used = the sum of fresh answers' usage).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import aiguard
from aiguard.errors import AIGuardError, RateLimited
from aiguard.policy import Policy
from aiguard.telemetry import TelemetryStage
from aiguard.testing import FakeProvider, Fault

from ._harness import (
    SCOPES,
    FakeClock,
    Otel,
    endpoints,
    full_policy,
    ledger_for,
    telemetry,
    token_usage,
)

THREADS = 16
TASKS = 1_000
TENANTS = ("acme", "globex", "initech")
EMAIL = "ops" + "@" + "acme.example"


def _policy(**rate: Any) -> Policy:
    doc = full_policy()
    doc["spec"]["endpointRouting"] = {
        "rules": [{"match": {"region": "EU"}, "routeTo": "backup", "mandatory": True}],
        "default": "primary",
    }
    if rate:
        doc["spec"]["rateLimit"] = rate
    return Policy.coerce(doc)


def _call(i: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The i-th call: prompt, context, options. A third are cacheable repeats."""
    ctx = {
        "tenant": TENANTS[i % 3],
        "user": f"u{i % 5}",
        "region": "EU" if i % 4 == 1 else "US",
        "scopes": SCOPES,
    }
    if i % 3 == 0:
        return f"shared question {i % 7}", ctx, {"temperature": 0}
    if i % 10 == 2:
        return f"mail {EMAIL} about ticket {i}", ctx, {}
    return f"unique question {i}", ctx, {"max_tokens": 32}


def _expected(text: str) -> str:
    return "echo: " + text.replace(EMAIL, "[EMAIL_1]")


class InFlight(TelemetryStage):
    """The telemetry stage, also tracking how many attempts are in flight at once."""

    def __init__(self, tel: Any) -> None:
        super().__init__(tel)
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def attempt_start(self, call: Any, endpoint: Any, attempt: int) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        super().attempt_start(call, endpoint, attempt)

    def attempt_end(self, call: Any, error: BaseException | None) -> None:
        with self._lock:
            self.now -= 1
        super().attempt_end(call, error)


class _Gate(httpx.AsyncBaseTransport):
    """At most ``n`` requests handed to httpcore at once.

    The 1,000 tasks all run the pipeline together (authorize, inspect, cache, admit: every
    reservation is held at once); only the network exchange is gated. Two reasons, both
    outside aiguard: httpcore's pool rescans every queued request whenever a connection
    frees (quadratic: 1,000 queued requests cost ~60 s of CPU here), and the fakes serve in
    this process with a thread per connection, which would fight the event loop for the GIL.
    """

    def __init__(self, n: int) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=n))
        self.gate = asyncio.Semaphore(n)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self.gate:
            return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Setup:
    def __init__(self, tmp_path: Path, policy: Policy, clock: FakeClock | None = None) -> None:
        self.policy = policy
        self.clock = clock or FakeClock()
        self.otel = Otel(keep_spans=False)
        self.primary = FakeProvider().start()
        self.backup = FakeProvider().start()
        self.ledger = ledger_for(policy, clock=self._wall if clock is None else clock)
        self.tel = telemetry(self.otel, tmp_path / f"audit-{id(self)}.db", policy)
        self.stage = InFlight(self.tel)
        self.http: list[httpx.AsyncClient] = []
        self.kwargs: dict[str, Any] = {
            "policy": policy,
            "clock": self.clock,
            "stages": {"limiter": self.ledger, "telemetry": self.stage},
            "telemetry": self.tel,
        }

    @staticmethod
    def _wall() -> float:
        import time

        return time.time()

    def endpoints(self) -> dict[str, Any]:
        return endpoints(self.primary, self.backup)

    def sync(self) -> aiguard.Client:
        return aiguard.Client(self.endpoints(), sleep=self.clock.sleep, timeout=10.0, **self.kwargs)

    def async_(self) -> aiguard.AsyncClient:
        http = httpx.AsyncClient(transport=_Gate(16), timeout=httpx.Timeout(10.0, pool=None))
        self.http.append(http)
        return aiguard.AsyncClient(
            self.endpoints(), sleep=self.clock.asleep, http_client=http, **self.kwargs
        )

    def stop(self) -> None:
        self.tel.close()  # given to the client, so the caller's to close
        self.ledger.close()
        self.primary.stop()
        self.backup.stop()
        self.otel.shutdown()


def _check(setup: Setup, results: dict[int, Any], n: int) -> None:
    errors = {i: r for i, r in results.items() if isinstance(r, BaseException)}
    assert errors == {}, list(errors.items())[:3]
    for i in range(n):
        text, ctx, _ = _call(i)
        assert results[i].text == _expected(text), (i, results[i].text)
        # routing: EU calls only ever reach the backup
        assert results[i].endpoint == ("backup" if ctx["region"] == "EU" else "primary")
    sent = [*setup.primary.requests, *setup.backup.requests]
    assert not any(EMAIL.encode() in r.body for r in sent)
    assert all(r.json["messages"][-1]["content"] for r in sent)
    assert {r.json["messages"][-1]["content"] for r in setup.backup.requests} <= {
        _call(i)[0].replace(EMAIL, "[EMAIL_1]") for i in range(n) if _call(i)[1]["region"] == "EU"
    }
    # Cacheable repeats: one upstream request per (tenant, question, endpoint), no more.
    shared = Counter(
        (r.json["messages"][-1]["content"], r.headers.get("host"))
        for r in sent
        if r.json["messages"][-1]["content"].startswith("shared question")
    )
    assert shared and max(shared.values()) <= len(TENANTS), shared
    fresh: Counter[str] = Counter()
    for i in range(n):
        if not results[i].cached:
            u = results[i].usage
            fresh[_call(i)[1]["tenant"]] += u.input_tokens + u.output_tokens
    return_usage = setup.ledger.limiter.usage
    for tenant in TENANTS:
        rows = return_usage(aiguard.CallContext(tenant=tenant))
        assert {u.limit: u.reserved for u in rows if u.reserved} == {}
        used, _ = token_usage(rows, "tenant-tokens.tokensPerDay")
        assert used == fresh[tenant], (tenant, used, fresh[tenant])
    assert setup.otel.book.open == set()


def _serial(tmp_path: Path, indices: range) -> dict[int, str]:
    """The same calls, one after another, on a fresh client: the reference answers."""
    setup = Setup(tmp_path, _policy())
    try:
        with setup.sync() as client:
            out = {}
            for i in indices:
                text, ctx, opts = _call(i)
                out[i] = client.chat(text, context=ctx, **opts).text
            return out
    finally:
        setup.stop()


def test_sixteen_threads_share_one_client(tmp_path: Path) -> None:
    n = THREADS * 25
    setup = Setup(tmp_path, _policy())
    results: dict[int, Any] = {}
    barrier = threading.Barrier(THREADS)
    try:
        client = setup.sync()

        def worker(t: int) -> None:
            barrier.wait()
            for i in range(t, n, THREADS):
                text, ctx, opts = _call(i)
                try:
                    if i % 2:
                        with client.stream(text, context=ctx, **opts) as s:
                            for _ in s:
                                pass
                        results[i] = s.response
                    else:
                        results[i] = client.chat(text, context=ctx, **opts)
                except BaseException as e:
                    results[i] = e

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(worker, range(THREADS)))
        client.close()
        _check(setup, results, n)
    finally:
        setup.stop()
    assert {i: r.text for i, r in results.items()} == _serial(tmp_path, range(n))


def test_thousand_tasks_share_one_client(tmp_path: Path) -> None:
    setup = Setup(tmp_path, _policy())
    results: dict[int, Any] = {}

    async def go() -> None:
        client = setup.async_()

        async def one(i: int) -> None:
            text, ctx, opts = _call(i)
            try:
                if i % 2:
                    async with client.stream(text, context=ctx, **opts) as s:
                        async for _ in s:
                            pass
                    results[i] = s.response
                else:
                    results[i] = await client.chat(text, context=ctx, **opts)
            except BaseException as e:
                results[i] = e

        await asyncio.gather(*(one(i) for i in range(TASKS)))
        await client.aclose()
        for http in setup.http:
            await http.aclose()

    try:
        asyncio.run(go())
        _check(setup, results, TASKS)
    finally:
        setup.stop()
    # every answer was checked against its expected echo above; replay a sample serially
    sample = range(0, TASKS, 5)
    assert {i: results[i].text for i in sample} == _serial(tmp_path, sample)


# --------------------------------------------------------------------------- limits hold


def _frozen_rate_setup(tmp_path: Path) -> Setup:
    clock = FakeClock()
    return Setup(tmp_path, _policy(requestsPerMinute=100, key=["global"]), clock=clock)


def _tally(results: list[Any]) -> tuple[int, Counter[str]]:
    ok = sum(1 for r in results if isinstance(r, aiguard.ChatResponse))
    errors = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    assert all(isinstance(r, (aiguard.ChatResponse, AIGuardError)) for r in results), errors
    return ok, errors


def test_requests_per_minute_admits_exactly_100_threads(tmp_path: Path) -> None:
    setup = _frozen_rate_setup(tmp_path)
    try:
        client = setup.sync()
        barrier = threading.Barrier(THREADS)

        def worker(t: int) -> list[Any]:
            barrier.wait()
            out: list[Any] = []
            for k in range(20):
                try:
                    out.append(client.chat(f"q {t} {k}", context={"scopes": SCOPES}))
                except RateLimited as e:
                    out.append(e)
            return out

        with ThreadPoolExecutor(THREADS) as pool:
            results = [r for rs in pool.map(worker, range(THREADS)) for r in rs]
        client.close()
        ok, errors = _tally(results)
        assert ok == 100, (ok, errors)
        assert errors == {"RateLimited": THREADS * 20 - 100}
        assert setup.primary.request_count == 100
    finally:
        setup.stop()


def test_requests_per_minute_admits_exactly_100_tasks(tmp_path: Path) -> None:
    setup = _frozen_rate_setup(tmp_path)

    async def go() -> list[Any]:
        client = setup.async_()

        async def one(i: int) -> Any:
            try:
                return await client.chat(f"q {i}", context={"scopes": SCOPES})
            except RateLimited as e:
                return e

        out = await asyncio.gather(*(one(i) for i in range(TASKS)))
        await client.aclose()
        for http in setup.http:
            await http.aclose()
        return list(out)

    try:
        ok, errors = _tally(asyncio.run(go()))
        assert ok == 100, (ok, errors)
        assert errors == {"RateLimited": TASKS - 100}
        assert setup.primary.request_count == 100
    finally:
        setup.stop()


@pytest.mark.parametrize("kind", ["threads", "tasks"])
def test_max_concurrent_never_exceeded(tmp_path: Path, kind: str) -> None:
    """``maxConcurrent: 4`` while every answer takes a while (server-side latency)."""
    setup = Setup(tmp_path, _policy(maxConcurrent=4, key=["global"]))
    setup.primary.fault(Fault.latency(0.02, times=None))
    n = 64
    results: list[Any] = []
    try:
        if kind == "threads":
            client = setup.sync()

            def one(i: int) -> Any:
                try:
                    return client.chat(f"q {i}", context={"scopes": SCOPES})
                except RateLimited as e:
                    return e

            with ThreadPoolExecutor(THREADS) as pool:
                results = list(pool.map(one, range(n)))
            client.close()
        else:

            async def go() -> list[Any]:
                client = setup.async_()

                async def one(i: int) -> Any:
                    try:
                        return await client.chat(f"q {i}", context={"scopes": SCOPES})
                    except RateLimited as e:
                        return e

                out = await asyncio.gather(*(one(i) for i in range(n)))
                await client.aclose()
                for http in setup.http:
                    await http.aclose()
                return list(out)

            results = asyncio.run(go())
        ok, errors = _tally(results)
        assert setup.stage.peak <= 4, setup.stage.peak
        assert ok >= 4 and ok + errors["RateLimited"] == n, (ok, errors)
        rows = setup.ledger.limiter.usage(aiguard.CallContext())
        assert {u.limit: u.reserved for u in rows if u.reserved} == {}
    finally:
        setup.stop()


def test_single_flight_across_threads_and_tenants(tmp_path: Path) -> None:
    """16 threads x 3 tenants ask one cacheable question at once: one upstream call per
    tenant, and every thread gets its tenant's answer."""
    setup = Setup(tmp_path, _policy())
    setup.primary.fault(Fault.latency(0.05, times=3))  # hold the leaders so others pile up
    results: dict[tuple[int, str], Any] = {}
    barrier = threading.Barrier(THREADS)
    try:
        client = setup.sync()

        def worker(t: int) -> None:
            barrier.wait()
            for tenant in TENANTS:
                ctx = {"tenant": tenant, "scopes": SCOPES}
                results[(t, tenant)] = client.chat("what is 2+2?", context=ctx, temperature=0)

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(worker, range(THREADS)))
        client.close()
    finally:
        setup.stop()
    assert setup.primary.request_count == len(TENANTS)
    assert {r.text for r in results.values()} == {"echo: what is 2+2?"}
