"""Bearer-token sources for outbound calls: OAuth2 client credentials, Google, static, callables.

A token fetch is network I/O, yet adapters are sans-IO. So a provider's ``auth_headers()``
returns headers directly while the cached token is fresh (the common, allocation-light path)
and an ``Io`` effect only when a fetch is due; the sync client runs ``Io.sync`` and the async
client awaits ``Io.async_``. Both land in the same cache, so the two clients share one token.

Concurrency rules, because a burst of calls at start-up or at expiry is the normal case:

* one fetch per expiry, however many threads or tasks ask (a ``threading.Lock`` for sync
  callers, one shared future per event loop for async ones);
* tokens are refreshed ``refresh_margin`` seconds *before* they expire, so a token never dies
  in flight;
* a 401 from the API calls ``invalidate(token)``: only the token that failed is dropped, so
  twenty concurrent 401s on the same stale token cause one refresh, not twenty.

Secrets (client secrets, tokens) never appear in ``repr()``, logs or error messages.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, Protocol, runtime_checkable

import httpx

from .._effects import Io
from ..errors import (
    AuthenticationError,
    ConfigError,
    ConnectError,
    DecodeError,
    ProviderError,
    TimeoutError,
    error_for_status,
)
from ._base import body_snippet, parse_retry_after

__all__ = [
    "CachingTokenSource",
    "CallableTokenSource",
    "GoogleAuthTokenSource",
    "OAuth2ClientCredentials",
    "StaticToken",
    "Token",
    "TokenSource",
    "bearer_headers",
    "invalidate_from_auth",
    "token_from_auth",
]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and when it stops working (``None``: unknown, treated as long-lived).

    ``expires_at`` is on the clock of the source that issued it (``time.time`` by default).
    """

    value: str = field(repr=False)
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"Token(value='***', expires_at={self.expires_at!r})"


@runtime_checkable
class TokenSource(Protocol):
    """Anything that can hand out bearer tokens, sync and async.

    ``invalidate(value)`` is called after the API rejected ``value`` (HTTP 401); sources that
    cannot refresh may ignore it.
    """

    def token(self) -> Token: ...

    async def atoken(self) -> Token: ...

    def invalidate(self, value: str | None = None) -> None: ...


class CachingTokenSource(ABC):
    """Caches one token and refreshes it once, shortly before expiry, under any concurrency.

    Subclasses implement ``_fetch`` (blocking) and may implement ``_afetch`` (native async);
    the default ``_afetch`` runs ``_fetch`` in a worker thread so the event loop never blocks.
    """

    def __init__(self, *, refresh_margin: float = 60.0, clock: Clock = time.time) -> None:
        if refresh_margin < 0:
            raise ConfigError("refresh_margin must be >= 0 seconds")
        self._margin = refresh_margin
        self._clock = clock
        self._token: Token | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self._inflight: asyncio.Future[Token] | None = None
        self._inflight_loop: asyncio.AbstractEventLoop | None = None
        self.fetch_count = 0
        """How many fetches this source made; tests and metrics read it."""

    # -- subclass hooks ---------------------------------------------------------------------

    @abstractmethod
    def _fetch(self) -> Token: ...

    async def _afetch(self) -> Token:
        return await asyncio.to_thread(self._fetch)

    # -- cache ------------------------------------------------------------------------------

    def peek(self) -> Token | None:
        """The cached token if it is still fresh, without any I/O; else ``None``."""
        tok = self._token
        if tok is None:
            return None
        if tok.expires_at is None:
            return tok
        # Short-lived tokens (a few minutes) would otherwise be refreshed on every call: cap the
        # margin at half the lifetime the token was issued with.
        margin = min(self._margin, max(0.0, (tok.expires_at - self._fetched_at) / 2))
        return tok if self._clock() < tok.expires_at - margin else None

    def _store(self, tok: Token) -> Token:
        self.fetch_count += 1
        self._fetched_at = self._clock()
        self._token = tok
        return tok

    def invalidate(self, value: str | None = None) -> None:
        """Drop the cached token (only if it is ``value``, when given) so the next call fetches."""
        tok = self._token
        if tok is not None and (value is None or tok.value == value):
            self._token = None

    # -- sync -------------------------------------------------------------------------------

    def token(self) -> Token:
        tok = self.peek()
        if tok is not None:
            return tok
        with self._lock:
            tok = self.peek()  # another thread may have fetched while we waited
            if tok is not None:
                return tok
            return self._store(self._fetch())

    # -- async ------------------------------------------------------------------------------

    async def atoken(self) -> Token:
        tok = self.peek()
        if tok is not None:
            return tok
        loop = asyncio.get_running_loop()
        fut = self._inflight
        if fut is not None and self._inflight_loop is loop:
            # shield: one waiter being cancelled must not cancel the fetch the others await
            try:
                return await asyncio.shield(fut)
            except asyncio.CancelledError:
                if not fut.cancelled():
                    raise  # this waiter itself was cancelled
                return await self.atoken()  # the fetching task was: fetch anew
        fut = loop.create_future()
        self._inflight, self._inflight_loop = fut, loop
        try:
            tok = self._store(await self._afetch())
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no "exception was never retrieved" when nobody waits
            raise
        finally:
            if self._inflight is fut:
                self._inflight = None
                self._inflight_loop = None
        fut.set_result(tok)
        return tok


