"""The OpenAI adapter's pure codec decodes what the fake sends: the two agree on the wire."""

from __future__ import annotations

import httpx
import pytest
from _fake_helpers import chat_body

from aiguard._effects import RawResponse
from aiguard._types import StreamEvent
from aiguard.errors import (
    ContextWindowExceeded,
    DecodeError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
)
from aiguard.providers import OpenAICompatible
from aiguard.providers._openai_codec import OpenAIStreamDecoder, decode_chat, decode_embeddings
from aiguard.testing import FakeProvider, Fault, Reply


def decode_stream(http: httpx.Client, decoder: OpenAIStreamDecoder) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    with http.stream("POST", "/chat/completions", json=chat_body(stream=True)) as r:
        for chunk in r.iter_raw():
            events.extend(decoder.feed(chunk))
    return events


def test_non_streaming_reply_with_tool_calls(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.script(
        Reply(text="Checking.", tool_calls=[("get_weather", '{"city":"Paris"}')], usage=(10, 5))
    )
    response = decode_chat(http.post("/chat/completions", json=chat_body()).json(), provider="t")
    assert response.text == "Checking."
    assert response.finish_reason == "tool_calls"
    (call,) = response.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 5)
    assert response.model == "gpt-test"


def test_stream_with_tool_calls_and_usage(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(
        Reply(
            text="ok",
            tool_calls=[("a", '{"x":1}'), ("b", '{"y":"long argument text"}')],
            usage=(4, 9),
            cached_tokens=2,
            reasoning_tokens=1,
        )
    )
    decoder = OpenAIStreamDecoder("t")
    events = decode_stream(http, decoder)
    decoder.close()  # [DONE] was seen: no error
    assert "".join(e.text for e in events) == "ok"
    args: dict[int, str] = {}
    names: dict[int, str] = {}
    for e in events:
        if e.tool_call is not None:
            args[e.tool_call.index] = args.get(e.tool_call.index, "") + e.tool_call.arguments
            if e.tool_call.name:
                names[e.tool_call.index] = e.tool_call.name
    assert names == {0: "a", 1: "b"}
    assert args == {0: '{"x":1}', 1: '{"y":"long argument text"}'}
    assert [e.finish_reason for e in events if e.finish_reason] == ["tool_calls"]
    (usage,) = [e.usage for e in events if e.usage]
    assert (usage.input_tokens, usage.output_tokens) == (4, 9)
    assert (usage.cached_input_tokens, usage.reasoning_tokens) == (2, 1)


def test_cut_stream_is_interrupted_at_close(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.script(Reply(chunks=["Hel", "lo", " there"]))
    fake_provider.fault(Fault.cut_stream(after=2))
    decoder = OpenAIStreamDecoder("t")
    events: list[StreamEvent] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", "/chat/completions", json=chat_body(stream=True)) as r,
    ):
        for chunk in r.iter_raw():
            events.extend(decoder.feed(chunk))
    assert "".join(e.text for e in events) == "Hello"
    with pytest.raises(StreamInterrupted):
        decoder.close()


@pytest.mark.parametrize("fault", [Fault.no_terminal(), Fault.cut_stream(after=1, clean=True)])
def test_stream_without_done_is_interrupted(
    fake_provider: FakeProvider, http: httpx.Client, fault: Fault
) -> None:
    fake_provider.fault(fault)
    decoder = OpenAIStreamDecoder("t")
    decode_stream(http, decoder)
    with pytest.raises(StreamInterrupted):
        decoder.close()


def test_error_event_raises_the_typed_error(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.fault(Fault.error_event(status=429), Fault.error_event())
    with pytest.raises(RateLimitError):
        decode_stream(http, OpenAIStreamDecoder("t"))
    with pytest.raises(ServerError):
        decode_stream(http, OpenAIStreamDecoder("t"))


def test_malformed_stream_chunk_is_a_decode_error(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.fault(Fault.malformed_json())
    with pytest.raises(DecodeError):
        decode_stream(http, OpenAIStreamDecoder("t"))


def raw(r: httpx.Response) -> RawResponse:
    return RawResponse(r.status_code, r.headers, r.content)


def test_errors_classify_with_status_request_id_and_retry_after(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    adapter = OpenAICompatible(fake_provider.openai_url, "gpt-test")
    fake_provider.fault(
        Fault.status_code(429, retry_after=1.5),
        Fault.status_code(400, code="context_length_exceeded"),
        Fault.malformed_json(),
    )
    r = http.post("/chat/completions", json=chat_body())
    err = adapter.classify_error(raw(r))
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 1.5
    assert err.request_id == r.headers["x-request-id"] == fake_provider.requests[-1].request_id
    r = http.post("/chat/completions", json=chat_body())
    assert isinstance(adapter.classify_error(raw(r)), ContextWindowExceeded)
    with pytest.raises(DecodeError):
        adapter.parse_chat(raw(http.post("/chat/completions", json=chat_body())))


def test_embeddings_decode(http: httpx.Client) -> None:
    body = http.post("/embeddings", json={"model": "e", "input": ["a", "b c"]}).json()
    response = decode_embeddings(body, provider="t")
    assert len(response.vectors) == 2 and len(response.vectors[0]) == 8
    assert response.usage.input_tokens == 3
