"""OpenAI's Responses API through ``aiguard.http_client``: every event that carries answer
text carries the redacted text the deltas delivered, tool results and tool-call arguments
sent back are inspected, and the events keep unique, increasing sequence numbers.

The bytes the SDK reads are taken from the guarded client itself (a raw stream), and the
official ``openai`` SDK (sync and async) parses the same stream; ``fake.requests`` is what
left the process. Streams FakeProvider cannot produce are served by a mock transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import ResponseStreamEvent

from aiguard.errors import ContentBlockedError
from aiguard.sdk import async_http_client, http_client
from aiguard.testing import FakeProvider, Fault, Reply

from ._support import REDACT, api_key

KINDS = pytest.mark.parametrize("kind", ["sync", "async"])
EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
PII = ("jane@example.com", "415 555 2671")
TEXT = "write to jane@example.com today or call +1 415 555 2671, thanks"
REDACTED = "write to [EMAIL_1] today or call [PHONE_1], thanks"
UPSTREAM = "http://upstream.test/v1"
STREAM: dict[str, Any] = {"model": "m", "input": "hi", "stream": True}

Event = dict[str, Any]


# ------------------------------------------------------------------------------ helpers


async def post(
    kind: str,
    url: str,
    payload: dict[str, Any],
    transport: Callable[[httpx.Request], httpx.Response] | None = None,
) -> tuple[bytes, BaseException | None]:
    """What the guarded client hands its caller (the SDK) for one request, byte for byte, and
    the error that ended the body if any."""
    options: dict[str, Any] = {"policy": REDACT, "retries": 0}
    if transport is not None:
        options.update(transport=httpx.MockTransport(transport), library="httpx")
    raw = b""
    try:
        if kind == "sync":
            with http_client(**options) as hc, hc.stream("POST", url, json=payload) as r:
                for chunk in r.iter_raw():
                    raw += chunk
        else:
            async with (
                async_http_client(**options) as ahc,
                ahc.stream("POST", url, json=payload) as r,
            ):
                async for chunk in r.aiter_raw():
                    raw += chunk
    except ContentBlockedError as e:
        return raw, e
    return raw, None


def events_of(raw: bytes) -> list[Event]:
    """The data of each event, validated against the SDK's own event models."""
    out = []
    for block in raw.split(b"\n\n"):
        data = [line[5:].strip() for line in block.split(b"\n") if line.startswith(b"data:")]
        if data:
            event = json.loads(data[0])
            EVENT.validate_python(event)
            out.append(event)
    return out


def deltas(events: list[Event]) -> list[str]:
    return [e["delta"] for e in events if e["type"] == "response.output_text.delta"]


def assert_clean(raw: bytes) -> None:
    for value in PII:
        assert value.encode() not in raw


def assert_sequence(events: list[Event]) -> None:
    numbers = [e["sequence_number"] for e in events]
    assert numbers == sorted(set(numbers)), numbers


def texts_in(events: list[Event]) -> dict[str, str]:
    """The answer text each kind of event carries (for the first text part)."""
    out: dict[str, str] = {}
    for e in events:
        kind = e["type"]
        if kind == "response.output_text.done":
            out[kind] = e["text"]
        elif kind == "response.content_part.done":
            out[kind] = e["part"]["text"]
        elif kind == "response.output_item.done" and e["item"].get("content"):
            out[kind] = e["item"]["content"][0]["text"]
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            output = e["response"].get("output") or []
            if output and output[0].get("content"):
                out[kind] = output[0]["content"][0]["text"]
    return out


