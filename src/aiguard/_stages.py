"""The pipeline's stages as small protocols, each with an allow-everything default.

Policy, limits, routing, cache and telemetry each fill in one stage; the pipeline calls them in
a fixed order and never needs to know which implementation it has. A hook returns its value
directly, or an ``Io`` effect when it has to reach a store or a remote service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ._effects import Io
from ._types import ChatResponse, StreamEvent, Usage
from .errors import ProviderError, UnknownEndpointError

if TYPE_CHECKING:
    from ._call import Call, Endpoint

__all__ = [
    "AttemptObserver",
    "Authorizer",
    "Cache",
    "CacheHit",
    "DirectRouter",
    "Inspector",
    "Limiter",
    "RetryPolicy",
    "Router",
    "Stages",
    "StreamFilter",
    "Telemetry",
]


class Authorizer(Protocol):
    def authorize(self, call: Call) -> None:
        """Raise a ``PolicyViolation`` (e.g. ``MissingScopeError``) to refuse the call."""


class StreamFilter(Protocol):
    """Output inspection of one stream: events in, the events safe to release out. An
    ``Io`` among them (a moderator's verdict) is performed before the events after it."""

    def feed(self, event: StreamEvent) -> Sequence[StreamEvent | Io]: ...

    def finish(self) -> Sequence[StreamEvent | Io]: ...


class Inspector(Protocol):
    def inspect_input(self, call: Call) -> Io | None:
        """Check ``call.request``; may replace it with a redacted copy, or raise to block."""

    def inspect_output(self, call: Call, response: ChatResponse) -> ChatResponse | Io:
        """The answer the caller sees, or an ``Io`` whose result it is (a moderator)."""

    def stream_filter(self, call: Call) -> StreamFilter | None: ...


class Router(Protocol):
    def route(self, call: Call) -> list[Endpoint]:
        """The endpoints to try, in order. Raise ``NoRouteError``/``UnknownEndpointError``."""
        ...


@dataclass(frozen=True, slots=True)
class CacheHit:
    response: ChatResponse
    events: tuple[StreamEvent, ...] | None = None


class Cache(Protocol):
    def lookup(self, call: Call) -> CacheHit | Io | None: ...

    def store(
        self, call: Call, response: ChatResponse, events: tuple[StreamEvent, ...] | None
    ) -> Io | None: ...

    def abandon(self, call: Call, error: BaseException | None) -> None:
        """The call ended without a storable answer; wake anyone waiting on it."""


class Limiter(Protocol):
    def admit(self, call: Call) -> float | Io | None:
        """Reserve capacity. ``None``: admitted. A float: wait that long and ask again."""
        ...

    def settle(self, call: Call, usage: Usage | None) -> Io | None:
        """Replace the reservation with real usage (``None``: the call failed; release)."""


class RetryPolicy(Protocol):
    def time_left(self, call: Call) -> float | None:
        """Seconds left of the call's overall deadline (``None``: no deadline). Each attempt's
        timeout is clamped to it, and an attempt is not started once it is spent."""
        ...

    def next_wait(
        self, call: Call, endpoint: Endpoint, attempt: int, error: ProviderError
    ) -> float | None:
        """Seconds to wait before retrying the same endpoint, or ``None`` to move on."""
        ...

    def fail_over(self, call: Call, endpoint: Endpoint, error: ProviderError) -> bool:
        """Whether, retries spent, the next endpoint of the plan should be tried."""
        ...


class AttemptObserver(Protocol):
    """Learns of every call and attempt: circuit breakers, in-flight counts, latency
    averages and retry budgets live on these facts, whatever telemetry is configured."""

    def call_started(self, call: Call) -> None: ...

    def attempt_started(self, call: Call, endpoint: Endpoint, attempt: int) -> None: ...

    def attempt_ended(self, call: Call, error: BaseException | None) -> None: ...

    def call_finished(self, call: Call) -> None:
        """Always called, abandoned calls included (release what the call still holds)."""


class Telemetry(Protocol):
    def start(self, call: Call) -> None: ...

    def event(self, call: Call, name: str, attributes: Mapping[str, Any]) -> None: ...

    def attempt_start(self, call: Call, endpoint: Endpoint, attempt: int) -> None: ...

    def attempt_end(self, call: Call, error: BaseException | None) -> None: ...

    def finish(self, call: Call) -> None: ...


# --------------------------------------------------------------------------- defaults


class _Allow:
    def authorize(self, call: Call) -> None:
        return None


class _PassThrough:
    def inspect_input(self, call: Call) -> Io | None:
        return None

    def inspect_output(self, call: Call, response: ChatResponse) -> ChatResponse:
        return response

    def stream_filter(self, call: Call) -> StreamFilter | None:
        return None


class DirectRouter:
    """``model=`` names an endpoint; with a single endpoint it may be omitted."""

    def __init__(self, endpoints: Mapping[str, Endpoint]) -> None:
        self._endpoints = dict(endpoints)
        self._only = next(iter(self._endpoints.values())) if len(self._endpoints) == 1 else None

    def route(self, call: Call) -> list[Endpoint]:
        name = call.model
        if name is None:
            if self._only is not None:
                return [self._only]
            raise UnknownEndpointError("(none given: pass model=...)", list(self._endpoints))
        ep = self._endpoints.get(name)
        if ep is None:
            raise UnknownEndpointError(name, list(self._endpoints))
        return [ep]


class _NoCache:
    def lookup(self, call: Call) -> CacheHit | Io | None:
        return None

    def store(
        self, call: Call, response: ChatResponse, events: tuple[StreamEvent, ...] | None
    ) -> Io | None:
        return None

    def abandon(self, call: Call, error: BaseException | None) -> None:
        return None


class _Unlimited:
    def admit(self, call: Call) -> float | Io | None:
        return None

    def settle(self, call: Call, usage: Usage | None) -> Io | None:
        return None


class _NoRetry:
    def time_left(self, call: Call) -> float | None:
        return None

    def next_wait(
        self, call: Call, endpoint: Endpoint, attempt: int, error: ProviderError
    ) -> float | None:
        return None

    def fail_over(self, call: Call, endpoint: Endpoint, error: ProviderError) -> bool:
        return error.retryable


class _NoTelemetry:
    def start(self, call: Call) -> None:
        return None

    def event(self, call: Call, name: str, attributes: Mapping[str, Any]) -> None:
        return None

    def attempt_start(self, call: Call, endpoint: Endpoint, attempt: int) -> None:
        return None

    def attempt_end(self, call: Call, error: BaseException | None) -> None:
        return None

    def finish(self, call: Call) -> None:
        return None


ALLOW = _Allow()
PASS_THROUGH = _PassThrough()
NO_CACHE = _NoCache()
UNLIMITED = _Unlimited()
NO_RETRY = _NoRetry()
NO_TELEMETRY = _NoTelemetry()


@dataclass(frozen=True, slots=True)
class Stages:
    """One implementation per stage. ``router`` has no default: it needs the endpoints."""

    router: Router
    authorizer: Authorizer = ALLOW
    inspector: Inspector = PASS_THROUGH
    cache: Cache = NO_CACHE
    limiter: Limiter = UNLIMITED
    retry: RetryPolicy = NO_RETRY
    telemetry: Telemetry = NO_TELEMETRY
    observers: tuple[AttemptObserver, ...] = ()
    extras: Mapping[str, Any] = field(default_factory=dict)
