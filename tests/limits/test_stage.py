"""End to end: limits admit and settle real calls through ``aiguard.Client``/``AsyncClient``
against the loopback ``FakeProvider``."""

from __future__ import annotations

from pathlib import Path

import pytest

import aiguard
from aiguard._call import PROMPT_TOKENS_NOTE
from aiguard.errors import BudgetExceeded, RateLimited
from aiguard.limits import Limit, Limiter, LimitStage, MemoryStore, SQLiteStore
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider, Fault, Reply

from ._clock import FakeClock

HI = [{"role": "user", "content": "Hi"}]


def endpoints(fake: FakeProvider) -> dict[str, OpenAICompatible]:
    return {"cloud-llm": OpenAICompatible(fake.openai_url, "gpt-4o-mini", api_key="k")}


def client_for(fake: FakeProvider, lim: Limiter) -> aiguard.Client:
    return aiguard.Client(endpoints(fake), stages={"limiter": LimitStage(lim)})


def test_requests_per_minute_refuses_before_anything_is_sent(
    fake_provider: FakeProvider, clock: FakeClock
) -> None:
    lim = Limiter([Limit.requests(2, key=("user",))], MemoryStore(clock=clock))
    with client_for(fake_provider, lim) as client:
        with aiguard.context(user="u-1"):
            client.chat(HI, model="cloud-llm")
            client.chat(HI, model="cloud-llm")
            with pytest.raises(RateLimited) as e:
                client.chat(HI, model="cloud-llm")
        client.chat(HI, model="cloud-llm", context={"user": "u-2"})
    assert e.value.retry_after == pytest.approx(30.0)
    assert len(fake_provider.requests) == 3


def test_token_budget_settles_reported_usage(fake_provider: FakeProvider, clock: FakeClock) -> None:
    lim = Limiter([Limit.tokens(1_000, per="day", key=("tenant",))], MemoryStore(clock=clock))
    fake_provider.script(Reply(text="a", usage=(40, 10)), Reply(text="b", usage=(30, 20)))
    with client_for(fake_provider, lim) as client, aiguard.context(tenant="acme"):
        client.chat(HI, model="cloud-llm", max_tokens=100)
        client.chat(HI, model="cloud-llm", max_tokens=100)
    (u,) = lim.usage(aiguard.CallContext(tenant="acme"))
    assert (u.used, u.reserved, u.remaining) == (100, 0, 900)


def test_budget_refusal_names_the_limit(fake_provider: FakeProvider, clock: FakeClock) -> None:
    lim = Limiter([Limit.tokens(500, per="day")], MemoryStore(clock=clock))
    with (
        client_for(fake_provider, lim) as client,
        pytest.raises(BudgetExceeded, match="tokens_per_day"),
    ):
        client.chat(HI, model="cloud-llm", max_tokens=600)
    assert fake_provider.requests == []


def test_failed_call_releases_its_tokens(fake_provider: FakeProvider, clock: FakeClock) -> None:
    lim = Limiter([Limit.tokens(1_000, per="day")], MemoryStore(clock=clock))
    fake_provider.fault(Fault.status_code(400))
    with (
        client_for(fake_provider, lim) as client,
        pytest.raises(aiguard.errors.BadRequestError),
    ):
        client.chat(HI, model="cloud-llm", max_tokens=100)
    (u,) = lim.usage()
    assert (u.used, u.reserved) == (0, 0)


def test_wait_mode_sleeps_through_the_injected_sleep(
    fake_provider: FakeProvider, clock: FakeClock
) -> None:
    lim = Limiter([Limit.requests(1, mode="wait", max_wait=120)], MemoryStore(clock=clock))
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock.advance(s)

    with aiguard.Client(
        endpoints(fake_provider), stages={"limiter": LimitStage(lim)}, sleep=sleep
    ) as client:
        client.chat(HI, model="cloud-llm")
        client.chat(HI, model="cloud-llm")
    assert slept == [pytest.approx(60.0)]
    assert len(fake_provider.requests) == 2


