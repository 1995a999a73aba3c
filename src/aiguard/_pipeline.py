"""The path of one call, written once, with no I/O.

Each public method is a generator: it yields effects (``Send``, ``ReadChunk``, ``Sleep``,
``Io``, ``Emit``...) and receives their results, so the sync and the async client drive the
very same code. The steps, in order::

    authorize -> inspect input -> route -> cache lookup -> admit -> send (retry / failover)
    -> inspect output -> settle -> record (cache store, telemetry, audit)

Every decision lives in a stage (``_stages.py``); this module only sequences them and turns
transport failures into ``aiguard.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

from ._call import Attempt, Call, Endpoint
from ._effects import (
    CloseStream,
    Emit,
    HttpRequest,
    Io,
    RawResponse,
    ReadAll,
    ReadChunk,
    Send,
    Sleep,
)
from ._stages import CacheHit, Stages
from ._streaming import StreamAccumulator, events_from_response
from ._types import ChatResponse, EmbeddingResponse, StreamEvent, Usage, stamped
from .errors import (
    AllEndpointsFailedError,
    AuthenticationError,
    CacheMissError,
    ConnectError,
    ProviderError,
    StreamInterrupted,
    TimeoutError,
)

__all__ = ["Flow", "Pipeline"]

T = TypeVar("T")
Flow = Generator[Any, Any, T]
Pricing = Callable[[str, Usage], "float | None"]
_NO_LOOKUP = ("bypass", "refresh")
DEFAULT_TIMEOUT = 60.0
"""Seconds an attempt may take when neither the call nor the endpoint says (the clients'
default); the deadline clamp compares against it."""


class _Abandoned(Exception):
    """Thrown into a stream flow when the caller stops reading early."""


class Pipeline:
    __slots__ = ("clock", "pricing", "stages")

    def __init__(
        self, stages: Stages, clock: Callable[[], float], pricing: Pricing | None = None
    ) -> None:
        self.stages = stages
        self.clock = clock
        self.pricing = pricing

    # ------------------------------------------------------------------ the call, end to end

    def run(self, call: Call) -> Flow[Any]:
        """Chat (streaming or not) or embeddings; returns the response the caller sees."""
        s = self.stages
        call.started = self.clock()
        s.telemetry.start(call)
        for o in s.observers:
            o.call_started(call)
        admitted = False
        try:
            s.authorizer.authorize(call)
            r = s.inspector.inspect_input(call)
            if r is not None:
                yield r
            call.plan = s.router.route(call)
            if call.operation == "chat" and call.options.cache not in _NO_LOOKUP:
                hit = s.cache.lookup(call)
                if isinstance(hit, Io):
                    hit = yield hit
                if hit is not None:
                    return (yield from self._serve_hit(call, hit))
                if call.options.cache == "only":
                    raise CacheMissError("cache='only' and no cached answer for this request")
            admitted = True  # a call abandoned while waiting for a slot still releases it
            wait = s.limiter.admit(call)
            if wait is not None:
                yield from self._admit(call, wait)
            if call.operation == "embeddings":
                embedding: EmbeddingResponse = yield from self._attempts(call, embed=True)
                result: Any = embedding
                usage: Usage | None = embedding.usage
                raw_events = None
            elif call.stream:
                raw, raw_events, seen = yield from self._stream(call)
                result = self._priced(seen, seen.usage)
                usage = seen.usage
                raw = self._priced(raw, raw.usage)
            else:
                raw = yield from self._attempts(call, embed=False)
                self._check_tool_calls(call, raw)
                result = s.inspector.inspect_output(call, raw)
                if isinstance(result, Io):  # a moderator judges the answer
                    result = yield result
                usage = raw.usage
                raw_events = None
            call.response = result
            admitted = False
            io = s.limiter.settle(call, usage)
            if io is not None:
                yield io
            if call.operation == "chat":
                io = s.cache.store(call, raw, raw_events)
                if io is not None:
                    yield io
            return result
        except GeneratorExit:
            # Abandoned without a chance to yield: release synchronously, then let go.
            if admitted:
                _run_now(s.limiter.settle(call, self._partial_usage(call)))
            s.cache.abandon(call, None)
            raise
        except BaseException as e:
            call.error = e
            if admitted:
                yield from self._effect(s.limiter.settle(call, self._partial_usage(call)))
            s.cache.abandon(call, e)
            if isinstance(e, _Abandoned):
                return None
            raise
        finally:
            call.ended = self.clock()
            for o in s.observers:
                o.call_finished(call)
            s.telemetry.finish(call)

    # ------------------------------------------------------------------ stages with effects

    def _effect(self, r: Io | None) -> Flow[Any]:
        if r is not None:
            return (yield r)
        return None

    def _admit(self, call: Call, r: Any) -> Flow[None]:
        """Wait until the limiter admits ``call``; ``r`` is its first answer (not ``None``)."""
        limiter = self.stages.limiter
        while True:
            if isinstance(r, Io):
                r = yield r
            if r is None:
                return
            self.stages.telemetry.event(call, "aiguard.rate_limit.wait", {"seconds": r})
            yield Sleep(float(r))
            r = limiter.admit(call)

    def _serve_hit(self, call: Call, hit: CacheHit) -> Flow[Any]:
        call.cached = True
        inspector = self.stages.inspector
        if not call.stream:
            response = inspector.inspect_output(call, hit.response)
            if isinstance(response, Io):
                response = yield response
            if not response.cached or response.cost != 0.0:  # a store may have marked it
                response = response.model_copy(update={"cached": True, "cost": 0.0})
            call.response = response
            return response
        events = hit.events or events_from_response(hit.response)
        seen = StreamAccumulator()
        filt = inspector.stream_filter(call)
        for ev in events:
            yield from _release(filt.feed(ev) if filt else (ev,), seen)
        if filt:
            yield from _release(filt.finish(), seen)
        response = seen.response(
            endpoint=hit.response.endpoint, provider=hit.response.provider
        ).model_copy(update={"cached": True, "cost": 0.0})
        call.response = response
        return response

    def _priced(self, response: T, usage: Usage) -> T:
        if self.pricing is None or not isinstance(response, (ChatResponse, EmbeddingResponse)):
            return response
        if response.model is None:
            return response
        cost = self.pricing(response.model, usage)
        return response.model_copy(update={"cost": cost})  # type: ignore[return-value]

    def _check_tool_calls(self, call: Call, response: ChatResponse) -> None:
        """The model may only *call* tools the policy allows, not just be offered them."""
        check = getattr(self.stages.authorizer, "check_tool_calls", None)
        if check is not None and response.tool_calls:
            check(call, response)

    def _partial_usage(self, call: Call) -> Usage | None:
        acc = call.notes.get("stream.raw")
        if isinstance(acc, StreamAccumulator) and acc.has_output:
            return acc.usage_or_estimate()
        return None

    # ------------------------------------------------------------------ attempts

    def _attempts(self, call: Call, *, embed: bool) -> Flow[Any]:
        """Non-streaming: try each endpoint of the plan, retrying as the policy allows."""
        failures: list[tuple[str, ProviderError]] = []
        for i, endpoint in enumerate(call.plan):
            attempt = 0
            refreshed = False
            while True:
                attempt += 1
                self._begin_attempt(call, endpoint, attempt)
                provider = endpoint.provider
                try:
                    raw = yield from self._exchange(call, endpoint, embed=embed)
                    parsed = provider.parse_embed(raw) if embed else provider.parse_chat(raw)
                except ProviderError as e:
                    e.endpoint = endpoint.name
                    self._end_attempt(call, e)
                    then = yield from self._after_failure(call, i, attempt, e, failures, refreshed)
                    refreshed = refreshed or then == "refresh"
                    if then == "next":
                        break
                    continue
                self._end_attempt(call, None)
                model = parsed.model or provider.model
                return stamped(  # where it came from and what it cost
                    parsed,
                    {
                        "endpoint": endpoint.name,
                        "provider": provider.name,
                        "request_id": provider.request_id(raw.headers),
                        "model": model,
                        "cost": self.pricing(model, parsed.usage) if self.pricing else None,
                    },
                )
        raise _final_error(failures)

    def _begin_attempt(self, call: Call, endpoint: Endpoint, attempt: int) -> None:
        call.endpoint = endpoint
        call.attempts.append(Attempt(endpoint.name, attempt, self.clock()))
        for o in self.stages.observers:
            o.attempt_started(call, endpoint, attempt)
        self.stages.telemetry.attempt_start(call, endpoint, attempt)

    def _end_attempt(self, call: Call, error: BaseException | None) -> None:
        a = call.attempts[-1]
        a.ended = self.clock()
        a.error = error
        for o in self.stages.observers:
            o.attempt_ended(call, error)
        self.stages.telemetry.attempt_end(call, error)

    def _after_failure(
        self,
        call: Call,
        index: int,
        attempt: int,
        error: ProviderError,
        failures: list[tuple[str, ProviderError]],
        refreshed: bool,
    ) -> Flow[str]:
        """After a failed attempt: ``"refresh"`` or ``"retry"`` the same endpoint, go to the
        ``"next"`` one, or raise. Shared by plain and streamed calls."""
        endpoint = call.plan[index]
        failures.append((endpoint.name, error))
        if not refreshed and self._refresh_credentials(endpoint, error):
            return "refresh"
        wait = self.stages.retry.next_wait(call, endpoint, attempt, error)
        if wait is not None:
            if wait > 0:
                yield Sleep(wait)
            return "retry"
        if index + 1 < len(call.plan) and self.stages.retry.fail_over(call, endpoint, error):
            return "next"
        raise _final_error(failures) from error

    @staticmethod
    def _refresh_credentials(endpoint: Endpoint, error: ProviderError) -> bool:
        """A 401 from a token-authenticated endpoint: drop the token and retry once."""
        invalidate = getattr(endpoint.provider, "invalidate_credentials", None)
        if isinstance(error, AuthenticationError) and callable(invalidate):
            return bool(invalidate())
        return False

    def _build(self, call: Call, endpoint: Endpoint, *, embed: bool) -> Flow[HttpRequest]:
        provider = endpoint.provider
        auth = provider.auth_headers(endpoint.name)
        if isinstance(auth, Io):
            auth = yield auth
        if embed:
            request = provider.build_embed(call.request, auth=auth)  # type: ignore[arg-type]
        else:
            request = provider.build_chat(call.chat_request, stream=call.stream, auth=auth)
        self._timeout(call, endpoint, request)
        return request

    def _timeout(self, call: Call, endpoint: Endpoint, request: HttpRequest) -> None:
        """The call's own timeout, clamped to what its overall deadline leaves."""
        if call.options.timeout is not None:
            request.timeout = call.options.timeout
        time_left = getattr(self.stages.retry, "time_left", None)
        left = time_left(call) if time_left is not None else None
        if left is None:
            return
        if left <= 0:
            raise TimeoutError(
                "the call's deadline passed before this attempt",
                provider=endpoint.provider.name,
                endpoint=endpoint.name,
            )
        if left < (request.timeout if request.timeout is not None else DEFAULT_TIMEOUT):
            request.timeout = left

    def _exchange(self, call: Call, endpoint: Endpoint, *, embed: bool) -> Flow[RawResponse]:
        request = yield from self._build(call, endpoint, embed=embed)
        try:
            raw: RawResponse = yield Send(request)
        except _httpx().HTTPError as e:
            raise _transport_error(e, endpoint) from e
        if raw.status_code >= 400:
            raise endpoint.provider.classify_error(raw)
        return raw

    # ------------------------------------------------------------------ streams

    def _open(self, call: Call, endpoint: Endpoint) -> Flow[Any]:
        request = yield from self._build(call, endpoint, embed=False)
        try:
            handle = yield Send(request, stream=True)
        except _httpx().HTTPError as e:
            raise _transport_error(e, endpoint) from e
        if handle.status_code >= 400:
            try:
                body = yield ReadAll(handle)
            except _httpx().HTTPError:
                body = b""
            finally:
                yield CloseStream(handle)
            raise endpoint.provider.classify_error(
                RawResponse(handle.status_code, handle.headers, body)
            )
        return handle

    def _stream(
        self, call: Call
    ) -> Flow[tuple[ChatResponse, tuple[StreamEvent, ...], ChatResponse]]:
        """Stream from the first endpoint that answers; fail over only before the first event
        reaches the caller. Returns (raw response, raw events, response as the caller saw it)."""
        failures: list[tuple[str, ProviderError]] = []
        for i, endpoint in enumerate(call.plan):
            attempt = 0
            refreshed = False
            while True:
                attempt += 1
                self._begin_attempt(call, endpoint, attempt)
                raw = StreamAccumulator()
                seen = StreamAccumulator()
                call.notes["stream.raw"] = raw
                try:
                    result = yield from self._pump(call, endpoint, raw, seen)
                except ProviderError as e:
                    e.endpoint = endpoint.name
                    self._end_attempt(call, e)
                    if seen.emitted:
                        raise _interrupted(e, seen) from e
                    then = yield from self._after_failure(call, i, attempt, e, failures, refreshed)
                    refreshed = refreshed or then == "refresh"
                    if then == "next":
                        break
                    continue
                self._end_attempt(call, None)
                return result
        raise _final_error(failures)

    def _pump(
        self, call: Call, endpoint: Endpoint, raw: StreamAccumulator, seen: StreamAccumulator
    ) -> Flow[tuple[ChatResponse, tuple[StreamEvent, ...], ChatResponse]]:
        handle = yield from self._open(call, endpoint)
        provider = endpoint.provider
        decoder = provider.stream_decoder()
        filt = self.stages.inspector.stream_filter(call)
        check_tool = getattr(self.stages.authorizer, "check_tool_name", None)
        events: list[StreamEvent] = []
        try:
            while True:
                try:
                    chunk = yield ReadChunk(handle)
                except _httpx().HTTPError as e:
                    raise _transport_error(e, endpoint) from e
                if not chunk:
                    break
                for ev in decoder.feed(chunk):
                    if ev.tool_call is not None and ev.tool_call.name and check_tool:
                        check_tool(call, ev.tool_call.name)
                    raw.add(ev)
                    events.append(ev)
                    yield from _release(filt.feed(ev) if filt else (ev,), seen)
            decoder.close()
            if filt:
                yield from _release(filt.finish(), seen)
        except GeneratorExit:
            raise  # the driver closes what it opened; a closing generator cannot yield
        except BaseException:
            yield CloseStream(handle)
            raise
        yield CloseStream(handle)
        rid = provider.request_id(handle.headers)
        where = {"endpoint": endpoint.name, "provider": provider.name, "request_id": rid}
        return (
            raw.response(**where, default_model=provider.model),
            tuple(events),
            seen.response(**where, default_model=provider.model),
        )


