"""``Client`` and ``AsyncClient``: thin drivers of the one pipeline.

Each performs the pipeline's effects with its own I/O (``httpx.Client`` or
``httpx.AsyncClient``, ``time.sleep`` or ``asyncio.sleep``) and contains no decisions: every
rule lives in ``_pipeline.py`` and the stages, so the two clients cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx
from typing_extensions import Self, Unpack

from ._call import CacheMode
from ._context import CallContext, resolve_context
from ._core import ChatOptions, Core, EndpointsArg, StageOverrides
from ._effects import CloseStream, Emit, Io, RawResponse, ReadAll, ReadChunk, Send, Sleep
from ._pipeline import Flow, Pricing, _Abandoned
from ._types import ChatResponse, EmbeddingResponse, MessageInput, StreamEvent

__all__ = ["AsyncChatStream", "AsyncClient", "ChatStream", "Client"]

_DEFAULT_TIMEOUT = 60.0
# httpx's own pool defaults (100 connections, 20 kept alive): its connection pool scans every
# connection per request, so a bigger pool costs CPU on every call under concurrency.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

ContextArg = CallContext | Mapping[str, Any] | None


async def _asyncio_sleep(seconds: float) -> None:
    import asyncio  # imported here: sync-only applications never load asyncio

    await asyncio.sleep(seconds)


def _timeout(seconds: float | None) -> Any:
    return httpx.USE_CLIENT_DEFAULT if seconds is None else seconds


class _Cursor:
    """Where a flow is suspended, and what it is sent (or thrown) when it resumes."""

    __slots__ = ("error", "flow", "value")

    def __init__(self, flow: Flow[Any]) -> None:
        self.flow = flow
        self.value: Any = None
        self.error: BaseException | None = None

    def resume(self) -> Any:
        """The flow's next effect; ``StopIteration`` carries its result."""
        value, error = self.value, self.error
        self.value = self.error = None
        return self.flow.throw(error) if error is not None else self.flow.send(value)


# --------------------------------------------------------------------------- sync driver


class _SyncIO:
    """Performs effects with blocking I/O. Tracks open streams so abandonment closes them."""

    __slots__ = ("http", "open", "sleep")

    def __init__(self, http: httpx.Client, sleep: Callable[[float], None]) -> None:
        self.http = http
        self.sleep = sleep
        self.open: set[_SyncHandle] = set()

    def perform(self, eff: Any) -> Any:
        if type(eff) is Send:
            r = eff.request
            req = self.http.build_request(
                r.method, r.url, headers=r.headers, content=r.content, timeout=_timeout(r.timeout)
            )
            if not eff.stream:
                resp = self.http.send(req)
                try:
                    return RawResponse(resp.status_code, resp.headers, resp.read())
                finally:
                    resp.close()
            handle = _SyncHandle(self.http.send(req, stream=True))
            self.open.add(handle)
            return handle
        if type(eff) is ReadChunk:
            return next(eff.handle.chunks, b"")
        if type(eff) is Io:
            return eff.sync()
        if type(eff) is Sleep:
            self.sleep(eff.seconds)
            return None
        if type(eff) is ReadAll:
            return b"".join(eff.handle.chunks)
        if type(eff) is CloseStream:
            eff.handle.close()
            self.open.discard(eff.handle)
            return None
        raise TypeError(f"unknown effect {eff!r}")

    def close_open(self) -> None:
        for h in list(self.open):
            h.close()
        self.open.clear()


class _SyncHandle:
    __slots__ = ("chunks", "headers", "response", "status_code")

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.chunks = response.iter_bytes()

    def guard(self, fn: Any = None, /, **options: Any) -> Any:
        """``aiguard.guard`` sharing this client's stages (limit counters, audit log)."""
        from .decorators import guard

        return guard(self, **options)(fn) if fn is not None else guard(self, **options)

    def http_client(self, **options: Any) -> Any:
        """An HTTP client for the official SDKs, governed by this client's stages."""
        from .sdk import http_client

        return http_client(self, **options)

    def close(self) -> None:
        self.response.close()


