"""The inspection stage governing real clients (sync and async) against FakeProvider: the
request log proves what left the process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import aiguard
from aiguard.errors import ContentBlockedError
from aiguard.inspect import ModerationSpec, ModerationVerdict
from aiguard.inspect._stage import InspectionStage
from aiguard.policy import Policy
from aiguard.policy.stage import PolicyAuthorizer
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider, Reply

pytestmark = pytest.mark.filterwarnings("ignore:no price known")

SEED = Path(__file__).parents[1] / "policy" / "seed_policy.yaml"
CTX = {"user": "u", "region": "EU", "scopes": {"ai.read", "ai.write"}}
REDACT = ModerationSpec.model_validate(
    {"blockList": ["PII", "secrets"], "pii": {"action": "redact", "restore": True}}
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeProvider) -> None:
    fake.reset()


def endpoints(fake: FakeProvider) -> dict[str, OpenAICompatible]:
    return {"llm": OpenAICompatible(base_url=fake.openai_url, model="m")}


def sent_text(fake: FakeProvider) -> str:
    return json.dumps(fake.requests[-1].json)


def test_seed_policy_blocks_pii_and_topics_before_sending(fake: FakeProvider) -> None:
    policy = Policy.from_yaml(SEED)
    stages: Any = {"authorizer": PolicyAuthorizer(policy), "inspector": InspectionStage()}
    with aiguard.Client(endpoints(fake), stages=stages) as client, aiguard.context(**CTX):
        with pytest.raises(ContentBlockedError) as e:
            client.chat("my card is 4111 1111 1111 1111", model="llm")
        assert (e.value.category, e.value.message_index) == ("pii.payment_card", 0)
        with pytest.raises(ContentBlockedError):
            client.chat("Which stocks should I buy? I want investment advice.", model="llm")
        with (
            pytest.raises(ContentBlockedError),
            client.stream("mail a@example.com", model="llm") as s,
        ):
            list(s)
        assert fake.requests == []
        assert client.chat("What is an API gateway?", model="llm").text.startswith("echo:")
    assert len(fake.requests) == 1


def test_redacted_prompt_arrives_redacted_and_answer_is_restored(fake: FakeProvider) -> None:
    fake.script(Reply(text="I will write to [EMAIL_1] about [CARD_1]."))
    with aiguard.Client(endpoints(fake), stages={"inspector": InspectionStage(REDACT)}) as c:
        reply = c.chat("Email bob@example.com about card 4111 1111 1111 1111", model="llm")
    body = sent_text(fake)
    assert "bob@example.com" not in body and "4111" not in body
    assert "[EMAIL_1]" in body and "[CARD_1]" in body
    assert reply.text == "I will write to bob@example.com about 4111 1111 1111 1111."


def test_stream_restores_split_placeholders_and_blocks_leaks(fake: FakeProvider) -> None:
    fake.script(Reply(chunks=["Sure, [EMA", "IL_1] it is", "."]))
    spec = REDACT.model_copy(update={"default_action": "block"})
    with aiguard.Client(endpoints(fake), stages={"inspector": InspectionStage(spec)}) as c:
        with c.stream("I am bob@example.com", model="llm") as s:
            text = "".join(ev.text for ev in s)
        assert text == "Sure, bob@example.com it is."
        key = "AK" + "IA" + "QWERTYUIOPASDFGH"
        fake.script(Reply(chunks=["The key is ", key[:8], key[8:], " and more"]))
        received = []
        with pytest.raises(ContentBlockedError) as e, c.stream("hi", model="llm") as s:
            for ev in s:
                received.append(ev.text)
        assert e.value.direction == "output"
        assert key[:4] not in "".join(received) and "more" not in "".join(received)


async def test_async_client_redacts_and_restores(fake: FakeProvider) -> None:
    fake.script(Reply(text="Hello [EMAIL_1]"), Reply(chunks=["Hi [EMAIL", "_1]!"]))
    async with aiguard.AsyncClient(
        endpoints(fake), stages={"inspector": InspectionStage(REDACT)}
    ) as c:
        reply = await c.chat("I am bob@example.com", model="llm")
        assert reply.text == "Hello bob@example.com"
        async with c.stream("I am bob@example.com", model="llm") as s:
            text = "".join([ev.text async for ev in s])
        assert text == "Hi bob@example.com!"
    assert all("bob@" not in json.dumps(r.json) for r in fake.requests)


def test_streamed_tool_call_arguments_are_redacted_and_stay_json(fake: FakeProvider) -> None:
    spec = ModerationSpec.model_validate({"pii": {"action": "redact"}})
    args = json.dumps({"to": "amy@example.org", "card": 4111111111111111})
    fake.script(Reply(tool_calls=[("send", args)]))
    with aiguard.Client(endpoints(fake), stages={"inspector": InspectionStage(spec)}) as c:
        with c.stream("go", model="llm") as s:
            list(s)
        calls = s.response.tool_calls
    assert json.loads(calls[0].function.arguments) == {"to": "[EMAIL_1]", "card": "[CARD_1]"}


def test_embedding_inputs_are_inspected(fake: FakeProvider) -> None:
    with aiguard.Client(endpoints(fake), stages={"inspector": InspectionStage(REDACT)}) as c:
        c.embed(["contact bob@example.com", "plain"], model="llm")
    assert fake.requests[-1].json["input"] == ["contact [EMAIL_1]", "plain"]


def test_policy_scoped_moderation_is_compiled_once_per_spec(fake: FakeProvider) -> None:
    policy = Policy.from_yaml(SEED)
    stage = InspectionStage()
    stages: Any = {"authorizer": PolicyAuthorizer(policy), "inspector": stage}
    with aiguard.Client(endpoints(fake), stages=stages) as client, aiguard.context(**CTX):
        for _ in range(3):
            client.chat("hello there", model="llm")
    assert len(stage._compiled) == 1


class Judge:
    """A moderator double: flags texts containing "forbidden", or fails/hangs on demand."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.seen: list[str] = []

    def moderate(self, text: str) -> Sequence[ModerationVerdict]:
        self.seen.append(text)
        if self.mode == "fail":
            raise RuntimeError("moderation endpoint down")
        return [ModerationVerdict("jailbreak", 0.9)] if "forbidden" in text else []

    async def amoderate(self, text: str) -> Sequence[ModerationVerdict]:
        self.seen.append(text)
        if self.mode == "hang":
            await asyncio.Event().wait()
        return self.moderate(text)


