"""OpenAI's Responses API on FakeProvider: raw httpx against ``POST /v1/responses`` (shapes,
events, echo, limits, tool calls, errors, faults), the official ``openai`` SDK parsing what it
serves (sync and async, streamed and not), and aiguard's SDK transport governing that path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from aiguard.errors import ContentBlockedError
from aiguard.providers._sse import SSEParser
from aiguard.sdk import async_http_client, http_client
from aiguard.testing import FakeProvider, Fault, Reply
from guard._support import REDACT, Recorded, api_key

EVENT = pydantic.TypeAdapter(ResponseStreamEvent)

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    }
]


def body(text: Any = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "input": text, **extra}


def events_of(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """``(event name, data)`` per SSE event; each data must validate as the SDK's event model."""
    parser = SSEParser()
    out = []
    for e in parser.feed(raw):
        data = json.loads(e.data)
        EVENT.validate_python(data)  # strict pydantic validation, not the SDK's lenient parse
        out.append((e.event, data))
    assert not parser.pending
    return out


def stream(
    http: httpx.Client, payload: dict[str, Any]
) -> tuple[list[tuple[str | None, dict[str, Any]]], Exception | None]:
    """Events received before the body ended, and the transport error if any."""
    raw = b""
    try:
        with http.stream("POST", "/responses", json=payload) as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/event-stream"
            for chunk in r.iter_raw():
                raw += chunk
    except httpx.TransportError as e:
        return events_of(raw[: raw.rfind(b"\n\n") + 2]), e
    return events_of(raw), None


def names(events: list[tuple[str | None, dict[str, Any]]]) -> list[str]:
    return [str(name) for name, _ in events]


# ------------------------------------------------------------------------------ raw wire


def test_echo_response_object(http: httpx.Client) -> None:
    r = http.post("/responses", json=body("hi you", instructions="Be brief."))
    assert r.status_code == 200
    assert r.headers["x-request-id"]
    out = r.json()
    Response.model_validate(out)  # every field the SDK's model requires, with the right types
    assert out["id"].startswith("resp_")
    assert out["object"] == "response"
    assert out["status"] == "completed"
    assert out["incomplete_details"] is None and out["error"] is None
    assert isinstance(out["created_at"], int)
    assert out["model"] == "gpt-test"
    assert out["instructions"] == "Be brief."
    [message] = out["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["id"].startswith("msg_") and message["status"] == "completed"
    assert message["content"] == [
        {"type": "output_text", "text": "echo: hi you", "annotations": [], "logprobs": []}
    ]
    assert out["usage"] == {
        "input_tokens": 4,  # "hi you" and "Be brief."
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 7,
    }


def test_input_items_echo_the_last_user_text(http: httpx.Client) -> None:
    items = [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "first question"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "premier"}],
        },
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a": 1}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny and warm"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "second "},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                {"type": "input_text", "text": "one"},
            ],
        },
    ]
    out = http.post("/responses", json=body(items)).json()
    assert out["output"][0]["content"][0]["text"] == "echo: second one"
    # 3 + 2 + 1 + 2 (call arguments) + 3 (tool output) + 2
    assert out["usage"]["input_tokens"] == 13


def test_max_output_tokens_cuts_the_echo(http: httpx.Client) -> None:
    out = http.post("/responses", json=body("one two three", max_output_tokens=2)).json()
    Response.model_validate(out)
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert out["max_output_tokens"] == 2
    assert out["output"][0]["status"] == "incomplete"
    assert out["output"][0]["content"][0]["text"] == "echo: one"
    assert out["usage"]["output_tokens"] == 2
    # a limit the echo fits in is not a cut
    out = http.post("/responses", json=body("one", max_output_tokens=2)).json()
    assert out["status"] == "completed" and out["incomplete_details"] is None