def sse(events: list[Event]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def served(events: list[Event]) -> Callable[[httpx.Request], httpx.Response]:
    """A mock upstream that answers every request with this event stream."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=sse(events)
        )

    return handler


def part(text: str, logprobs: list[Any] | None = None) -> Event:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}


def message(text: str | None, status: str = "completed") -> Event:
    content = [] if text is None else [part(text)]
    return {"id": "msg_1", "type": "message", "role": "assistant", "status": status,
            "content": content}  # fmt: skip


def response(status: str, output: list[Event]) -> Event:
    return {"id": "resp_1", "object": "response", "created_at": 1, "model": "m",
            "status": status, "output": output, "parallel_tool_calls": True, "tools": [],
            "tool_choice": "auto", "error": None, "incomplete_details": None,
            "instructions": None, "metadata": {}, "temperature": 1.0, "top_p": 1.0}  # fmt: skip


def scripted_stream(
    pieces: list[str],
    *,
    end: str = "response.completed",
    between: list[Event] | None = None,
    deltas_logprobs: list[Any] | None = None,
    text: str | None = None,
) -> list[Event]:
    """A Responses stream of one text part (``text``, else the pieces joined); ``between``
    go after the last delta."""
    text = "".join(pieces) if text is None else text
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events: list[Event] = [
        {"type": "response.created", "response": response("in_progress", [])},
        {"type": "response.output_item.added", "output_index": 0,
         "item": message(None, "in_progress")},
        {"type": "response.content_part.added", **where, "part": part("")},
    ]  # fmt: skip
    for piece in pieces:
        events.append({"type": "response.output_text.delta", **where, "delta": piece,
                       "logprobs": deltas_logprobs or []})  # fmt: skip
    events += between or []
    status = {"response.completed": "completed", "response.incomplete": "incomplete"}
    events += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": part(text)},
        {"type": "response.output_item.done", "output_index": 0, "item": message(text)},
        {"type": end, "response": response(status.get(end, "failed"), [message(text)])},
    ]
    for n, e in enumerate(events):
        e["sequence_number"] = n
    return events


def sdk(fake: FakeProvider, kind: str) -> Any:
    if kind == "sync":
        return openai.OpenAI(
            base_url=fake.openai_url, api_key=api_key(), max_retries=0,
            http_client=http_client(policy=REDACT, retries=0),
        )  # fmt: skip
    return openai.AsyncOpenAI(
        base_url=fake.openai_url, api_key=api_key(), max_retries=0,
        http_client=async_http_client(policy=REDACT, retries=0),
    )  # fmt: skip


async def sdk_events(client: Any, **kw: Any) -> list[Any]:
    """The events the SDK yields for ``responses.create(stream=True)``."""
    if isinstance(client, openai.AsyncOpenAI):
        return [e async for e in await client.responses.create(stream=True, **kw)]
    return list(client.responses.create(stream=True, **kw))


async def close(client: Any) -> None:
    if isinstance(client, openai.AsyncOpenAI):
        await client.close()
    else:
        client.close()


# ------------------------------------------------------------------------------ answer streams


@KINDS
@pytest.mark.parametrize("size", [1, 3, 7, 1000])
async def test_no_event_carries_the_raw_text(fake: FakeProvider, kind: str, size: int) -> None:
    fake.script(Reply(text=TEXT, chunk_size=size))
    raw, error = await post(kind, f"{fake.openai_url}/responses", STREAM)
    assert error is None
    assert_clean(raw)
    events = events_of(raw)
    assert "".join(deltas(events)) == REDACTED
    assert texts_in(events) == {
        "response.output_text.done": REDACTED,
        "response.content_part.done": REDACTED,
        "response.output_item.done": REDACTED,
        "response.completed": REDACTED,
    }
    assert all(deltas(events))  # no empty deltas
    assert_sequence(events)
    upstream = set(range(len(events) + 2 * len(TEXT)))
    assert {e["sequence_number"] for e in events} <= upstream


@KINDS
async def test_the_sdk_sees_only_redacted_text(fake: FakeProvider, kind: str) -> None:
    client = sdk(fake, kind)
    fake.script(Reply(text=TEXT, chunk_size=5))
    events = await sdk_events(client, model="m", input="hi")
    assert not [e for e in events if any(v in e.model_dump_json(warnings=False) for v in PII)]
    final = events[-1].response
    assert final.output_text == REDACTED
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(set(numbers))

    fake.script(Reply(text=TEXT, chunk_size=4))
    if kind == "sync":
        with client.responses.stream(model="m", input="hi") as s:
            seen = [e for e in s]
            got = s.get_final_response()
    else:
        async with client.responses.stream(model="m", input="hi") as s:
            seen = [e async for e in s]
            got = await s.get_final_response()
    assert not [e for e in seen if any(v in e.model_dump_json(warnings=False) for v in PII)]
    assert got.output_text == REDACTED
    await close(client)


@KINDS
async def test_an_incomplete_answer_is_redacted(fake: FakeProvider, kind: str) -> None:
    fake.script(Reply(text=TEXT, chunk_size=6, finish_reason="length"))
    raw, error = await post(kind, f"{fake.openai_url}/responses", STREAM)
    assert error is None
    assert_clean(raw)
    events = events_of(raw)
    assert events[-1]["type"] == "response.incomplete"
    assert texts_in(events)["response.incomplete"] == REDACTED
    assert_sequence(events)


@KINDS
async def test_a_failed_answer_is_redacted(fake: FakeProvider, kind: str) -> None:
    fake.script(Reply(text=TEXT, chunk_size=3))
    fake.fault(Fault.error_event(after=12))
    raw, error = await post(kind, f"{fake.openai_url}/responses", STREAM)
    assert error is None
    assert_clean(raw)
    events = events_of(raw)
    assert events[-1]["type"] == "response.failed"
    assert REDACTED.startswith("".join(deltas(events)))  # held text went out before the end
    assert_sequence(events)

    # a failed response that carries the text it had so far
    stream = scripted_stream([TEXT[:20], TEXT[20:]], end="response.failed")
    raw, error = await post(kind, f"{UPSTREAM}/responses", STREAM, served(stream))
    assert error is None
    assert_clean(raw)
    assert texts_in(events_of(raw))["response.failed"] == REDACTED


@KINDS
async def test_text_without_deltas_is_inspected(kind: str) -> None:
    stream = scripted_stream([], text=TEXT)  # the text only in the events that end it
    raw, error = await post(kind, f"{UPSTREAM}/responses", STREAM, served(stream))
    assert error is None
    assert_clean(raw)
    assert set(texts_in(events_of(raw)).values()) == {REDACTED}

    blocked = scripted_stream([], text="fine, but here is investment advice")
    raw, error = await post(kind, f"{UPSTREAM}/responses", STREAM, served(blocked))
    assert isinstance(error, ContentBlockedError)
    assert b"investment" not in raw

    # an event that disagrees with the deltas carries what the deltas delivered
    odd = scripted_stream(["fine "])
    odd[-2]["item"] = message("fine, but here is investment advice")  # output_item.done
    raw, error = await post(kind, f"{UPSTREAM}/responses", STREAM, served(odd))
    assert error is None
    assert b"investment" not in raw
    assert set(texts_in(events_of(raw)).values()) == {"fine "}


@KINDS
async def test_a_blocked_answer_leaks_through_no_event(fake: FakeProvider, kind: str) -> None:
    fake.script(Reply(text="here: investment advice, buy", chunk_size=4))
    raw, error = await post(kind, f"{fake.openai_url}/responses", STREAM)
    assert isinstance(error, ContentBlockedError)
    assert b"investment" not in raw and b"advice" not in raw
    assert b"response.output_text.done" not in raw and b"response.completed" not in raw


@KINDS
async def test_short_answers_have_no_empty_deltas(fake: FakeProvider, kind: str) -> None:
    fake.script(Reply(text="hi jane@example.com", chunk_size=2))
    raw, _ = await post(kind, f"{fake.openai_url}/responses", STREAM)
    events = events_of(raw)
    assert deltas(events) == ["hi [EMAIL_1]"]
    assert_sequence(events)
    client = sdk(fake, kind)
    fake.script(Reply(text="hi jane@example.com", chunk_size=2))
    got = await sdk_events(client, model="m", input="hi")
    assert [e.delta for e in got if e.type == "response.output_text.delta"] == ["hi [EMAIL_1]"]
    await close(client)


@KINDS
async def test_sequence_numbers_stay_unique_with_events_between(kind: str) -> None:
    """An annotation between the last delta and the end of the text: the held-back text
    cannot ride on a delta already sent, so what follows is renumbered."""
    annotation = {"type": "response.output_text.annotation.added", "item_id": "msg_1",
                  "output_index": 0, "content_index": 0, "annotation_index": 0,
                  "annotation": {"type": "url_citation", "url": "https://example.org",
                                 "title": "t", "start_index": 0, "end_index": 1}}  # fmt: skip
    stream = scripted_stream([TEXT[:30], TEXT[30:]], between=[annotation])
    raw, error = await post(kind, f"{UPSTREAM}/responses", STREAM, served(stream))
    assert error is None
    assert_clean(raw)
    events = events_of(raw)
    assert "".join(deltas(events)) == REDACTED
    assert_sequence(events)
    assert [e["type"] for e in events].count("response.output_text.annotation.added") == 1


@KINDS
async def test_logprobs_do_not_carry_the_raw_tokens(kind: str) -> None:
    token = {"token": "jane@example.com", "bytes": list(b"jane"), "logprob": -0.1,
             "top_logprobs": []}  # fmt: skip
    stream = scripted_stream([TEXT], deltas_logprobs=[token])
    raw, error = await post(kind, f"{UPSTREAM}/responses", STREAM, served(stream))
    assert error is None
    assert_clean(raw)

    answer = response("completed", [message(TEXT)])
    answer["output"][0]["content"][0]["logprobs"] = [token]

    def whole(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    raw, error = await post(kind, f"{UPSTREAM}/responses", {"model": "m", "input": "hi"}, whole)
    assert error is None
    assert_clean(raw)
    assert json.loads(raw)["output"][0]["content"][0]["text"] == REDACTED


# ------------------------------------------------------------------------------ requests


async def create(client: Any, **kw: Any) -> Any:
    r = client.responses.create(**kw)
    return await r if isinstance(client, openai.AsyncOpenAI) else r


@KINDS
async def test_tool_results_and_arguments_sent_back_are_inspected(
    fake: FakeProvider, kind: str
) -> None:
    client = sdk(fake, kind)
    await create(
        client,
        model="m",
        input=[
            {"role": "user", "content": "who wrote?"},
            {"type": "function_call", "call_id": "c1", "name": "lookup",
             "arguments": json.dumps({"email": "jane@example.com", "n": 3})},
            {"type": "function_call_output", "call_id": "c1", "output": "jane@example.com"},
            {"type": "function_call", "call_id": "c2", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c2",
             "output": [{"type": "input_text", "text": "call +1 415 555 2671"}]},
        ],
    )  # fmt: skip
    await close(client)
    sent = fake.requests[-1]
    assert_clean(sent.body)
    items = sent.json["input"]
    assert json.loads(items[1]["arguments"]) == {"email": "[EMAIL_1]", "n": 3}
    assert items[2]["output"] == "[EMAIL_1]"
    assert items[3]["arguments"] == "{}"  # unchanged arguments keep their bytes
    assert items[4]["output"][0]["text"] == "call [PHONE_1]"


@KINDS
async def test_a_blocked_tool_result_is_not_sent(fake: FakeProvider, kind: str) -> None:
    client = sdk(fake, kind)
    with pytest.raises(ContentBlockedError):
        await create(
            client,
            model="m",
            input=[
                {"role": "user", "content": "what now?"},
                {"type": "function_call_output", "call_id": "c1",
                 "output": "here is some investment advice"},
            ],
        )  # fmt: skip
    with pytest.raises(ContentBlockedError):
        await create(
            client,
            model="m",
            input=[
                {"type": "function_call", "call_id": "c1", "name": "f",
                 "arguments": json.dumps({"q": "investment advice"})},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ],
        )  # fmt: skip
    await close(client)
    assert fake.requests == []


@KINDS
async def test_chat_tool_call_arguments_sent_back_are_inspected(
    fake: FakeProvider, kind: str
) -> None:
    client = sdk(fake, kind)
    messages = [
        {"role": "user", "content": "who?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "f", "arguments": json.dumps({"to": "jane@example.com"})}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "call +1 415 555 2671"},
    ]  # fmt: skip
    r = client.chat.completions.create(model="m", messages=messages)
    if kind == "async":
        await r
    await close(client)
    sent = fake.requests[-1]
    assert_clean(sent.body)
    call = sent.json["messages"][1]["tool_calls"][0]["function"]
    assert json.loads(call["arguments"]) == {"to": "[EMAIL_1]"}
    assert sent.json["messages"][2]["content"] == "call [PHONE_1]"


# ------------------------------------------------------------------------------ other streams


@KINDS
async def test_chat_stream_carries_no_raw_text(fake: FakeProvider, kind: str) -> None:
    fake.script(Reply(text=TEXT, chunk_size=3))
    raw, error = await post(kind, f"{fake.openai_url}/chat/completions",
                            {"model": "m", "stream": True,
                             "messages": [{"role": "user", "content": "hi"}]})  # fmt: skip
    assert error is None
    assert_clean(raw)
    chunks = [json.loads(b[6:]) for b in raw.split(b"\n\n") if b.startswith(b"data: {")]
    text = "".join(c["delta"].get("content") or "" for ch in chunks for c in ch["choices"])
    assert text == REDACTED
    assert not [c for c in chunks if c["choices"] and c["choices"][0]["delta"] == {"content": ""}]


@KINDS
async def test_anthropic_block_start_text_is_inspected(kind: str) -> None:
    events: list[Event] = [
        {"type": "message_start", "message": {"id": "m1", "type": "message", "role": "assistant",
         "content": [], "model": "c", "usage": {"input_tokens": 3, "output_tokens": 0}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "text", "text": "mail jane@exa"}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "mple.com now"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
    ]  # fmt: skip
    raw, error = await post(kind, "http://upstream.test/v1/messages",
                            {"model": "c", "max_tokens": 5, "stream": True,
                             "messages": [{"role": "user", "content": "hi"}]},
                            served(events))  # fmt: skip
    assert error is None
    assert_clean(raw)
    got = [json.loads(b.split(b"data: ", 1)[1]) for b in raw.split(b"\n\n") if b"data: " in b]
    start = next(e for e in got if e["type"] == "content_block_start")
    text = start["content_block"]["text"] + "".join(
        e["delta"]["text"] for e in got if e["type"] == "content_block_delta"
    )
    assert text == "mail [EMAIL_1] now"
    assert all(e["delta"]["text"] for e in got if e["type"] == "content_block_delta")


@KINDS
async def test_chat_refusals_are_inspected(kind: str) -> None:
    chunks: list[Event] = [
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {"role": "assistant", "refusal": ""}}]},
        *({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": 0, "delta": {"refusal": TEXT[i : i + 6]}}]}
          for i in range(0, len(TEXT), 6)),
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]  # fmt: skip

    def stream(request: httpx.Request) -> httpx.Response:
        body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=body + b"data: [DONE]\n\n"
        )

    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    raw, error = await post(kind, f"{UPSTREAM}/chat/completions", {**chat, "stream": True}, stream)
    assert error is None
    assert_clean(raw)
    got = [json.loads(b[6:]) for b in raw.split(b"\n\n") if b.startswith(b"data: {")]
    text = "".join(c["delta"].get("refusal") or "" for g in got for c in g["choices"])
    assert text == REDACTED
    assert raw.index(b"[PHONE_1]") < raw.index(b'"finish_reason"')

    refused = {"role": "assistant", "content": None, "refusal": TEXT}
    answer = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "finish_reason": "stop", "message": refused}]}  # fmt: skip

    def whole(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    raw, error = await post(kind, f"{UPSTREAM}/chat/completions", chat, whole)
    assert error is None
    assert json.loads(raw)["choices"][0]["message"]["refusal"] == REDACTED
