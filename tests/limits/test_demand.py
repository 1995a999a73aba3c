"""``Demand`` sets its fields without the frozen dataclass's own ``__init__``: it must still
behave exactly like one."""

from __future__ import annotations

import dataclasses

import pytest

from aiguard.limits import Demand, Limit, Limiter


def test_demand_is_a_frozen_dataclass_with_the_same_fields_and_defaults() -> None:
    d = Demand(("k",), (1.0,), "m", 3, None)
    assert [(f.name, f.default) for f in dataclasses.fields(d)][-2:] == [
        ("waited", 0.0),
        ("prompt_tokens", 0),
    ]
    assert d == Demand(("k",), (1.0,), "m", 3, None, 0.0, 0)
    assert hash(d) == hash(Demand(keys=("k",), costs=(1.0,), model="m", tokens=3, dollars=None))
    assert repr(d) == (
        "Demand(keys=('k',), costs=(1.0,), model='m', tokens=3, dollars=None, waited=0.0, "
        "prompt_tokens=0)"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.tokens = 4  # type: ignore[misc]
    assert not hasattr(d, "__dict__")
    later = d.after_waiting(1.5).after_waiting(0.5)
    assert later.waited == 2.0 and dataclasses.replace(later, waited=0.0) == d


def test_items_offer_the_remaining_wait_only_to_limits_that_wait() -> None:
    lim = Limiter([Limit.requests(5, mode="wait", max_wait=3.0), Limit.tokens(100, per="minute")])
    d = lim.demand(tokens=10)
    assert [it.max_wait for it in lim._items(d)] == [3.0, 0.0]
    assert [it.max_wait for it in lim._items(d.after_waiting(1.0))] == [2.0, 0.0]
    assert [it.max_wait for it in lim._items(d.after_waiting(4.0))] == [0.0, 0.0]
    assert [(it.index, it.cost) for it in lim._items(d)] == [(0, 1.0), (1, 10.0)]