def _httpx() -> Any:
    """httpx, imported when a transport error is first handled: not at ``import aiguard``."""
    import httpx

    return httpx


def _release(outs: Iterable[StreamEvent | Io], seen: StreamAccumulator) -> Flow[None]:
    """Hand a stream filter's output to the caller in order; an ``Io`` among it (a
    moderator's verdict) is performed before the events that follow it."""
    for out in outs:
        if isinstance(out, Io):
            yield out
            continue
        seen.add(out)
        seen.emitted = True
        yield Emit(out)


def _run_now(r: Io | None) -> None:
    if r is not None:
        r.sync()


def _transport_error(e: BaseException, endpoint: Endpoint) -> ProviderError:
    name = endpoint.provider.name
    if isinstance(e, _httpx().TimeoutException):
        return TimeoutError(f"timed out: {type(e).__name__}", provider=name, endpoint=endpoint.name)
    return ConnectError(
        f"connection failed: {type(e).__name__}: {e}", provider=name, endpoint=endpoint.name
    )


def _interrupted(e: ProviderError, seen: StreamAccumulator) -> StreamInterrupted:
    if isinstance(e, StreamInterrupted):
        e.partial_text = seen.text
        return e
    return StreamInterrupted(
        f"stream broke after the first event: {type(e).__name__}: {e.message}",
        partial_text=seen.text,
        provider=e.provider,
        endpoint=e.endpoint,
        status_code=e.status_code,
        request_id=e.request_id,
    )


def _final_error(failures: list[tuple[str, ProviderError]]) -> ProviderError:
    """The error itself when one endpoint was tried; otherwise every attempt and why."""
    if len({name for name, _ in failures}) == 1:
        return failures[-1][1]
    return AllEndpointsFailedError(failures)