def test_moderator_sees_redacted_text_and_blocks(fake: FakeProvider) -> None:
    judge = Judge()
    stage = InspectionStage(REDACT, moderator=judge)
    with aiguard.Client(endpoints(fake), stages={"inspector": stage}) as c:
        with pytest.raises(ContentBlockedError) as e:
            c.chat("bob@example.com asks the forbidden thing", model="llm")
        assert e.value.category == "moderator.jailbreak"
        assert fake.requests == []
        c.chat("fine", model="llm")
    assert judge.seen[0] == "[EMAIL_1] asks the forbidden thing"


def test_moderator_failure_fails_closed_or_open(fake: FakeProvider) -> None:
    closed = InspectionStage(REDACT, moderator=Judge("fail"))
    with aiguard.Client(endpoints(fake), stages={"inspector": closed}) as c:
        with pytest.raises(ContentBlockedError) as e:
            c.chat("hello", model="llm")
        assert e.value.category == "moderator.unavailable"
    open_spec = REDACT.model_copy(
        update={
            "moderator": ModerationSpec.model_validate(
                {"moderator": {"failMode": "open"}}
            ).moderator
        }
    )
    opened = InspectionStage(open_spec, moderator=Judge("fail"))
    with aiguard.Client(endpoints(fake), stages={"inspector": opened}) as c:
        assert c.chat("hello", model="llm").text == "echo: hello"
    assert len(fake.requests) == 1


async def test_async_moderator_timeout_fails_closed(fake: FakeProvider) -> None:
    spec = ModerationSpec.model_validate({"moderator": {"timeout": 0.05}})
    stage = InspectionStage(spec, moderator=Judge("hang"))
    async with aiguard.AsyncClient(endpoints(fake), stages={"inspector": stage}) as c:
        with pytest.raises(ContentBlockedError) as e:
            await c.chat("hello", model="llm")
    assert e.value.category == "moderator.unavailable"
    assert fake.requests == []


def _policy_endpoints(fake: FakeProvider) -> dict[str, OpenAICompatible]:
    return {
        n: OpenAICompatible(base_url=fake.openai_url, model="m")
        for n in ("on-prem-llm", "cloud-llm")
    }


def test_seed_policy_given_to_the_client_governs_it(fake: FakeProvider) -> None:
    with aiguard.Client(_policy_endpoints(fake), policy=SEED) as client, aiguard.context(**CTX):
        with pytest.raises(ContentBlockedError):
            client.chat("Email me at bob@example.com", model="on-prem-llm")
        with pytest.raises(ContentBlockedError):
            client.chat("I want investment advice: which stocks should I buy?", model="on-prem-llm")
        assert fake.requests == []
        assert client.chat("hello", model="on-prem-llm").text == "echo: hello"
    assert len(fake.requests) == 1


def test_redacting_policy_round_trip_through_the_client(fake: FakeProvider) -> None:
    policy = Policy.from_yaml(SEED).model_dump(by_alias=True)
    policy["spec"]["contentModeration"]["pii"] = {"action": "redact", "restore": True}
    fake.script(Reply(chunks=["I'll mail [EM", "AIL_1] now"]))
    client = aiguard.Client(_policy_endpoints(fake), policy=policy)
    with (
        client,
        aiguard.context(**CTX),
        client.stream("Mail bob@example.com", model="on-prem-llm") as s,
    ):
        text = "".join(ev.text for ev in s)
    assert "bob@" not in json.dumps(fake.requests[0].json)
    assert text == "I'll mail bob@example.com now"


def test_verdict_spans_map_back_to_their_message() -> None:
    from aiguard._types import ChatRequest, Message
    from aiguard.inspect._moderation import merge_verdicts, moderation_text

    request = ChatRequest(
        messages=(
            Message(role="system", content="be brief"),
            Message(role="user", content="tell me the forbidden thing"),
        )
    )
    text, starts = moderation_text(request)
    at = text.index("forbidden")
    verdict = ModerationVerdict("jailbreak", 0.8, start=at, end=at + 9)
    found: list[Any] = []
    merge_verdicts(found, [verdict, ModerationVerdict("other", flagged=False)], "flag", starts)
    (f,) = found
    assert (f.category, f.message_index, f.start, f.end) == ("moderator.jailbreak", 1, 12, 21)
    with pytest.raises(ContentBlockedError) as e:
        merge_verdicts([], [verdict], "block", starts)
    assert (e.value.message_index, e.value.start) == (1, 12)
