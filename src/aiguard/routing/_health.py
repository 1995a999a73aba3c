"""What a client has learnt about its endpoints: breakers, calls in flight, recent latency.

One ``EndpointHealth`` per client, shared by the router (which skips open endpoints and
orders least-busy / lowest-latency groups), the retry policy (which stops waiting on an
endpoint whose breaker opened) and the observer that feeds it attempt outcomes. Keeping the
facts in one object, rather than in each strategy, is what lets a failure seen by one call
protect every other call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError, ProviderError
from ._circuit import CircuitBreaker, CircuitConfig

if TYPE_CHECKING:
    from .._call import Call, Endpoint
    from .._stages import Telemetry

__all__ = ["EndpointHealth", "HealthObserver"]

_OPEN = "routing.attempt"
"""``call.notes`` key: the endpoint whose attempt is in flight (counted in ``inflight``)."""
_PROBES = "routing.probes"
"""``call.notes`` key: endpoints whose half-open probe this call holds."""


class _Stats:
    __slots__ = ("ewma", "inflight", "samples")

    def __init__(self) -> None:
        self.inflight = 0
        self.ewma: float | None = None
        self.samples = 0


class EndpointHealth:
    """Breakers, in-flight counts and latency averages for a client's endpoints.

    ``latency_alpha`` weighs the newest successful attempt in the moving average (0.3: about
    the last five attempts matter). ``clock`` must be the client's clock so cooldowns and
    latencies are measured on the same time line as the pipeline's attempts.
    """

    __slots__ = ("_lock", "_stats", "breakers", "clock", "latency_alpha", "tripped")

    def __init__(
        self,
        endpoints: Iterable[str],
        *,
        circuit: CircuitConfig | None = None,
        circuits: Mapping[str, CircuitConfig] | None = None,
        latency_alpha: float = 0.3,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not 0 < latency_alpha <= 1:
            raise ConfigError(f"latency_alpha must be in (0, 1], got {latency_alpha!r}")
        self.clock = clock or time.monotonic
        self.latency_alpha = latency_alpha
        base = circuit or CircuitConfig()
        per = dict(circuits or {})
        names = list(endpoints)
        unknown = sorted(set(per) - set(names))
        if unknown:
            raise ConfigError(f"circuits: unknown endpoint(s) {', '.join(map(repr, unknown))}")
        self.tripped: set[str] = set()
        """Endpoints whose breaker is not closed; empty on a healthy day (routing's fast
        path skips every breaker check then)."""
        self.breakers: dict[str, CircuitBreaker] = {
            n: CircuitBreaker(n, per.get(n, base), self.clock, self._changed) for n in names
        }
        self._stats: dict[str, _Stats] = {n: _Stats() for n in names}
        self._lock = threading.Lock()

    def _changed(self, endpoint: str, closed: bool) -> None:
        if closed:
            self.tripped.discard(endpoint)
        else:
            self.tripped.add(endpoint)

    # ------------------------------------------------------------------ reading

    def stats(self, endpoint: str) -> _Stats:
        """The live counters of one endpoint (strategies hold on to them for speed)."""
        return self._stats[endpoint]

    def inflight(self, endpoint: str) -> int:
        return self._stats[endpoint].inflight

    def latency(self, endpoint: str) -> float | None:
        """Moving average of successful attempts' duration in seconds (``None``: unmeasured)."""
        return self._stats[endpoint].ewma

    def state(self, endpoint: str) -> str:
        return self.breakers[endpoint].state

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per endpoint: breaker state, calls in flight, latency average (for dashboards)."""
        return {
            n: {
                "circuit": self.breakers[n].state,
                "inflight": s.inflight,
                "latency": s.ewma,
                "samples": s.samples,
            }
            for n, s in self._stats.items()
        }

    # ------------------------------------------------------------------ routing

    def admit(self, endpoint: str, call: Call) -> str | None:
        """``None`` if ``call`` may use ``endpoint`` now; otherwise the reason to skip it.

        Taking a half-open endpoint's probe is recorded on the call so the probe is handed
        back if the call never reaches that endpoint.
        """
        breaker = self.breakers.get(endpoint)
        if breaker is None or breaker.is_closed:
            return None
        reason = breaker.acquire(call)
        if reason is None and breaker.state == "half_open":
            call.notes.setdefault(_PROBES, set()).add(endpoint)
        return reason

    def retry_in(self, endpoint: str) -> float:
        b = self.breakers.get(endpoint)
        return b.retry_in() if b is not None else 0.0

    def is_open(self, endpoint: str) -> bool:
        """Whether the breaker currently refuses traffic (retries should not wait on it)."""
        b = self.breakers.get(endpoint)
        return b is not None and not b.is_closed and b.state == "open"

    # ------------------------------------------------------------------ observations

    def attempt_started(self, call: Call, endpoint: Endpoint) -> None:
        stats = self._stats.get(endpoint.name)
        if stats is None:
            return
        with self._lock:
            stats.inflight += 1
        call.notes[_OPEN] = endpoint.name

    def attempt_ended(self, call: Call, error: BaseException | None) -> None:
        name = call.notes.pop(_OPEN, None)
        if name is None:
            return
        stats = self._stats[name]
        breaker = self.breakers[name]
        a = call.attempts[-1] if call.attempts else None
        with self._lock:
            stats.inflight -= 1
            if error is None and a is not None and a.ended is not None:
                elapsed = a.ended - a.started
                prev = stats.ewma
                alpha = self.latency_alpha
                stats.ewma = elapsed if prev is None else prev + alpha * (elapsed - prev)
                stats.samples += 1
        probes = call.notes.get(_PROBES)
        if probes:
            probes.discard(name)
        if error is None:
            breaker.record_success()
        elif isinstance(error, ProviderError) and error.retryable:
            breaker.record_failure()
        else:
            # The endpoint answered (a 400, a refused key): it is up, whatever the caller did.
            breaker.record_success()

    def call_finished(self, call: Call) -> None:
        """Undo what an abandoned call left behind: its open attempt and unused probes."""
        name = call.notes.pop(_OPEN, None)
        if name is not None:
            with self._lock:
                self._stats[name].inflight -= 1
        probes = call.notes.pop(_PROBES, None)
        if probes:
            for n in probes:
                self.breakers[n].release(call)

    def reset(self) -> None:
        """Close every breaker and forget latencies (in-flight counts are live; kept)."""
        for b in self.breakers.values():
            b.reset()
        with self._lock:
            for s in self._stats.values():
                s.ewma, s.samples = None, 0

    def observe(
        self, telemetry: Telemetry | None = None, budget: _Deposits | None = None
    ) -> HealthObserver:
        """``telemetry`` wrapped so that attempt outcomes also reach this object (and each
        call deposits into ``budget``); see :class:`HealthObserver`."""
        if telemetry is None:
            from .._stages import NO_TELEMETRY

            telemetry = NO_TELEMETRY
        return HealthObserver(telemetry, self, budget)


class _Deposits(Protocol):
    def deposit(self) -> None: ...


class HealthObserver:
    """A ``Telemetry`` stage that forwards to another and feeds an ``EndpointHealth``.

    Why a wrapper: the pipeline reports attempt starts and ends only to its telemetry stage,
    so until it grows a dedicated hook this is how breakers learn of successes, least-busy
    learns what is in flight and lowest-latency learns durations. ``finish`` runs for every
    call, abandoned ones included, which is where stray counts and probes are cleaned up.

    It also has the four methods of the observer hook proposed for the pipeline
    (``call_started``, ``attempt_started``, ``attempt_ended``, ``call_finished``), so once
    that hook exists the same object is registered there and the wrapping goes away.
    """

    __slots__ = ("budget", "health", "inner")

    def __init__(
        self, inner: Telemetry, health: EndpointHealth, budget: _Deposits | None = None
    ) -> None:
        self.inner = inner
        self.health = health
        self.budget = budget

    def start(self, call: Call) -> None:
        if self.budget is not None:
            self.budget.deposit()
        self.inner.start(call)

    def event(self, call: Call, name: str, attributes: Mapping[str, Any]) -> None:
        self.inner.event(call, name, attributes)

    def attempt_start(self, call: Call, endpoint: Endpoint, attempt: int) -> None:
        self.health.attempt_started(call, endpoint)
        self.inner.attempt_start(call, endpoint, attempt)

    def attempt_end(self, call: Call, error: BaseException | None) -> None:
        self.health.attempt_ended(call, error)
        self.inner.attempt_end(call, error)

    def finish(self, call: Call) -> None:
        try:
            self.health.call_finished(call)
        finally:
            self.inner.finish(call)

    # -- the dedicated observer hook proposed for the pipeline (``Stages.observers``) --------

    def call_started(self, call: Call) -> None:
        if self.budget is not None:
            self.budget.deposit()

    def attempt_started(self, call: Call, endpoint: Endpoint, attempt: int) -> None:
        self.health.attempt_started(call, endpoint)

    def attempt_ended(self, call: Call, error: BaseException | None) -> None:
        self.health.attempt_ended(call, error)

    def call_finished(self, call: Call) -> None:
        self.health.call_finished(call)
