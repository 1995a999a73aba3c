"""Retries of a guarded function on provider errors, the official SDKs' exceptions included,
with the sleep injected (no test waits on the wall clock)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import anthropic
import httpx2
import openai
import pytest

from aiguard import errors
from aiguard._guard._errors import as_provider_error
from aiguard.decorators import guard
from aiguard.testing import FakeProvider, Fault, Reply

from ._support import REDACT, Recorded, api_key


def sdk(fake: FakeProvider) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_url, api_key=api_key(), max_retries=0)


def test_a_429_from_the_sdk_is_retried(fake: FakeProvider, recorded: Recorded) -> None:
    client = sdk(fake)
    slept: list[float] = []
    fake.fault(Fault.status_code(429, retry_after=2))

    @guard(REDACT, retries=2, sleep=slept.append, telemetry=recorded.telemetry)
    def ask(prompt: str) -> str:
        r = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content or ""

    assert ask("hi") == "echo: hi"
    assert slept == [2.0]  # the provider's Retry-After, read from the SDK exception
    assert len(fake.requests) == 2
    assert recorded.records()[-1].attempts == 2


def test_backoff_without_retry_after_and_exhaustion(fake: FakeProvider) -> None:
    client = sdk(fake)
    slept: list[float] = []
    fake.fault(Fault.status_code(503, times=3))

    @guard(REDACT, retries=2, sleep=slept.append, rng=random.Random(7))
    def ask(prompt: str) -> str:
        r = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content or ""

    with pytest.raises(openai.InternalServerError):  # the caller's own exception type
        ask("hi")
    assert len(fake.requests) == 3
    assert len(slept) == 2 and all(s >= 0 for s in slept)


def test_client_errors_are_not_retried(fake: FakeProvider) -> None:
    client = sdk(fake)
    slept: list[float] = []
    fake.fault(Fault.status_code(400))

    @guard(REDACT, retries=3, sleep=slept.append)
    def ask(prompt: str) -> str:
        r = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content or ""

    with pytest.raises(openai.BadRequestError):
        ask("hi")
    assert slept == [] and len(fake.requests) == 1


def test_bugs_in_the_function_are_not_retried() -> None:
    calls: list[int] = []

    @guard(REDACT, retries=3, sleep=lambda s: None)
    def ask(prompt: str) -> str:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        ask("hi")
    assert calls == [1]


async def test_async_anthropic_overload_is_retried(fake: FakeProvider) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=fake.url,
        api_key=api_key(),
        max_retries=0,
        default_headers={"x-api-key": api_key()},
    )
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    fake.fault(Fault.status_code(529, retry_after=1))

    @guard(REDACT, retries=1, async_sleep=fake_sleep)
    async def ask(prompt: str) -> str:
        m = await client.messages.create(
            model="claude", max_tokens=50, messages=[{"role": "user", "content": prompt}]
        )
        return "".join(b.text for b in m.content if b.type == "text")

    assert await ask("hello") == "echo: hello"
    assert slept == [1.0]
    await client.close()


def test_a_generator_is_retried_only_before_its_first_chunk(fake: FakeProvider) -> None:
    client = sdk(fake)
    fake.fault(Fault.status_code(429, retry_after=0))
    fake.script(Reply(text="streamed answer", chunk_size=4))

    @guard(REDACT, retries=1, sleep=lambda s: None)
    def stream(prompt: str) -> Iterator[str]:
        events = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], stream=True
        )
        for ev in events:
            if ev.choices and ev.choices[0].delta.content:
                yield ev.choices[0].delta.content

    assert "".join(stream("hi")) == "streamed answer"
    assert len(fake.requests) == 2

    runs: list[int] = []

    @guard(REDACT, retries=3, sleep=lambda s: None, output=False)
    def broken(prompt: str) -> Iterator[str]:
        runs.append(1)
        yield "partial"
        raise openai.APIConnectionError(request=httpx2.Request("POST", "http://x"))

    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        seen.extend(broken("hi"))
    assert seen == ["partial"]
    assert runs == [1]  # the caller already had a chunk: not retried


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (openai.APIConnectionError(request=httpx2.Request("GET", "http://x")), errors.ConnectError),
        (openai.APITimeoutError(request=httpx2.Request("GET", "http://x")), errors.TimeoutError),
        (httpx2.ConnectError("refused"), errors.ConnectError),
        (ConnectionResetError(), errors.ConnectError),
        (ValueError("bug"), type(None)),
        (errors.ContentBlockedError("pii.email", "input"), type(None)),
    ],
)
def test_exceptions_are_classified_by_their_facts(
    error: BaseException, expected: type[object]
) -> None:
    found = as_provider_error(error)
    assert isinstance(found, expected)
    if found is not None:
        assert found.retryable
