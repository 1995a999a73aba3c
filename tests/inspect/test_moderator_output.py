"""The moderator on answers and streams, through real clients (sync and async) against
FakeProvider: what the caller receives, what the moderator was shown, what was recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import aiguard
from aiguard import ChatResponse, StreamEvent
from aiguard.cache import MemoryBackend, ResponseCache
from aiguard.errors import ConfigError, ContentBlockedError
from aiguard.inspect import InspectionStage, ModerationSpec
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider, Reply
from guard._moderation import Judge
from guard._support import Recorded

pytestmark = pytest.mark.filterwarnings("ignore:no price known")

LONG = "fine words here. " * 12  # longer than any hold-back: streams release before the end


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeProvider) -> None:
    fake.reset()


@pytest.fixture
def judges() -> Iterator[list[Judge]]:
    made: list[Judge] = []
    yield made
    for j in made:
        j.release.set()  # let a sync moderator's worker thread finish


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    r = Recorded()
    yield r
    r.close()


def spec(**moderator: Any) -> ModerationSpec:
    return ModerationSpec.model_validate(
        {
            "blockList": ["PII"],
            "pii": {"action": "redact", "restore": True},
            "moderator": {"timeout": 0.2, **moderator},
        }
    )


class Driver:
    """One client, sync or async, driven through the same coroutine interface."""

    def __init__(
        self, kind: str, fake: FakeProvider, stage: InspectionStage, tel: Any, **stages: Any
    ) -> None:
        self.kind = kind
        endpoints = {"llm": OpenAICompatible(base_url=fake.openai_url, model="m")}
        options: dict[str, Any] = {"stages": {"inspector": stage, **stages}, "telemetry": tel}
        self.client: Any = (
            aiguard.Client(endpoints, **options)
            if kind == "sync"
            else aiguard.AsyncClient(endpoints, **options)
        )

    async def chat(self, prompt: str, **kw: Any) -> ChatResponse:
        if self.kind == "sync":
            return self.client.chat(prompt, model="llm", **kw)  # type: ignore[no-any-return]
        return await self.client.chat(prompt, model="llm", **kw)  # type: ignore[no-any-return]

    async def stream(
        self, prompt: str, *, on_first: Any = None, **kw: Any
    ) -> tuple[list[StreamEvent], BaseException | None, ChatResponse | None]:
        """Events the caller received, the error it got (if any) and ``stream.response``."""
        got: list[StreamEvent] = []
        try:
            if self.kind == "sync":
                with self.client.stream(prompt, model="llm", **kw) as s:
                    for ev in s:
                        if not got and on_first is not None:
                            on_first()
                        got.append(ev)
                    return got, None, s.response
            async with self.client.stream(prompt, model="llm", **kw) as s:
                async for ev in s:
                    if not got and on_first is not None:
                        on_first()
                    got.append(ev)
                return got, None, await s.get_response()
        except ContentBlockedError as e:
            return got, e, None

    async def close(self) -> None:
        if self.kind == "sync":
            self.client.close()
        else:
            await self.client.aclose()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make(kind: str, fake: FakeProvider, judges: list[Judge], recorded: Recorded) -> Any:
    drivers: list[Driver] = []

    def build(judge: Judge, moderation: ModerationSpec | None = None, **stages: Any) -> Driver:
        judges.append(judge)
        stage = InspectionStage(moderation or spec(), moderator=judge)
        d = Driver(kind, fake, stage, recorded.telemetry, **stages)
        drivers.append(d)
        return d

    yield build
    for d in drivers:
        await d.close()


def violations(recorded: Recorded) -> list[tuple[str, str, str]]:
    return [tuple(v) for r in recorded.records() for v in r.violations]  # type: ignore[misc]


# --------------------------------------------------------------------------- answers


async def test_a_flagged_answer_is_blocked_after_the_request_left(
    fake: FakeProvider, make: Any
) -> None:
    judge = Judge()
    d = make(judge)
    fake.script(Reply(text="here is the forbidden recipe"))
    with pytest.raises(ContentBlockedError) as e:
        await d.chat("hello")
    err = e.value
    assert (err.category, err.direction, err.message_index) == ("moderator.harm", "output", None)
    assert (err.start, err.end) == (12, 21)  # the span, within the answer's text
    assert "forbidden" not in str(err)
    assert len(fake.requests) == 1
    assert judge.seen == ["hello", "here is the forbidden recipe"]


async def test_tool_call_arguments_are_judged(fake: FakeProvider, make: Any) -> None:
    judge = Judge()
    d = make(judge)
    fake.script(Reply(text="sure", tool_calls=[("send", {"body": "the forbidden plan"})]))
    with pytest.raises(ContentBlockedError) as e:
        await d.chat("hello")
    assert e.value.direction == "output"
    assert e.value.start == '{"body":"the forbidden plan"}'.index("forbidden")
    assert judge.seen[-1] == 'sure\n\n{"body":"the forbidden plan"}'


async def test_a_flag_action_records_the_verdict_and_answers(
    fake: FakeProvider, make: Any, recorded: Recorded
) -> None:
    d = make(Judge(), spec(action="flag"))
    fake.script(Reply(text="a forbidden but tolerated answer"))
    r = await d.chat("hello")
    assert r.text == "a forbidden but tolerated answer"
    assert violations(recorded) == [("moderator.harm", "flag", "output")]


async def test_the_moderator_sees_placeholders_not_restored_values(
    fake: FakeProvider, make: Any
) -> None:
    judge = Judge()
    d = make(judge)
    r = await d.chat("mail bob@example.com")
    assert r.text == "echo: mail bob@example.com"  # restored for the caller
    assert judge.seen == ["mail [EMAIL_1]", "echo: mail [EMAIL_1]"]
    assert "bob@" not in str(fake.requests[-1].json)


async def test_direction_input_leaves_answers_alone(fake: FakeProvider, make: Any) -> None:
    judge = Judge()
    d = make(judge, spec(direction="input"))
    fake.script(Reply(text="the forbidden answer"))
    assert (await d.chat("hello")).text == "the forbidden answer"
    assert judge.seen == ["hello"]


async def test_direction_output_leaves_prompts_alone(fake: FakeProvider, make: Any) -> None:
    judge = Judge()
    d = make(judge, spec(direction="output"))
    fake.script(Reply(text="fine"))
    assert (await d.chat("the forbidden question")).text == "fine"
    assert judge.seen == ["fine"]


@pytest.mark.parametrize("fail_mode", ["closed", "open"])
async def test_a_moderator_that_times_out_on_the_answer(
    fake: FakeProvider, make: Any, recorded: Recorded, fail_mode: str
) -> None:
    d = make(Judge("hang", hang_on="slow"), spec(timeout=0.05, failMode=fail_mode))
    fake.script(Reply(text="a slow answer"))
    if fail_mode == "closed":
        with pytest.raises(ContentBlockedError) as e:
            await d.chat("hello")
        assert (e.value.category, e.value.direction) == ("moderator.unavailable", "output")
        return
    assert (await d.chat("hello")).text == "a slow answer"
    assert violations(recorded) == [("moderator.unavailable", "flag", "output")]


async def test_cached_answers_are_judged_too(fake: FakeProvider, make: Any) -> None:
    judge = Judge()
    d = make(judge, cache=ResponseCache(MemoryBackend(), ttl=3600))
    fake.script(Reply(text="a fine answer"))
    assert (await d.chat("hello", temperature=0)).text == "a fine answer"
    again = await d.chat("hello", temperature=0)
    assert again.cached and again.text == "a fine answer"
    got, error, _ = await d.stream("hello", temperature=0)
    assert error is None and "".join(ev.text for ev in got) == "a fine answer"
    assert len(fake.requests) == 1
    assert judge.seen == ["hello", "a fine answer"] * 3


# --------------------------------------------------------------------------- streams


async def test_hold_releases_nothing_of_a_blocked_stream(fake: FakeProvider, make: Any) -> None:
    judge = Judge()
    d = make(judge)
    fake.script(Reply(text=LONG + "the forbidden part", chunk_size=4))
    got, error, response = await d.stream("hello")
    assert got == [] and response is None
    assert isinstance(error, ContentBlockedError)
    assert (error.category, error.direction) == ("moderator.harm", "output")
    assert error.start == len(LONG) + 4
    assert judge.seen[-1] == LONG + "the forbidden part"


async def test_hold_judges_the_whole_answer_before_the_first_event(
    fake: FakeProvider, make: Any
) -> None:
    judge = Judge()
    d = make(judge)
    fake.script(Reply(text=LONG, chunk_size=4))
    judged_first: list[list[str]] = []
    got, error, response = await d.stream(
        "hello", on_first=lambda: judged_first.append(judge.seen[:])
    )
    assert error is None and response is not None
    assert judged_first == [["hello", LONG]]
    assert "".join(ev.text for ev in got) == LONG == response.text
    assert any(ev.finish_reason == "stop" for ev in got)


async def test_end_lets_text_flow_and_refuses_before_the_last_event(
    fake: FakeProvider, make: Any
) -> None:
    judge = Judge()
    d = make(judge, spec(stream="end"))
    fake.script(Reply(text=LONG + "the forbidden part", chunk_size=4))
    judged_first: list[list[str]] = []
    got, error, response = await d.stream(
        "hello", on_first=lambda: judged_first.append(judge.seen[:])
    )
    assert judged_first == [["hello"]]  # the first event came before the verdict
    assert isinstance(error, ContentBlockedError) and error.category == "moderator.harm"
    assert response is None
    text = "".join(ev.text for ev in got)
    assert text and (LONG + "the forbidden part").startswith(text)  # delivered: not recalled
    assert not any(ev.finish_reason or ev.usage for ev in got)  # the stream never ended well


async def test_end_with_a_clean_answer_delivers_everything(fake: FakeProvider, make: Any) -> None:
    d = make(Judge(), spec(stream="end"))
    fake.script(Reply(text=LONG, chunk_size=4))
    got, error, response = await d.stream("hello")
    assert error is None and response is not None and response.text == LONG
    assert "".join(ev.text for ev in got) == LONG


async def test_a_stream_the_moderator_cannot_stop_is_never_held(
    fake: FakeProvider, make: Any, recorded: Recorded
) -> None:
    judge = Judge()
    d = make(judge, spec(action="flag", failMode="open"))
    fake.script(Reply(text=LONG + "the forbidden part", chunk_size=4))
    judged_first: list[list[str]] = []
    _, error, response = await d.stream(
        "hello", on_first=lambda: judged_first.append(judge.seen[:])
    )
    assert judged_first == [["hello"]]
    assert error is None and response is not None
    assert response.text == LONG + "the forbidden part"
    assert violations(recorded) == [("moderator.harm", "flag", "output")]


async def test_streamed_placeholders_reach_the_moderator_as_placeholders(
    fake: FakeProvider, make: Any
) -> None:
    judge = Judge()
    d = make(judge)
    fake.script(Reply(chunks=["I'll mail [EM", "AIL_1] now"]))
    got, error, _ = await d.stream("Mail bob@example.com")
    assert error is None
    assert "".join(ev.text for ev in got) == "I'll mail bob@example.com now"
    assert judge.seen == ["Mail [EMAIL_1]", "I'll mail [EMAIL_1] now"]


async def test_streamed_tool_call_arguments_are_judged(fake: FakeProvider, make: Any) -> None:
    judge = Judge()
    d = make(judge)
    fake.script(Reply(tool_calls=[("send", {"body": "the forbidden plan"})]))
    got, error, _ = await d.stream("hello")
    assert got == [] and isinstance(error, ContentBlockedError)
    assert judge.seen[-1] == '{"body":"the forbidden plan"}'


@pytest.mark.parametrize("fail_mode", ["closed", "open"])
async def test_a_moderator_that_times_out_on_a_stream(
    fake: FakeProvider, make: Any, recorded: Recorded, fail_mode: str
) -> None:
    d = make(Judge("hang", hang_on="slow"), spec(timeout=0.05, failMode=fail_mode))
    fake.script(Reply(text=LONG + "slow", chunk_size=8))
    got, error, response = await d.stream("hello")
    if fail_mode == "closed":
        assert got == [] and isinstance(error, ContentBlockedError)
        assert (error.category, error.direction) == ("moderator.unavailable", "output")
        return
    assert error is None and response is not None and response.text == LONG + "slow"
    assert violations(recorded) == [("moderator.unavailable", "flag", "output")]


# --------------------------------------------------------------------------- the settings


def test_stream_setting_is_checked() -> None:
    with pytest.raises(ConfigError) as e:
        aiguard.Client(
            {"llm": OpenAICompatible(base_url="http://127.0.0.1:9", model="m")},
            policy={"spec": {"contentModeration": {"moderator": {"stream": "later"}}}},
        )
    assert "stream" in str(e.value) and "pydantic" not in str(e.value).lower()


async def test_prompt_tool_call_arguments_are_judged(fake: FakeProvider, make: Any) -> None:
    judge = Judge()
    d = make(judge)
    call = {"id": "c1", "type": "function", "function": {"name": "send", "arguments": "{}"}}
    forbidden = {**call, "function": {"name": "send", "arguments": '{"x":"forbidden"}'}}
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "send it"},
        {"role": "assistant", "content": None, "tool_calls": [forbidden]},
        {"role": "tool", "tool_call_id": "c1", "content": "sent"},
    ]
    with pytest.raises(ContentBlockedError) as e:
        await d.chat(messages)
    assert (e.value.direction, e.value.message_index, e.value.start) == ("input", 1, 6)
    assert fake.requests == []
    messages[1]["tool_calls"] = [call]
    fake.script(Reply(text="done"))
    assert (await d.chat(messages)).text == "done"
    assert judge.seen[-2] == "send it\n\n{}\n\nsent"


def test_the_gate_holds_what_the_moderator_could_still_stop() -> None:
    from aiguard._effects import Io
    from aiguard.inspect import ContentInspector, Vault
    from aiguard.inspect._moderation import output_gate

    def gate(**moderator: Any) -> Any:
        inspector = ContentInspector(spec(**moderator), moderator=Judge())
        return output_gate([], inspector, Vault())

    hold = gate()
    assert hold.release([1, 2]) == [] and hold.release([3]) == []
    io, *rest = hold.end([("text", "clean")])
    assert isinstance(io, Io) and rest == [1, 2, 3]
    end = gate(stream="end")
    assert end.release([1, 2]) == [1] and end.release([3]) == [2]
    assert end.release([4], closing=True) == [] and end.release([5]) == []
    assert end.end([("text", "   ")]) == [3, 4, 5]  # nothing to judge
    never = gate(action="flag", failMode="open")
    assert never.release([1, 2]) == [1, 2]
    assert gate(direction="input") is None


class Garbled(Judge):
    """A moderator that answers with something that is not a list of verdicts."""

    def moderate(self, text: str) -> Any:
        self.seen.append(text)
        return "harm" if "answer" in text else []

    async def amoderate(self, text: str) -> Any:
        return self.moderate(text)


@pytest.mark.parametrize("fail_mode", ["closed", "open"])
async def test_a_malformed_verdict_is_a_moderator_that_could_not_judge(
    fake: FakeProvider, make: Any, fail_mode: str
) -> None:
    d = make(Garbled(), spec(failMode=fail_mode))
    fake.script(Reply(text="an answer"))
    if fail_mode == "open":
        assert (await d.chat("hello")).text == "an answer"
        return
    with pytest.raises(ContentBlockedError) as e:
        await d.chat("hello")
    assert e.value.category == "moderator.unavailable"
    assert isinstance(e.value.__cause__, TypeError)
