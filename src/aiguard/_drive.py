"""What the two clients share: the cursor that resumes a flow, and client defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from ._call import CacheMode, Call
from ._context import CallContext
from ._core import ChatOptions, Core
from ._pipeline import Flow
from ._types import MessageInput

__all__ = ["ContextArg"]

_DEFAULT_TIMEOUT = 60.0
# httpx's own pool defaults (100 connections, 20 kept alive): its connection pool scans every
# connection per request, so a bigger pool costs CPU on every call under concurrency.
_LIMITS = {"max_connections": 100, "max_keepalive_connections": 20}

ContextArg = CallContext | Mapping[str, Any] | None


def _timeout(seconds: float | None) -> Any:
    if seconds is not None:
        return seconds
    import httpx  # already loaded by the client that sends: a dictionary lookup

    return httpx.USE_CLIENT_DEFAULT


@lru_cache(maxsize=256)
def _url(url: str) -> Any:
    """``url`` parsed once: httpx parses every string URL it is handed, and a client sends to
    the same few endpoint URLs on every call (about a tenth of a loopback call's CPU)."""
    import httpx

    return httpx.URL(url)


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


class _ClientBase:
    """What ``Client`` and ``AsyncClient`` share besides the pipeline: building calls,
    the endpoints and policy they expose, the limiter they report on, and ``guard``."""

    _core: Core

    @property
    def endpoints(self) -> Mapping[str, Any]:
        return {name: ep.provider for name, ep in self._core.endpoints.items()}

    @property
    def policy(self) -> Any:
        """The ``Policy`` governing this client (``None`` without one)."""
        return self._core.policy

    def guard(self, fn: Any = None, /, **options: Any) -> Any:
        """``aiguard.guard`` sharing this client's stages (limit counters, audit log)."""
        from .decorators import guard

        return guard(self, **options)(fn) if fn is not None else guard(self, **options)

    def _limiter(self) -> Any:
        return getattr(self._core.stages.limiter, "limiter", None)

    def _chat_call(
        self,
        messages: str | Sequence[MessageInput],
        stream: bool,
        model: str | None,
        context: ContextArg,
        cache: CacheMode,
        cache_ttl: float | None,
        timeout: float | None,
        options: ChatOptions,
    ) -> Call:
        return self._core.chat_call(
            messages,
            model=model,
            context=context,
            stream=stream,
            cache=cache,
            cache_ttl=cache_ttl,
            timeout=timeout,
            options=options,
        )
