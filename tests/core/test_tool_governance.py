"""A model may only call the tools the policy allows: checked on answers and on streams."""

from __future__ import annotations

from typing import Any

import pytest

import aiguard
from aiguard import errors
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider, Reply

POLICY = {
    "apiVersion": "v1",
    "kind": "AIAPIGatewayPolicy",
    "metadata": {"name": "agent"},
    "spec": {
        "authentication": {
            "type": "oauth2",
            "scopes": ["ai.read"],
            "tools": {"allow": ["get_weather", "calculator"]},
        }
    },
}
TOOLS = [{"type": "function", "function": {"name": "get_weather"}}]
CTX = {"user": "agent-1", "scopes": {"ai.read"}}


async def test_a_forbidden_tool_call_never_reaches_the_caller(
    fake: FakeProvider, make_driver: Any
) -> None:
    d = make_driver({"llm": OpenAICompatible(fake.openai_url, "m")}, policy=POLICY)
    fake.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]))
    ok = await d.chat("weather?", tools=TOOLS, context=CTX)
    assert ok.tool_calls[0].function.name == "get_weather"

    fake.script(Reply(tool_calls=[("shell", {"cmd": "rm -rf /"})]))
    with pytest.raises(errors.ToolNotAllowedError) as e:
        await d.chat("weather?", tools=TOOLS, context=CTX)
    assert e.value.direction == "output"

    fake.script(Reply(text="Let me run that.", tool_calls=[("shell", {"cmd": "ls"})]))
    with pytest.raises(errors.ToolNotAllowedError):
        await d.stream("weather?", tools=TOOLS, context=CTX)


async def test_offering_a_forbidden_tool_is_refused_before_sending(
    fake: FakeProvider, make_driver: Any
) -> None:
    d = make_driver({"llm": OpenAICompatible(fake.openai_url, "m")}, policy=POLICY)
    shell = [{"type": "function", "function": {"name": "shell"}}]
    with pytest.raises(errors.ToolNotAllowedError):
        await d.chat("go", tools=shell, context=CTX)
    assert fake.requests == []
    assert aiguard.ToolCall  # the public type the answers carry