def test_scripted_reply_with_tool_calls(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(
        Reply(
            text="Let me look.",
            tool_calls=[("get_weather", {"city": "Paris"}), ("get_time", "{}", "call_custom")],
            usage=(20, 9),
            cached_tokens=5,
            reasoning_tokens=3,
            model="gpt-scripted",
        )
    )
    out = http.post("/responses", json=body(tools=TOOLS, tool_choice="auto")).json()
    Response.model_validate(out)
    assert out["model"] == "gpt-scripted"
    assert out["status"] == "completed"
    assert out["tools"] == TOOLS  # the request's settings come back, as the API does
    message, weather, clock = out["output"]
    assert message["content"][0]["text"] == "Let me look."
    assert weather["type"] == "function_call" and weather["status"] == "completed"
    assert weather["name"] == "get_weather" and weather["arguments"] == '{"city":"Paris"}'
    assert weather["call_id"].startswith("call_") and weather["id"].startswith("fc_")
    assert clock["name"] == "get_time" and clock["arguments"] == "{}"
    assert clock["call_id"] == "call_custom"
    assert weather["id"] != clock["id"]
    assert out["usage"] == {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 0},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 29,
    }
    assert fake_provider.pending_replies == 0


def test_tool_calls_alone_have_no_message(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]))
    out = http.post("/responses", json=body(tools=TOOLS)).json()
    assert [item["type"] for item in out["output"]] == ["function_call"]
    assert out["usage"]["output_tokens"] == 1  # the argument words


