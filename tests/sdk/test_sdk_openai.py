"""An unmodified OpenAI SDK program, with only its ``http_client`` changed, governed by the
seed policy end to end against FakeProvider (``fake.requests`` is what left the process)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

import aiguard
from aiguard.errors import ContentBlockedError, LimitExceeded, MissingScopeError
from aiguard.sdk import async_http_client, http_client
from aiguard.testing import FakeProvider, Fault, Reply
from guard._support import GRANTED, REDACT, SEED, Recorded, api_key


def program(client: openai.OpenAI, prompt: str) -> str:
    """Application code as it was written before aiguard: it does not change."""
    r = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
    )
    return r.choices[0].message.content or ""


def sdk(fake: FakeProvider, **guard: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=fake.openai_url,
        api_key=api_key(),
        max_retries=0,  # aiguard owns retries
        http_client=http_client(**guard),
    )


def test_seed_policy_governs_the_sdk(fake: FakeProvider, recorded: Recorded) -> None:
    client = sdk(fake, policy=SEED, telemetry=recorded.telemetry)
    with pytest.raises(MissingScopeError):
        program(client, "hello")
    with aiguard.context(**GRANTED):
        with pytest.raises(ContentBlockedError):
            program(client, "my email is jane@example.com")
        with pytest.raises(ContentBlockedError):
            program(client, "give me investment advice on which stocks to buy")
        assert fake.requests == []  # refused before anything left
        assert program(client, "hello") == "echo: hello"
    assert len(fake.requests) == 1
    records = recorded.records()
    assert [r.outcome for r in records][-1] == "ok"
    assert len(records) == 4 and len(recorded.spans()) == 4
    assert records[-1].input_tokens > 0  # usage read from the response body
    client.close()


async def test_seed_policy_governs_the_async_sdk(fake: FakeProvider) -> None:
    client = openai.AsyncOpenAI(
        base_url=fake.openai_url,
        api_key=api_key(),
        max_retries=0,
        http_client=async_http_client(policy=SEED),
    )
    with pytest.raises(MissingScopeError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    with aiguard.context(**GRANTED):
        with pytest.raises(ContentBlockedError):
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "card 4111 1111 1111 1111"}]
            )
        r = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    assert r.choices[0].message.content == "echo: hi"
    assert len(fake.requests) == 1
    await client.close()


def test_redacted_prompt_arrives_redacted(fake: FakeProvider, recorded: Recorded) -> None:
    client = sdk(fake, policy=REDACT, telemetry=recorded.telemetry)
    reply = program(client, "mail jane@example.com the report")
    sent = fake.requests[-1].json
    assert sent["messages"][0]["content"] == "mail [EMAIL_1] the report"
    assert "jane@example.com" not in reply
    assert [v.category for v in recorded.records()[-1].violations] == ["pii.email"]


def test_answer_is_inspected(fake: FakeProvider) -> None:
    client = sdk(fake, policy=REDACT)
    fake.script(Reply(text="call +1 415 555 2671 now"))
    assert program(client, "hi") == "call [PHONE_1] now"
    fake.script(Reply(text="here is some investment advice: buy"))
    with pytest.raises(ContentBlockedError) as blocked:
        program(client, "hi")
    assert blocked.value.direction == "output"


def test_stream_is_inspected_incrementally(fake: FakeProvider) -> None:
    client = sdk(fake, policy=REDACT)
    fake.script(Reply(text="write to jane@example.com today, thanks", chunk_size=3))
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    deltas = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(deltas) == "write to [EMAIL_1] today, thanks"
    assert all("@" not in d for d in deltas)

    fake.script(Reply(text="ok " * 60 + "now investment advice: buy", chunk_size=4))
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    seen: list[str] = []
    with pytest.raises(ContentBlockedError):
        for c in stream:
            seen.append(c.choices[0].delta.content or "" if c.choices else "")
    assert "ok ok" in "".join(seen) and "investment" not in "".join(seen)


def test_embeddings_are_inspected(fake: FakeProvider) -> None:
    client = sdk(fake, policy=REDACT)
    client.embeddings.create(model="e", input=["a@example.com", "plain"])
    assert fake.requests[-1].json["input"] == ["[EMAIL_1]", "plain"]


def test_retries_belong_to_aiguard(fake: FakeProvider) -> None:
    slept: list[float] = []
    client = sdk(fake, policy=REDACT, retries=1, sleep=slept.append)
    fake.fault(Fault.status_code(429, retry_after=3))
    assert program(client, "hi") == "echo: hi"
    assert slept == [3.0] and len(fake.requests) == 2

    fake.fault(Fault.status_code(429, retry_after=3, times=2))
    with pytest.raises(openai.RateLimitError):  # the SDK raises its own error, as before
        program(client, "hi")


def test_rate_limit_refuses_before_sending(fake: FakeProvider) -> None:
    client = sdk(fake, policy={"spec": {"rateLimit": {"requestsPerMinute": 1}}})
    program(client, "one")
    with pytest.raises(LimitExceeded):
        program(client, "two")
    assert len(fake.requests) == 1


def test_legacy_httpx_client_works_too(fake: FakeProvider) -> None:
    hc = http_client(policy=REDACT, library="httpx")
    assert isinstance(hc, httpx.Client)
    client = openai.OpenAI(
        base_url=fake.openai_url,
        api_key=api_key(),
        max_retries=0,
        http_client=hc,  # type: ignore[arg-type]  # the SDK accepts both libraries
    )
    program(client, "to jane@example.com")
    assert fake.requests[-1].json["messages"][0]["content"] == "to [EMAIL_1]"


def test_other_requests_pass_through(fake: FakeProvider) -> None:
    client = sdk(fake, policy=SEED)  # no scopes: governed requests would be refused
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-1")  # not an inference API: forwarded unchanged
    assert fake.requests[-1].path.endswith("/files/file-1")
