"""The Anthropic SDK under the same policy, and the policy's routing applied to SDK traffic."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

import aiguard
from aiguard.errors import ContentBlockedError, MissingScopeError, NoRouteError
from aiguard.sdk import async_http_client, http_client
from aiguard.testing import FakeProvider, Reply
from guard._support import GRANTED, REDACT, SEED, api_key


def claude(fake: FakeProvider, hc: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=fake.url,
        api_key=api_key(),
        max_retries=0,
        http_client=hc,
        # the fake checks x-api-key; anthropic 2.x sends the key as a bearer token
        default_headers={"x-api-key": api_key()},
    )


def ask(client: anthropic.Anthropic, prompt: str) -> str:
    m = client.messages.create(
        model="claude-sonnet", max_tokens=100, messages=[{"role": "user", "content": prompt}]
    )
    return "".join(b.text for b in m.content if b.type == "text")


def test_seed_policy_governs_anthropic(fake: FakeProvider) -> None:
    client = claude(fake, http_client(policy=SEED))
    with pytest.raises(MissingScopeError):
        ask(client, "hello")
    with aiguard.context(**GRANTED):
        with pytest.raises(ContentBlockedError):
            ask(client, "my email is jane@example.com")
        assert fake.requests == []
        assert ask(client, "hello") == "echo: hello"
    assert len(fake.requests) == 1


def test_anthropic_redaction_system_and_stream(fake: FakeProvider) -> None:
    client = claude(fake, http_client(policy=REDACT))
    fake.script(Reply(text="reply to jane@example.com soon", chunk_size=3))
    with client.messages.stream(
        model="claude",
        max_tokens=50,
        system="the user is jane@example.com",
        messages=[{"role": "user", "content": [{"type": "text", "text": "jane@example.com"}]}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    sent = fake.requests[-1].json
    assert sent["system"] == "the user is [EMAIL_1]"
    assert sent["messages"][0]["content"][0]["text"] == "[EMAIL_1]"
    assert text == "reply to [EMAIL_1] soon"
    assert final.content[0].text == text  # type: ignore[union-attr]


async def test_async_anthropic(fake: FakeProvider) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=fake.url,
        api_key=api_key(),
        max_retries=0,
        http_client=async_http_client(policy=REDACT),
        default_headers={"x-api-key": api_key()},
    )
    fake.script(Reply(text="hi +1 415 555 2671", chunk_size=2))
    stream = await client.messages.create(
        model="c", max_tokens=20, stream=True, messages=[{"role": "user", "content": "x"}]
    )
    parts = [
        ev.delta.text
        async for ev in stream
        if ev.type == "content_block_delta" and ev.delta.type == "text_delta"
    ]
    assert "".join(parts) == "hi [PHONE_1]"
    await client.close()


# ---------------------------------------------------------------------- routing


@pytest.fixture
def on_prem() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def test_eu_traffic_is_rewritten_to_the_on_prem_endpoint(
    fake: FakeProvider, on_prem: FakeProvider
) -> None:
    """The seed routes region EU to on-prem-llm: an SDK pointed at the cloud is sent there,
    and the cloud credentials are not forwarded to it."""
    hc = http_client(
        policy=SEED,
        endpoints={
            "cloud-llm": fake.openai_url,
            "on-prem-llm": {"base_url": on_prem.openai_url, "headers": {"x-site": "dc1"}},
        },
    )
    client = openai.OpenAI(
        base_url=fake.openai_url, api_key=api_key(), max_retries=0, http_client=hc
    )
    msgs: Any = [{"role": "user", "content": "hello"}]
    with aiguard.context(**GRANTED, region="EU"):
        client.chat.completions.create(model="m", messages=msgs)
    assert fake.requests == []
    assert len(on_prem.requests) == 1
    headers = on_prem.requests[0].headers
    assert "authorization" not in headers and headers["x-site"] == "dc1"
    with aiguard.context(**GRANTED, region="US"):
        client.chat.completions.create(model="m", messages=msgs)
    with aiguard.context(**GRANTED):  # no rule applies: the SDK's destination stands
        client.chat.completions.create(model="m", messages=msgs)
    assert len(fake.requests) == 2 and len(on_prem.requests) == 1


def test_refuse_mode_never_sends_elsewhere(fake: FakeProvider, on_prem: FakeProvider) -> None:
    hc = http_client(
        policy=SEED,
        routing="refuse",
        endpoints={"cloud-llm": fake.openai_url, "on-prem-llm": on_prem.openai_url},
    )
    client = openai.OpenAI(
        base_url=fake.openai_url, api_key=api_key(), max_retries=0, http_client=hc
    )
    with aiguard.context(**GRANTED, region="EU"), pytest.raises(NoRouteError, match="on-prem"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert fake.requests == [] and on_prem.requests == []
