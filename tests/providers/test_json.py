"""The providers' JSON reader and writer agree with the ``json`` module.

They use pydantic-core for speed; these tests hold them to ``json``'s results: the same
value for every text ``json`` reads, an error for every text it refuses, and request bodies
that ``json`` reads back as what was written.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiguard.errors import InvalidRequestError
from aiguard.providers._json import dumps, loads

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _json_result(data: bytes) -> Any:
    try:
        return ("ok", json.loads(data))
    except (ValueError, RecursionError) as e:
        return ("error", type(e))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and str(a) == str(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40) | values.map(lambda v: json.dumps(v).encode()))
def test_loads_reads_what_json_reads(data: bytes) -> None:
    want = _json_result(data)
    if want[0] == "ok":
        assert _same(loads(data), want[1])
    else:
        with pytest.raises(ValueError):
            loads(data)


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":"\\ud800"}',  # a lone surrogate escape: valid JSON, refused by pydantic-core
        b"[" * 300 + b"]" * 300,  # deeper than pydantic-core goes
        b"\xef\xbb\xbf" + b'{"a": 1}',  # a byte-order mark: json reads it from bytes
        '{"a": 1}'.encode("utf-16"),
        b'{"a": NaN, "b": -Infinity}',
    ],
)
def test_loads_hands_what_pydantic_core_refuses_to_json(text: bytes) -> None:
    assert _same(loads(text), json.loads(text))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), values, max_size=6))
def test_dumps_writes_what_json_reads_back(body: dict[str, Any]) -> None:
    out = dumps(body)
    assert isinstance(out, bytes)
    assert _same(json.loads(out), json.loads(json.dumps(body)))


@pytest.mark.parametrize("bad", ["\ud800", object()])
def test_a_value_json_cannot_carry_is_a_typed_error(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="JSON cannot carry"):
        dumps({"messages": [{"content": bad}]})


def test_bodies_are_compact_utf8() -> None:
    assert (
        dumps({"a": [1, 2.5, None, True], "é": "ü"}) == '{"a":[1,2.5,null,true],"é":"ü"}'.encode()
    )
