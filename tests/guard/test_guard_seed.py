"""A function that calls the official OpenAI SDK, decorated with ``@aiguard.guard``, governed
end to end by the seed policy against FakeProvider: ``fake.requests`` is what left."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

import aiguard
from aiguard.decorators import guard
from aiguard.errors import ContentBlockedError, MissingScopeError
from aiguard.testing import FakeProvider, Reply

from ._support import GRANTED, REDACT, SEED, Recorded, api_key


def sdk(fake: FakeProvider) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_url, api_key=api_key(), max_retries=0)


def test_seed_policy_governs_a_decorated_sdk_function(
    fake: FakeProvider, recorded: Recorded
) -> None:
    client = sdk(fake)

    @guard(policy=SEED, telemetry=recorded.telemetry)
    def answer(prompt: str) -> str:
        r = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content or ""

    with pytest.raises(MissingScopeError):
        answer("hello")
    with aiguard.context(**GRANTED):
        with pytest.raises(ContentBlockedError) as blocked:
            answer("my card is 4111 1111 1111 1111")
        assert blocked.value.category.startswith("pii")
        with pytest.raises(ContentBlockedError):
            answer("give me investment advice on which stocks to buy")
        assert fake.requests == []  # nothing refused ever left the process
        assert answer("hello") == "echo: hello"
    assert len(fake.requests) == 1
    records = recorded.records()
    assert [r.outcome for r in records][-1] == "ok"
    assert len(records) == 4  # one audit record per guarded call, refusals included
    assert len(recorded.spans()) == 4
    assert records[-1].principal == "u-1"


def test_usage_the_result_exposes_is_recorded(fake: FakeProvider, recorded: Recorded) -> None:
    client = sdk(fake)

    @guard(REDACT, telemetry=recorded.telemetry)
    def complete(prompt: str) -> object:
        return client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )

    fake.script(Reply(text="ok", usage=(7, 3)))
    complete("hello")
    record = recorded.records()[-1]
    assert (record.input_tokens, record.output_tokens) == (7, 3)


async def test_seed_policy_governs_an_async_function(
    fake: FakeProvider, recorded: Recorded
) -> None:
    client = openai.AsyncOpenAI(base_url=fake.openai_url, api_key=api_key(), max_retries=0)

    @guard(SEED, telemetry=recorded.telemetry)
    async def answer(prompt: str) -> str:
        r = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content or ""

    with pytest.raises(MissingScopeError):
        await answer("hello")
    with aiguard.context(**GRANTED):
        with pytest.raises(ContentBlockedError):
            await answer("write to jane@example.com")
        assert fake.requests == []
        assert await answer("hi") == "echo: hi"
    assert len(fake.requests) == 1
    await client.close()


def test_redacted_argument_arrives_redacted(fake: FakeProvider, recorded: Recorded) -> None:
    client = sdk(fake)

    @guard(REDACT, telemetry=recorded.telemetry, inputs=("messages",))
    def chat(messages: list[dict[str, str]], *, model: str = "m") -> str:
        r = client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
        return r.choices[0].message.content or ""

    original = [{"role": "user", "content": "mail jane@example.com about it"}]
    reply = chat(original)
    assert fake.requests[-1].json["messages"][0]["content"] == "mail [EMAIL_1] about it"
    assert original[0]["content"] == "mail jane@example.com about it"  # caller's list untouched
    assert "jane@example.com" not in reply
    findings = recorded.records()[-1].violations
    assert [v.category for v in findings] == ["pii.email"]


def test_generator_output_is_inspected_per_chunk(fake: FakeProvider) -> None:
    """A stream whose e-mail address is split across chunks is still redacted: the stream
    inspector holds back a bounded tail until it can decide."""
    client = sdk(fake)
    fake.script(Reply(text="write to jane@example.com today", chunk_size=3))

    @guard(REDACT)
    def stream(prompt: str) -> Iterator[str]:
        events = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], stream=True
        )
        for ev in events:
            if ev.choices and ev.choices[0].delta.content:
                yield ev.choices[0].delta.content

    chunks = list(stream("hi"))
    assert "".join(chunks) == "write to [EMAIL_1] today"
    assert all("@" not in c for c in chunks)


def test_generator_blocked_mid_stream(fake: FakeProvider) -> None:
    fake.script(Reply(text="fine so far. Now investment advice: buy stocks", chunk_size=5))
    client = sdk(fake)

    @guard(REDACT)
    def stream(prompt: str) -> Iterator[str]:
        events = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], stream=True
        )
        for ev in events:
            if ev.choices and ev.choices[0].delta.content:
                yield ev.choices[0].delta.content

    seen: list[str] = []
    with pytest.raises(ContentBlockedError) as blocked:
        seen.extend(stream("hi"))
    assert blocked.value.direction == "output"
    assert "investment" not in "".join(seen)


async def test_async_generator_output_is_inspected(fake: FakeProvider) -> None:
    @guard(REDACT)
    async def stream(prompt: str) -> AsyncIterator[str]:
        for piece in ("call +1 415 5", "55 2671 now", " please"):
            yield piece

    out = [c async for c in stream("hi")]
    assert "".join(out) == "call [PHONE_1] now please"


def test_sdk_chunk_objects_are_rewritten(fake: FakeProvider) -> None:
    """Yielding the SDK's own chunk objects works too: their delta text is rewritten."""
    fake.script(Reply(text="reach me at jane@example.com", chunk_size=4))
    client = sdk(fake)

    @guard(REDACT)
    def stream(prompt: str) -> Iterator[object]:
        yield from client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], stream=True
        )

    text = "".join(
        c.choices[0].delta.content or ""  # type: ignore[attr-defined]
        for c in stream("hi")
        if c.choices  # type: ignore[attr-defined]
    )
    assert text == "reach me at [EMAIL_1]"