def _run(io: _SyncIO, flow: Flow[Any]) -> Any:
    cur = _Cursor(flow)
    while True:
        try:
            eff = cur.resume()
        except StopIteration as stop:
            return stop.value
        try:
            cur.value = io.perform(eff)
        except Exception as e:
            cur.error = e


class ChatStream:
    """A streamed answer: iterate for ``StreamEvent``s; ``response`` is the whole answer.

    Use it as a context manager so that leaving early closes the connection and settles the
    call's budget for what was actually received.
    """

    def __init__(self, io: _SyncIO, flow: Flow[Any]) -> None:
        self._io = io
        self._flow = flow
        self._cursor = _Cursor(flow)
        self._done = False
        self._response: ChatResponse | None = None

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        if self._done:
            raise StopIteration
        io, cur = self._io, self._cursor
        while True:
            try:
                eff = cur.resume()
            except StopIteration as stop:
                self._done = True
                self._response = stop.value
                raise StopIteration from None
            except BaseException:
                self._done = True
                io.close_open()
                raise
            if type(eff) is Emit:
                return eff.event
            try:
                cur.value = io.perform(eff)
            except Exception as e:
                cur.error = e

    @property
    def text_stream(self) -> Iterator[str]:
        return (ev.text for ev in self if ev.text)

    @property
    def response(self) -> ChatResponse:
        """The aggregated answer (text, tool calls, usage); reads the rest of the stream."""
        for _ in self:
            pass
        if self._response is None:
            raise RuntimeError("the stream was closed before it completed")
        return self._response

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            _run(self._io, _thrown(self._flow, _Abandoned()))
        finally:
            self._io.close_open()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _thrown(flow: Flow[Any], error: BaseException) -> Flow[Any]:
    """A flow that starts by receiving ``error`` at the point where ``flow`` is suspended."""
    try:
        eff = flow.throw(error)
    except StopIteration as stop:
        return stop.value
    while True:
        try:
            value = yield eff
        except Exception as e:  # an effect failed: the flow decides what that means
            try:
                eff = flow.throw(e)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            eff = flow.send(value)
        except StopIteration as stop:
            return stop.value


