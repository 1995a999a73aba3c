"""Routing decisions: rules, precedence, aliases, defaults, capabilities, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from aiguard._call import Call
from aiguard._context import CallContext
from aiguard._types import ChatRequest, EmbeddingRequest, coerce_messages
from aiguard.errors import NoRouteError, UnknownEndpointError
from aiguard.providers._base import Capabilities
from aiguard.routing import PolicyRouter, route_decision

from ._harness import endpoints


def call(
    model: str | None = None,
    *,
    stream: bool = False,
    messages: Any = "Hi",
    **ctx: Any,
) -> Call:
    request = ChatRequest(messages=coerce_messages(messages), model=model)
    return Call("chat", request, CallContext.build(**ctx), stream=stream)


def with_request(request: ChatRequest, **ctx: Any) -> Call:
    return Call("chat", request, CallContext.build(**ctx))


def names(router: PolicyRouter, c: Call) -> list[str]:
    return [e.name for e in router.route(c)]


SEED = {
    "rules": [
        {"match": {"region": "EU"}, "routeTo": "on-prem-llm"},
        {"match": {"region": "US"}, "routeTo": "cloud-llm"},
    ]
}
EPS = endpoints("on-prem-llm", "cloud-llm")


def test_seed_rules_route_by_region() -> None:
    r = PolicyRouter(EPS, SEED)
    assert names(r, call(region="EU")) == ["on-prem-llm"]
    assert names(r, call(region="US")) == ["cloud-llm"]


def test_no_rule_no_default_no_model_is_refused_clearly() -> None:
    r = PolicyRouter(EPS, SEED)
    with pytest.raises(NoRouteError) as info:
        r.route(call(region="APAC"))
    msg = str(info.value)
    assert "no endpointRouting rule matched (region='APAC')" in msg
    assert "no default route" in msg and "'cloud-llm'" in msg


def test_without_a_mandatory_rule_an_explicit_model_wins() -> None:
    r = PolicyRouter(EPS, SEED)
    c = call("cloud-llm", region="EU")
    assert names(r, c) == ["cloud-llm"]
    d = route_decision(c)
    assert d is not None and d.source == "model" and d.rule is None


def test_a_mandatory_rule_cannot_be_bypassed_by_model() -> None:
    rules = {"rules": [{"match": {"region": "EU"}, "routeTo": "on-prem-llm", "mandatory": True}]}
    r = PolicyRouter(EPS, rules)
    c = call("cloud-llm", region="EU")
    assert names(r, c) == ["on-prem-llm"]
    d = route_decision(c)
    assert d is not None and d.mandatory and d.model_overridden and d.rule == 0
    assert names(r, call("cloud-llm", region="US")) == ["cloud-llm"]


def test_a_mandatory_rule_lets_the_caller_pick_within_its_target() -> None:
    eps = endpoints("eu-1", "eu-2", "us-1")
    spec = {
        "rules": [{"match": {"region": "EU"}, "routeTo": "eu", "mandatory": True}],
        "groups": {"eu": {"members": ["eu-1", "eu-2"]}},
    }
    r = PolicyRouter(eps, spec)
    assert names(r, call("eu-2", region="EU")) == ["eu-2"]
    assert names(r, call("us-1", region="EU")) == ["eu-1", "eu-2"]


def test_a_rule_on_the_requested_model_decides_over_the_explicit_model() -> None:
    spec = {"rules": [{"match": {"model": "gpt-*"}, "routeTo": "cloud-llm"}]}
    r = PolicyRouter(endpoints("cloud-llm", "gpt-4o"), spec)
    assert names(r, call("gpt-4o")) == ["cloud-llm"]


@pytest.mark.parametrize(
    ("match", "ctx", "hit"),
    [
        ({"tenant": "acme-*"}, {"tenant": "acme-eu"}, True),
        ({"tenant": "acme-*"}, {"tenant": "globex"}, False),
        ({"region": ["EU", "UK"]}, {"region": "UK"}, True),
        ({"tags": {"app": "bot"}}, {"tags": {"app": "bot"}}, True),
        ({"tags": {"app": "bot"}}, {"tags": {"app": "web"}}, False),
        ({"dataClassification": "private"}, {"data_classification": "private"}, True),
        ({"route": "support.*"}, {"route": "support.chat"}, True),
        ({"user": "u-*", "region": "EU"}, {"user": "u-1", "region": "US"}, False),
        ({"tenant": "*"}, {}, False),
    ],
)
def test_rules_match_any_context_attribute(
    match: dict[str, Any], ctx: dict[str, Any], hit: bool
) -> None:
    spec = {"rules": [{"match": match, "routeTo": "on-prem-llm"}], "default": "cloud-llm"}
    r = PolicyRouter(EPS, spec)
    assert names(r, call(**ctx))[0] == ("on-prem-llm" if hit else "cloud-llm")


def test_first_matching_rule_wins_and_memo_keeps_answers_apart() -> None:
    spec = {
        "rules": [
            {"match": {"tenant": "acme"}, "routeTo": "on-prem-llm"},
            {"match": {"region": "EU"}, "routeTo": "cloud-llm"},
        ]
    }
    r = PolicyRouter(EPS, spec)
    for _ in range(2):  # the second round is served from the memo
        assert names(r, call(tenant="acme", region="EU")) == ["on-prem-llm"]
        assert names(r, call(tenant="other", region="EU")) == ["cloud-llm"]
        with pytest.raises(NoRouteError):
            r.route(call(tenant="other", region="US"))


def test_aliases_name_intent_not_vendors() -> None:
    spec = {
        "groups": {"chat-pool": {"members": ["on-prem-llm", "cloud-llm"]}},
        "aliases": {"chat-default": "chat-pool", "fast": "cloud-llm"},
    }
    r = PolicyRouter(EPS, spec)
    assert names(r, call("chat-default")) == ["on-prem-llm", "cloud-llm"]
    assert names(r, call("fast")) == ["cloud-llm"]
    d = route_decision(r_call := call("chat-default"))
    assert d is None
    r.route(r_call)
    d = route_decision(r_call)
    assert d is not None and d.group == "chat-pool" and d.strategy == "fallback"


def test_default_route_and_unknown_model() -> None:
    r = PolicyRouter(EPS, {"default": "cloud-llm"})
    c = call()
    assert names(r, c) == ["cloud-llm"]
    d = route_decision(c)
    assert d is not None and d.source == "default"
    with pytest.raises(UnknownEndpointError) as info:
        r.route(call("gtp-4o"))
    assert "'cloud-llm'" in str(info.value) and "'on-prem-llm'" in str(info.value)


def test_non_mandatory_rules_get_the_default_as_spares_mandatory_ones_do_not() -> None:
    spec: dict[str, Any] = {
        "rules": [{"match": {"region": "EU"}, "routeTo": "on-prem-llm"}],
        "default": "cloud-llm",
    }
    assert names(PolicyRouter(EPS, spec), call(region="EU")) == ["on-prem-llm", "cloud-llm"]
    spec["rules"][0]["mandatory"] = True
    assert names(PolicyRouter(EPS, spec), call(region="EU")) == ["on-prem-llm"]


# --------------------------------------------------------------------------- capabilities


def _caps_router(**caps: Capabilities) -> PolicyRouter:
    eps = endpoints("small", "big", caps=caps)
    return PolicyRouter(eps, {"groups": {"g": {"members": ["small", "big"]}}, "default": "g"})


def test_endpoints_without_a_needed_capability_are_skipped_with_the_reason() -> None:
    r = _caps_router(small=Capabilities(tools=False, images=False, json_schema=False))
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    c = with_request(ChatRequest(messages=coerce_messages("Hi"), tools=(tool,)))  # type: ignore[arg-type]
    assert names(r, c) == ["big"]
    d = route_decision(c)
    assert d is not None and d.skipped == (("small", "cannot serve tools"),)

    part = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    img = [{"role": "user", "content": [part]}]
    c = call(messages=img)
    assert names(r, c) == ["big"]
    assert route_decision(c).skipped[0][1] == "cannot serve image input"  # type: ignore[union-attr]

    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}
    c = with_request(ChatRequest(messages=coerce_messages("Hi"), response_format=fmt))  # type: ignore[arg-type]
    assert names(r, c) == ["big"]
    assert "JSON schema" in route_decision(c).skipped[0][1]  # type: ignore[union-attr]
    assert names(r, call()) == ["small", "big"]


def test_streaming_and_embeddings_capabilities() -> None:
    r = _caps_router(small=Capabilities(streaming=False, embeddings=True))
    assert names(r, call(stream=True)) == ["big"]
    c = Call("embeddings", EmbeddingRequest(inputs=("a",)), CallContext())
    assert names(r, c) == ["small", "big"]
    r2 = _caps_router(small=Capabilities(embeddings=False))
    c = Call("embeddings", EmbeddingRequest(inputs=("a",)), CallContext())
    assert names(r2, c) == ["big"]


def test_context_window_smaller_than_the_prompt_is_skipped() -> None:
    r = _caps_router(small=Capabilities(context_window=100))
    assert names(r, call(messages="short")) == ["small", "big"]
    c = call(messages="word " * 500)
    assert names(r, c) == ["big"]
    reason = route_decision(c).skipped[0][1]  # type: ignore[union-attr]
    assert reason.startswith("context window 100 < estimated prompt ")


def test_nothing_can_serve_is_a_no_route_error_listing_why() -> None:
    r = _caps_router(small=Capabilities(tools=False), big=Capabilities(tools=False))
    tool = {"type": "function", "function": {"name": "f"}}
    with pytest.raises(NoRouteError) as info:
        r.route(with_request(ChatRequest(messages=coerce_messages("Hi"), tools=(tool,))))  # type: ignore[arg-type]
    assert "small: cannot serve tools; big: cannot serve tools" in str(info.value)


def test_mandatory_target_that_cannot_serve_is_refused_not_rerouted() -> None:
    eps = endpoints("on-prem-llm", "cloud-llm", caps={"on-prem-llm": Capabilities(tools=False)})
    spec = {
        "rules": [{"match": {"region": "EU"}, "routeTo": "on-prem-llm", "mandatory": True}],
        "default": "cloud-llm",
    }
    tool = {"type": "function", "function": {"name": "f"}}
    c = with_request(ChatRequest(messages=coerce_messages("Hi"), tools=(tool,)), region="EU")  # type: ignore[arg-type]
    with pytest.raises(NoRouteError):
        PolicyRouter(eps, spec).route(c)


def test_rule_decisions_repeat_exactly_from_the_memo() -> None:
    spec = {
        "rules": [
            {"name": "eu", "match": {"region": "EU"}, "routeTo": "on-prem-llm"},
            {"name": "acme", "match": {"tenant": "acme"}, "routeTo": "on-prem-llm"},
            {"match": {"region": "US"}, "routeTo": "cloud-llm", "mandatory": True},
            {"name": "apac", "match": {"region": "APAC"}, "routeTo": "cloud-llm"},
        ],
        "default": "cloud-llm",
    }
    r = PolicyRouter(EPS, spec)
    seen = []
    for _ in range(2):  # the second round is served from the memo
        for ctx in ({"region": "EU"}, {"tenant": "acme"}, {"region": "US"}, {"region": "APAC"}):
            c = call(**ctx)
            plan = names(r, c)
            d = route_decision(c)
            assert d is not None
            seen.append((plan, d.source, d.rule, d.rule_name, d.mandatory, d.plan))
    assert seen[:4] == seen[4:]
    assert seen[:4] == [
        (["on-prem-llm", "cloud-llm"], "rule", 0, "eu", False, ("on-prem-llm", "cloud-llm")),
        (["on-prem-llm", "cloud-llm"], "rule", 1, "acme", False, ("on-prem-llm", "cloud-llm")),
        (["cloud-llm"], "rule", 2, None, True, ("cloud-llm",)),
        (["cloud-llm"], "rule", 3, "apac", False, ("cloud-llm",)),  # its spares: itself
    ]
    # Each call gets its own plan list: changing one does not change the next.
    names(r, call(region="US")).clear()
    assert names(r, call(region="US")) == ["cloud-llm"]
