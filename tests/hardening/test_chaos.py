"""Chaos: thousands of calls through the full policy against fakes that fail 20% of attempts.

Two real loopback ``FakeProvider`` endpoints, each failing a random 20% of the requests it
receives with one of: 429 with Retry-After, 500/502/503/529, a hang (the client's 0.05 s
timeout ends it), a TCP reset, malformed JSON, a body or stream cut after 0-3 events, a stream
missing its terminal event. Calls mix sync and async, streaming and not, cacheable and not,
redacted PII, blocked prompts. Retries and Retry-After waits go through ``sleep=``, which only
records them and moves a fake clock.

What must hold at the end:

* every call returned an answer or raised an ``aiguard.errors.AIGuardError`` subclass;
* budgets settle exactly: every token limit's ``reserved`` is 0 and its ``used`` is the sum of
  what successful (non-cached) calls reported, plus what interrupted streams consumed;
* every call settled exactly once; one audit record per call after ``close()``;
* every span started was ended; no PII reached a provider;
* no thread and no socket outlives the clients and the fakes.

CI runs 1,250 plain and 1,250 streaming calls per driver (5,000 in all); the soak variant
(``AIGUARD_SOAK=1``) runs four times as many.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import aiguard
from aiguard.errors import AIGuardError, StreamInterrupted
from aiguard.policy import Policy
from aiguard.telemetry import SQLiteAuditStore
from aiguard.testing import FakeProvider

from ._harness import (
    FakeClock,
    Otel,
    chaotic,
    context,
    endpoints,
    full_policy,
    ledger_for,
    open_fds,
    socket_fds,
    stages_for,
    telemetry,
    token_usage,
)

CI_N = 1_250  # per driver and mode: 2 x 2 x 1,250 = 5,000 calls in CI
SOAK_N = 5_000  # 20,000 calls
SIZES = [CI_N, pytest.param(SOAK_N, marks=pytest.mark.soak, id="soak")]
TIMEOUT = 0.05
# Eight calls in flight share the GIL with the fakes' threads: on a loaded machine a healthy
# answer can take longer than 50 ms, and timeouts that are not faults would trip the breakers.
ASYNC_TIMEOUT = 0.25
TENANTS = 5
EMAIL = "jane.doe" + "@" + "example.org"


@dataclass
class Outcome:
    ok: int = 0
    cached: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)  # tenant -> tokens of fresh answers
    foreign: list[BaseException] = field(default_factory=list)

    def success(self, tenant: str, response: aiguard.ChatResponse) -> None:
        self.ok += 1
        if response.cached:
            self.cached += 1
        else:
            self.tokens[tenant] += response.usage.input_tokens + response.usage.output_tokens

    def failure(self, e: BaseException) -> None:
        if isinstance(e, AIGuardError):
            self.errors[type(e).__name__] += 1
        else:
            self.foreign.append(e)

    @property
    def calls(self) -> int:
        return self.ok + sum(self.errors.values()) + len(self.foreign)


def _prompt(i: int) -> tuple[str, dict[str, Any]]:
    """The i-th prompt and options: unique, repeated (cacheable), with PII, or blocked."""
    if i % 97 == 0:
        return "please give me investment advice on which stocks to buy", {}
    if i % 4 == 0:
        return f"repeated question {i % 40}", {"temperature": 0}
    if i % 13 == 0:
        return f"write to {EMAIL} about order {i}", {}
    return f"question number {i} about the weather", {"max_tokens": 64}


def _sync_calls(client: aiguard.Client, n: int, stream: bool, out: Outcome, offset: int) -> None:
    for j in range(n):
        i = offset + j
        text, options = _prompt(i)
        ctx = context(i, TENANTS)
        try:
            if stream:
                with client.stream(text, context=ctx, **options) as s:
                    for _ in s:
                        pass
                resp = s.response
            else:
                resp = client.chat(text, context=ctx, **options)
        except Exception as e:
            out.failure(e)
        else:
            out.success(ctx["tenant"], resp)


async def _async_calls(
    client: aiguard.AsyncClient, n: int, stream: bool, out: Outcome, offset: int
) -> None:
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        text, options = _prompt(i)
        ctx = context(i, TENANTS)
        async with sem:
            try:
                if stream:
                    async with client.stream(text, context=ctx, **options) as s:
                        async for _ in s:
                            pass
                    resp = s.response
                else:
                    resp = await client.chat(text, context=ctx, **options)
            except Exception as e:
                out.failure(e)
            else:
                out.success(ctx["tenant"], resp)

    await asyncio.gather(*(one(offset + j) for j in range(n)))


def _check_settlement(client_usage: Any, ledger: Any, out: Outcome, tenants: list[str]) -> None:
    # Every call that reached admission settled exactly once.
    ids = [id(call) for call, _ in ledger.settled]
    assert len(ids) == len(set(ids)), "a call settled twice"
    # Failures charge nothing, except an interrupted stream: what it consumed so far.
    partial: Counter[str] = Counter()
    for call, _ in ledger.settled:
        usage = ledger.charged_for(call)
        if call.error is None:
            assert call.response is not None and usage == call.response.usage
            continue
        if isinstance(call.error, StreamInterrupted) and usage is not None:
            partial[call.context.tenant] += usage.input_tokens + usage.output_tokens
        else:
            assert usage is None, (type(call.error).__name__, usage)
    for tenant in tenants:
        rows = client_usage(tenant)
        held = {u.limit: u.reserved for u in rows if u.reserved}
        assert held == {}, (tenant, held)
        used, reserved = token_usage(rows, "tenant-tokens.tokensPerDay")
        assert reserved == 0, (tenant, reserved)
        assert used == out.tokens[tenant] + partial[tenant], (tenant, used, out.tokens, partial)


def _run(tmp_path: Path, n: int, drive: Any) -> None:
    threads0, fds0, socks0 = set(threading.enumerate()), open_fds(), socket_fds()
    policy = Policy.coerce(full_policy())
    clock = FakeClock()
    otel = Otel()
    out = Outcome()
    with FakeProvider() as primary, FakeProvider() as backup:
        injected = [chaotic(primary, 0.2, seed=1), chaotic(backup, 0.2, seed=2)]
        ledger = ledger_for(policy)
        tel = telemetry(otel, tmp_path / "audit.db", policy)
        client_usage = drive(endpoints(primary, backup), policy, clock, tel, ledger, out)
        # what a client is given (stages=, telemetry=) is the caller's to close
        tel.close()
        ledger.close()
        requests = [*primary.requests, *backup.requests]
    assert not out.foreign, [repr(e) for e in out.foreign[:5]]
    calls = 2 * n
    assert out.calls == calls
    # the run was chaotic and yet mostly served
    kinds = sum((q.injected for q in injected), Counter())
    assert len(kinds) >= 8, kinds
    attempts = len(requests)
    assert 0.1 < sum(kinds.values()) / attempts < 0.3, (kinds, attempts)
    assert out.ok > 0.8 * calls, (out.ok, out.errors)
    assert out.cached > 0
    assert out.errors["ContentBlockedError"] > 0
    assert clock.slept, "retries must have waited through sleep="
    assert {0.5, 1.0, 2.0} & set(clock.slept), "Retry-After is waited exactly"
    print(
        f"\nchaos {calls} calls, {attempts} attempts: ok {out.ok} (cached {out.cached}), "
        f"errors {dict(out.errors)}, faults {dict(kinds)}"
    )
    # nothing forbidden left the process
    assert not any(EMAIL.encode() in r.body for r in requests)
    assert not any(b"investment advice" in r.body for r in requests)
    # budgets settle exactly
    _check_settlement(client_usage, ledger, out, [f"t{k}" for k in range(TENANTS)])
    # one audit record per call, every span ended
    assert tel.audit is not None
    assert tel.audit.dropped == 0
    store = SQLiteAuditStore(tmp_path / "audit.db")
    assert store.count() == calls, (store.count(), calls)
    outcomes = Counter(r.outcome for r in store.records())
    assert outcomes["blocked"] == out.errors["ContentBlockedError"], outcomes
    assert otel.book.started > calls
    assert otel.book.open == set(), len(otel.book.open)
    assert otel.book.started == otel.book.ended
    otel.shutdown()
    store.close()
    # no leak
    assert set(threading.enumerate()) - threads0 == set()
    # <=, not ==: a socket an earlier test left to the garbage collector may close meanwhile
    assert socket_fds() <= socks0
    assert open_fds() - fds0 == set()


@pytest.mark.parametrize("n", SIZES)
def test_chaos_sync(tmp_path: Path, n: int) -> None:
    def drive(eps: Any, policy: Policy, clock: FakeClock, tel: Any, ledger: Any, out: Outcome):
        client = aiguard.Client(
            eps,
            policy=policy,
            timeout=TIMEOUT,
            clock=clock,
            sleep=clock.sleep,
            stages=stages_for(policy, tel, ledger),
            telemetry=tel,
        )
        _sync_calls(client, n, False, out, 0)
        _sync_calls(client, n, True, out, n)
        client.close()
        return lambda tenant: client.usage({"tenant": tenant, "user": "-"})

    _run(tmp_path, n, drive)


@pytest.mark.parametrize("n", SIZES)
def test_chaos_async(tmp_path: Path, n: int) -> None:
    def drive(eps: Any, policy: Policy, clock: FakeClock, tel: Any, ledger: Any, out: Outcome):
        async def go() -> Any:
            client = aiguard.AsyncClient(
                eps,
                policy=policy,
                timeout=ASYNC_TIMEOUT,
                clock=clock,
                sleep=clock.asleep,
                stages=stages_for(policy, tel, ledger),
                telemetry=tel,
            )
            await _async_calls(client, n, False, out, 0)
            await _async_calls(client, n, True, out, n)
            await client.aclose()
            return client

        client = asyncio.run(go())
        return lambda tenant: asyncio.run(client.usage({"tenant": tenant, "user": "-"}))

    _run(tmp_path, n, drive)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_every_error_is_typed_even_at_full_failure(tmp_path: Path, kind: str) -> None:
    """Every attempt failing: nothing succeeds, nothing untyped escapes, nothing is held."""
    policy = Policy.coerce(full_policy())
    clock = FakeClock()
    otel = Otel()
    out = Outcome()
    n = 60
    with FakeProvider() as primary, FakeProvider() as backup:
        chaotic(primary, 1.0, seed=3, partial=False)
        chaotic(backup, 1.0, seed=4, partial=False)
        ledger = ledger_for(policy)
        tel = telemetry(otel, tmp_path / "audit.db", policy)
        eps = endpoints(primary, backup)
        common = {"policy": policy, "timeout": TIMEOUT, "clock": clock, "telemetry": tel}
        if kind == "sync":
            client = aiguard.Client(eps, sleep=clock.sleep, **common,
                                    stages=stages_for(policy, tel, ledger))  # fmt: skip
            _sync_calls(client, n, False, out, 1)
            _sync_calls(client, n, True, out, n + 1)
            client.close()
        else:

            async def go() -> None:
                client = aiguard.AsyncClient(eps, sleep=clock.asleep, **common,
                                             stages=stages_for(policy, tel, ledger))  # fmt: skip
                await _async_calls(client, n, False, out, 1)
                await _async_calls(client, n, True, out, n + 1)
                await client.aclose()

            asyncio.run(go())
        tel.close()
        ledger.close()
    assert not out.foreign, [repr(e) for e in out.foreign[:5]]
    assert out.calls == 2 * n
    assert out.ok == 0, out
    assert all(call.error is not None for call, _ in ledger.settled)
    assert all(ledger.charged_for(call) is None for call, _ in ledger.settled)
    assert tel.audit is not None
    assert SQLiteAuditStore(tmp_path / "audit.db").count() == 2 * n
    assert otel.book.open == set()
