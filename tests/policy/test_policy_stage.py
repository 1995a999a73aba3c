"""The authorize stage end to end: through aiguard.Client and AsyncClient, a refused call
never reaches the transport, an allowed one does."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import aiguard
from aiguard import CallContext, ChatRequest, ChatResponse, Message
from aiguard._call import Call
from aiguard.errors import MissingScopeError, ToolNotAllowedError
from aiguard.policy import EffectivePolicy, Policy
from aiguard.policy.stage import PolicyAuthorizer, effective_policy
from aiguard.providers import OpenAI

KEY = "sk-test-" + "ab" * 16  # built at run time, never a real credential

COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}

TOOL = {"type": "function", "function": {"name": "shell", "parameters": {"type": "object"}}}


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=COMPLETION)


def run(kind: str, policy: Policy, recorder: Recorder, **kw: Any) -> Any:
    endpoints = {"cloud-llm": OpenAI(model="gpt-4o-mini", api_key=KEY)}
    stages = {"authorizer": PolicyAuthorizer(policy)}
    if kind == "sync":
        http = httpx.Client(transport=httpx.MockTransport(recorder))
        with aiguard.Client(endpoints, http_client=http, stages=stages) as client:
            return client.chat("hi", model="cloud-llm", **kw)

    async def go() -> Any:
        http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        async with aiguard.AsyncClient(endpoints, http_client=http, stages=stages) as client:
            return await client.chat("hi", model="cloud-llm", **kw)

    import asyncio

    return asyncio.run(go())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_missing_scope_refused_before_anything_is_sent(kind: str, seed: Policy) -> None:
    rec = Recorder()
    with pytest.raises(MissingScopeError, match=r"ai\.write"):
        run(kind, seed, rec, context={"user": "u", "scopes": {"ai.read"}})
    assert rec.requests == []


def test_ambient_context_with_the_scopes_is_allowed(kind: str, seed: Policy) -> None:
    rec = Recorder()
    with aiguard.context(user="u", scopes={"ai.read", "ai.write"}):
        reply = run(kind, seed, rec)
    assert reply.text == "hello"
    assert len(rec.requests) == 1


def test_no_context_at_all_is_refused(kind: str, seed: Policy) -> None:
    rec = Recorder()
    with pytest.raises(MissingScopeError):
        run(kind, seed, rec)
    assert rec.requests == []


def test_denied_tool_is_never_offered(kind: str) -> None:
    policy = Policy.from_dict({"spec": {"authentication": {"tools": {"deny": ["shell"]}}}})
    rec = Recorder()
    with pytest.raises(ToolNotAllowedError, match="shell"):
        run(kind, policy, rec, tools=[TOOL])
    assert rec.requests == []
    run(kind, policy, rec)
    assert json.loads(rec.requests[0].content)["messages"][0]["content"] == "hi"


def test_stage_leaves_the_effective_policy_for_later_stages(seed: Policy) -> None:
    call = Call(
        operation="chat",
        request=ChatRequest(messages=(Message(role="user", content="x"),), model="m"),
        context=CallContext.build(scopes={"ai.read", "ai.write"}, region="EU"),
    )
    stage = PolicyAuthorizer(seed)
    stage.authorize(call)
    eff = effective_policy(call)
    assert isinstance(eff, EffectivePolicy)
    assert eff.policy_hash == seed.hash


def test_tool_calls_in_an_answer_are_checked() -> None:
    policy = Policy.from_dict({"spec": {"authentication": {"tools": {"allow": ["search"]}}}})
    call = Call(
        operation="chat",
        request=ChatRequest(messages=(Message(role="user", content="x"),)),
        context=CallContext(),
    )
    stage = PolicyAuthorizer(policy)
    stage.authorize(call)
    ok = ChatResponse.model_validate(
        {"text": "", "tool_calls": [{"id": "1", "function": {"name": "search"}}]}
    )
    stage.check_tool_calls(call, ok)
    bad = ChatResponse.model_validate(
        {"text": "", "tool_calls": [{"id": "1", "function": {"name": "delete_all"}}]}
    )
    with pytest.raises(ToolNotAllowedError) as info:
        stage.check_tool_calls(call, bad)
    assert info.value.direction == "output"


def test_routed_policy_sees_endpoint_overrides() -> None:
    from aiguard._call import Endpoint
    from aiguard.policy.stage import routed_policy

    policy = Policy.from_dict(
        {
            "spec": {
                "rateLimit": {"requestsPerMinute": 60},
                "overrides": [
                    {"match": {"endpoint": "slow"}, "spec": {"rateLimit": {"requestsPerMinute": 5}}}
                ],
            }
        }
    )
    call = Call(
        operation="chat",
        request=ChatRequest(messages=(Message(role="user", content="x"),)),
        context=CallContext(),
    )
    assert routed_policy(call) is None  # the stage has not run
    PolicyAuthorizer(policy).authorize(call)
    routed = routed_policy(call)
    assert routed is not None and routed.rate_limit.requests_per_minute == 60
    call.endpoint = Endpoint("slow", OpenAI(model="m", api_key=KEY))
    routed = routed_policy(call)
    assert routed is not None and routed.rate_limit.requests_per_minute == 5
