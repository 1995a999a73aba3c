"""``Client``: the synchronous driver of the pipeline (blocking httpx, ``time.sleep``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
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

__all__ = ["ChatStream", "Client"]

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
                r.method,
                _url(r.url),
                headers=r.headers,
                content=r.content,
                timeout=_timeout(r.timeout),
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


class Client(_ClientBase):
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
        import httpx  # loaded with the first client, not with ``import aiguard``

        self._http = http_client or httpx.Client(timeout=timeout, limits=httpx.Limits(**_LIMITS))
        self._io = _SyncIO(self._http, sleep or time.sleep)

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
        call = self._chat_call(messages, False, model, context, cache, cache_ttl, timeout, options)
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
        call = self._chat_call(messages, True, model, context, cache, cache_ttl, timeout, options)
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

    def http_client(self, **options: Any) -> Any:
        """An HTTP client for the official SDKs, governed by this client's stages."""
        from .sdk import http_client

        return http_client(self, **options)

    def usage(
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