class StaticToken:
    """A fixed token (pre-provisioned, or for tests). ``invalidate`` cannot refresh it."""

    def __init__(self, value: str) -> None:
        if not value:
            raise ConfigError("StaticToken needs a non-empty token")
        self._token = Token(value)

    def __repr__(self) -> str:
        return "StaticToken('***')"

    def token(self) -> Token:
        return self._token

    async def atoken(self) -> Token:
        return self._token

    def invalidate(self, value: str | None = None) -> None:
        return None

    def peek(self) -> Token:
        return self._token


class CallableTokenSource(CachingTokenSource):
    """Wraps a callable returning a token string (e.g. Azure identity's bearer token provider).

    Such callables usually cache on their own, so without ``lifetime`` the value is fetched on
    every call (in a worker thread for async callers); with ``lifetime`` (seconds) it is cached
    here too. ``afunc`` is an optional native-async twin of ``func``.
    """

    def __init__(
        self,
        func: Callable[[], str],
        *,
        afunc: Callable[[], Awaitable[str]] | None = None,
        lifetime: float | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(refresh_margin=0.0, clock=clock)
        self._func = func
        self._afunc = afunc
        self._lifetime = lifetime

    def __repr__(self) -> str:
        return f"CallableTokenSource({getattr(self._func, '__name__', 'func')})"

    def _wrap(self, value: object) -> Token:
        if not isinstance(value, str) or not value:
            raise ConfigError("token provider callable must return a non-empty string")
        # lifetime None: expire immediately so the wrapped callable decides every time
        exp = self._clock() + self._lifetime if self._lifetime is not None else self._clock()
        return Token(value, exp)

    def peek(self) -> Token | None:
        return None if self._lifetime is None else super().peek()

    def _fetch(self) -> Token:
        return self._wrap(self._func())

    async def _afetch(self) -> Token:
        if self._afunc is not None:
            return self._wrap(await self._afunc())
        return await super()._afetch()


class OAuth2ClientCredentials(CachingTokenSource):
    """OAuth2 client-credentials grant (RFC 6749 section 4.4) against ``token_url``.

    ``auth_method`` is ``"client_secret_basic"`` (HTTP Basic, the RFC's default) or
    ``"client_secret_post"`` (id and secret in the form). ``audience`` is sent for IdPs that
    want it (Auth0, some gateways). Tokens without ``expires_in`` are cached until a 401.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = (),
        audience: str | None = None,
        *,
        auth_method: str = "client_secret_basic",
        extra_params: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        refresh_margin: float = 60.0,
        clock: Clock = time.time,
        verify: bool | str = True,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        if not token_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"OAuth2ClientCredentials: token_url must be http(s), got {token_url!r}"
            )
        if not client_id or not client_secret:
            raise ConfigError("OAuth2ClientCredentials: client_id and client_secret are required")
        if auth_method not in {"client_secret_basic", "client_secret_post"}:
            raise ConfigError(
                "OAuth2ClientCredentials: auth_method must be 'client_secret_basic' or "
                f"'client_secret_post', got {auth_method!r}"
            )
        if isinstance(scopes, str):
            scopes = scopes.split()
        self.token_url = token_url
        self.client_id = client_id
        self.scopes = tuple(scopes)
        self.audience = audience
        self._secret = client_secret
        self._auth_method = auth_method
        self._extra = dict(extra_params or {})
        self._timeout = timeout
        self._verify = verify

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentials(token_url={self.token_url!r}, "
            f"client_id={self.client_id!r}, scopes={list(self.scopes)!r})"
        )

    def _request_parts(self) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        form = {"grant_type": "client_credentials", **self._extra}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        if self.audience:
            form["audience"] = self.audience
        if self._auth_method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = self._secret
            return form, None
        return form, httpx.BasicAuth(self.client_id, self._secret)

    def _fetch(self) -> Token:
        form, auth = self._request_parts()
        try:
            with httpx.Client(timeout=self._timeout, verify=self._verify) as client:
                r = client.post(self.token_url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as e:
            raise _network_error(e, self.token_url) from e
        return self._parse(r)

    async def _afetch(self) -> Token:
        form, auth = self._request_parts()
        try:
            async with httpx.AsyncClient(timeout=self._timeout, verify=self._verify) as client:
                r = await client.post(
                    self.token_url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT
                )
        except httpx.HTTPError as e:
            raise _network_error(e, self.token_url) from e
        return self._parse(r)

    def _parse(self, r: httpx.Response) -> Token:
        if r.status_code != 200:
            cls: type[ProviderError] = error_for_status(r.status_code)
            if r.status_code in (400, 401):  # RFC 6749 5.2: invalid_client / invalid_grant
                cls = AuthenticationError
            raise cls(
                f"OAuth2 token endpoint refused client {self.client_id!r}: "
                f"{_oauth_error(r.content)}",
                provider="oauth2",
                endpoint=self.token_url,
                status_code=r.status_code,
                retry_after=parse_retry_after(r.headers),
                body_snippet=body_snippet(r.content),
            )
        try:
            body = r.json()
            value = body["access_token"]
            if not isinstance(value, str) or not value:
                raise ValueError("access_token is empty")
            expires_in = body.get("expires_in")
        except (ValueError, KeyError, TypeError) as e:
            # no snippet: a malformed success body may still contain the token
            raise DecodeError(
                f"OAuth2 token response is not a valid token body ({type(e).__name__})",
                provider="oauth2",
                endpoint=self.token_url,
                status_code=r.status_code,
            ) from None
        exp = None
        if expires_in is not None:
            try:
                exp = self._clock() + float(expires_in)
            except (TypeError, ValueError):
                exp = None
        return Token(value, exp)


class GoogleAuthTokenSource(CachingTokenSource):
    """Google Cloud access tokens (Vertex AI) through ``google-auth``'s default credentials.

    Needs the ``google`` extra (``pip install aiguard[google]``); ``credentials`` may be any
    ``google.auth.credentials.Credentials`` (service account, workload identity...). The
    library's refresh is blocking, so async callers run it in a worker thread.
    """

    DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

    def __init__(
        self,
        credentials: Any = None,
        *,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        refresh_margin: float = 300.0,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self._credentials = credentials
        self.scopes = tuple(scopes)
        self.project: str | None = None

    def __repr__(self) -> str:
        return f"GoogleAuthTokenSource(scopes={list(self.scopes)!r})"

    def _creds(self) -> Any:
        if self._credentials is None:
            try:
                google_auth = importlib.import_module("google.auth")
            except ImportError:
                raise ConfigError(
                    "Vertex AI bearer tokens need google-auth: pip install 'aiguard[google]' "
                    "(or pass token_source=... / access_token=...)"
                ) from None
            self._credentials, self.project = google_auth.default(scopes=list(self.scopes))
        return self._credentials

    def _fetch(self) -> Token:
        injected = self._credentials is not None
        creds = self._creds()
        try:
            gtr = importlib.import_module("google.auth.transport.requests")
            request: Any = gtr.Request()
        except ImportError:
            if not injected:
                raise ConfigError(
                    "google-auth refreshes tokens over `requests`: pip install 'aiguard[google]'"
                    " (google-auth[requests])"
                ) from None
            request = None  # injected credentials may refresh without a transport
        creds.refresh(request)
        expiry = getattr(creds, "expiry", None)
        # google-auth reports a naive UTC datetime
        exp = expiry.replace(tzinfo=timezone.utc).timestamp() if expiry is not None else None
        if exp is not None and self._clock is not time.time:
            exp = self._clock() + (exp - time.time())
        return Token(str(creds.token), exp)


def _network_error(e: httpx.HTTPError, url: str) -> ProviderError:
    if isinstance(e, httpx.TimeoutException):
        return TimeoutError("OAuth2 token request timed out", provider="oauth2", endpoint=url)
    return ConnectError(
        f"OAuth2 token request failed: {type(e).__name__}", provider="oauth2", endpoint=url
    )


def _oauth_error(content: bytes) -> str:
    """``error``/``error_description`` of an RFC 6749 error body, else a generic phrase."""
    import json

    try:
        body = json.loads(content)
    except ValueError:
        return "non-JSON error body"
    if not isinstance(body, dict):
        return "unexpected error body"
    err, desc = body.get("error"), body.get("error_description")
    return ": ".join(str(x) for x in (err, desc) if x) or "no error code"


# --------------------------------------------------------------------------- headers


_SENT: ContextVar[tuple[int, str] | None] = ContextVar("aiguard_sent_token", default=None)
"""(source id, token) this task or thread last put on a request: what a 401 rejected.

The pipeline builds, sends and reacts to a 401 within one task (async) or thread (sync), so
this names the token that failed without the pipeline having to carry request headers."""


def bearer_headers(
    source: TokenSource,
    render: Callable[[str], dict[str, str]] | None = None,
) -> dict[str, str] | Io:
    """Auth headers now if the source holds a fresh token, else an ``Io`` that fetches one.

    ``render`` turns a token into headers (default ``Authorization: Bearer <token>``).
    """
    fmt = render or _bearer
    key = id(source)
    peek = getattr(source, "peek", None)
    if peek is not None:
        tok = peek()
        if tok is not None:
            _SENT.set((key, tok.value))
            return fmt(tok.value)

    def sync() -> dict[str, str]:
        _SENT.set(None)  # if the fetch itself fails, no earlier token is to blame
        value = source.token().value
        _SENT.set((key, value))
        return fmt(value)

    async def async_() -> dict[str, str]:
        _SENT.set(None)
        value = (await source.atoken()).value
        _SENT.set((key, value))
        return fmt(value)

    return Io(sync, async_)


def _bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def token_from_auth(auth: Mapping[str, str], header: str = "authorization") -> str | None:
    """The token inside headers built by ``bearer_headers`` (to ``invalidate`` it after a 401)."""
    value = auth.get(header)
    if value is None:
        return None
    return value[7:] if value[:7].lower() == "bearer " else value


def invalidate_from_auth(source: TokenSource, auth: Mapping[str, str] | None) -> bool:
    """After a 401: drop the token that failed; ``True`` when retrying with a new one may help.

    Only the token that failed is dropped (concurrent 401s on one stale token then cause one
    refresh): the one in ``auth`` (the failed request's headers) when given, else the one this
    task or thread last sent. When the source holds no token at all, the 401 came from the
    token endpoint itself and a retry would fail the same way.
    """
    if isinstance(source, StaticToken):
        return False
    value = token_from_auth(auth) if auth is not None else None
    if value is None:
        sent = _SENT.get()
        if sent is not None and sent[0] == id(source):
            value = sent[1]
    # a caching source that holds no token never sent one: the 401 was the token endpoint's
    held = source._token is not None if isinstance(source, CachingTokenSource) else True
    source.invalidate(value)
    return value is not None or held
