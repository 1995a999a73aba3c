"""Keys: different requests never share one; equal requests always do; nothing secret in."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiguard import CallContext, ChatRequest, Endpoint, FunctionDef, Message, ResponseFormat, Tool
from aiguard._call import Call
from aiguard.cache import (
    KEY_SCHEMA_VERSION,
    ResponseCache,
    UncacheableRequest,
    cache_key,
    canonical_request,
    key_prefix,
)
from aiguard.providers import OpenAI, OpenAICompatible

json_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 0.5])
json_values = st.recursive(
    json_scalars | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=6,
)


schemas = st.dictionaries(st.sampled_from(["type", "items"]), json_values, max_size=2)
tools = st.builds(
    lambda name, params: Tool(function=FunctionDef(name=name, parameters=params)),
    st.sampled_from(["f", "g"]),
    st.none() | schemas,
)
formats = st.builds(ResponseFormat, type=st.just("json_object")) | st.builds(
    ResponseFormat, type=st.just("json_schema"), json_schema=schemas
)


@st.composite
def requests(draw: Any) -> ChatRequest:
    roles = st.sampled_from(["system", "user", "assistant"])
    content = st.text(max_size=4) | st.lists(
        st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=3)), min_size=1
    )
    messages = draw(
        st.lists(st.builds(lambda r, c: {"role": r, "content": c}, roles, content), min_size=1)
    )
    opt = st.none
    fields: dict[str, Any] = {
        "messages": tuple(Message.model_validate(m) for m in messages[:3]),
        "model": draw(opt() | st.sampled_from(["a", "b"])),
        "max_tokens": draw(opt() | st.integers(1, 3)),
        "temperature": draw(opt() | st.sampled_from([0.0, 0.5, 1.0])),
        "top_p": draw(opt() | st.sampled_from([0.5, 1.0])),
        "stop": draw(opt() | st.lists(st.text(max_size=2), max_size=2).map(tuple)),
        "seed": draw(opt() | st.integers(0, 2)),
        "tool_choice": draw(opt() | st.sampled_from(["auto", "none"]) | st.just({"type": "x"})),
        "parallel_tool_calls": draw(opt() | st.booleans()),
        "presence_penalty": draw(opt() | st.sampled_from([0.0, 0.5])),
        "frequency_penalty": draw(opt() | st.sampled_from([0.0, 0.5])),
        "user": draw(opt() | st.sampled_from(["u", "v"])),
        "extra": draw(opt() | st.dictionaries(st.sampled_from(["n", "x"]), json_values)),
        "tools": draw(opt() | st.lists(tools, min_size=1, max_size=2).map(tuple)),
        "response_format": draw(opt() | formats),
    }
    return ChatRequest(**fields)


@settings(max_examples=150, deadline=None)
@given(requests(), requests(), st.sampled_from(sorted(ChatRequest.model_fields)))
def test_changing_any_one_field_changes_the_encoding(
    a: ChatRequest, other: ChatRequest, field: str
) -> None:
    """``b`` is ``a`` with one field taken from another random request."""
    b = a.model_copy(update={field: getattr(other, field)})
    if canonical_request(a) == canonical_request(b):
        assert a == b, field


@settings(max_examples=60, deadline=None)
@given(requests())
def test_dict_order_does_not_matter(r: ChatRequest) -> None:
    def reverse(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: reverse(v[k]) for k in reversed(list(v))}
        if isinstance(v, list):
            return [reverse(x) for x in v]
        return v

    if r.extra is not None:
        mirrored = r.model_copy(update={"extra": reverse(r.extra)})
        assert canonical_request(mirrored) == canonical_request(r)


def test_one_and_one_point_zero_are_different_requests() -> None:
    msgs = (Message(role="user", content="x"),)
    one = ChatRequest(messages=msgs, extra={"n": 1})
    assert canonical_request(one) != canonical_request(one.model_copy(update={"extra": {"n": 1.0}}))
    assert canonical_request(one) != canonical_request(
        one.model_copy(update={"extra": {"n": True}})
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"x": b"bytes"},
        {"x": {1, 2}},
        {"x": math.nan},
        {"x": math.inf},
        {"x": {1: "int and", "str": "keys"}},
        {"x": ...},
    ],
)
def test_values_without_a_faithful_encoding_are_uncacheable(extra: Any) -> None:
    r = ChatRequest(messages=(Message(role="user", content="x"),), extra=extra)
    with pytest.raises(UncacheableRequest):
        canonical_request(r)


def test_a_text_json_cannot_carry_makes_the_request_uncacheable() -> None:
    """A lone surrogate is a valid Python string but has no JSON form: the request is not
    cached (the lookup must not fail the call)."""
    r = ChatRequest(messages=(Message(role="user", content="\ud800"),), temperature=0)
    with pytest.raises(UncacheableRequest):
        canonical_request(r)
    p = OpenAICompatible(base_url="http://a.example/v1", model="m")
    assert ResponseCache().key_for(_call(r, p)) is None


def test_free_form_values_are_keyed_as_they_are_sent() -> None:
    """``extra`` is sent as JSON; values that send the same bytes share a key."""
    msgs = (Message(role="user", content="x"),)
    a = ChatRequest(messages=msgs, extra={"x": {1: "v"}, "t": (1, 2)})
    b = ChatRequest(messages=msgs, extra={"t": [1, 2], "x": {"1": "v"}})
    assert canonical_request(a) == canonical_request(b)


def test_non_finite_typed_floats_are_uncacheable() -> None:
    r = ChatRequest(messages=(Message(role="user", content="x"),), presence_penalty=math.nan)
    with pytest.raises(UncacheableRequest):
        canonical_request(r)


def _call(request: ChatRequest, provider: Any, *, tenant: str | None = None, stream: bool = False):  # type: ignore[no-untyped-def]
    return Call(
        operation="chat",
        request=request,
        context=CallContext(tenant=tenant),
        stream=stream,
        plan=[Endpoint("ep", provider)],
    )


REQ = ChatRequest(messages=(Message(role="user", content="hi"),), model="ep", temperature=0)


def test_everything_that_changes_the_answer_changes_the_key() -> None:
    p = OpenAICompatible(base_url="http://a.example/v1", model="m")
    base = ResponseCache().key_for(_call(REQ, p, tenant="t"))
    assert base is not None
    others = [
        ResponseCache().key_for(_call(REQ, p, tenant="u")),
        ResponseCache().key_for(_call(REQ, p)),
        ResponseCache(share_across_tenants=True).key_for(_call(REQ, p, tenant="t")),
        ResponseCache(policy_hash="h").key_for(_call(REQ, p, tenant="t")),
        ResponseCache(key_schema_version=2).key_for(_call(REQ, p, tenant="t")),
        ResponseCache().key_for(
            _call(REQ, OpenAICompatible(base_url="http://b.example/v1", model="m"), tenant="t")
        ),
        ResponseCache().key_for(
            _call(REQ, OpenAICompatible(base_url="http://a.example/v1", model="n"), tenant="t")
        ),
        ResponseCache().key_for(
            _call(REQ, OpenAI(model="m", base_url="http://a.example/v1", api_key="k"), tenant="t")
        ),
    ]
    assert len({base, *others}) == len(others) + 1


def test_stream_and_credentials_do_not_change_the_key() -> None:
    a = OpenAICompatible(base_url="http://a.example/v1", model="m", api_key="sk-one")
    b = OpenAICompatible(
        base_url="http://a.example/v1", model="m", api_key="sk-two", headers={"x-k": "s"}
    )
    cache = ResponseCache()
    keys = {
        cache.key_for(_call(REQ, a)),
        cache.key_for(_call(REQ, a, stream=True)),
        cache.key_for(_call(REQ, b)),
    }
    assert len(keys) == 1 and None not in keys


def test_no_secret_reaches_the_key_material() -> None:
    p = OpenAICompatible(base_url="http://a.example/v1", model="m", api_key="sk-SECRET")
    prefix = key_prefix(p.describe(), tenant="t", share_across_tenants=False, policy_hash=None)
    assert b"SECRET" not in prefix
    assert b'"aiguard.cache":%d' % KEY_SCHEMA_VERSION in prefix
    assert len(cache_key(prefix, REQ)) == 64


def test_non_deterministic_requests_have_no_key_unless_opted_in() -> None:
    p = OpenAICompatible(base_url="http://a.example/v1", model="m")
    warm = REQ.model_copy(update={"temperature": 0.7})
    assert ResponseCache().key_for(_call(warm, p)) is None
    assert ResponseCache().key_for(_call(warm.model_copy(update={"seed": 1}), p)) is not None
    assert ResponseCache(deterministic_only=False).key_for(_call(warm, p)) is not None


def test_one_cache_keys_as_a_fresh_one_would_while_endpoints_change() -> None:
    """The key prefix is remembered per provider: that must never show. A provider whose
    describe() hands out one dict and edits it, and tenants of any kind, key exactly as a
    fresh cache (no memo) keys them."""

    class Edited(OpenAICompatible):
        facts: dict[str, Any]

        def describe(self) -> dict[str, Any]:
            return self.facts

    p = Edited(base_url="http://a.example/v1", model="m")
    p.facts = {"provider": "x", "model": "m", "base_url": "http://a.example/v1"}
    q = OpenAICompatible(base_url="http://a.example/v1", model="m")
    cache, seen = ResponseCache(), set()
    for model in ("m", "n", "m"):
        p.facts["model"] = model
        for provider in (p, q):
            for tenant in (None, "t", "u"):
                call = _call(REQ, provider, tenant=tenant)
                key = cache.key_for(call)
                assert key == ResponseCache().key_for(call) and key is not None
                seen.add(key)
    assert len(seen) == 3 * 3  # p as "m", p as "n", q; three tenant scopes each
