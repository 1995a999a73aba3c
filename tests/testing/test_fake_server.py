"""The server itself: request log, keep-alive, HTTP framing, concurrency, clean stop, routes."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from _fake_helpers import chat_body

from aiguard.testing import Body, Call, FakeProvider, Fault, Reply, WireFormat, register_route


def fake_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("aiguard-fake")]


def test_request_log_records_what_left_the_process(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    assert fake_provider.requests == [] and fake_provider.last_request is None
    token = "sk-" + "test" * 6  # built at run time: never a literal credential
    http.post(
        "/chat/completions?trace=1",
        json=chat_body("secret plan"),
        headers={"Authorization": f"Bearer {token}", "X-Custom": "a"},
    )
    (req,) = fake_provider.requests
    assert req is fake_provider.last_request
    assert (req.method, req.path, req.query) == ("POST", "/v1/chat/completions", {"trace": "1"})
    assert req.headers["authorization"] == f"Bearer {token}"
    assert req.headers["x-custom"] == "a"
    assert req.json["messages"][0]["content"] == "secret plan"
    assert req.body.startswith(b"{") and not req.stream
    assert req.time > 0
    fake_provider.clear()
    assert fake_provider.requests == []


def test_clear_keeps_scripts_and_reset_drops_them(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    fake_provider.script(Reply(text="a"), Reply(text="b"))
    http.post("/chat/completions", json=chat_body())
    fake_provider.clear()
    assert fake_provider.pending_replies == 1
    fake_provider.reset()
    assert fake_provider.pending_replies == 0
    body = http.post("/chat/completions", json=chat_body("x")).json()
    assert body["choices"][0]["message"]["content"] == "echo: x"


def test_keep_alive_serves_many_requests_on_one_connection(
    fake_provider: FakeProvider, http: httpx.Client
) -> None:
    for _ in range(20):
        http.post("/chat/completions", json=chat_body())
    assert len(fake_provider.requests) == 20
    assert len([t for t in fake_threads() if t.name == "aiguard-fake-conn"]) == 1


def raw_exchange(fake: FakeProvider, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", fake.port)) as s:
        s.sendall(payload)
        out = b""
        while chunk := s.recv(65536):  # Connection: close -> the server ends the exchange
            out += chunk
    return out


def test_chunked_request_body_and_connection_close(fake_provider: FakeProvider) -> None:
    body = b'{"model":"m","messages":[{"role":"user","content":"chunked hi"}]}'
    payload = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
        + b"%x\r\n%s\r\n" % (10, body[:10])
        + b"%x;ext=1\r\n%s\r\n" % (len(body) - 10, body[10:])
        + b"0\r\n\r\n"
    )
    out = raw_exchange(fake_provider, payload)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close" in out
    assert b"echo: chunked hi" in out
    assert fake_provider.last_request is not None
    assert fake_provider.last_request.body == body


def test_expect_100_continue(fake_provider: FakeProvider) -> None:
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    out = raw_exchange(fake_provider, head + body)
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")


def test_fifty_concurrent_sync_clients(fake_provider: FakeProvider) -> None:
    fake_provider.script(*(Reply(text=f"r{i}") for i in range(50)))
    barrier = threading.Barrier(50)  # all fifty requests are in flight together
    limits = httpx.Limits(max_connections=50)
    with httpx.Client(base_url=fake_provider.openai_url, limits=limits) as c:

        def one(i: int) -> str:
            barrier.wait()
            if i % 2:
                r = c.post("/chat/completions", json=chat_body(str(i)))
                return str(r.json()["choices"][0]["message"]["content"])
            with c.stream("POST", "/chat/completions", json=chat_body(stream=True)) as r:
                raw = r.read()
            return "stream" if raw.endswith(b"data: [DONE]\n\n") else "broken"

        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(one, range(50)))
    assert results.count("stream") == 25
    served = sorted(r for r in results if r != "stream")
    assert len(served) == 25 and all(r.startswith("r") for r in served)
    assert len(fake_provider.requests) == 50
    assert fake_provider.pending_replies == 0  # every scripted reply served exactly once


async def test_fifty_concurrent_async_requests(
    fake_provider: FakeProvider, ahttp: httpx.AsyncClient
) -> None:
    async def one(i: int) -> str:
        r = await ahttp.post("/chat/completions", json=chat_body(f"n{i}"))
        return str(r.json()["choices"][0]["message"]["content"])

    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert sorted(results) == sorted(f"echo: n{i}" for i in range(50))
    assert len({r.request_id for r in fake_provider.requests}) == 50


def test_stop_joins_threads_and_closes_the_port() -> None:
    before = len(fake_threads())
    fake = FakeProvider().start()
    with httpx.Client(base_url=fake.openai_url) as c:  # leaves an idle keep-alive connection
        c.post("/chat/completions", json=chat_body())
        port = fake.port
        fake.stop()
    assert len(fake_threads()) == before
    assert not fake.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.url
    fake.stop()  # idempotent


def test_restart_serves_on_the_same_port() -> None:
    with FakeProvider() as fake:
        url = fake.url
    fake.start()
    try:
        assert fake.url == url
        assert httpx.post(f"{url}/v1/chat/completions", json=chat_body()).status_code == 200
    finally:
        fake.stop()


def test_extra_route_on_one_instance(fake_provider: FakeProvider, http: httpx.Client) -> None:
    def handler(call: Call) -> Body:
        text = call.reply.text if call.reply else "none"
        return Body(201, f'{{"user": "{call.params["user"]}", "text": "{text}"}}'.encode())

    fake_provider.add_route("PUT", "/custom/{user}/thing", handler)
    fake_provider.script(Reply(text="t"))
    r = http.put(f"{fake_provider.url}/custom/u%2042/thing")
    assert r.status_code == 201
    assert r.json() == {"user": "u 42", "text": "t"}
    assert fake_provider.last_request is not None
    assert fake_provider.last_request.params == {"user": "u 42"}


@pytest.fixture
def custom_format() -> Iterator[None]:
    from aiguard.testing import _wire

    saved = list(_wire._ROUTES)

    class Wire(WireFormat):
        def error(self, status: int, fault: object, message: str | None = None) -> Body:
            return Body(status, b'{"type": "error"}')

    def handler(call: Call) -> Body:
        return Body(200, b'{"model": "%s"}' % call.params["model"].encode())

    register_route("POST", "/v9/models/{model}:generate", handler, Wire())
    yield
    _wire._ROUTES[:] = saved


@pytest.mark.usefixtures("custom_format")
def test_registered_wire_format_gets_scripts_faults_and_log() -> None:
    with FakeProvider() as fake, httpx.Client(base_url=fake.url) as c:
        fake.fault(Fault.status_code(429, retry_after=1))
        r = c.post("/v9/models/gem-1.5:generate", json={})
        assert (r.status_code, r.json(), r.headers["retry-after"]) == (429, {"type": "error"}, "1")
        assert c.post("/v9/models/gem-1.5:generate", json={}).json() == {"model": "gem-1.5"}
        assert [r.params for r in fake.requests] == [{"model": "gem-1.5"}] * 2


def test_handler_bug_becomes_a_500(fake_provider: FakeProvider, http: httpx.Client) -> None:
    def broken(call: Call) -> Body:
        raise KeyError("oops")

    fake_provider.add_route("POST", "/broken", broken)
    r = http.post(f"{fake_provider.url}/broken", json={})
    assert r.status_code == 500
    assert "KeyError" in r.json()["error"]["message"]


def test_wait_for_requests_times_out(fake_provider: FakeProvider) -> None:
    with pytest.raises(TimeoutError, match="0 of 1"):
        fake_provider.wait_for_requests(1, timeout=0.01)


def test_factory_fixture_gives_independent_fakes(
    fake_provider_factory: Callable[..., FakeProvider],
) -> None:
    primary, backup = fake_provider_factory(), fake_provider_factory(chunk_size=2)
    assert primary.url != backup.url and backup.chunk_size == 2
    primary.fault(Fault.status_code(503))
    assert httpx.post(f"{primary.openai_url}/chat/completions", json=chat_body()).status_code == 503
    assert httpx.post(f"{backup.openai_url}/chat/completions", json=chat_body()).status_code == 200
    assert len(primary.requests) == len(backup.requests) == 1


def test_garbage_request_line_gets_400_and_no_server_error(fake_provider: FakeProvider) -> None:
    out = raw_exchange(fake_provider, b"NONSENSE\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert fake_provider.server_errors == []


def test_command_line_server_serves_until_stdin_closes() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "aiguard.testing", "--until-eof", "--chunk-size", "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        r = httpx.post(f"{url}/v1/chat/completions", json=chat_body("cli"))
        assert r.json()["choices"][0]["message"]["content"] == "echo: cli"
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()


def test_serves_and_hangs_on_file_descriptors_above_1024() -> None:
    resource = pytest.importorskip("resource")
    import os

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 1200
    if soft < need and (hard != resource.RLIM_INFINITY and hard < need):
        pytest.skip("cannot raise the open-file limit")
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with FakeProvider() as fake, httpx.Client(base_url=fake.openai_url, timeout=0.2) as c:
            assert c.post("/chat/completions", json=chat_body()).status_code == 200
            fake.fault(Fault.hang())
            with pytest.raises(httpx.ReadTimeout):
                c.post("/chat/completions", json=chat_body())
            assert fake.server_errors == []
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_log_limit_keeps_the_last_requests_and_counts_all() -> None:
    with FakeProvider(log_limit=2) as fake, httpx.Client(base_url=fake.openai_url) as c:
        for i in range(5):
            c.post("/chat/completions", json=chat_body(f"m{i}"))
        assert [r.json["messages"][0]["content"] for r in fake.requests] == ["m3", "m4"]
        assert fake.request_count == 5
        assert len(fake.wait_for_requests(5)) == 2
        fake.clear()
        assert fake.request_count == 0


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"x-api-key": "k"}, 200),
        ({"authorization": "Bearer t"}, 200),  # the official SDK's auth_token= form
        ({}, 401),
    ],
)
def test_anthropic_route_takes_an_api_key_or_a_bearer_token(
    fake_provider: FakeProvider, http: httpx.Client, headers: dict[str, str], status: int
) -> None:
    body = {"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    r = http.post("/messages", json=body, headers={"anthropic-version": "2023-06-01", **headers})
    assert r.status_code == status
    if status == 200:
        assert r.json()["type"] == "message"