def test_stream_event_sequence(fake_provider: FakeProvider, http: httpx.Client) -> None:
    events, error = stream(http, body("hi you", stream=True))
    assert error is None
    assert names(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,  # "echo: hi you" in pieces of 4 characters
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert all(name == data["type"] for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    created, in_progress = events[0][1]["response"], events[1][1]["response"]
    assert created["status"] == "in_progress" and created["output"] == []
    assert created["usage"] is None and in_progress["id"] == created["id"]
    added = events[2][1]
    assert added["item"]["status"] == "in_progress" and added["item"]["content"] == []
    deltas = [data for name, data in events if name == "response.output_text.delta"]
    assert [d["delta"] for d in deltas] == ["echo", ": hi", " you"]
    assert {(d["item_id"], d["output_index"], d["content_index"]) for d in deltas} == {
        (added["item"]["id"], 0, 0)
    }
    assert events[7][1]["text"] == "echo: hi you"
    assert events[8][1]["part"]["text"] == "echo: hi you"
    assert events[9][1]["item"]["status"] == "completed"
    final = events[-1][1]["response"]
    assert final["id"] == created["id"] and final["status"] == "completed"
    assert final["output"] == [events[9][1]["item"]]
    assert final["usage"]["input_tokens"] == 2 and final["usage"]["output_tokens"] == 3
    # scripted chunks are the deltas
    fake_provider.script(Reply(chunks=["a", "bc", "d"]))
    events, _ = stream(http, body(stream=True))
    assert [d["delta"] for n, d in events if n == "response.output_text.delta"] == ["a", "bc", "d"]


def test_stream_tool_calls(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(Reply(text="ok", tool_calls=[("get_weather", {"city": "Rome"})]))
    events, _ = stream(http, body(stream=True, tools=TOOLS))
    assert names(events)[-8:] == [
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * 4,  # by 4 characters
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = next(d for n, d in events if n == "response.output_item.added" and d["output_index"])
    assert added["item"]["arguments"] == "" and added["item"]["name"] == "get_weather"
    pieces = [d["delta"] for n, d in events if n == "response.function_call_arguments.delta"]
    assert "".join(pieces) == '{"city":"Rome"}'
    done = next(d for n, d in events if n == "response.function_call_arguments.done")
    assert done["arguments"] == '{"city":"Rome"}' and done["item_id"] == added["item"]["id"]
    final = events[-1][1]["response"]
    assert [i["type"] for i in final["output"]] == ["message", "function_call"]


def test_stream_cut_by_the_limit_ends_incomplete(http: httpx.Client) -> None:
    events, _ = stream(http, body("one two three", stream=True, max_output_tokens=2))
    assert names(events)[-1] == "response.incomplete"
    final = events[-1][1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["content"][0]["text"] == "echo: one"


@pytest.mark.parametrize(
    ("payload", "status", "param", "code"),
    [
        ({"input": "hi"}, 400, "model", "missing_required_parameter"),
        ({"model": "m"}, 400, "input", "missing_required_parameter"),
        ({"model": "m", "input": 3}, 400, "input", "invalid_type"),
        ({"model": "m", "input": []}, 400, "input", "empty_array"),
        ({"model": "m", "input": "x", "max_output_tokens": "9"}, 400, "max_output_tokens", None),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, 400, None, None),
    ],
)
def test_invalid_requests(
    fake_provider: FakeProvider,
    http: httpx.Client,
    payload: dict[str, Any],
    status: int,
    param: str | None,
    code: str | None,
) -> None:
    fake_provider.script(Reply(text="kept for the next valid request"))
    r = http.post("/responses", json=payload)
    assert r.status_code == status
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"]
    if param is not None:
        assert err["param"] == param
    if code is not None:
        assert err["code"] == code
    assert fake_provider.pending_replies == 1  # a rejected request does not use the reply


def test_status_fault_with_retry_after(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.status_code(429, retry_after=2))
    r = http.post("/responses", json=body())
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2" and r.headers["retry-after-ms"] == "2000"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert http.post("/responses", json=body()).status_code == 200


def test_cut_stream(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.cut_stream(after=2, clean=True))
    events, error = stream(http, body("one two three", stream=True))
    assert error is None
    assert names(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
    ]
    fake_provider.fault(Fault.cut_stream(after=1))
    events, error = stream(http, body("one two three", stream=True))
    assert isinstance(error, httpx.RemoteProtocolError)  # the body never ended
    assert names(events)[-1] == "response.output_text.delta"


def test_no_terminal_event(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.no_terminal())
    events, error = stream(http, body(stream=True))
    assert error is None
    assert names(events)[-1] == "response.output_item.done"
    assert "response.completed" not in names(events)


def test_error_event_fails_the_response(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.error_event(after=1))
    events, error = stream(http, body(stream=True))
    assert error is None
    assert names(events)[-2:] == ["response.output_text.delta", "response.failed"]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    failed = events[-1][1]["response"]
    assert failed["id"] == events[0][1]["response"]["id"]  # the same response, now failed
    assert failed["status"] == "failed"
    assert failed["error"] == {
        "code": "server_error",
        "message": "The server had an error while processing your request.",
    }
    fake_provider.fault(Fault.error_event(after=0, status=429, message="slow down"))
    events, _ = stream(http, body(stream=True))
    assert names(events)[-2:] == ["response.content_part.added", "response.failed"]
    assert events[-1][1]["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "slow down",
    }


def test_malformed_json(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.malformed_json(times=2))
    r = http.post("/responses", json=body())
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    r = http.post("/responses", json=body(stream=True))
    assert r.text.startswith("event: response.output_text.delta\ndata: {")
    with pytest.raises(ValueError):
        json.loads(r.text.split("data: ", 1)[1])


# ------------------------------------------------------------------------------ the openai SDK


@pytest.fixture
def sdk(fake_provider: FakeProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_provider.openai_url, api_key=api_key(), max_retries=0) as c:
        yield c


def test_sdk_create(fake_provider: FakeProvider, sdk: openai.OpenAI) -> None:
    r = sdk.responses.create(model="gpt-4o-mini", input="hello", instructions="Be brief.")
    assert r.output_text == "echo: hello"
    assert r.status == "completed"
    assert r.usage is not None and (r.usage.input_tokens, r.usage.output_tokens) == (3, 2)
    assert fake_provider.last_request is not None
    assert fake_provider.last_request.path == "/v1/responses"
    assert fake_provider.last_request.headers["authorization"] == f"Bearer {api_key()}"

    fake_provider.script(Reply(text="checking", tool_calls=[("get_weather", {"city": "Oslo"})]))
    r = sdk.responses.create(
        model="gpt-4o-mini",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "weather?"}]}],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    calls = [item for item in r.output if item.type == "function_call"]
    assert r.output_text == "checking"
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "Oslo"})]

    r = sdk.responses.create(model="m", input="one two three", max_output_tokens=2)
    assert r.status == "incomplete" and r.output_text == "echo: one"
    assert r.incomplete_details is not None and r.incomplete_details.reason == "max_output_tokens"