class Client:
    """The synchronous gateway client.

    >>> client = aiguard.Client(endpoints={"cloud-llm": OpenAI(model="gpt-4o-mini")})
    >>> client.chat("Hi", model="cloud-llm").text
    """

    def __init__(
        self,
        endpoints: EndpointsArg | None = None,
        *,
        policy: Any = None,
        timeout: float = _DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        pricing: Pricing | None = None,
        stages: StageOverrides | None = None,
        telemetry: Any = None,
    ) -> None:
        self._core = Core(
            endpoints,
            policy=policy,
            clock=clock,
            pricing=pricing,
            stages=stages,
            telemetry=telemetry,
        )
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, limits=_LIMITS)
        self._io = _SyncIO(self._http, sleep or time.sleep)

    @property
    def endpoints(self) -> Mapping[str, Any]:
        return {name: ep.provider for name, ep in self._core.endpoints.items()}

    def chat(
        self,
        messages: str | Sequence[MessageInput],
        *,
        model: str | None = None,
        context: ContextArg = None,
        cache: CacheMode = "default",
        cache_ttl: float | None = None,
        timeout: float | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatResponse:
        call = self._core.chat_call(
            messages,
            model=model,
            context=context,
            stream=False,
            cache=cache,
            cache_ttl=cache_ttl,
            timeout=timeout,
            options=options,
        )
        result: ChatResponse = _run(self._io, self._core.pipeline.run(call))
        return result

    def stream(
        self,
        messages: str | Sequence[MessageInput],
        *,
        model: str | None = None,
        context: ContextArg = None,
        cache: CacheMode = "default",
        cache_ttl: float | None = None,
        timeout: float | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatStream:
        call = self._core.chat_call(
            messages,
            model=model,
            context=context,
            stream=True,
            cache=cache,
            cache_ttl=cache_ttl,
            timeout=timeout,
            options=options,
        )
        return ChatStream(_SyncIO(self._http, self._io.sleep), self._core.pipeline.run(call))

    def embed(
        self,
        inputs: str | Sequence[str],
        *,
        model: str | None = None,
        context: ContextArg = None,
        dimensions: int | None = None,
        timeout: float | None = None,
    ) -> EmbeddingResponse:
        call = self._core.embed_call(
            inputs, model=model, context=context, dimensions=dimensions, timeout=timeout
        )
        result: EmbeddingResponse = _run(self._io, self._core.pipeline.run(call))
        return result

    @property
    def policy(self) -> Any:
        """The ``Policy`` governing this client (``None`` without one)."""
        return self._core.policy

    def usage(
        self,
        context: ContextArg = None,
        *,
        endpoint: str | None = None,
        model: str | None = None,
    ) -> list[Any]:
        """Consumption and remaining quota of every limit for the key ``context`` maps to."""
        limiter = getattr(self._core.stages.limiter, "limiter", None)
        if limiter is None:
            return []
        result: list[Any] = limiter.usage(resolve_context(context), endpoint=endpoint, model=model)
        return result

    def close(self) -> None:
        """Release connections and flush what stages hold (audit records, limit stores)."""
        for obj in self._core.closables():
            obj.close()
        if self._own_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- async driver


class _AsyncIO:
    __slots__ = ("http", "open", "sleep")

    def __init__(self, http: httpx.AsyncClient, sleep: Callable[[float], Awaitable[None]]) -> None:
        self.http = http
        self.sleep = sleep
        self.open: set[_AsyncHandle] = set()

    async def perform(self, eff: Any) -> Any:
        if type(eff) is Send:
            r = eff.request
            req = self.http.build_request(
                r.method, r.url, headers=r.headers, content=r.content, timeout=_timeout(r.timeout)
            )
            if not eff.stream:
                resp = await self.http.send(req)
                try:
                    return RawResponse(resp.status_code, resp.headers, await resp.aread())
                finally:
                    await resp.aclose()
            handle = _AsyncHandle(await self.http.send(req, stream=True))
            self.open.add(handle)
            return handle
        if type(eff) is ReadChunk:
            return await anext(eff.handle.chunks, b"")
        if type(eff) is Io:
            return await eff.async_() if eff.async_ is not None else eff.sync()
        if type(eff) is Sleep:
            await self.sleep(eff.seconds)
            return None
        if type(eff) is ReadAll:
            return b"".join([c async for c in eff.handle.chunks])
        if type(eff) is CloseStream:
            await eff.handle.aclose()
            self.open.discard(eff.handle)
            return None
        raise TypeError(f"unknown effect {eff!r}")

    async def close_open(self) -> None:
        for h in list(self.open):
            await h.aclose()
        self.open.clear()


class _AsyncHandle:
    __slots__ = ("chunks", "headers", "response", "status_code")

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.chunks: AsyncIterator[bytes] = response.aiter_bytes()

    def guard(self, fn: Any = None, /, **options: Any) -> Any:
        """``aiguard.guard`` sharing this client's stages (limit counters, audit log)."""
        from .decorators import guard

        return guard(self, **options)(fn) if fn is not None else guard(self, **options)

    def http_client(self, **options: Any) -> Any:
        """An async HTTP client for the official SDKs, governed by this client's stages."""
        from .sdk import async_http_client

        return async_http_client(self, **options)

    async def aclose(self) -> None:
        await self.response.aclose()


async def _arun(io: _AsyncIO, flow: Flow[Any]) -> Any:
    cur = _Cursor(flow)
    while True:
        try:
            eff = cur.resume()
        except StopIteration as stop:
            return stop.value
        try:
            cur.value = await io.perform(eff)
        except Exception as e:
            cur.error = e


class AsyncChatStream:
    """The async twin of ``ChatStream``: ``async for event in stream``."""

    def __init__(self, io: _AsyncIO, flow: Flow[Any]) -> None:
        self._io = io
        self._flow = flow
        self._cursor = _Cursor(flow)
        self._done = False
        self._response: ChatResponse | None = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._done:
            raise StopAsyncIteration
        io, cur = self._io, self._cursor
        while True:
            try:
                eff = cur.resume()
            except StopIteration as stop:
                self._done = True
                self._response = stop.value
                raise StopAsyncIteration from None
            except BaseException:
                self._done = True
                await io.close_open()
                raise
            if type(eff) is Emit:
                return eff.event
            try:
                cur.value = await io.perform(eff)
            except Exception as e:
                cur.error = e

    async def get_response(self) -> ChatResponse:
        """The aggregated answer; reads the rest of the stream."""
        async for _ in self:
            pass
        if self._response is None:
            raise RuntimeError("the stream was closed before it completed")
        return self._response

    @property
    def response(self) -> ChatResponse:
        """The aggregated answer, once the stream has been read to its end."""
        if self._response is None:
            raise RuntimeError("read the stream to its end first (or await get_response())")
        return self._response

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            await _arun(self._io, _thrown(self._flow, _Abandoned()))
        finally:
            await self._io.close_open()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncClient:
    """The asyncio gateway client; same arguments and behaviour as ``Client``."""

    def __init__(
        self,
        endpoints: EndpointsArg | None = None,
        *,
        policy: Any = None,
        timeout: float = _DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        pricing: Pricing | None = None,
        stages: StageOverrides | None = None,
        telemetry: Any = None,
    ) -> None:
        self._core = Core(
            endpoints,
            policy=policy,
            clock=clock,
            pricing=pricing,
            stages=stages,
            telemetry=telemetry,
        )
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, limits=_LIMITS)
        self._io = _AsyncIO(self._http, sleep or _asyncio_sleep)

    @property
    def endpoints(self) -> Mapping[str, Any]:
        return {name: ep.provider for name, ep in self._core.endpoints.items()}

    async def chat(
        self,
        messages: str | Sequence[MessageInput],
        *,
        model: str | None = None,
        context: ContextArg = None,
        cache: CacheMode = "default",
        cache_ttl: float | None = None,
        timeout: float | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatResponse:
        call = self._core.chat_call(
            messages,
            model=model,
            context=context,
            stream=False,
            cache=cache,
            cache_ttl=cache_ttl,
            timeout=timeout,
            options=options,
        )
        result: ChatResponse = await _arun(self._io, self._core.pipeline.run(call))
        return result

    def stream(
        self,
        messages: str | Sequence[MessageInput],
        *,
        model: str | None = None,
        context: ContextArg = None,
        cache: CacheMode = "default",
        cache_ttl: float | None = None,
        timeout: float | None = None,
        **options: Unpack[ChatOptions],
    ) -> AsyncChatStream:
        call = self._core.chat_call(
            messages,
            model=model,
            context=context,
            stream=True,
            cache=cache,
            cache_ttl=cache_ttl,
            timeout=timeout,
            options=options,
        )
        io = _AsyncIO(self._http, self._io.sleep)
        return AsyncChatStream(io, self._core.pipeline.run(call))

    async def embed(
        self,
        inputs: str | Sequence[str],
        *,
        model: str | None = None,
        context: ContextArg = None,
        dimensions: int | None = None,
        timeout: float | None = None,
    ) -> EmbeddingResponse:
        call = self._core.embed_call(
            inputs, model=model, context=context, dimensions=dimensions, timeout=timeout
        )
        result: EmbeddingResponse = await _arun(self._io, self._core.pipeline.run(call))
        return result

    @property
    def policy(self) -> Any:
        """The ``Policy`` governing this client (``None`` without one)."""
        return self._core.policy

    async def usage(
        self,
        context: ContextArg = None,
        *,
        endpoint: str | None = None,
        model: str | None = None,
    ) -> list[Any]:
        """Consumption and remaining quota of every limit for the key ``context`` maps to."""
        limiter = getattr(self._core.stages.limiter, "limiter", None)
        if limiter is None:
            return []
        ctx = resolve_context(context)
        result: list[Any] = await limiter.ausage(ctx, endpoint=endpoint, model=model)
        return result

    async def aclose(self) -> None:
        """Release connections and flush what stages hold (audit records, limit stores)."""
        for obj in self._core.closables():
            aclose = getattr(obj, "aclose", None)
            if aclose is not None:
                await aclose()
            else:
                obj.close()
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
