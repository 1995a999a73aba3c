"""``AsyncClient``: the asyncio driver of the pipeline (``httpx.AsyncClient``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typing_extensions import Self, Unpack

from ._call import CacheMode
from ._context import resolve_context
from ._core import ChatOptions, Core, EndpointsArg, StageOverrides
from ._drive import (
    _DEFAULT_TIMEOUT,
    _LIMITS,
    ContextArg,
    _ClientBase,
    _Cursor,
    _thrown,
    _timeout,
    _url,
)

if TYPE_CHECKING:
    import httpx
from ._effects import CloseStream, Emit, Io, RawResponse, ReadAll, ReadChunk, Send, Sleep
from ._pipeline import Flow, Pricing, _Abandoned
from ._types import ChatResponse, EmbeddingResponse, MessageInput, StreamEvent

__all__ = ["AsyncChatStream", "AsyncClient"]


async def _asyncio_sleep(seconds: float) -> None:
    import asyncio  # imported here: sync-only applications never load asyncio

    await asyncio.sleep(seconds)


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
                r.method,
                _url(r.url),
                headers=r.headers,
                content=r.content,
                timeout=_timeout(r.timeout),
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


class AsyncClient(_ClientBase):
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
        import httpx  # loaded with the first client, not with ``import aiguard``

        self._http = http_client or httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(**_LIMITS)
        )
        self._io = _AsyncIO(self._http, sleep or _asyncio_sleep)

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
        call = self._chat_call(messages, False, model, context, cache, cache_ttl, timeout, options)
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
        call = self._chat_call(messages, True, model, context, cache, cache_ttl, timeout, options)
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

    def http_client(self, **options: Any) -> Any:
        """An async HTTP client for the official SDKs, governed by this client's stages."""
        from .sdk import async_http_client

        return async_http_client(self, **options)

    async def usage(
        self,
        context: ContextArg = None,
        *,
        endpoint: str | None = None,
        model: str | None = None,
    ) -> list[Any]:
        """Consumption and remaining quota of every limit for the key ``context`` maps to."""
        limiter = self._limiter()
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
