"""Token sources: OAuth2 client credentials against a fake token endpoint on loopback.

The grant follows RFC 6749 section 4.4 (https://www.rfc-editor.org/rfc/rfc6749#section-4.4):
form-encoded ``grant_type=client_credentials``, client authentication by HTTP Basic or form
fields, ``{"access_token", "token_type", "expires_in"}`` answers, ``invalid_client`` errors.
Clocks are injected: no test waits on wall-clock time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import aiguard
from aiguard._effects import Io
from aiguard._types import ChatRequest, coerce_messages
from aiguard.errors import AuthenticationError, ConfigError, ProviderError, ServerError
from aiguard.providers._auth import (
    CachingTokenSource,
    CallableTokenSource,
    GoogleAuthTokenSource,
    OAuth2ClientCredentials,
    StaticToken,
    Token,
    bearer_headers,
)
from aiguard.providers.azure import AzureOpenAI
from aiguard.providers.gemini import VertexAI
from aiguard.testing import FakeProvider, FakeTokenEndpoint, Fault

from ._provider_helpers import fake_secret, no_retry

SECRET = fake_secret("client", "secret")
API_KEY = fake_secret("azure", "key")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture
def tokens(fake: FakeProvider) -> FakeTokenEndpoint:
    return FakeTokenEndpoint.install(fake, client_id="app", client_secret=SECRET)


def source(tokens: FakeTokenEndpoint, **kw: Any) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(tokens.url, "app", SECRET, ["ai.read", "ai.write"], **kw)


def azure(fake: FakeProvider, src: Any) -> AzureOpenAI:
    return AzureOpenAI("gpt-4o", endpoint=fake.url, token_provider=src)


def model_requests(fake: FakeProvider) -> list[Any]:
    return [r for r in fake.requests if r.path != "/oauth2/token"]


# --------------------------------------------------------------------------- basics


def test_secrets_never_in_repr() -> None:
    src = OAuth2ClientCredentials("https://idp.example/token", "app", SECRET, "ai.read")
    assert SECRET not in repr(src) and "ai.read" in repr(src)
    assert "tok-value" not in repr(Token("tok-value", 5.0))
    assert "tok-value" not in repr(StaticToken("tok-value"))


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_fetch_sends_grant_scopes_audience(tokens: FakeTokenEndpoint, method: str) -> None:
    src = source(tokens, audience="https://gateway.internal", auth_method=method)
    tok = src.token()
    assert tok.value == "fake-access-1" and tok.expires_at is not None
    assert tokens.scopes == ["ai.read ai.write"] and tokens.audiences == [
        "https://gateway.internal"
    ]
    assert src.token() is tok and tokens.count == 1  # cached


def test_bad_client_secret_is_authentication_error_without_the_secret(
    fake: FakeProvider, tokens: FakeTokenEndpoint
) -> None:
    src = OAuth2ClientCredentials(tokens.url, "app", "wrong-" + SECRET)
    with (
        aiguard.Client(stages=no_retry(), endpoints={"llm": azure(fake, src)}) as c,
        pytest.raises(AuthenticationError, match="invalid_client") as ei,
    ):
        c.chat("hi", model="llm")
    assert SECRET not in str(ei.value) and ei.value.provider == "oauth2"
    assert model_requests(fake) == []  # nothing reached the model


def test_idp_outage_is_server_error_then_recovers(tokens: FakeTokenEndpoint) -> None:
    tokens.fail_next(1)
    src = source(tokens)
    with pytest.raises(ServerError):
        src.token()
    assert src.token().value == "fake-access-2"


def test_config_errors() -> None:
    with pytest.raises(ConfigError):
        OAuth2ClientCredentials("ftp://x", "a", "b")
    with pytest.raises(ConfigError):
        OAuth2ClientCredentials("https://x", "a", "")
    with pytest.raises(ConfigError):
        OAuth2ClientCredentials("https://x", "a", "b", auth_method="jwt")


# --------------------------------------------------------------------------- concurrency


def test_one_fetch_under_20_concurrent_async_calls(
    fake: FakeProvider, tokens: FakeTokenEndpoint
) -> None:
    src = source(tokens)

    async def main() -> list[str]:
        async with aiguard.AsyncClient(stages=no_retry(), endpoints={"llm": azure(fake, src)}) as c:
            replies = await asyncio.gather(*(c.chat(f"q{i}", model="llm") for i in range(20)))
        return [r.text for r in replies]

    texts = asyncio.run(main())
    assert sorted(texts) == sorted(f"echo: q{i}" for i in range(20))
    assert tokens.count == 1
    assert {r.headers["authorization"] for r in model_requests(fake)} == {"Bearer fake-access-1"}


def test_one_fetch_under_20_concurrent_threads(
    fake: FakeProvider, tokens: FakeTokenEndpoint
) -> None:
    src = source(tokens)
    barrier = threading.Barrier(20)
    with aiguard.Client(stages=no_retry(), endpoints={"llm": azure(fake, src)}) as c:

        def call(i: int) -> str:
            barrier.wait()
            return c.chat(f"q{i}", model="llm").text

        with ThreadPoolExecutor(20) as pool:
            texts = list(pool.map(call, range(20)))
    assert len(texts) == 20 and tokens.count == 1


def test_concurrent_invalidations_of_one_token_refresh_once(tokens: FakeTokenEndpoint) -> None:
    """Twenty requests failed with the same stale token: one refresh, not twenty."""
    src = source(tokens)
    stale = src.token().value
    barrier = threading.Barrier(20)

    def on_401(_: int) -> str:
        barrier.wait()
        src.invalidate(stale)
        return src.token().value

    with ThreadPoolExecutor(20) as pool:
        fresh = set(pool.map(on_401, range(20)))
    assert fresh == {"fake-access-2"} and tokens.count == 2


def test_async_waiters_share_a_failed_fetch_then_retry(tokens: FakeTokenEndpoint) -> None:
    tokens.fail_next(1)
    src = source(tokens)

    async def main() -> list[Any]:
        return await asyncio.gather(*(src.atoken() for _ in range(10)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, ServerError) for r in results) and tokens.count == 1
    assert asyncio.run(src.atoken()).value == "fake-access-2"


# --------------------------------------------------------------------------- expiry and 401


def test_refresh_shortly_before_expiry_with_injected_clock(
    fake: FakeProvider, tokens: FakeTokenEndpoint
) -> None:
    clock = Clock()
    src = source(tokens, clock=clock, refresh_margin=60)
    with aiguard.Client(stages=no_retry(), endpoints={"llm": azure(fake, src)}) as c:
        c.chat("a", model="llm")
        clock.now += 3600 - 61  # still fresh
        c.chat("b", model="llm")
        assert tokens.count == 1
        clock.now += 2  # inside the margin: refreshed before it can expire in flight
        c.chat("c", model="llm")
    assert tokens.count == 2
    auths = [r.headers["authorization"] for r in model_requests(fake)]
    assert auths == ["Bearer fake-access-1", "Bearer fake-access-1", "Bearer fake-access-2"]


def test_short_lived_tokens_are_not_refreshed_on_every_call(tokens: FakeTokenEndpoint) -> None:
    tokens.expires_in = 60  # shorter than the default margin
    clock = Clock()
    src = source(tokens, clock=clock)
    src.token()
    clock.now += 29
    src.token()
    assert tokens.count == 1
    clock.now += 2
    src.token()
    assert tokens.count == 2


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_401_forces_one_refresh_and_one_retry(
    fake: FakeProvider, tokens: FakeTokenEndpoint, mode: str
) -> None:
    src = source(tokens)
    fake.fault(Fault.status_code(401))
    provider = azure(fake, src)
    if mode == "sync":
        with aiguard.Client(stages=no_retry(), endpoints={"llm": provider}) as c:
            text = c.chat("hi", model="llm").text
    else:

        async def main() -> str:
            async with aiguard.AsyncClient(stages=no_retry(), endpoints={"llm": provider}) as c:
                return (await c.chat("hi", model="llm")).text

        text = asyncio.run(main())
    assert text == "echo: hi" and tokens.count == 2
    auths = [r.headers["authorization"] for r in model_requests(fake)]
    assert auths == ["Bearer fake-access-1", "Bearer fake-access-2"]


def test_persistent_401_is_not_retried_forever(
    fake: FakeProvider, tokens: FakeTokenEndpoint
) -> None:
    fake.fault(Fault.status_code(401, times=None))
    with (
        aiguard.Client(stages=no_retry(), endpoints={"llm": azure(fake, source(tokens))}) as c,
        pytest.raises(ProviderError) as ei,
    ):
        c.chat("hi", model="llm")
    assert ei.value.status_code == 401
    assert len(model_requests(fake)) == 2 and tokens.count == 2


# --------------------------------------------------------------------------- other sources


def test_vertex_with_oauth2_gateway_token(fake: FakeProvider, tokens: FakeTokenEndpoint) -> None:
    vertex = VertexAI(
        "gemini-2.0-flash", project="p", token_source=source(tokens), base_url=fake.url
    )
    first = vertex.auth_headers()
    assert isinstance(first, Io)  # no token yet: the driver must fetch one
    with aiguard.Client(stages=no_retry(), endpoints={"llm": vertex}) as c:
        assert c.chat("hi", model="llm").text == "echo: hi"
    assert vertex.auth_headers() == {"authorization": "Bearer fake-access-1"}  # cached: no Io


def test_azure_token_provider_callables(fake: FakeProvider) -> None:
    calls: list[str] = []

    def provider() -> str:
        calls.append("sync")
        return "entra-sync"

    async def aprovider() -> str:
        calls.append("async")
        return "entra-async"

    p = AzureOpenAI(
        "gpt-4o", endpoint=fake.url, token_provider=provider, async_token_provider=aprovider
    )
    with aiguard.Client(stages=no_retry(), endpoints={"llm": p}) as c:
        c.chat("hi", model="llm")

    async def main() -> None:
        async with aiguard.AsyncClient(stages=no_retry(), endpoints={"llm": p}) as c:
            await c.chat("hi", model="llm")

    asyncio.run(main())
    assert calls == ["sync", "async"]
    assert [r.headers["authorization"] for r in fake.requests] == [
        "Bearer entra-sync",
        "Bearer entra-async",
    ]
    assert "api-key" not in fake.requests[0].headers


def test_azure_api_key_and_missing_credentials(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    p = AzureOpenAI("gpt-4o", endpoint=fake.url)
    with (
        aiguard.Client(stages=no_retry(), endpoints={"llm": p}) as c,
        pytest.raises(ConfigError, match="AZURE_OPENAI_API_KEY"),
    ):
        c.chat("hi", model="llm")
    assert fake.requests == []
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", API_KEY)
    with aiguard.Client(stages=no_retry(), endpoints={"llm": p}) as c:
        c.chat("hi", model="llm")
    req = fake.requests[0]
    assert req.headers["api-key"] == API_KEY and req.query == {"api-version": "2024-10-21"}
    assert req.path == "/openai/deployments/gpt-4o/chat/completions"
    assert API_KEY not in repr(p)


def test_azure_content_filter_error(fake: FakeProvider) -> None:
    from aiguard.errors import ContentFilteredError

    fake.fault(Fault.status_code(400, code="content_filter", message="The response was filtered"))
    with (
        aiguard.Client(
            stages=no_retry(),
            endpoints={"llm": AzureOpenAI("d", endpoint=fake.url, api_key=API_KEY)},
        ) as c,
        pytest.raises(ContentFilteredError) as ei,
    ):
        c.chat("hi", model="llm")
    assert ei.value.request_id is not None


class _FakeGoogleCredentials:
    """Shaped like ``google.auth.credentials.Credentials``: refresh() sets token and expiry."""

    def __init__(self) -> None:
        self.refreshes = 0
        self.token: str | None = None
        self.expiry: datetime | None = None

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.token = f"ya29.fake-{self.refreshes}"
        self.expiry = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=1)


def test_google_auth_source_with_injected_credentials() -> None:
    creds = _FakeGoogleCredentials()
    src = GoogleAuthTokenSource(creds)
    assert src.token().value == "ya29.fake-1"
    assert src.token().value == "ya29.fake-1" and creds.refreshes == 1
    src.invalidate()
    assert asyncio.run(src.atoken()).value == "ya29.fake-2"
    headers = bearer_headers(src)
    assert headers == {"authorization": "Bearer ya29.fake-2"}


def test_callable_source_and_bearer_headers_effect() -> None:
    src = CallableTokenSource(lambda: "abc", lifetime=100, clock=Clock())
    first = bearer_headers(src, lambda t: {"x-token": t})
    assert isinstance(first, Io) and first.sync() == {"x-token": "abc"}
    assert bearer_headers(src, lambda t: {"x-token": t}) == {"x-token": "abc"}
    with pytest.raises(ConfigError):
        CallableTokenSource(lambda: "").token()


def test_custom_caching_source_subclass() -> None:
    class Counting(CachingTokenSource):
        def __init__(self) -> None:
            super().__init__(clock=Clock())
            self.n = 0

        def _fetch(self) -> Token:
            self.n += 1
            return Token(f"t{self.n}", None)  # no expiry: cached until invalidated

    s = Counting()
    assert s.token().value == "t1" and s.token().value == "t1"
    s.invalidate("not-current")
    assert s.token().value == "t1"
    s.invalidate("t1")
    assert s.token().value == "t2" and s.fetch_count == 2


def test_azure_config_naming_only_the_model(fake: FakeProvider) -> None:
    from aiguard.providers._base import build_provider

    p = build_provider(
        {"provider": "azure-openai", "model": "gpt-4o", "endpoint": fake.url, "api_key": API_KEY}
    )
    assert isinstance(p, AzureOpenAI) and p.deployment == "gpt-4o"
    with pytest.raises(ConfigError, match="deployment"):
        AzureOpenAI(endpoint=fake.url)


def test_waiters_survive_the_cancellation_of_the_fetching_task() -> None:
    class Slow(CachingTokenSource):
        def __init__(self) -> None:
            super().__init__()
            self.started = asyncio.Event()
            self.release = asyncio.Event()
            self.n = 0

        def _fetch(self) -> Token:
            raise NotImplementedError

        async def _afetch(self) -> Token:
            self.n += 1
            self.started.set()
            await self.release.wait()
            return Token(f"t{self.n}", None)

    async def main() -> str:
        src = Slow()
        owner = asyncio.create_task(src.atoken())
        await src.started.wait()
        waiter = asyncio.create_task(src.atoken())
        await asyncio.sleep(0)  # the waiter now awaits the shared fetch
        owner.cancel()
        src.started.clear()
        await src.started.wait()  # the waiter started its own fetch
        src.release.set()
        return (await waiter).value

    assert asyncio.run(main()) == "t2"


def test_concurrent_401s_through_the_adapter_refresh_once(tokens: FakeTokenEndpoint) -> None:
    """What the pipeline does per task: auth, build, 401, ``invalidate_credentials()``, auth
    again. Each task names the token it sent, so twenty 401s cost one refresh."""
    p = AzureOpenAI("d", endpoint="http://127.0.0.1:9", token_provider=source(tokens))
    request = ChatRequest(messages=coerce_messages("hi"))

    async def auth() -> dict[str, str]:
        a = p.auth_headers()
        return await a.async_() if isinstance(a, Io) and a.async_ else a  # type: ignore[return-value]

    sent_count = 0

    async def one(gate: asyncio.Event) -> str:
        nonlocal sent_count
        sent = await auth()
        p.build_chat(request, stream=False, auth=sent)
        sent_count += 1
        if sent_count == 20:
            gate.set()
        await gate.wait()  # every task has sent the first token before any sees its 401
        assert p.invalidate_credentials() is True
        return (await auth())["authorization"]

    async def main() -> set[str]:
        gate = asyncio.Event()
        return set(await asyncio.gather(*(one(gate) for _ in range(20))))

    assert asyncio.run(main()) == {"Bearer fake-access-2"}
    assert tokens.count == 2