async def test_async_client_with_sqlite_store(
    fake_provider: FakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    lim = Limiter(
        [Limit.requests(3), Limit.tokens(10_000, per="day")],
        SQLiteStore(tmp_path / "l.db", clock=clock),
    )
    fake_provider.script(*(Reply(text="x", usage=(10, 5)) for _ in range(3)))

    async def no_backoff(seconds: float) -> None:
        return None

    async with aiguard.AsyncClient(
        endpoints(fake_provider), stages={"limiter": LimitStage(lim)}, sleep=no_backoff
    ) as client:
        for _ in range(3):
            await client.chat(HI, model="cloud-llm")
        with pytest.raises(RateLimited):
            await client.chat(HI, model="cloud-llm")
    _, tokens = await lim.ausage()
    assert (tokens.used, tokens.reserved) == (45, 0)
    lim.close()


def test_stream_settles_on_completion(fake_provider: FakeProvider, clock: FakeClock) -> None:
    lim = Limiter([Limit.tokens(1_000, per="day")], MemoryStore(clock=clock))
    fake_provider.script(Reply(text="hello there", usage=(12, 3)))
    with (
        client_for(fake_provider, lim) as client,
        client.stream(HI, model="cloud-llm", max_tokens=50) as stream,
    ):
        assert "".join(e.text for e in stream) == "hello there"
    (u,) = lim.usage()
    assert (u.used, u.reserved) == (15, 0)


def test_interrupted_stream_settles_what_it_used(
    fake_provider: FakeProvider, clock: FakeClock
) -> None:
    lim = Limiter([Limit.tokens(10_000, per="day")], MemoryStore(clock=clock))
    fake_provider.script(Reply(text="one two three four five six seven", chunk_size=4))
    fake_provider.fault(Fault.cut_stream(after=3))
    got = []
    with (
        client_for(fake_provider, lim) as client,
        pytest.raises(aiguard.errors.StreamInterrupted),
        client.stream(HI, model="cloud-llm", max_tokens=500) as stream,
    ):
        for event in stream:
            got.append(event.text)
    (u,) = lim.usage()
    assert u.reserved == 0
    assert u.used >= 8  # at least the prompt it sent; never the whole 508-token reservation
    assert u.used < 508


def test_16_threads_on_the_sync_client_send_exactly_100(
    fake_provider: FakeProvider, clock: FakeClock
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    lim = Limiter([Limit.requests(100)], MemoryStore(clock=clock))
    refused = 0
    lock = threading.Lock()
    with client_for(fake_provider, lim) as client:

        def worker() -> None:
            nonlocal refused
            for _ in range(15):
                try:
                    client.chat(HI, model="cloud-llm")
                except RateLimited:
                    with lock:
                        refused += 1

        with ThreadPoolExecutor(16) as ex:
            for f in [ex.submit(worker) for _ in range(16)]:
                f.result()
    assert len(fake_provider.requests) == 100
    assert refused == 16 * 15 - 100


async def test_1000_concurrent_async_calls_send_exactly_100(
    fake_provider: FakeProvider, clock: FakeClock
) -> None:
    import asyncio

    lim = Limiter([Limit.requests(100)], MemoryStore(clock=clock))

    async def no_backoff(seconds: float) -> None:
        return None

    async with aiguard.AsyncClient(
        endpoints(fake_provider), stages={"limiter": LimitStage(lim)}, sleep=no_backoff
    ) as client:

        async def one() -> bool:
            try:
                await client.chat(HI, model="cloud-llm")
                return True
            except RateLimited:
                return False

        results = await asyncio.gather(*(one() for _ in range(1000)))
    assert sum(results) == 100
    assert len(fake_provider.requests) == 100


async def test_async_client_waits_for_a_shared_redis_rate_slot(
    fake_provider: FakeProvider, clock: FakeClock, redis_url: str, redis_prefix: str
) -> None:
    from aiguard.limits import RedisStore

    lim = Limiter(
        [Limit.requests(2, mode="wait", max_wait=90)],
        RedisStore(url=redis_url, prefix=redis_prefix, clock=clock),
    )
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)
        clock.advance(s)

    async with aiguard.AsyncClient(
        endpoints(fake_provider), stages={"limiter": LimitStage(lim)}, sleep=sleep
    ) as client:
        for _ in range(4):
            await client.chat(HI, model="cloud-llm")
    assert slept == [pytest.approx(30.0), pytest.approx(30.0)]
    assert len(fake_provider.requests) == 4
    await lim.aclose()


class _RetryOnce:
    """Retry each endpoint once, at once; then fail over."""

    def next_wait(
        self, call: object, endpoint: object, attempt: int, error: object
    ) -> float | None:
        return 0.0 if attempt == 1 else None

    def fail_over(self, call: object, endpoint: object, error: object) -> bool:
        return True


class _Both:
    """A router that plans both endpoints, primary first."""

    def __init__(self, eps: dict[str, object]) -> None:
        self.eps = eps

    def route(self, call: object) -> list[object]:
        from aiguard._call import Endpoint

        return [Endpoint(n, p) for n, p in self.eps.items()]  # type: ignore[arg-type]


def test_retried_and_failed_over_call_is_settled_once(
    fake_provider: FakeProvider, clock: FakeClock
) -> None:
    eps = {
        "primary": OpenAICompatible(fake_provider.openai_url, "gpt-4o-mini", api_key="k"),
        "backup": OpenAICompatible(fake_provider.openai_url, "gpt-4o-mini", api_key="k"),
    }
    lim = Limiter(
        [Limit.requests(10), Limit.tokens(10_000, per="day"), Limit.concurrent(1)],
        MemoryStore(clock=clock),
    )
    fake_provider.fault(Fault.status_code(503, times=2))  # both primary attempts fail
    fake_provider.script(Reply(text="ok", usage=(20, 5)))
    with aiguard.Client(
        eps,  # type: ignore[arg-type]
        stages={"limiter": LimitStage(lim), "retry": _RetryOnce(), "router": _Both(eps)},
    ) as client:
        reply = client.chat(HI, model="primary", max_tokens=100)
    assert reply.endpoint == "backup"
    assert len(fake_provider.requests) == 3
    requests, tokens, inflight = lim.usage()
    assert requests.used == pytest.approx(1)  # one call, however many attempts
    assert (tokens.used, tokens.reserved) == (25, 0)
    assert inflight.used == 0


async def test_budget_holds_for_concurrent_async_calls_with_failures(
    fake_provider: FakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    import asyncio
    import random

    rng = random.Random(11)
    budget = 4_000
    lim = Limiter([Limit.tokens(budget, per="day")], SQLiteStore(tmp_path / "b.db", clock=clock))
    fake_provider.fault(Fault.status_code(500, times=6))  # the first six requests fail
    usages = [(rng.randint(1, 8), rng.randint(0, 50)) for _ in range(200)]
    fake_provider.script(*(Reply(text="x", usage=u) for u in usages))

    async def no_backoff(seconds: float) -> None:
        return None

    async with aiguard.AsyncClient(
        endpoints(fake_provider), stages={"limiter": LimitStage(lim)}, sleep=no_backoff
    ) as client:
        refused = 0

        async def one() -> None:
            nonlocal refused
            try:
                await client.chat(HI, model="cloud-llm", max_tokens=rng.randint(50, 300))
            except BudgetExceeded:
                refused += 1
            except aiguard.errors.ProviderError:  # 500s, then the breaker they open
                pass

        for _ in range(3):  # three waves of 100 concurrent calls
            await asyncio.gather(*(one() for _ in range(100)))
    (u,) = await lim.ausage()
    served = len(fake_provider.requests) - 6
    assert served > 0 and refused > 0  # the budget was the binding constraint
    assert u.reserved == 0
    assert u.used == sum(p + c for p, c in usages[:served])
    assert u.used <= budget
    lim.close()


def test_a_prompt_routing_has_counted_is_not_counted_again(clock: FakeClock) -> None:
    """Routing keeps the prompt tokens it counted (context-window checks) per provider model
    in ``call.notes``; admission reserves that count instead of counting the prompt again,
    and counts it itself, to the same figure, when routing did not."""
    from aiguard import CallContext, ChatRequest, Message
    from aiguard._call import Call, Endpoint
    from aiguard.tokens import count_request

    stage = LimitStage(Limiter([Limit.tokens(10**6)], MemoryStore(clock=clock)))
    ep = Endpoint("cloud-llm", OpenAICompatible("http://127.0.0.1:9/v1", "gpt-4o-mini"))
    req = ChatRequest(messages=(Message(role="user", content="Hi there"),), max_tokens=10)

    def demand(notes: dict[str, object]) -> tuple[int, int]:
        call = Call("chat", req, CallContext(), plan=[ep])
        call.notes.update(notes)
        assert stage.admit(call) is None
        d = call.notes["limits"].demand
        return d.prompt_tokens, d.tokens

    assert demand({PROMPT_TOKENS_NOTE: {"gpt-4o-mini": 5000}}) == (5000, 5010)
    exact = count_request(req, "gpt-4o-mini").tokens
    assert demand({}) == (exact, exact + 10)
    assert demand({PROMPT_TOKENS_NOTE: {"gpt-4o": 5000}}) == (exact, exact + 10)
