"""What ``guard`` can wrap, what it refuses, and what it keeps of the wrapped function."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from cachetools import TTLCache

import aiguard
from aiguard.decorators import Governor, guard
from aiguard.errors import ConfigError, ContentBlockedError, LimitExceeded, MissingScopeError

from ._support import GRANTED, REDACT, SEED


def test_signature_name_and_doc_are_kept() -> None:
    def ask(prompt: str, *, temperature: float = 0.2) -> str:
        """Ask the model."""
        return prompt

    guarded = guard(REDACT)(ask)
    assert inspect.signature(guarded) == inspect.signature(ask)
    assert guarded.__name__ == "ask"
    assert guarded.__doc__ == "Ask the model."
    assert guarded.__wrapped__ is ask  # type: ignore[attr-defined]


def test_kinds_are_kept() -> None:
    @guard(REDACT)
    async def a(prompt: str) -> str:
        return prompt

    @guard(REDACT)
    def g(prompt: str) -> Iterator[str]:
        yield prompt

    @guard(REDACT)
    async def ag(prompt: str) -> AsyncIterator[str]:
        yield prompt

    assert inspect.iscoroutinefunction(a)
    assert inspect.isgeneratorfunction(g)
    assert inspect.isasyncgenfunction(ag)


class Assistant:
    def __init__(self) -> None:
        self.name = "bot"

    @guard(REDACT)
    def method(self, prompt: str) -> str:
        return f"{self.name}: {prompt}"

    @classmethod
    @guard(REDACT)
    def under_classmethod(cls, prompt: str) -> str:
        return f"{cls.__name__}: {prompt}"

    @guard(REDACT)
    @classmethod
    def over_classmethod(cls, prompt: str) -> str:
        return f"{cls.__name__}: {prompt}"

    @guard(REDACT)
    @staticmethod
    def static(prompt: str) -> str:
        return prompt


def test_methods_and_classmethods_are_guarded() -> None:
    bot = Assistant()
    assert bot.method("a@example.com") == "bot: [EMAIL_1]"
    assert Assistant.under_classmethod("a@example.com") == "Assistant: [EMAIL_1]"
    assert Assistant.over_classmethod("b@example.com") == "Assistant: [EMAIL_1]"
    assert Assistant.static("c@example.com") == "[EMAIL_1]"
    with pytest.raises(ContentBlockedError):
        bot.method("give me investment advice please")


@pytest.mark.parametrize(
    "target",
    [Assistant, property(lambda self: 1), 42, "prompt"],
    ids=["class", "property", "int", "str"],
)
def test_what_cannot_be_guarded_is_a_config_error(target: Any) -> None:
    with pytest.raises(ConfigError, match="guard"):
        guard(REDACT)(target)


def test_inputs_must_name_parameters() -> None:
    def f(question: str) -> str:
        return question

    with pytest.raises(ConfigError, match="default prompt parameters"):
        guard(REDACT)(f)
    with pytest.raises(ConfigError, match="no parameter"):
        guard(REDACT, inputs=("prompt",))(f)
    with pytest.raises(ConfigError, match="tuple of names"):
        guard(REDACT, inputs="question")
    assert guard(REDACT, inputs=("question",))(f)("x@example.com") == "[EMAIL_1]"
    assert guard(REDACT, inputs=())(f)("plain") == "plain"


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        guard(REDACT, retries=-1)
    with pytest.raises(ConfigError):
        guard(REDACT, memoize="yes")
    with pytest.raises(ConfigError):
        guard(policy=REDACT, client=object())
    with pytest.raises(ConfigError, match="generator"):

        @guard(REDACT, memoize=True)
        def g(prompt: str) -> Iterator[str]:
            yield prompt


def test_bare_decorator_and_no_policy() -> None:
    @guard
    def plain(prompt: str) -> str:
        return prompt.upper()

    assert plain("hi") == "HI"


def test_scopes_and_context_defaults() -> None:
    @guard(SEED, scopes={"reports.read"}, context={"tenant": "acme"})
    def report(prompt: str) -> str:
        return aiguard.current_context().tenant or ""

    with pytest.raises(MissingScopeError, match=r"reports\.read"), aiguard.context(**GRANTED):
        report("hi")
    with aiguard.context(user="u", scopes={"ai.read", "ai.write", "reports.read"}):
        assert report("hi") == ""  # the defaults govern the call, not the ambient context


def test_message_lists_keep_their_shape() -> None:
    seen: list[Any] = []

    @guard(REDACT)
    def chat(messages: list[Any]) -> str:
        seen.append(messages)
        return "ok"

    msgs: list[Any] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "jane@example.com"}]},
        aiguard.Message(role="user", content="again jane@example.com"),
    ]
    chat(msgs)
    sent = seen[-1]
    assert sent[0] is msgs[0]
    assert sent[1]["content"][0]["text"] == "[EMAIL_1]"
    assert sent[2].content == "again [EMAIL_1]"  # same value, same placeholder


def test_memoize_keys_on_arguments_and_context() -> None:
    calls: list[str] = []
    cache: TTLCache[Any, Any] = TTLCache(maxsize=8, ttl=60)

    @guard(REDACT, memoize=cache)
    def ask(prompt: str) -> str:
        calls.append(prompt)
        return f"answer {len(calls)}"

    assert ask("q") == "answer 1"
    assert ask("q") == "answer 1"
    assert ask("other") == "answer 2"
    with aiguard.context(tenant="other-tenant"):
        assert ask("q") == "answer 3"  # never shared across callers
    with pytest.raises(ContentBlockedError):
        ask("investment advice please")  # a hit never skips inspection
    assert calls == ["q", "other", "q"]


def test_memoize_ttl_uses_the_injected_clock() -> None:
    now = [0.0]
    calls: list[int] = []

    @guard(REDACT, memoize=10.0, clock=lambda: now[0])
    def ask(prompt: str) -> int:
        calls.append(1)
        return len(calls)

    assert ask("q") == 1
    now[0] = 5.0
    assert ask("q") == 1
    now[0] = 20.0
    assert ask("q") == 2


def test_rate_limit_refuses_before_the_function_runs() -> None:
    policy = {"spec": {"rateLimit": {"requestsPerMinute": 1}}}
    ran: list[str] = []

    @guard(policy)
    def ask(prompt: str) -> str:
        ran.append(prompt)
        return prompt

    assert ask("a") == "a"
    with pytest.raises(LimitExceeded) as refused:
        ask("b")
    assert refused.value.retry_after is not None
    assert ran == ["a"]


def test_a_governor_shares_limits_between_functions_and_sdk_clients(fake: Any) -> None:
    import openai

    from ._support import api_key

    governor = Governor({"spec": {"rateLimit": {"requestsPerMinute": 2}}})

    @governor.guard
    def first(prompt: str) -> str:
        return prompt

    @governor.guard(inputs=("question",))
    def second(question: str) -> str:
        return question

    sdk = openai.OpenAI(
        base_url=fake.openai_url,
        api_key=api_key(),
        max_retries=0,
        http_client=governor.http_client(),
    )
    first("a")
    second("b")
    with pytest.raises(LimitExceeded):
        sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "c"}])
    assert fake.requests == []
    governor.close()


def test_a_client_lends_its_stages(fake: Any) -> None:
    from aiguard.providers import OpenAICompatible

    client = aiguard.Client(
        {"cloud-llm": OpenAICompatible(base_url=fake.openai_url, model="m")},
        policy={"spec": {"rateLimit": {"requestsPerMinute": 1}}},
    )

    @guard(client)
    def ask(prompt: str) -> str:
        return prompt

    ask("one")  # the client's counter now holds this call
    with pytest.raises(LimitExceeded):
        client.chat("two", model="cloud-llm")
    client.close()


def test_prompts_passed_through_kwargs_are_inspected() -> None:
    @guard(REDACT)
    def ask(**kwargs: Any) -> str:
        return str(kwargs["prompt"])

    assert ask(prompt="x@example.com") == "[EMAIL_1]"