def test_sdk_stream(fake_provider: FakeProvider, sdk: openai.OpenAI) -> None:
    deltas: list[str] = []
    final = None
    for event in sdk.responses.create(model="m", input="stream me", stream=True):
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        elif event.type == "response.completed":
            final = event.response
    assert "".join(deltas) == "echo: stream me"
    assert final is not None and final.output_text == "echo: stream me"
    assert final.usage is not None and final.usage.total_tokens == 5

    fake_provider.script(Reply(text="ok", tool_calls=[("get_weather", {"city": "Rome"})]))
    with sdk.responses.stream(model="m", input="hi", tools=TOOLS) as s:  # type: ignore[arg-type]
        texts = [e.delta for e in s if e.type == "response.output_text.delta"]
        response = s.get_final_response()  # the helper checks ids and accumulates the output
    assert texts == ["ok"] and response.output_text == "ok"
    assert [item.type for item in response.output] == ["message", "function_call"]


def test_sdk_sees_faults(fake_provider: FakeProvider, sdk: openai.OpenAI) -> None:
    fake_provider.fault(Fault.status_code(429, retry_after=0))
    with pytest.raises(openai.RateLimitError):
        sdk.responses.create(model="m", input="hi")
    fake_provider.fault(Fault.error_event(after=1))
    kinds = [e.type for e in sdk.responses.create(model="m", input="hi", stream=True)]
    assert kinds[-1] == "response.failed"
    fake_provider.fault(Fault.no_terminal())
    with sdk.responses.stream(model="m", input="hi") as s:
        for _ in s:
            pass
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            s.get_final_response()


async def test_async_sdk(fake_provider: FakeProvider) -> None:
    async with openai.AsyncOpenAI(
        base_url=fake_provider.openai_url, api_key=api_key(), max_retries=0
    ) as client:
        r = await client.responses.create(model="m", input="async hello")
        assert r.output_text == "echo: async hello"
        fake_provider.script(Reply(text="streamed reply", chunk_size=5))
        deltas = []
        async for event in await client.responses.create(model="m", input="x", stream=True):
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        assert deltas == ["strea", "med r", "eply"]


# ------------------------------------------------------------------------------ aiguard's transport


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    r = Recorded()
    yield r
    r.close()


def guarded(fake: FakeProvider, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=fake.openai_url,
        api_key=api_key(),
        max_retries=0,  # aiguard owns retries
        http_client=http_client(policy=REDACT, **options),
    )


def test_transport_redacts_input_and_instructions(
    fake_provider: FakeProvider, recorded: Recorded
) -> None:
    client = guarded(fake_provider, telemetry=recorded.telemetry)
    r = client.responses.create(
        model="m",
        instructions="Reply to jane@example.com.",
        input=[
            {"role": "user", "content": "mail bob@example.com the report"},
            {"role": "user", "content": [{"type": "input_text", "text": "cc amy@example.com"}]},
        ],
    )
    sent = fake_provider.last_request
    assert sent is not None and "@example.com" not in sent.body.decode()
    assert sent.json["instructions"] == "Reply to [EMAIL_1]."
    assert sent.json["input"][0]["content"] == "mail [EMAIL_2] the report"
    assert sent.json["input"][1]["content"][0]["text"] == "cc [EMAIL_3]"
    assert r.output_text == "echo: cc [EMAIL_3]"
    [record] = recorded.records()
    assert (record.input_tokens, record.output_tokens) == (9, 3)  # usage from the body
    assert {v.category for v in record.violations} == {"pii.email"}
    client.close()


def test_transport_blocks_before_sending(fake_provider: FakeProvider) -> None:
    client = guarded(fake_provider)
    with pytest.raises(ContentBlockedError):
        client.responses.create(model="m", input="give me investment advice on stocks")
    with pytest.raises(ContentBlockedError):
        client.responses.create(model="m", input="hi", instructions="offer investment advice")
    assert fake_provider.requests == []  # nothing left the process
    client.close()


