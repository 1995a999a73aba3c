"""Every action, on input and on output, streamed or not, through both clients."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import aiguard
from aiguard.errors import ContentBlockedError
from aiguard.inspect import ModerationSpec
from aiguard.inspect._actions import hash_token
from aiguard.inspect._stage import InspectionStage
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider, Reply

pytestmark = pytest.mark.filterwarnings("ignore:no price known")

EMAIL = "bob@example.com"
EXPECTED = {
    "redact": "[EMAIL_1]",
    "mask": "****@example.com",
    "hash": hash_token(EMAIL, "EMAIL", b"k"),
    "flag": EMAIL,
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeProvider) -> None:
    fake.reset()


def stage(action: str) -> dict[str, InspectionStage]:
    spec = ModerationSpec.model_validate({"pii": {"action": action}, "hashKey": "k"})
    return {"inspector": InspectionStage(spec)}


def endpoints(fake: FakeProvider) -> dict[str, OpenAICompatible]:
    return {"llm": OpenAICompatible(base_url=fake.openai_url, model="m")}


def answer() -> Reply:
    return Reply(chunks=["Reply to bob@exa", "mple.com today"])


@pytest.mark.parametrize("action", ["block", "redact", "mask", "hash", "flag"])
@pytest.mark.parametrize("stream", [False, True])
def test_sync(fake: FakeProvider, action: str, stream: bool) -> None:
    with aiguard.Client(endpoints(fake), stages=stage(action)) as c:  # type: ignore[arg-type]
        if action == "block":
            with pytest.raises(ContentBlockedError) as e:
                c.chat(f"hi {EMAIL}", model="llm")
            assert e.value.direction == "input" and fake.requests == []
            fake.script(answer())
            with pytest.raises(ContentBlockedError) as e:
                if stream:
                    with c.stream("hi", model="llm") as s:
                        "".join(ev.text for ev in s)
                else:
                    c.chat("hi", model="llm")
            assert e.value.direction == "output"
            return
        fake.script(answer())
        if stream:
            with c.stream(f"hi {EMAIL}", model="llm") as s:
                text = "".join(ev.text for ev in s)
        else:
            text = c.chat(f"hi {EMAIL}", model="llm").text
    sent = json.dumps(fake.requests[0].json["messages"])
    assert (EMAIL in sent) == (action == "flag")
    assert EXPECTED[action] in sent
    # the model's own e-mail address is acted on too (no restore configured)
    assert text == f"Reply to {EXPECTED[action]} today"


@pytest.mark.parametrize("action", ["block", "redact", "mask", "hash", "flag"])
@pytest.mark.parametrize("stream", [False, True])
async def test_async(fake: FakeProvider, action: str, stream: bool) -> None:
    async with aiguard.AsyncClient(endpoints(fake), stages=stage(action)) as c:  # type: ignore[arg-type]
        if action == "block":
            with pytest.raises(ContentBlockedError):
                await c.chat(f"hi {EMAIL}", model="llm")
            assert fake.requests == []
            fake.script(answer())
            with pytest.raises(ContentBlockedError):
                if stream:
                    async with c.stream("hi", model="llm") as s:
                        [ev.text async for ev in s]
                else:
                    await c.chat("hi", model="llm")
            return
        fake.script(answer())
        if stream:
            async with c.stream(f"hi {EMAIL}", model="llm") as s:
                text = "".join([ev.text async for ev in s])
        else:
            text = (await c.chat(f"hi {EMAIL}", model="llm")).text
    sent = json.dumps(fake.requests[0].json["messages"])
    assert (EMAIL in sent) == (action == "flag")
    assert text == f"Reply to {EXPECTED[action]} today"
