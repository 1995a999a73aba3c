"""The limits engine over the in-memory store: exact under concurrency, atomic, settled once."""

from __future__ import annotations

import asyncio
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from aiguard._context import CallContext
from aiguard._types import ChatRequest, Message, Usage
from aiguard.errors import BudgetExceeded, ConfigError, LimitStoreError, RateLimited
from aiguard.limits import Limit, Limiter, LimitStoreUnavailable, MemoryStore

from ._clock import FakeClock


def limiter(clock: FakeClock, *limits: Limit) -> Limiter:
    return Limiter(list(limits), MemoryStore(clock=clock))


async def test_1000_concurrent_async_admissions_against_100_per_minute_admit_exactly_100(
    clock: FakeClock,
) -> None:
    lim = limiter(clock, Limit.requests(100, per="minute"))
    d = lim.demand(CallContext())

    async def one() -> bool:
        await asyncio.sleep(0)
        try:
            await lim.aadmit(d)
            return True
        except RateLimited as e:
            assert e.limit == "requests_per_minute" and e.retry_after and e.retry_after > 0
            return False

    results = await asyncio.gather(*(one() for _ in range(1000)))
    assert sum(results) == 100


def test_16_threads_against_100_per_minute_admit_exactly_100(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.requests(100, per="minute"))
    d = lim.demand(CallContext())
    admitted = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        for _ in range(100):
            try:
                lim.admit(d)
                admitted.append(1)
            except RateLimited:
                pass

    with ThreadPoolExecutor(16) as ex:
        for f in [ex.submit(worker) for _ in range(16)]:
            f.result()
    assert len(admitted) == 100


def test_rate_refills_evenly_over_the_period(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.requests(60, per="minute"))
    d = lim.demand()
    for _ in range(60):
        lim.admit(d)
    with pytest.raises(RateLimited) as e:
        lim.admit(d)
    assert e.value.retry_after == pytest.approx(1.0)
    clock.advance(1.0)
    lim.admit(d)
    with pytest.raises(RateLimited):
        lim.admit(d)


