"""An agent loop with a tool allow-list and a per-run token budget.

The model's tool calls are scripted in an offline FakeProvider. What it shows:

1. A normal run: the model calls ``calculator``, the app runs it, the model answers.
2. Offering a tool outside the allow-list is refused before anything is sent.
3. A model that calls a tool it was never allowed (``shell``) is stopped: the app checks
   every tool call against the same policy before running it.
4. A run that keeps looping is stopped by its own budget (``run_id`` keys the limit), while
   a fresh run starts with a full budget.

Policy: ``examples/policies/agent-loop.yaml``. Needs ``pip install 'aiguard[yaml]'``.
Run: ``python examples/agent_loop.py``
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiguard
from aiguard import errors
from aiguard.providers import OpenAI
from aiguard.testing import FakeProvider, Reply

POLICY = Path(__file__).parent / "policies" / "agent-loop.yaml"


def _tool(name: str, description: str, arg: str) -> dict[str, Any]:
    params = {"type": "object", "properties": {arg: {"type": "string"}}, "required": [arg]}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": params},
    }


TOOLS = [
    _tool("calculator", "Evaluate an arithmetic expression", "expression"),
    _tool("search_docs", "Search the product documentation", "query"),
]


def run_tool(name: str, arguments: str) -> str:
    """The application's tools (toy versions)."""
    args = json.loads(arguments or "{}")
    if name == "calculator":
        a, b = (int(x) for x in args["expression"].split("*"))
        return str(a * b)
    if name == "search_docs":
        return f"no results for {args['query']!r}"
    raise ValueError(f"unknown tool {name}")


def run_agent(client: aiguard.Client, run_id: str, task: str, max_steps: int = 8) -> str:
    """The loop: ask, run the tools the model calls, feed results back, until it answers."""
    messages: list[Any] = [{"role": "user", "content": task}]
    with aiguard.context(user="support-agent", scopes={"agent.run"}, run_id=run_id):
        policy = client.policy.resolve(aiguard.current_context())
        for step in range(1, max_steps + 1):
            try:
                reply = client.chat(messages, tools=TOOLS, max_tokens=200)
            except errors.BudgetExceeded as e:
                return f"stopped at step {step}: run budget spent ({e.limit})"
            except errors.ToolNotAllowedError as e:  # a tool call the pipeline itself refused
                return f"stopped at step {step}: {e}"
            if not reply.tool_calls:
                return f"answer after {step} step(s): {reply.text}"
            messages.append(reply.message)
            for call in reply.tool_calls:
                try:
                    policy.check_tool_calls([call.function.name])
                except errors.ToolNotAllowedError as e:
                    return f"stopped at step {step}: {e}"
                result = run_tool(call.function.name, call.function.arguments)
                print(
                    f"   step {step}: {call.function.name}({call.function.arguments}) -> {result}"
                )
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return "gave up: too many steps"


def main() -> None:
    with (
        FakeProvider() as fake,
        aiguard.Client(
            {"agent-llm": OpenAI("gpt-4o-mini", base_url=fake.openai_url, api_key="offline")},
            policy=POLICY,
        ) as client,
    ):
        print("1. a normal run")
        fake.script(
            Reply(tool_calls=[("calculator", {"expression": "6*7"})], usage=(120, 20)),
            Reply(text="6 times 7 is 42.", usage=(150, 10)),
        )
        print("  ", run_agent(client, "run-1", "What is 6 times 7?"))

        print("2. offering a tool outside the allow-list")
        shell = {"type": "function", "function": {"name": "shell", "parameters": {}}}
        before = len(fake.requests)
        try:
            with aiguard.context(user="support-agent", scopes={"agent.run"}, run_id="run-2"):
                client.chat("Clean up the disk", tools=[*TOOLS, shell])
        except errors.ToolNotAllowedError as e:
            print(f"   refused: {e} ({e.direction}); requests sent: {len(fake.requests) - before}")

        print("3. the model calls a tool it was never offered")
        fake.script(Reply(tool_calls=[("shell", {"cmd": "rm -rf /tmp/cache"})], usage=(100, 10)))
        print("  ", run_agent(client, "run-3", "Free some disk space"))

        print("4. a looping run is stopped by its own budget")
        fake.script(
            *[Reply(tool_calls=[("search_docs", {"query": "refund"})], usage=(400, 40))] * 8
        )
        print("  ", run_agent(client, "run-4", "Find the refund policy"))
        fake.reset()
        for u in client.usage({"run_id": "run-4"}):
            print(f"   run-4 {u.limit}: {u.used:,.0f} of {u.amount:,.0f} tokens used")
        fake.script(Reply(text="Refunds take 5 days.", usage=(50, 10)))
        print("   a new run starts afresh:", run_agent(client, "run-5", "Find the refund policy"))


if __name__ == "__main__":
    main()
