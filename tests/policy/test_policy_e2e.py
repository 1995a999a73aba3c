"""The seed policy governing a real client against FakeProvider (a loopback HTTP server):
the request log proves a refused call never left the process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import aiguard
from aiguard.errors import MissingScopeError, ToolNotAllowedError
from aiguard.policy import Policy
from aiguard.policy.stage import PolicyAuthorizer
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider, Reply

TOOL = {"type": "function", "function": {"name": "shell", "parameters": {"type": "object"}}}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeProvider) -> None:
    fake.reset()


def endpoints(fake: FakeProvider) -> dict[str, OpenAICompatible]:
    return {
        name: OpenAICompatible(base_url=fake.openai_url, model="m")
        for name in ("on-prem-llm", "cloud-llm")
    }


def stages(policy: Policy) -> dict[str, PolicyAuthorizer]:
    return {"authorizer": PolicyAuthorizer(policy)}


def test_sync_client_refuses_then_allows(fake: FakeProvider, seed: Policy) -> None:
    fake.script(Reply(text="hello"))
    with aiguard.Client(endpoints(fake), stages=stages(seed)) as client:
        with pytest.raises(MissingScopeError), aiguard.context(user="u", scopes={"ai.read"}):
            client.chat("hi", model="on-prem-llm")
        with pytest.raises(MissingScopeError), client.stream("hi", model="on-prem-llm") as s:
            list(s)
        assert fake.requests == []
        with aiguard.context(user="u", region="EU", scopes={"ai.read", "ai.write"}):
            reply = client.chat("hi", model="on-prem-llm")
    assert reply.text == "hello"
    assert len(fake.requests) == 1


async def test_async_client_refuses_then_allows(fake: FakeProvider, seed: Policy) -> None:
    fake.script(Reply(text="hello"))
    async with aiguard.AsyncClient(endpoints(fake), stages=stages(seed)) as client:
        with pytest.raises(MissingScopeError):
            await client.chat("hi", model="cloud-llm", context={"scopes": {"ai.write"}})
        assert fake.requests == []
        reply = await client.chat(
            "hi", model="cloud-llm", context={"scopes": {"ai.read", "ai.write"}}
        )
    assert reply.text == "hello"
    assert len(fake.requests) == 1


def test_denied_tool_never_reaches_the_provider(fake: FakeProvider) -> None:
    policy = Policy.from_dict({"spec": {"authentication": {"tools": {"deny": ["shell"]}}}})
    client = aiguard.Client(endpoints(fake), stages=stages(policy))
    with client, pytest.raises(ToolNotAllowedError):
        client.chat("hi", model="cloud-llm", tools=[TOOL])
    assert fake.requests == []