def test_transport_inspects_the_answer(fake_provider: FakeProvider) -> None:
    client = guarded(fake_provider)
    fake_provider.script(Reply(text="call +1 415 555 2671 now"))
    assert client.responses.create(model="m", input="hi").output_text == "call [PHONE_1] now"
    fake_provider.script(Reply(text="here is some investment advice: buy"))
    with pytest.raises(ContentBlockedError) as blocked:
        client.responses.create(model="m", input="hi")
    assert blocked.value.direction == "output"
    client.close()


def test_transport_inspects_the_stream(fake_provider: FakeProvider, recorded: Recorded) -> None:
    client = guarded(fake_provider, telemetry=recorded.telemetry)
    fake_provider.script(Reply(text="write to jane@example.com today, thanks", chunk_size=3))
    deltas: list[str] = []
    done = final = None
    for event in client.responses.create(model="m", input="hi", stream=True):
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        elif event.type == "response.output_text.done":
            done = event.text
        elif event.type == "response.completed":
            final = event.response
    assert "".join(deltas) == "write to [EMAIL_1] today, thanks"
    assert all("@" not in d for d in deltas)
    assert done == "write to [EMAIL_1] today, thanks"
    assert final is not None and final.output_text == "write to [EMAIL_1] today, thanks"
    [record] = recorded.records()
    assert record.output_tokens == 5  # usage from response.completed

    fake_provider.script(Reply(text="ok " * 60 + "now investment advice: buy", chunk_size=4))
    seen: list[str] = []
    with pytest.raises(ContentBlockedError):
        for event in client.responses.create(model="m", input="hi", stream=True):
            if event.type == "response.output_text.delta":
                seen.append(event.delta)
    assert "ok ok" in "".join(seen) and "investment" not in "".join(seen)
    client.close()


def test_transport_redacts_every_event_carrying_the_text(fake_provider: FakeProvider) -> None:
    client = guarded(fake_provider)
    fake_provider.script(Reply(text="write to jane@example.com today"))
    raw = [e.model_dump_json() for e in client.responses.create(model="m", input="hi", stream=True)]
    client.close()
    assert not [e for e in raw if "jane@example.com" in e]


def test_transport_and_the_sdk_stream_helper(fake_provider: FakeProvider) -> None:
    client = guarded(fake_provider)
    fake_provider.script(Reply(text="reach me at +1 415 555 2671 please", chunk_size=5))
    with client.responses.stream(model="m", input="hi") as s:
        text = "".join(e.delta for e in s if e.type == "response.output_text.delta")
        final = s.get_final_response()
    assert text == final.output_text == "reach me at [PHONE_1] please"
    client.close()


def test_transport_inspects_tool_results_sent_back(fake_provider: FakeProvider) -> None:
    client = guarded(fake_provider)
    client.responses.create(
        model="m",
        input=[
            {"role": "user", "content": "who wrote?"},
            {"type": "function_call_output", "call_id": "c1", "output": "jane@example.com"},
        ],
    )
    client.close()
    sent = fake_provider.last_request
    assert sent is not None and "jane@example.com" not in sent.body.decode()


async def test_async_transport(fake_provider: FakeProvider) -> None:
    async with openai.AsyncOpenAI(
        base_url=fake_provider.openai_url,
        api_key=api_key(),
        max_retries=0,
        http_client=async_http_client(policy=REDACT),
    ) as client:
        r = await client.responses.create(model="m", input="to jane@example.com")
        assert r.output_text == "echo: to [EMAIL_1]"
        fake_provider.script(Reply(text="mail amy@example.com", chunk_size=2))
        deltas = []
        async for event in await client.responses.create(model="m", input="hi", stream=True):
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        assert "".join(deltas) == "mail [EMAIL_1]"
    assert fake_provider.requests[0].json["input"] == "to [EMAIL_1]"