async def test_token_budget_never_exceeded_with_random_usage_and_failures(
    clock: FakeClock,
) -> None:
    rng = random.Random(5)
    budget = 50_000
    lim = limiter(clock, Limit.tokens(budget, per="day", key=("tenant",)))
    ctx = CallContext(tenant="acme")
    settled_total = 0

    async def call() -> None:
        nonlocal settled_total
        estimate = rng.randint(50, 900)
        d = lim.demand(ctx, tokens=estimate)
        try:
            res = (await lim.aadmit(d)).reservation
        except BudgetExceeded:
            return
        assert res is not None
        await asyncio.sleep(0)
        if rng.random() < 0.2:  # the provider failed: nothing billed
            await lim.asettle(res, None)
            return
        used = rng.randint(0, estimate)
        await lim.asettle(res, Usage(input_tokens=used // 2, output_tokens=used - used // 2))
        settled_total += used

    await asyncio.gather(*(call() for _ in range(1000)))
    (u,) = lim.usage(ctx)
    assert u.reserved == 0
    assert u.used == settled_total
    assert u.used <= budget


def test_limits_compose_all_or_nothing(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.requests(100), Limit.tokens(1000, per="day"))
    lim.admit(lim.demand(tokens=900))
    with pytest.raises(BudgetExceeded) as e:
        lim.admit(lim.demand(tokens=200))
    assert e.value.limit == "tokens_per_day"
    assert e.value.retry_after == pytest.approx(12 * 3600)  # until 00:00 UTC
    requests, tokens = lim.usage()
    assert requests.used + requests.reserved == 1  # the refused call took no request
    assert tokens.reserved == 900


def test_settlement_replaces_the_estimate_exactly_once(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.tokens(1000, per="day"))
    res = lim.admit(lim.demand(tokens=800)).reservation
    assert res is not None
    lim.settle(res, Usage(input_tokens=100, output_tokens=50))
    lim.settle(res, Usage(input_tokens=100, output_tokens=50))  # retried settle: no-op
    lim.release(res)  # and so is a late release
    (u,) = lim.usage()
    assert (u.used, u.reserved, u.remaining) == (150, 0, 850)


def test_release_gives_the_request_back_but_a_failed_sent_call_keeps_it(
    clock: FakeClock,
) -> None:
    lim = limiter(clock, Limit.requests(2))
    a = lim.admit(lim.demand()).reservation
    b = lim.admit(lim.demand()).reservation
    assert a and b
    lim.release(a)  # refused later in the pipeline: nothing was sent
    lim.settle(b, None)  # sent, provider failed: the request counts
    (u,) = lim.usage()
    assert (u.used, u.reserved) == pytest.approx((1, 0))


def test_wait_mode_reserves_future_slots_in_arrival_order(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.requests(10, per="minute", mode="wait", max_wait=15))
    d = lim.demand()
    waits = [lim.admit(d).wait for _ in range(12)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([6.0, 12.0])
    with pytest.raises(RateLimited) as e:
        lim.admit(d)  # would need 18 s > max_wait
    assert e.value.retry_after == pytest.approx(18.0)


def test_wait_mode_on_budget_asks_again_and_bounds_total_wait(clock: FakeClock) -> None:
    clock.now = clock.now + 12 * 3600 - 5  # 5 s before midnight UTC
    lim = limiter(clock, Limit.tokens(100, per="day", mode="wait", max_wait=10))
    lim.admit(lim.demand(tokens=100))
    d = lim.demand(tokens=50)
    a = lim.admit(d)
    assert a.reservation is None and a.wait == pytest.approx(5.0)
    clock.advance(a.wait)
    again = lim.admit(d.after_waiting(a.wait))
    assert again.reservation is not None  # a new UTC day
    # Total wait is bounded: after waiting 10 s already, no more waiting is allowed.
    lim.admit(lim.demand(tokens=50))
    with pytest.raises(BudgetExceeded):
        lim.admit(lim.demand(tokens=50).after_waiting(10))


def test_utc_day_and_month_windows(clock: FakeClock) -> None:
    from datetime import datetime, timezone

    clock.now = datetime(2026, 1, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp()
    d = limiter(clock, Limit.tokens(10, per="day"), Limit.tokens(20, per="month", name="m"))
    d.admit(d.demand(tokens=10))
    with pytest.raises(BudgetExceeded) as e:
        d.admit(d.demand(tokens=1))
    assert e.value.retry_after == pytest.approx(1.0)
    clock.advance(1.0)  # 2026-02-01 00:00:00 UTC: both windows roll over
    day, month = d.usage()
    assert (day.used + day.reserved, month.used + month.reserved) == (0, 0)
    assert month.resets_at == datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()


def test_concurrency_limit_and_lease_expiry(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.concurrent(2, lease_seconds=60))
    a = lim.admit(lim.demand()).reservation
    lim.admit(lim.demand())  # this one's process "dies": never settled
    with pytest.raises(RateLimited, match="retry when a call ends") as e:
        lim.admit(lim.demand())
    assert e.value.retry_after is None  # no honest time hint for concurrency
    assert a is not None
    lim.settle(a, Usage())
    lim.admit(lim.demand())
    with pytest.raises(RateLimited):
        lim.admit(lim.demand())
    clock.advance(61)  # both outstanding leases expired
    lim.admit(lim.demand())
    (u,) = lim.usage()
    assert u.used == 1


def test_keys_separate_counters_per_tenant_and_user(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.requests(1, key=("tenant", "user")))
    lim.admit(lim.demand(CallContext(tenant="a", user="1")))
    lim.admit(lim.demand(CallContext(tenant="a", user="2")))
    lim.admit(lim.demand(CallContext(tenant="b", user="1")))
    lim.admit(lim.demand(CallContext(tenant="b")))  # no user: grouped under "-"
    with pytest.raises(RateLimited) as e:
        lim.admit(lim.demand(CallContext(tenant="a", user="1")))
    assert "tenant=a|user=1" in str(e.value)
    with pytest.raises(RateLimited):
        lim.admit(lim.demand(CallContext(tenant="b")))


def test_endpoint_model_run_and_tag_keys(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.requests(1, key=("endpoint", "model", "run", "tags.app")))
    ctx = CallContext(run_id="r1", tags={"app": "bot"})
    assert lim.demand(ctx, endpoint="e", model="m").keys == (
        "requests_per_minute|endpoint=e|model=m|run_id=r1|tags.app=bot",
    )


def test_remembered_keys_are_the_keys_each_limit_builds(clock: FakeClock) -> None:
    """Counter keys are remembered per distinct key values; what is remembered must be what
    ``Limit.storage_key`` builds, for every combination, asked in any order, twice."""
    limits = [
        Limit.requests(10, key=("tenant", "user"), name="a"),
        Limit.tokens(10**6, key=("tags.app",), name="b"),
        Limit.requests(10, key=("endpoint", "model", "run", "region"), name="c"),
        Limit.requests(10, name="d"),
    ]
    lim = limiter(clock, *limits)
    contexts = [
        CallContext(),
        CallContext(tenant="t", user="u"),
        CallContext(tenant="u", user="t"),
        CallContext(tenant="t|u"),
        CallContext(user="t", tags={"app": "x y"}),
        CallContext(tenant="t", run_id="r", region="EU", tags={"app": "x/y"}),
    ]
    for _ in range(2):
        for ctx in contexts:
            for ep, model in ((None, None), ("e", "m"), ("m", "e")):
                want = tuple(x.storage_key(ctx, ep, model) for x in limits)
                assert lim.demand(ctx, endpoint=ep, model=model).keys == want


def test_values_that_are_not_strings_keep_their_own_spelling(clock: FakeClock) -> None:
    """1, 1.0 and True are equal as dict keys but not as counter keys: "1", "1.0", "True"."""
    lim = limiter(clock, Limit.requests(10, key=("tenant", "tags.n")))
    odd = [1, 1.0, True, "1"]
    for _ in range(2):
        for v in odd:
            ctx = CallContext(tenant=v, tags={"n": v})  # type: ignore[arg-type,dict-item]
            (key,) = lim.demand(ctx).keys
            assert key == f"requests_per_minute|tenant={v}|tags.n={v}"


def test_estimate_is_prompt_plus_max_tokens(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.tokens(10_000))
    req = ChatRequest(messages=(Message(role="user", content="Hi"),), max_tokens=100)
    assert lim.demand(model="gpt-4o", request=req).tokens == 8 + 100
    no_max = ChatRequest(messages=req.messages)
    assert lim.demand(model="gpt-4o", request=no_max).tokens == 8 + 1024


def test_cost_budget_reserves_priced_estimate_and_settles_real_cost(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.cost(0.02, per="day"))
    req = ChatRequest(messages=(Message(role="user", content="Hi"),), max_tokens=1000)
    d = lim.demand(model="gpt-4o", request=req)
    assert d.costs[0] == pytest.approx((8 * 2.5 + 1000 * 10.0) / 1e6)
    res = lim.admit(d).reservation
    assert res is not None
    lim.settle(res, Usage(input_tokens=8, output_tokens=10), model="gpt-4o")
    (u,) = lim.usage()
    assert u.used == pytest.approx((8 * 2.5 + 10 * 10.0) / 1e6)
    assert u.reserved == 0


def test_cost_budget_refuses_models_without_a_price(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.cost(1.0))
    with pytest.raises(ConfigError, match="has no price"):
        lim.demand(model="my-private-model", tokens=10)


def test_a_call_larger_than_the_limit_is_refused_without_retry_after(clock: FakeClock) -> None:
    lim = limiter(clock, Limit.tokens(100, per="minute"))
    with pytest.raises(RateLimited, match="can never admit") as e:
        lim.admit(lim.demand(tokens=101))
    assert e.value.retry_after is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "requests", "amount": 0, "per": "minute"}, "amount must be > 0"),
        ({"metric": "requests", "amount": -5, "per": "minute"}, "amount must be > 0"),
        ({"metric": "cost", "amount": float("inf"), "per": "day"}, "finite"),
        ({"metric": "tokens", "amount": 1.5, "per": "day"}, "whole number"),
        ({"metric": "tokens", "amount": 10, "per": "week"}, "per must be one of"),
        ({"metric": "tokens", "amount": 10}, "per must be one of"),
        ({"metric": "concurrent", "amount": 2, "per": "minute"}, "take no period"),
        ({"metric": "bytes", "amount": 10, "per": "day"}, "metric must be"),
        ({"metric": "requests", "amount": 1, "per": "minute", "key": ("team",)}, "unknown key"),
        ({"metric": "requests", "amount": 1, "per": "minute", "key": ()}, "key is empty"),
        (
            {"metric": "requests", "amount": 1, "per": "minute", "key": ("global", "user")},
            "mixes 'global'",
        ),
        ({"metric": "requests", "amount": 1, "per": "minute", "mode": "queue"}, "mode must"),
        ({"metric": "requests", "amount": 1, "per": "minute", "max_wait": 0}, "max_wait"),
    ],
)
def test_bad_limits_are_config_errors_at_construction(
    kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        Limit(**kwargs)  # type: ignore[arg-type]


def test_duplicate_limit_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unique"):
        Limiter([Limit.requests(1), Limit.requests(2)])


class _DownStore(MemoryStore):
    def admit(self, items, lease_id):  # type: ignore[no-untyped-def]
        raise LimitStoreUnavailable("redis at 127.0.0.1:1 refused the connection")


def test_unreachable_store_fails_closed_by_default(clock: FakeClock) -> None:
    lim = Limiter([Limit.requests(1)], _DownStore(clock=clock))
    with pytest.raises(LimitStoreError, match="refused"):
        lim.admit(lim.demand())


def test_fail_open_admits_logs_and_counts(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    lim = Limiter([Limit.requests(1, fail_open=True)], _DownStore(clock=clock))
    a = lim.admit(lim.demand())
    assert a.reservation is not None and not a.reservation.enforced
    assert lim.stats.fail_open_admits == 1
    assert "fail-open" in caplog.text
    lim.settle(a.reservation, Usage())  # nothing to settle, no error


def test_memory_stays_bounded_by_recently_active_keys(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    lim = Limiter([Limit.requests(10, key=("run",))], store)
    for i in range(5000):  # one short agent run after another
        res = lim.admit(lim.demand(CallContext(run_id=f"run-{i}"))).reservation
        assert res is not None
        lim.settle(res, Usage())
        clock.advance(1.0)
    # Runs idle for longer than the minute it takes their counter to drain are dropped.
    assert len(store._states) <= 4096 + 60
    (u,) = lim.usage(CallContext(run_id="run-0"))
    assert u.used == 0 and u.remaining == 10
