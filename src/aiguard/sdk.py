"""Guarding the official ``openai`` and ``anthropic`` SDKs: an HTTP client to hand them.

Apps that already use the official SDKs keep their code and change one argument::

    client = openai.OpenAI(http_client=aiguard.http_client(policy="policy.yaml"), max_retries=0)

Every request the SDK sends then passes through aiguard's transport, which applies the
policy (authorization, inspection and redaction of the JSON body, routing, rate limits),
forwards it with the ordinary transport, and inspects the answer (whole bodies, or
server-sent events as they stream) before the SDK parses it; a span and an audit record
cover each call. A refused request raises an ``aiguard.errors`` exception from the SDK
call, and nothing leaves the process.

The SDK versions current at the time of writing (``openai`` 3.x, ``anthropic`` 2.x) run on
``httpx2``; older majors run on ``httpx``. Both have the same client API, so ``library=
"auto"`` returns an ``httpx2`` client when ``httpx2`` is installed and an ``httpx`` one
otherwise; both SDK generations accept either.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from ._context import CallContext
from ._drive import _Cursor
from ._effects import CloseStream, Io, ReadAll, ReadChunk, Sleep
from ._guard._drivers import apump, pump
from ._guard._transport import Forward, Head, SdkGuard
from .errors import AIGuardError, ConfigError

__all__ = ["async_http_client", "guarded_transport", "http_client"]

Library = Literal["auto", "httpx", "httpx2"]


def http_client(
    client_or_policy: Any = None,
    /,
    *,
    policy: Any = None,
    client: Any = None,
    endpoints: Mapping[str, Any] | None = None,
    context: CallContext | Mapping[str, Any] | None = None,
    routing: Literal["rewrite", "refuse", "off"] = "rewrite",
    forward_credentials: bool = False,
    retries: int = 2,
    telemetry: Any = None,
    moderator: Any = None,
    transport: Any = None,
    library: Library = "auto",
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    **client_options: Any,
) -> Any:
    """An ``httpx2.Client`` (or ``httpx.Client``) that governs what an SDK sends with it.

    ``client_or_policy`` (or ``policy=``/``client=``) says what applies: a ``Policy``
    (object, path, YAML text or dict), an aiguard ``Client`` or a ``Governor`` (whose
    stages, limit counters and audit log are then shared with this client).
    ``endpoints`` maps the policy's endpoint names to the base URL the SDK would use for each
    (``{"on-prem-llm": "http://llm.internal/v1"}``, or ``{"base_url": ..., "headers":
    {...}}``): when ``endpointRouting`` sends a call to another endpoint than the SDK's,
    the request is rewritten to it (``routing="rewrite"``; the SDK's credentials are not
    forwarded there unless ``forward_credentials=True``) or refused (``"refuse"``).
    ``context`` gives defaults for the call context (the ambient ``aiguard.context(...)``
    wins). ``retries`` is how often aiguard retries a retryable failure (429, 5xx,
    connection errors; ``Retry-After`` honoured) before the SDK sees it: create the SDK
    with ``max_retries=0`` so the two layers do not multiply. ``moderator`` is a model-based
    :class:`~aiguard.inspect.Moderator` run under the policy's ``contentModeration.moderator``
    settings on each request's prompts and its answer or stream (a ``Client``'s or
    ``Governor``'s own applies without it). ``transport`` is the transport
    to forward with (default: the library's ``HTTPTransport()``); ``client_options`` go to
    the client (``timeout=``...). ``clock`` and ``sleep`` are injectable for tests.
    """
    return _http_client(asynchronous=False, **locals())  # every parameter, by name


def async_http_client(
    client_or_policy: Any = None,
    /,
    *,
    policy: Any = None,
    client: Any = None,
    endpoints: Mapping[str, Any] | None = None,
    context: CallContext | Mapping[str, Any] | None = None,
    routing: Literal["rewrite", "refuse", "off"] = "rewrite",
    forward_credentials: bool = False,
    retries: int = 2,
    telemetry: Any = None,
    moderator: Any = None,
    transport: Any = None,
    library: Library = "auto",
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    **client_options: Any,
) -> Any:
    """The ``AsyncClient`` twin of :func:`http_client`, for ``AsyncOpenAI``/``AsyncAnthropic``."""
    return _http_client(asynchronous=True, **locals())  # every parameter, by name


def guarded_transport(
    guard: SdkGuard,
    inner: Any,
    *,
    library: Library = "auto",
    sleep: Callable[[float], None] | None = None,
    async_sleep: Callable[[float], Awaitable[None]] | None = None,
    asynchronous: bool | None = None,
) -> Any:
    """A transport that applies ``guard`` around ``inner`` (sync or async, as ``inner`` is,
    or as ``asynchronous`` says for a transport that is both, like ``httpx.MockTransport``);
    for mounting beside other transports in a client you build yourself."""
    classes = _classes(_library(library))
    if asynchronous is not False and hasattr(inner, "handle_async_request"):
        return classes["async"](guard, inner, async_sleep or asyncio.sleep)
    if asynchronous is not True and hasattr(inner, "handle_request"):
        return classes["sync"](guard, inner, sleep or time.sleep)
    raise ConfigError(f"transport must be an httpx transport, got {type(inner).__name__}")


def _http_client(
    *,
    asynchronous: bool,
    client_or_policy: Any,
    policy: Any,
    client: Any,
    endpoints: Mapping[str, Any] | None,
    context: CallContext | Mapping[str, Any] | None,
    routing: str,
    forward_credentials: bool,
    retries: int,
    telemetry: Any,
    moderator: Any,
    transport: Any,
    library: Library,
    clock: Callable[[], float] | None,
    sleep: Any,
    client_options: dict[str, Any],
) -> Any:
    """What :func:`http_client` and :func:`async_http_client` do, written once: they take the
    same parameters and differ only in the transport and client classes and the sleep."""
    from .decorators import _context, runtime_for

    mod = _library(library)
    runtime = runtime_for(client_or_policy, policy, client, telemetry, clock, moderator)
    if client is None and hasattr(client_or_policy, "_core"):
        client = client_or_policy
    guard = SdkGuard(
        runtime,
        endpoints=endpoints,
        client=client,
        context=_context(context),
        routing=routing,
        forward_credentials=forward_credentials,
        retries=retries,
    )
    if asynchronous:
        inner = transport if transport is not None else mod.AsyncHTTPTransport()
        outer = guarded_transport(
            guard, inner, library=library, async_sleep=sleep, asynchronous=True
        )
        return mod.AsyncClient(transport=outer, **client_options)
    inner = transport if transport is not None else mod.HTTPTransport()
    outer = guarded_transport(guard, inner, library=library, sleep=sleep, asynchronous=False)
    return mod.Client(transport=outer, **client_options)


def _library(name: str) -> Any:
    if name == "auto":
        try:
            return importlib.import_module("httpx2")
        except ImportError:
            return importlib.import_module("httpx")
    if name in ("httpx", "httpx2"):
        try:
            return importlib.import_module(name)
        except ImportError:
            raise ConfigError(f"library={name!r}: {name} is not installed") from None
    raise ConfigError(f"library must be 'auto', 'httpx' or 'httpx2', got {name!r}")


class _Upstream:
    """The wrapped transport's response, and the iterator its body is read with."""

    __slots__ = ("chunks", "headers", "response", "status_code")

    def __init__(self, response: Any) -> None:
        self.response = response
        self.status_code: int = response.status_code
        self.headers = response.headers
        self.chunks: Any = None


def _rebuilt(mod: Any, eff: Forward) -> Any:
    request = eff.request
    if eff.url is None and eff.headers is None and eff.content is None:
        return request
    headers = eff.headers
    if headers is None:
        headers = [
            (k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"
        ]
    return mod.Request(
        request.method,
        eff.url or request.url,
        headers=headers,
        content=eff.content if eff.content is not None else request.content,
        extensions=request.extensions,
    )


@functools.cache
def _classes(mod: Any) -> dict[str, type]:
    """Transport and body-stream classes for one HTTP library (``httpx`` or ``httpx2``):
    the library checks that streams derive from its own base classes."""

    class SyncBody(mod.SyncByteStream):  # type: ignore[misc]
        def __init__(self, cur: _Cursor, run: Callable[[Any], Any], up: _Upstream) -> None:
            self.cur, self.run, self.up = cur, run, up

        def __iter__(self) -> Any:
            return pump(self.cur, self.run)

        def close(self) -> None:
            try:
                self.cur.flow.close()  # settles and records a body the SDK stopped reading
            finally:
                self.up.response.close()

    class AsyncBody(mod.AsyncByteStream):  # type: ignore[misc]
        def __init__(self, cur: _Cursor, run: Callable[[Any], Any], up: _Upstream) -> None:
            self.cur, self.run, self.up = cur, run, up

        def __aiter__(self) -> Any:
            return apump(self.cur, self.run)

        async def aclose(self) -> None:
            try:
                self.cur.flow.close()
            finally:
                await self.up.response.aclose()

    class SyncTransport(mod.BaseTransport):  # type: ignore[misc]
        def __init__(self, guard: SdkGuard, inner: Any, sleep: Callable[[float], None]) -> None:
            self.guard, self.inner, self.sleep = guard, inner, sleep

        def _perform(self, eff: Any) -> Any:
            if type(eff) is ReadChunk:
                up = eff.handle
                if up.chunks is None:
                    up.chunks = up.response.iter_bytes()
                return next(up.chunks, b"")
            if type(eff) is ReadAll:
                return eff.handle.response.read()
            if type(eff) is CloseStream:
                eff.handle.response.close()
                return None
            if type(eff) is Forward:
                return _Upstream(self.inner.handle_request(_rebuilt(mod, eff)))
            if type(eff) is Io:
                return eff.sync()
            if type(eff) is Sleep:
                self.sleep(eff.seconds)
                return None
            raise TypeError(f"unknown effect {eff!r}")

        def handle_request(self, request: Any) -> Any:
            cur = _Cursor(self.guard.exchange(request, request.read()))
            while True:
                try:
                    eff = cur.resume()
                except StopIteration as stop:
                    return stop.value
                except AIGuardError as e:
                    raise _visible(e, request) from e.__cause__
                if type(eff) is Head:
                    body = SyncBody(cur, self._perform, eff.upstream)
                    return _response(mod, eff, body, request)
                try:
                    cur.value = self._perform(eff)
                except BaseException as e:
                    cur.error = e

        def close(self) -> None:
            self.inner.close()
            self.guard.runtime.close()

    class AsyncTransport(mod.AsyncBaseTransport):  # type: ignore[misc]
        def __init__(
            self, guard: SdkGuard, inner: Any, sleep: Callable[[float], Awaitable[None]]
        ) -> None:
            self.guard, self.inner, self.sleep = guard, inner, sleep

        async def _perform(self, eff: Any) -> Any:
            if type(eff) is ReadChunk:
                up = eff.handle
                if up.chunks is None:
                    up.chunks = up.response.aiter_bytes()
                return await anext(up.chunks, b"")
            if type(eff) is ReadAll:
                return await eff.handle.response.aread()
            if type(eff) is CloseStream:
                await eff.handle.response.aclose()
                return None
            if type(eff) is Forward:
                return _Upstream(await self.inner.handle_async_request(_rebuilt(mod, eff)))
            if type(eff) is Io:
                return await eff.async_() if eff.async_ is not None else eff.sync()
            if type(eff) is Sleep:
                await self.sleep(eff.seconds)
                return None
            raise TypeError(f"unknown effect {eff!r}")

        async def handle_async_request(self, request: Any) -> Any:
            cur = _Cursor(self.guard.exchange(request, await request.aread()))
            while True:
                try:
                    eff = cur.resume()
                except StopIteration as stop:
                    return stop.value
                except AIGuardError as e:
                    raise _visible(e, request) from e.__cause__
                if type(eff) is Head:
                    body = AsyncBody(cur, self._perform, eff.upstream)
                    return _response(mod, eff, body, request)
                try:
                    cur.value = await self._perform(eff)
                except BaseException as e:
                    cur.error = e

        async def aclose(self) -> None:
            await self.inner.aclose()
            self.guard.runtime.close()

    return {"sync": SyncTransport, "async": AsyncTransport}


def _visible(error: AIGuardError, request: Any) -> AIGuardError:
    """``error``, made to pass through an SDK that wraps foreign exceptions.

    The Anthropic SDK (2.x) turns any exception its HTTP client raises into
    ``APIConnectionError`` unless it is an ``AnthropicError``. A refusal must reach the
    caller as what it is, so for that SDK the error's class gains ``AnthropicError`` as a
    second base: ``except ContentBlockedError`` and ``except anthropic.AnthropicError``
    both catch it, and the SDK neither wraps nor retries it.
    """
    agent = str(request.headers.get("user-agent", ""))
    sdk = sys.modules.get("anthropic")
    base = getattr(sdk, "AnthropicError", None)
    if not agent.startswith(("Anthropic/", "AsyncAnthropic/")) or not isinstance(base, type):
        return error
    if not isinstance(error, base):
        error.__class__ = _mixed(type(error), base)
    return error


_MIXED: dict[tuple[type, type], type] = {}


def _mixed(cls: type, base: type) -> type:
    found = _MIXED.get((cls, base))
    if found is None:
        found = _MIXED[(cls, base)] = type(
            cls.__name__,
            (cls, base),
            {"__module__": cls.__module__, "__qualname__": cls.__qualname__},
        )
    return found


def _response(mod: Any, head: Head, body: Any, request: Any) -> Any:
    return mod.Response(
        head.status_code,
        headers=head.headers,
        stream=body,
        request=request,
        extensions=head.upstream.response.extensions,
    )
