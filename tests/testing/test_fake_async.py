"""The same replies and faults through ``httpx.AsyncClient``: the fake serves async clients
exactly as it serves sync ones (it is a real server; the client's driver is irrelevant)."""

from __future__ import annotations

import json

import httpx
import pytest
from _fake_helpers import chat_body

from aiguard.providers._sse import SSEParser
from aiguard.testing import FakeProvider, Fault, Reply


async def stream_data(client: httpx.AsyncClient) -> tuple[list[str], Exception | None]:
    parser = SSEParser()
    data: list[str] = []
    try:
        async with client.stream("POST", "/chat/completions", json=chat_body(stream=True)) as r:
            async for chunk in r.aiter_raw():
                data.extend(e.data for e in parser.feed(chunk))
    except httpx.TransportError as e:
        return data, e
    return data, None


async def test_replies(fake_provider: FakeProvider, ahttp: httpx.AsyncClient) -> None:
    fake_provider.script(
        Reply(text="hi", usage=(3, 1)), Reply(tool_calls=[("f", "{}")]), Reply(chunks=["a", "b"])
    )
    first = (await ahttp.post("/chat/completions", json=chat_body())).json()
    assert first["choices"][0]["message"]["content"] == "hi"
    assert first["usage"]["total_tokens"] == 4
    second = (await ahttp.post("/chat/completions", json=chat_body())).json()
    assert second["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "f"
    data, err = await stream_data(ahttp)
    assert err is None and data[-1] == "[DONE]"
    pieces = [json.loads(d)["choices"] for d in data[:-1]]
    assert [p[0]["delta"].get("content") for p in pieces[1:3]] == ["a", "b"]
    emb = (await ahttp.post("/embeddings", json={"model": "e", "input": "x"})).json()
    assert len(emb["data"][0]["embedding"]) == 8


@pytest.mark.parametrize(
    ("fault", "events", "error"),
    [
        (Fault.cut_stream(after=1), 2, httpx.RemoteProtocolError),
        (Fault.cut_stream(after=1, clean=True), 2, None),
        (Fault.no_terminal(), 8, None),
        (Fault.error_event(after=2), 4, None),
        (Fault.malformed_json(), 1, None),
        (Fault.latency(0.01), 9, None),
    ],
    ids=lambda v: getattr(v, "kind", None) or str(v),
)
async def test_stream_faults(
    fake_provider: FakeProvider,
    ahttp: httpx.AsyncClient,
    fault: Fault,
    events: int,
    error: type[Exception] | None,
) -> None:
    fake_provider.fault(fault)  # echo "echo: hello there" = 5 pieces of 4 characters
    data, err = await stream_data(ahttp)
    assert len(data) == events
    assert type(err) is error if error else err is None


async def test_status_and_connection_faults(
    fake_provider: FakeProvider, ahttp: httpx.AsyncClient
) -> None:
    fake_provider.fault(
        Fault.status_code(503, retry_after=0.25),
        Fault.malformed_json(),
        Fault.cut_stream(),
        Fault.reset(),
    )
    r = await ahttp.post("/chat/completions", json=chat_body())
    assert (r.status_code, r.headers["retry-after-ms"]) == (503, "250")
    r = await ahttp.post("/chat/completions", json=chat_body())
    with pytest.raises(ValueError):
        r.json()
    with pytest.raises(httpx.RemoteProtocolError):
        await ahttp.post("/chat/completions", json=chat_body())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await ahttp.post("/chat/completions", json=chat_body())
    assert len(fake_provider.requests) == 4


async def test_hang_until_the_async_client_times_out(fake_provider: FakeProvider) -> None:
    fake_provider.fault(Fault.hang())
    async with httpx.AsyncClient(base_url=fake_provider.openai_url, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/chat/completions", json=chat_body())
        fake_provider.fault(Fault.hang(after=1))
        data, err = await stream_data(client)
    assert isinstance(err, httpx.ReadTimeout)
    assert len(data) == 2
