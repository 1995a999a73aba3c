"""Every fault, over raw httpx: what the client observes, and which replies each consumes."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from _fake_helpers import chat_body

from aiguard.providers._sse import SSEParser
from aiguard.testing import FakeProvider, Fault, Reply


def content_of(r: httpx.Response) -> str:
    return str(r.json()["choices"][0]["message"]["content"])


def stream_data(http: httpx.Client, body: dict[str, Any]) -> tuple[list[str], Exception | None]:
    """SSE data fields received before the body ended, and the transport error if any."""
    parser = SSEParser()
    data: list[str] = []
    try:
        with http.stream("POST", "/chat/completions", json=body) as r:
            assert r.status_code == 200
            for chunk in r.iter_raw():
                data.extend(e.data for e in parser.feed(chunk))
    except httpx.TransportError as e:
        return data, e
    return data, None


def test_status_fault_with_retry_after(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(Reply(text="after the retry"))
    fake_provider.fault(Fault(status=429, retry_after=1.5))
    r = http.post("/chat/completions", json=chat_body())
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1.5"
    assert r.headers["retry-after-ms"] == "1500"
    assert r.headers["x-request-id"]
    assert r.json() == {
        "error": {
            "message": "Rate limit reached for requests.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    # a status fault answers instead of the model: the scripted reply waits for the retry
    assert content_of(http.post("/chat/completions", json=chat_body())) == "after the retry"


def test_status_fault_times_and_overrides(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(
        Fault.status_code(503, times=2, retry_after=2),
        Fault.status_code(400, code="context_length_exceeded", message="too long"),
    )
    statuses = [http.post("/chat/completions", json=chat_body()) for _ in range(4)]
    assert [r.status_code for r in statuses] == [503, 503, 400, 200]
    assert statuses[0].headers["retry-after"] == "2"
    assert statuses[0].json()["error"]["type"] == "server_error"
    assert statuses[2].json()["error"]["code"] == "context_length_exceeded"
    assert statuses[2].json()["error"]["message"] == "too long"


def test_forever_fault_until_reset(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.status_code(500, times=None))
    assert {http.post("/chat/completions", json=chat_body()).status_code for _ in range(3)} == {500}
    fake_provider.reset()
    assert http.post("/chat/completions", json=chat_body()).status_code == 200
    assert len(fake_provider.requests) == 1


def test_non_json_error_body(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.status_code(502, body="<html>Bad Gateway</html>"))
    r = http.post("/chat/completions", json=chat_body())
    assert r.status_code == 502
    assert r.headers["content-type"] == "text/html"
    assert r.text == "<html>Bad Gateway</html>"


def test_latency_then_normal_answer(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(Reply(text="slow"))
    fake_provider.fault(Fault.latency(0.01))
    assert content_of(http.post("/chat/completions", json=chat_body())) == "slow"


def test_latency_combines_with_a_status(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault(status=504, delay=0.01))
    assert http.post("/chat/completions", json=chat_body()).status_code == 504


def test_hang_until_the_client_gives_up(fake_provider: FakeProvider) -> None:
    fake_provider.fault(Fault.hang())
    with (
        httpx.Client(base_url=fake_provider.openai_url, timeout=0.2) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post("/chat/completions", json=chat_body())
    assert len(fake_provider.requests) == 1
    with httpx.Client(base_url=fake_provider.openai_url) as client:
        assert client.post("/chat/completions", json=chat_body()).status_code == 200


def test_hang_is_released_by_stop() -> None:
    fake = FakeProvider().start()
    fake.fault(Fault.hang())
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(f"{fake.openai_url}/chat/completions", json=chat_body(), timeout=30)
        except httpx.TransportError as e:
            outcome.append(e)

    caller = threading.Thread(target=call)
    caller.start()
    fake.wait_for_requests(1)
    fake.stop()
    caller.join()
    assert len(outcome) == 1  # the client saw the server go away, it did not wait 30 s
    assert isinstance(outcome[0], httpx.RemoteProtocolError | httpx.ReadError)


def test_hang_mid_stream(fake_provider: FakeProvider) -> None:
    fake_provider.script(Reply(chunks=["a", "b", "c", "d"]))
    fake_provider.fault(Fault.hang(after=2))
    parser = SSEParser()
    data: list[str] = []
    with (
        httpx.Client(base_url=fake_provider.openai_url, timeout=0.3) as client,
        pytest.raises(httpx.ReadTimeout),
        client.stream("POST", "/chat/completions", json=chat_body(stream=True)) as r,
    ):
        for chunk in r.iter_raw():
            data.extend(e.data for e in parser.feed(chunk))
    assert len(data) == 3  # the role chunk and two content chunks, then silence
    assert '"b"' in data[2]


def test_reset(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(Reply(text="kept"))
    fake_provider.fault(Fault.reset())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.post("/chat/completions", json=chat_body())
    assert content_of(http.post("/chat/completions", json=chat_body())) == "kept"


def test_malformed_json(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.malformed_json(times=2))
    r = http.post("/chat/completions", json=chat_body())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        r.json()
    data, err = stream_data(http, chat_body(stream=True))
    assert err is None
    assert len(data) == 1
    with pytest.raises(ValueError):
        json.loads(data[0])


def test_cut_stream_drops_the_connection(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(Reply(chunks=["one", "two", "three", "four"]))
    fake_provider.fault(Fault.cut_stream(after=2))
    data, err = stream_data(http, chat_body(stream=True))
    assert isinstance(err, httpx.RemoteProtocolError)  # incomplete chunked body
    assert len(data) == 3
    assert "[DONE]" not in data
    assert http.post("/chat/completions", json=chat_body()).status_code == 200


def test_cut_stream_clean_ends_the_body(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.script(Reply(chunks=["one", "two", "three"]))
    fake_provider.fault(Fault.cut_stream(after=1, clean=True))
    data, err = stream_data(http, chat_body(stream=True))
    assert err is None
    assert len(data) == 2 and '"one"' in data[1]


def test_cut_non_streaming_body(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.cut_stream())
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/chat/completions", json=chat_body())


def test_no_terminal(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.no_terminal())
    data, err = stream_data(http, chat_body(stream=True))
    assert err is None
    assert data[-1] != "[DONE]"
    assert '"finish_reason":"stop"' in data[-2]
    assert '"usage":{' in data[-1]  # everything but the terminal event was sent


def test_error_event(fake_provider: FakeProvider, http: httpx.Client) -> None:
    fake_provider.fault(Fault.error_event(after=1, status=429, message="slow down"))
    data, err = stream_data(http, chat_body(stream=True))
    assert err is None
    assert len(data) == 3
    assert json.loads(data[-1]) == {
        "error": {"message": "slow down", "type": "server_error", "param": None, "code": 429}
    }


def test_error_event_on_a_non_streaming_call(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.fault(Fault.error_event())
    assert http.post("/chat/completions", json=chat_body()).status_code == 500


def test_faults_precede_replies_and_stream_faults_consume_them(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.script(Reply(text="first"), Reply(text="second"))
    fake_provider.fault(Fault.cut_stream(after=1, clean=True))
    data, _ = stream_data(http, chat_body(stream=True))
    assert '"firs"' in data[1]  # the cut stream delivered (part of) the first reply
    assert content_of(http.post("/chat/completions", json=chat_body())) == "second"
    assert fake_provider.pending_faults == 0


async def test_async_faults(fake_provider: FakeProvider, ahttp: httpx.AsyncClient) -> None:
    fake_provider.fault(Fault.status_code(429, retry_after=3), Fault.reset())
    r = await ahttp.post("/chat/completions", json=chat_body())
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await ahttp.post("/chat/completions", json=chat_body())
    assert (await ahttp.post("/chat/completions", json=chat_body())).status_code == 200


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="status"):
        Fault()
    with pytest.raises(ValueError, match="times"):
        Fault.reset(times=0)
    with pytest.raises(TypeError):
        FakeProvider().fault(Reply())  # type: ignore[arg-type]


def test_targeted_faults_pass_other_paths_by(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.fault(Fault.status_code(500).on("/v1/embeddings"))
    assert http.post("/chat/completions", json=chat_body()).status_code == 200
    assert http.post("/embeddings", json={"model": "e", "input": "x"}).status_code == 500
    fake_provider.fault(Fault.status_code(503, times=2).on("/v1/chat/*"))
    assert http.post("/embeddings", json={"model": "e", "input": "x"}).status_code == 200
    codes = [http.post("/chat/completions", json=chat_body()).status_code for _ in range(3)]
    assert codes == [503, 503, 200]


def test_immune_routes_take_only_targeted_faults(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    from aiguard.testing import Body, Call

    def token(call: Call) -> Body:
        return Body(200, b'{"access_token": "t"}')

    fake_provider.add_route("POST", "/token", token, replies=False, faults=False)
    fake_provider.fault(Fault.status_code(500))
    assert http.post(f"{fake_provider.url}/token").status_code == 200
    assert fake_provider.pending_faults == 1  # still waiting for the model call
    fake_provider.reset()
    fake_provider.fault(Fault.status_code(503).on("/token"))
    assert http.post(f"{fake_provider.url}/token").status_code == 503
