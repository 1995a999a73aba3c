"""The policy's moderator around guarded functions (plain, async, generator, async
generator) that call the official OpenAI SDK against FakeProvider: ``fake.requests`` is what
left, the return values and yielded chunks are what the caller received."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest

import aiguard
from aiguard.decorators import Governor, guard
from aiguard.errors import ConfigError, ContentBlockedError
from aiguard.inspect import InspectionStage
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider, Reply

from ._moderation import Judge, moderated_policy
from ._support import Recorded, api_key

LONG = "fine words here. " * 12  # longer than any hold-back


@pytest.fixture
def judges() -> Iterator[list[Judge]]:
    made: list[Judge] = []
    yield made
    for j in made:
        j.release.set()  # let a sync moderator's worker thread finish


def functions(fake: FakeProvider, judge: Judge, **options: Any) -> dict[str, Any]:
    """The same SDK call as a plain and as an async guarded function."""
    client = openai.OpenAI(base_url=fake.openai_url, api_key=api_key(), max_retries=0)
    aclient = openai.AsyncOpenAI(base_url=fake.openai_url, api_key=api_key(), max_retries=0)
    policy = options.pop("policy", moderated_policy())

    @guard(policy, moderator=judge, **options)
    def answer(prompt: str) -> str:
        r = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content or ""

    @guard(policy, moderator=judge, **options)
    async def aanswer(prompt: str) -> str:
        r = await aclient.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content or ""

    return {"sync": answer, "async": aanswer}


def streams(fake: FakeProvider, judge: Judge, **options: Any) -> dict[str, Any]:
    """The same SDK stream as a generator and as an async generator."""
    client = openai.OpenAI(base_url=fake.openai_url, api_key=api_key(), max_retries=0)
    aclient = openai.AsyncOpenAI(base_url=fake.openai_url, api_key=api_key(), max_retries=0)
    policy = options.pop("policy", moderated_policy())

    @guard(policy, moderator=judge, **options)
    def stream(prompt: str) -> Iterator[str]:
        for ev in client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], stream=True
        ):
            if ev.choices and ev.choices[0].delta.content:
                yield ev.choices[0].delta.content

    @guard(policy, moderator=judge, **options)
    async def astream(prompt: str) -> AsyncIterator[str]:
        events = await aclient.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], stream=True
        )
        async for ev in events:
            if ev.choices and ev.choices[0].delta.content:
                yield ev.choices[0].delta.content

    return {"sync": stream, "async": astream}


async def call(fn: Any, kind: str, prompt: str) -> str:
    return await fn(prompt) if kind == "async" else fn(prompt)  # type: ignore[no-any-return]


async def read(gen_fn: Any, kind: str, prompt: str) -> tuple[list[str], BaseException | None]:
    """The chunks a caller received, and the error it got."""
    got: list[str] = []
    try:
        if kind == "sync":
            for chunk in gen_fn(prompt):
                got.append(chunk)
        else:
            async for chunk in gen_fn(prompt):
                got.append(chunk)
    except ContentBlockedError as e:
        return got, e
    return got, None


KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


# --------------------------------------------------------------------------- functions


@KINDS
async def test_a_flagged_prompt_stops_the_function(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    fn = functions(fake, judge)[kind]
    with pytest.raises(ContentBlockedError) as e:
        await call(fn, kind, "tell me the forbidden thing")
    assert (e.value.category, e.value.direction) == ("moderator.harm", "input")
    assert fake.requests == []


@KINDS
async def test_a_flagged_answer_is_refused(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    fn = functions(fake, judge)[kind]
    fake.script(Reply(text="the forbidden answer"))
    with pytest.raises(ContentBlockedError) as e:
        await call(fn, kind, "hello")
    assert (e.value.category, e.value.direction, e.value.start) == ("moderator.harm", "output", 4)
    assert len(fake.requests) == 1
    assert judge.seen == ["hello", "the forbidden answer"]


@KINDS
async def test_the_moderator_sees_what_the_provider_saw(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    fn = functions(fake, judge)[kind]
    assert await call(fn, kind, "mail bob@example.com") == "echo: mail bob@example.com"
    assert fake.requests[-1].json["messages"][0]["content"] == "mail [EMAIL_1]"
    assert judge.seen == ["mail [EMAIL_1]", "echo: mail [EMAIL_1]"]


async def test_output_false_leaves_the_answer_alone(
    fake: FakeProvider, judges: list[Judge]
) -> None:
    judges.append(judge := Judge())
    fn = functions(fake, judge, output=False)["sync"]
    fake.script(Reply(text="the forbidden answer"))
    assert fn("hello") == "the forbidden answer"
    assert judge.seen == ["hello"]


@KINDS
@pytest.mark.parametrize("fail_mode", ["closed", "open"])
async def test_a_moderator_that_times_out_on_the_answer(
    fake: FakeProvider, judges: list[Judge], recorded: Recorded, kind: str, fail_mode: str
) -> None:
    judges.append(judge := Judge("hang", hang_on="slow"))
    policy = moderated_policy(timeout=0.05, failMode=fail_mode)
    fn = functions(fake, judge, policy=policy, telemetry=recorded.telemetry)[kind]
    fake.script(Reply(text="a slow answer"))
    if fail_mode == "closed":
        with pytest.raises(ContentBlockedError) as e:
            await call(fn, kind, "hello")
        assert (e.value.category, e.value.direction) == ("moderator.unavailable", "output")
        return
    assert await call(fn, kind, "hello") == "a slow answer"
    (record,) = recorded.records()
    assert [tuple(v) for v in record.violations] == [("moderator.unavailable", "flag", "output")]


# --------------------------------------------------------------------------- generators


@KINDS
async def test_hold_yields_nothing_of_a_refused_stream(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    gen = streams(fake, judge)[kind]
    fake.script(Reply(text=LONG + "the forbidden part", chunk_size=4))
    got, error = await read(gen, kind, "hello")
    assert got == []
    assert isinstance(error, ContentBlockedError) and error.direction == "output"
    assert judge.seen[-1] == LONG + "the forbidden part"


@KINDS
async def test_hold_yields_a_clean_stream_whole(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    gen = streams(fake, judge)[kind]
    fake.script(Reply(text=LONG, chunk_size=4))
    got, error = await read(gen, kind, "hello")
    assert error is None and "".join(got) == LONG


@KINDS
async def test_end_yields_text_and_refuses_before_the_last_chunk(
    fake: FakeProvider, judges: list[Judge], kind: str
) -> None:
    judges.append(judge := Judge())
    gen = streams(fake, judge, policy=moderated_policy(stream="end"))[kind]
    fake.script(Reply(text=LONG + "the forbidden part", chunk_size=4))
    got, error = await read(gen, kind, "hello")
    assert isinstance(error, ContentBlockedError) and error.category == "moderator.harm"
    text = "".join(got)
    assert text and len(text) < len(LONG + "the forbidden part")  # the last chunk was held
    assert (LONG + "the forbidden part").startswith(text)


@KINDS
@pytest.mark.parametrize("fail_mode", ["closed", "open"])
async def test_a_moderator_that_times_out_on_a_stream(
    fake: FakeProvider, judges: list[Judge], kind: str, fail_mode: str
) -> None:
    judges.append(judge := Judge("hang", hang_on="slow"))
    policy = moderated_policy(timeout=0.05, failMode=fail_mode)
    gen = streams(fake, judge, policy=policy)[kind]
    fake.script(Reply(text=LONG + "slow", chunk_size=8))
    got, error = await read(gen, kind, "hello")
    if fail_mode == "closed":
        assert got == [] and isinstance(error, ContentBlockedError)
        assert (error.category, error.direction) == ("moderator.unavailable", "output")
    else:
        assert error is None and "".join(got) == LONG + "slow"


# --------------------------------------------------------------------------- wiring


def test_a_clients_moderator_governs_what_it_guards(
    fake: FakeProvider, judges: list[Judge]
) -> None:
    judges.append(judge := Judge())
    endpoints = {"llm": OpenAICompatible(base_url=fake.openai_url, model="m")}
    stage = InspectionStage(moderator=judge)
    with aiguard.Client(endpoints, policy=moderated_policy(), stages={"inspector": stage}) as c:

        @guard(c)
        def echo(prompt: str) -> str:
            return f"you said {prompt}"

        assert echo("hello") == "you said hello"
        with pytest.raises(ContentBlockedError):
            echo("the forbidden thing")
    assert judge.seen == ["hello", "you said hello", "the forbidden thing"]


def test_a_governor_shares_its_moderator(judges: list[Judge]) -> None:
    judges.append(judge := Judge())
    governor = Governor(moderated_policy(), moderator=judge)

    @governor.guard
    def echo(prompt: str) -> str:
        return "the forbidden reply"

    with pytest.raises(ContentBlockedError) as e:
        echo("hi")
    assert e.value.direction == "output"
    with pytest.raises(ConfigError, match="belong to the Governor"):
        guard(governor, moderator=judge)


def test_a_moderator_without_a_place_to_run_is_refused(
    judges: list[Judge], fake: FakeProvider
) -> None:
    judges.append(judge := Judge())
    with pytest.raises(ConfigError, match="needs policy="):
        guard(moderator=judge)
    with pytest.raises(ConfigError, match="moderate"):
        guard(moderated_policy(), moderator=object())
    endpoints = {"llm": OpenAICompatible(base_url=fake.openai_url, model="m")}
    with aiguard.Client(endpoints) as c, pytest.raises(ConfigError, match="InspectionStage"):
        guard(c, moderator=judge)
