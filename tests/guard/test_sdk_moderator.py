"""The policy's moderator inside ``aiguard.http_client``: unmodified OpenAI SDK code (sync
and async) against FakeProvider; ``fake.requests`` is what left, the SDK's return values
and stream chunks are what the application received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from aiguard.errors import ConfigError, ContentBlockedError
from aiguard.sdk import async_http_client, http_client
from aiguard.testing import FakeProvider, Reply

from ._moderation import Judge, moderated_policy
from ._support import Recorded, api_key

LONG = "fine words here. " * 12  # longer than any hold-back
KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


@pytest.fixture
def judges() -> Iterator[list[Judge]]:
    made: list[Judge] = []
    yield made
    for j in made:
        j.release.set()  # let a sync moderator's worker thread finish


def sdk(fake: FakeProvider, kind: str, judge: Judge, **options: Any) -> Any:
    policy = options.pop("policy", moderated_policy())
    if kind == "sync":
        return openai.OpenAI(
            base_url=fake.openai_url,
            api_key=api_key(),
            max_retries=0,
            http_client=http_client(policy, moderator=judge, retries=0, **options),
        )
    return openai.AsyncOpenAI(
        base_url=fake.openai_url,
        api_key=api_key(),
        max_retries=0,
        http_client=async_http_client(policy, moderator=judge, retries=0, **options),
    )


async def ask(client: Any, prompt: str) -> str:
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
    if isinstance(client, openai.AsyncOpenAI):
        r = await r
    return r.choices[0].message.content or ""  # type: ignore[no-any-return]


async def read(client: Any, prompt: str) -> tuple[list[str], BaseException | None]:
    """The text deltas the application received, and the error it got."""
    got: list[str] = []
    messages = [{"role": "user", "content": prompt}]
    try:
        if isinstance(client, openai.AsyncOpenAI):
            events = await client.chat.completions.create(model="m", messages=messages, stream=True)
            async for ev in events:
                if ev.choices and ev.choices[0].delta.content:
                    got.append(ev.choices[0].delta.content)
        else:
            for ev in client.chat.completions.create(model="m", messages=messages, stream=True):
                if ev.choices and ev.choices[0].delta.content:
                    got.append(ev.choices[0].delta.content)
    except ContentBlockedError as e:
        return got, e
    return got, None


@KINDS
async def test_a_flagged_prompt_never_leaves(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    client = sdk(fake, kind, judge)
    with pytest.raises(ContentBlockedError) as e:
        await ask(client, "tell me the forbidden thing")
    assert (e.value.category, e.value.direction) == ("moderator.harm", "input")
    assert fake.requests == []


@KINDS
async def test_a_flagged_answer_is_refused(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    client = sdk(fake, kind, judge)
    fake.script(Reply(text="the forbidden answer"))
    with pytest.raises(ContentBlockedError) as e:
        await ask(client, "hello")
    assert (e.value.category, e.value.direction) == ("moderator.harm", "output")
    assert len(fake.requests) == 1
    assert judge.seen == ["hello", "the forbidden answer"]


@KINDS
async def test_the_moderator_sees_what_the_provider_saw(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    client = sdk(fake, kind, judge)
    assert await ask(client, "mail bob@example.com") == "echo: mail bob@example.com"
    assert judge.seen == ["mail [EMAIL_1]", "echo: mail [EMAIL_1]"]


@KINDS
@pytest.mark.parametrize("fail_mode", ["closed", "open"])
async def test_a_moderator_that_times_out_on_the_answer(
    fake: FakeProvider, judges: list[Judge], recorded: Recorded, kind: str, fail_mode: str
) -> None:
    judges.append(judge := Judge("hang", hang_on="slow"))
    policy = moderated_policy(timeout=0.05, failMode=fail_mode)
    client = sdk(fake, kind, judge, policy=policy, telemetry=recorded.telemetry)
    fake.script(Reply(text="a slow answer"))
    if fail_mode == "closed":
        with pytest.raises(ContentBlockedError) as e:
            await ask(client, "hello")
        assert (e.value.category, e.value.direction) == ("moderator.unavailable", "output")
        return
    assert await ask(client, "hello") == "a slow answer"
    (record,) = recorded.records()
    assert [tuple(v) for v in record.violations] == [("moderator.unavailable", "flag", "output")]


@KINDS
async def test_hold_sends_nothing_of_a_refused_stream(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    client = sdk(fake, kind, judge)
    fake.script(Reply(text=LONG + "the forbidden part", chunk_size=4))
    got, error = await read(client, "hello")
    assert got == []
    assert isinstance(error, ContentBlockedError) and error.direction == "output"
    assert judge.seen[-1] == LONG + "the forbidden part"

    fake.script(Reply(text=LONG, chunk_size=4))
    got, error = await read(client, "hello")
    assert error is None and "".join(got) == LONG


@KINDS
async def test_end_streams_text_and_refuses_before_the_stream_ends(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    client = sdk(fake, kind, judge, policy=moderated_policy(stream="end"))
    fake.script(Reply(text=LONG + "the forbidden part", chunk_size=4))
    got, error = await read(client, "hello")
    assert isinstance(error, ContentBlockedError) and error.category == "moderator.harm"
    text = "".join(got)
    assert text and (LONG + "the forbidden part").startswith(text)


@KINDS
@pytest.mark.parametrize("fail_mode", ["closed", "open"])
async def test_a_moderator_that_times_out_on_a_stream(
    fake: FakeProvider, judges: list[Judge], kind: str, fail_mode: str
) -> None:
    judges.append(judge := Judge("hang", hang_on="slow"))
    policy = moderated_policy(timeout=0.05, failMode=fail_mode)
    client = sdk(fake, kind, judge, policy=policy)
    fake.script(Reply(text=LONG + "slow", chunk_size=8))
    got, error = await read(client, "hello")
    if fail_mode == "closed":
        assert got == [] and isinstance(error, ContentBlockedError)
        assert error.category == "moderator.unavailable"
    else:
        assert error is None and "".join(got) == LONG + "slow"


def test_anthropic_answers_are_judged(fake: FakeProvider, judges: list[Judge]) -> None:
    judges.append(judge := Judge())
    client = anthropic.Anthropic(
        base_url=fake.url,
        api_key=api_key(),
        max_retries=0,
        default_headers={"x-api-key": api_key()},
        http_client=http_client(moderated_policy(), moderator=judge, retries=0),
    )
    fake.script(Reply(text="the forbidden answer"))
    with pytest.raises(ContentBlockedError) as e:
        client.messages.create(
            model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    assert e.value.direction == "output"
    fake.script(Reply(text=LONG + "the forbidden part", chunk_size=4))
    got: list[str] = []
    with (
        pytest.raises(ContentBlockedError),
        client.messages.stream(
            model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as s,
    ):
        got.extend(s.text_stream)
    assert got == []


def test_a_clients_moderator_is_its_own(fake: FakeProvider, judges: list[Judge]) -> None:
    judges.append(judge := Judge())
    with pytest.raises(ConfigError, match="needs policy="):
        http_client(moderator=judge)
