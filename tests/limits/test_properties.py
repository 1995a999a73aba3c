"""Properties of budgets over any sequence of admits, settles, releases and clock moves."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiguard._types import Usage
from aiguard.errors import LimitExceeded
from aiguard.limits import Limit, Limiter, MemoryStore, Reservation

from ._clock import T0, FakeClock

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), st.integers(1, 400)),
        st.tuples(st.just("settle"), st.integers(0, 1000)),  # % estimate -> actual <= estimate
        st.tuples(st.just("release"), st.integers(0, 1000)),
        st.tuples(st.just("again"), st.integers(0, 1000)),  # a duplicate settle
        st.tuples(st.just("tick"), st.sampled_from([1, 30, 600])),
    ),
    max_size=80,
)


@settings(max_examples=75, deadline=None)
@given(OPS)
def test_budget_never_exceeded_and_accounts_exactly(ops: list[tuple[str, int]]) -> None:
    clock = FakeClock(T0 - 12 * 3600)  # 00:00 UTC: 80 ticks of 10 min stay within the day
    budget = 1_000
    lim = Limiter(
        [Limit.tokens(budget, per="day"), Limit.tokens(600, per="minute")],
        MemoryStore(clock=clock),
    )
    open_: list[tuple[Reservation, int]] = []
    done: list[Reservation] = []
    charged = 0
    for op, n in ops:
        if op == "admit":
            try:
                res = lim.admit(lim.demand(tokens=n)).reservation
            except LimitExceeded:
                continue
            assert res is not None
            open_.append((res, n))
        elif op in ("settle", "release") and open_:
            res, est = open_.pop(n % len(open_))
            if op == "settle":
                actual = n % (est + 1)
                lim.settle(res, Usage(input_tokens=actual))
                charged += actual
            else:
                lim.release(res)
            done.append(res)
        elif op == "again" and done:
            lim.settle(done[n % len(done)], Usage(input_tokens=999))  # must change nothing
        elif op == "tick":
            clock.advance(n)
        day, minute = lim.usage()
        assert day.used + day.reserved <= budget
        assert day.reserved >= 0 and minute.reserved >= 0
    for res, _ in open_:
        lim.release(res)
    day, minute = lim.usage()
    assert day.reserved == 0 and minute.reserved == 0
    assert day.used == charged
