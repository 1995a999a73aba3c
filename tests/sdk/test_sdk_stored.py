"""A stored response read back (``client.responses.retrieve``, with or without a stream) is
model output: the official ``openai`` SDK gets it inspected exactly like the answer of the
request that made it, and the read is audited, without charging its tokens again."""

from __future__ import annotations

from typing import Any

import openai
import pytest

import aiguard
from aiguard._guard._wire import classify
from aiguard.errors import ContentBlockedError, MissingScopeError
from aiguard.sdk import async_http_client, http_client
from aiguard.testing import Body, Call, FakeProvider, Reply
from aiguard.testing.wire import dumps
from guard._support import GRANTED, REDACT, SEED, Recorded, api_key

TEXT = "write to jane@example.com today or call +1 415 555 2671, thanks"
REDACTED = "write to [EMAIL_1] today or call [PHONE_1], thanks"
PII = ("jane@example.com", "415 555 2671")


def plain(fake: FakeProvider) -> openai.OpenAI:
    """An unguarded client: makes the stored responses the tests read back."""
    return openai.OpenAI(base_url=fake.openai_url, api_key=api_key(), max_retries=0)


def guarded(fake: FakeProvider, **guard: Any) -> openai.OpenAI:
    guard.setdefault("policy", REDACT)
    return openai.OpenAI(
        base_url=fake.openai_url, api_key=api_key(), max_retries=0, http_client=http_client(**guard)
    )


def stored(fake: FakeProvider, text: str = TEXT, **kw: Any) -> str:
    fake.script(Reply(text=text, **kw))
    with plain(fake) as client:
        return client.responses.create(model="m", input="hi").id


def clean(value: Any) -> bool:
    dumped = value.model_dump_json(warnings=False)
    return not any(v in dumped for v in PII)


def test_classify_reads_of_stored_responses() -> None:
    for method, path in [("GET", "/v1/responses/resp_1"), ("POST", "/v1/responses/r/cancel")]:
        api = classify(method, path)
        assert api is not None and api.stored and api.name == "openai.responses"
    for method, path in [
        ("GET", "/v1/responses/resp_1/input_items"),
        ("POST", "/v1/responses/input_tokens"),
        ("POST", "/v1/responses/compact"),
        ("DELETE", "/v1/responses/resp_1"),
        ("GET", "/v1/responses"),
    ]:
        assert classify(method, path) is None, path
    post = classify("POST", "/v1/responses")
    assert post is not None and not post.stored


def test_retrieve_is_inspected_like_the_answer(fake: FakeProvider) -> None:
    rid = stored(fake)
    with guarded(fake) as client:
        got = client.responses.retrieve(rid)
        assert got.id == rid and got.output_text == REDACTED

        blocked = stored(fake, "fine, but here is investment advice: buy")
        with pytest.raises(ContentBlockedError) as e:
            client.responses.retrieve(blocked)
        assert e.value.direction == "output"


def test_retrieve_stream_is_inspected(fake: FakeProvider) -> None:
    rid = stored(fake, chunk_size=3)
    with guarded(fake) as client:
        events = list(client.responses.retrieve(rid, stream=True))
        assert all(clean(e) for e in events)
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        assert "".join(deltas) == REDACTED
        assert events[-1].type == "response.completed"
        assert events[-1].response.output_text == REDACTED
        numbers = [e.sequence_number for e in events]
        assert numbers == sorted(set(numbers))

        with client.responses.stream(response_id=rid) as s:  # the SDK's stream helper
            assert all(clean(e) for e in s)
            assert s.get_final_response().output_text == REDACTED

        blocked = stored(fake, "ok " * 40 + "then investment advice: buy", chunk_size=4)
        seen: list[str] = []
        with pytest.raises(ContentBlockedError):
            for e in client.responses.retrieve(blocked, stream=True):
                seen.append(getattr(e, "delta", "") or "")
        assert "investment" not in "".join(seen)


def test_a_resumed_stream_repeats_the_whole_text_inspected(fake: FakeProvider) -> None:
    """``starting_after`` starts in the middle of the text: the deltas carry the rest,
    the events that repeat the text carry all of it, both inspected."""
    rid = stored(fake, chunk_size=2)
    with guarded(fake) as client:
        events = list(client.responses.retrieve(rid, stream=True, starting_after=5))
    assert events[0].sequence_number > 5
    assert all(clean(e) for e in events)
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert REDACTED.endswith("".join(deltas)) and "".join(deltas) != REDACTED
    done = [e for e in events if e.type == "response.output_text.done"]
    assert [e.text for e in done] == [REDACTED]
    assert events[-1].response.output_text == REDACTED  # type: ignore[union-attr]


async def test_async_retrieve(fake: FakeProvider) -> None:
    rid = stored(fake)
    client = openai.AsyncOpenAI(
        base_url=fake.openai_url,
        api_key=api_key(),
        max_retries=0,
        http_client=async_http_client(policy=REDACT),
    )
    assert (await client.responses.retrieve(rid)).output_text == REDACTED
    stream = await client.responses.retrieve(rid, stream=True)
    events = [e async for e in stream]
    assert all(clean(e) for e in events)
    assert events[-1].response.output_text == REDACTED  # type: ignore[union-attr]
    await client.close()


def test_a_read_is_audited_and_charges_no_tokens(fake: FakeProvider, recorded: Recorded) -> None:
    policy = {"spec": {**REDACT["spec"], "rateLimit": {"requestsPerMinute": 1}}}
    with guarded(fake, policy=policy, telemetry=recorded.telemetry) as client:
        made = client.responses.create(model="m", input="hi")
        for _ in range(3):  # reads are not generations: the limit does not count them
            assert client.responses.retrieve(made.id).output_text == "echo: hi"
        rid = stored(fake)
        client.responses.retrieve(rid)
        list(client.responses.retrieve(rid, stream=True))
    records = recorded.records()
    assert [r.outcome for r in records] == ["ok"] * 6
    generation, *reads = records
    assert generation.input_tokens > 0 and generation.output_tokens > 0
    assert all(r.input_tokens == 0 and r.output_tokens == 0 and not r.cost for r in reads)
    assert [r.response_id for r in reads] == [made.id] * 3 + [rid, rid]
    assert [r.stream for r in reads] == [False] * 4 + [True]
    assert [v.category for v in reads[-1].violations] == ["pii.email", "pii.phone"]


def test_a_read_needs_the_policy_scopes(fake: FakeProvider) -> None:
    rid = stored(fake)
    fine = stored(fake, "all is well")
    fake.clear()
    with guarded(fake, policy=SEED) as client:
        with pytest.raises(MissingScopeError):
            client.responses.retrieve(rid)
        assert fake.requests == []
        with aiguard.context(**GRANTED):
            assert client.responses.retrieve(fine).output_text == "all is well"
            with pytest.raises(ContentBlockedError):  # the seed policy blocks PII
                client.responses.retrieve(rid)


def test_cancel_answers_are_inspected(fake: FakeProvider) -> None:
    """``responses.cancel`` answers with the response (and what it said so far)."""
    rid = stored(fake)
    with plain(fake) as client:
        answer = client.responses.retrieve(rid).model_dump(mode="json", warnings=False)

    def cancel(call: Call) -> Body:
        return Body(200, dumps({**answer, "status": "cancelled"}))

    fake.add_route("POST", "/v1/responses/{response_id}/cancel", cancel)
    with guarded(fake) as client:
        got = client.responses.cancel(rid)
    assert got.status == "cancelled" and got.output_text == REDACTED
