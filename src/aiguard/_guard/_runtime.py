"""The stages a guarded function or a guarded SDK client drives, without a provider adapter.

A ``Client`` runs the whole pipeline because it builds and sends the request itself. A
decorated function or an official SDK builds and sends its own request, so aiguard cannot own
the *send* step; everything around it still applies. ``Runtime`` holds the very same stage
objects a ``Client`` would build from the policy (``PolicyAuthorizer``, ``InspectionStage``,
``LimitStage``, ``TelemetryStage``, ``RetryPolicy``) and exposes the steps as plain methods or
sans-IO generators, so the decision logic stays in the stages and is never written twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Literal, cast

from .._call import Attempt, Call, Endpoint
from .._context import CallContext
from .._effects import Io, Sleep
from .._stages import ALLOW, NO_TELEMETRY, UNLIMITED
from .._types import ChatRequest, EmbeddingRequest, Usage
from ..errors import ConfigError, MissingScopeError, ProviderError
from ._errors import as_provider_error

if TYPE_CHECKING:
    from ..inspect import ContentInspector
    from ..retry import RetryPolicy

__all__ = ["Admission", "Flow", "Runtime", "Target"]

Flow = Generator[Any, Any, Any]


class Target:
    """What an attempt span names when aiguard did not pick the endpoint itself.

    Telemetry reads ``name``, ``model`` and ``base_url`` from an endpoint's provider; a
    guarded function or SDK request has no aiguard provider, so this stands in for one.
    """

    __slots__ = ("base_url", "model", "name")

    def __init__(self, name: str, model: str | None = None, base_url: str | None = None) -> None:
        self.name = name
        self.model = model or ""
        self.base_url = base_url

    def endpoint(self, label: str) -> Endpoint:
        return Endpoint(label, cast(Any, self))


class Runtime:
    """The stages of one policy (or of one client), shared by every call it guards.

    ``policy`` is a ``Policy``, a path, YAML/JSON text or a dict; ``client`` an aiguard
    ``Client``/``AsyncClient`` whose stages (and so whose limit counters, audit log and
    breakers) are shared with the guarded code. ``telemetry`` overrides the ``Telemetry``
    built from the policy's ``logging`` section; ``clock`` is monotonic seconds (tests inject
    one). ``moderator`` is the model-based :class:`~aiguard.inspect.Moderator` the policy's
    ``contentModeration.moderator`` settings apply to (a client's is its inspection stage's).
    Everything guarded through one runtime shares its limit counters and audit log.
    """

    __slots__ = (
        "authorizer",
        "clock",
        "inspection",
        "limiter",
        "owned",
        "policy",
        "telemetry",
    )

    def __init__(
        self,
        *,
        policy: Any = None,
        client: Any = None,
        telemetry: Any = None,
        clock: Callable[[], float] | None = None,
        moderator: Any = None,
    ) -> None:
        if policy is not None and client is not None:
            raise ConfigError("pass either policy= or client=, not both")
        if moderator is not None:
            _check_moderator(moderator, policy, client)
        self.owned = client is None
        if client is not None:
            core: Any = getattr(client, "_core", None)
            stages = getattr(core, "stages", None)
            if stages is None:
                raise ConfigError(
                    f"client= must be an aiguard Client or AsyncClient, got {type(client).__name__}"
                )
            self.policy = core.policy
            self.clock: Callable[[], float] = clock or core.clock
            self.authorizer: Any = stages.authorizer
            self.inspection: Any = stages.inspector
            self.limiter: Any = stages.limiter
            self.telemetry: Any = stages.telemetry if telemetry is None else _telemetry(telemetry)
        else:
            self.clock = clock or time.monotonic
            self._from_policy(policy, telemetry, moderator)

    def _from_policy(self, policy: Any, telemetry: Any, moderator: Any = None) -> None:
        from .._assembly import coerce_policy
        from ..inspect import InspectionStage
        from ..limits import LimitStage, limiter_from_policy
        from ..policy.stage import PolicyAuthorizer
        from ..telemetry import Telemetry, audit_log_from_policy

        self.policy = coerce_policy(policy)
        if self.policy is None:
            self.authorizer = ALLOW
            self.inspection = None
            self.limiter = UNLIMITED
            self.telemetry = _telemetry(telemetry if telemetry is not None else Telemetry())
            return
        spec = self.policy.spec
        self.authorizer = PolicyAuthorizer(self.policy)
        self.inspection = InspectionStage(moderator=moderator)
        self.inspection.prepare(spec.content_moderation)  # surface spec problems now
        from ..tokens import PriceTable

        limiter = limiter_from_policy(spec.rate_limit, prices=PriceTable())
        self.limiter = LimitStage(limiter) if limiter is not None else UNLIMITED
        if telemetry is None:
            capture = getattr(spec.logging, "capture_content", False) or None
            telemetry = Telemetry(
                audit=audit_log_from_policy(spec.logging),
                policy_hash=self.policy.hash,
                capture_content=capture,
            )
        self.telemetry = _telemetry(telemetry)

    # ------------------------------------------------------------------ one call

    def new_call(
        self,
        request: ChatRequest | EmbeddingRequest,
        context: CallContext,
        *,
        stream: bool = False,
    ) -> Call:
        """A call whose span is open; ``context`` is already resolved."""
        operation: Literal["chat", "embeddings"] = (
            "embeddings" if isinstance(request, EmbeddingRequest) else "chat"
        )
        call = Call(operation=operation, request=request, context=context, stream=stream)
        call.started = self.clock()
        self.telemetry.start(call)
        return call

    def authorize(self, call: Call, scopes: frozenset[str] = frozenset()) -> None:
        """The policy's scopes and tools, then the scopes the guarded function itself needs."""
        self.authorizer.authorize(call)
        missing = scopes - call.context.scopes
        if missing:
            raise MissingScopeError(sorted(missing), f"{call.operation} (guarded function)")

    def inspector(self, call: Call) -> ContentInspector | None:
        """The compiled ``contentModeration`` the authorize step resolved for this call."""
        if self.inspection is None:
            return None
        from ..policy.stage import effective_policy

        eff = effective_policy(call)
        spec = getattr(eff, "content_moderation", None)
        if spec is None and self.policy is not None:
            spec = self.policy.spec.content_moderation
        prepare = getattr(self.inspection, "prepare", None)
        if spec is None or prepare is None:
            return None
        inspector: ContentInspector = prepare(spec)
        return inspector if inspector.enabled else None

    def admit(self, call: Call) -> Flow:
        """Reserve rate-limit and budget capacity; waits are ``Sleep`` effects."""
        while True:
            r = self.limiter.admit(call)
            if isinstance(r, Io):
                r = yield r
            if r is None:
                return None
            self.telemetry.event(call, "aiguard.rate_limit.wait", {"seconds": r})
            yield Sleep(float(r))

    def settle(self, call: Call, usage: Usage | None) -> Flow:
        r = self.limiter.settle(call, usage)
        if r is not None:
            yield r

    def settle_now(self, call: Call, usage: Usage | None) -> None:
        """Settle from a closing generator, which may not yield."""
        r = self.limiter.settle(call, usage)
        if r is not None:
            r.sync()

    def attempt_start(self, call: Call, endpoint: Endpoint) -> None:
        number = sum(1 for a in call.attempts if a.endpoint == endpoint.name) + 1
        call.endpoint = endpoint
        call.attempts.append(Attempt(endpoint.name, number, self.clock()))
        self.telemetry.attempt_start(call, endpoint, number)

    def attempt_end(self, call: Call, error: BaseException | None) -> None:
        if not call.attempts or call.attempts[-1].ended is not None:
            return
        attempt = call.attempts[-1]
        attempt.ended = self.clock()
        attempt.error = error
        self.telemetry.attempt_end(call, error)

    def retry_policy(self, retries: int, rng: Any = None) -> RetryPolicy | None:
        """``retries`` retries after the first attempt, on this runtime's clock."""
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ConfigError(f"retries must be an int >= 0, got {retries!r}")
        if not retries:
            return None
        from ..retry import RetryPolicy

        return RetryPolicy(max_attempts=retries + 1, clock=self.clock, rng=rng)

    @staticmethod
    def next_wait(call: Call, error: ProviderError, retry: RetryPolicy | None) -> float | None:
        """Seconds before the next attempt, or ``None`` when ``retry`` says stop."""
        if retry is None or call.endpoint is None:
            return None
        attempt = sum(1 for a in call.attempts if a.endpoint == call.endpoint.name)
        return retry.next_wait(call, call.endpoint, attempt, error)

    def failed(
        self, call: Call, error: Exception, retry: RetryPolicy | None, cleanup: Any = None
    ) -> Flow:
        """End the attempt that raised ``error``, then re-raise it, or return to try again
        after the ``cleanup`` effect (closing a failed response) and the policy's ``Sleep``.

        Any exception is recorded on the attempt, but only a provider failure (as
        ``as_provider_error`` reads it) is retried: a bug in the guarded code is not."""
        found = as_provider_error(error)
        self.attempt_end(call, found or error)
        wait = self.next_wait(call, found, retry) if found is not None else None
        if wait is None:
            raise error
        if cleanup is not None:
            yield cleanup
        if wait > 0:
            yield Sleep(wait)

    def finish(self, call: Call) -> None:
        call.ended = self.clock()
        self.telemetry.finish(call)

    def close(self) -> None:
        """Flush the audit log this runtime built (a client's own is the client's to close)."""
        if not self.owned:
            return
        tel = getattr(self.telemetry, "telemetry", None)
        if tel is not None and hasattr(tel, "close"):
            tel.close()


class Admission:
    """One call's claim on the limiter, settled exactly once however its flow ends.

    A guarded function's flow and an SDK request's flow both admit their call, may then fail
    or be abandoned (closed by their driver) at any effect, and must in every case settle
    what was reserved and finish the call. ``around`` runs a flow inside that bookkeeping,
    so it is written once: the flow calls ``admit`` and, when its answer is in, ``settle``,
    and keeps ``usage`` current for an end that comes before that.
    """

    __slots__ = ("admitted", "call", "runtime", "usage")

    def __init__(self, runtime: Runtime, call: Call) -> None:
        self.runtime = runtime
        self.call = call
        self.admitted = False
        self.usage: Usage | None = None

    def admit(self) -> Flow:
        self.admitted = True  # before the wait: a failure or close while waiting settles too
        yield from self.runtime.admit(self.call)

    def settle(self) -> Flow:
        """Settle what ``admit`` reserved; a call that was never admitted (a stored
        response read back) has nothing to settle."""
        if not self.admitted:
            return
        self.admitted = False
        yield from self.runtime.settle(self.call, self.usage)

    def around(self, flow: Flow) -> Flow:
        """``flow``'s effects and result; then settle if it did not, and finish the call."""
        rt, call = self.runtime, self.call
        try:
            return (yield from flow)
        except GeneratorExit:
            if self.admitted:
                rt.settle_now(call, self.usage)
            raise
        except BaseException as e:
            call.error = e
            if self.admitted:
                yield from rt.settle(call, self.usage)
            raise
        finally:
            rt.finish(call)


def _check_moderator(moderator: Any, policy: Any, client: Any) -> None:
    """A moderator needs a policy whose ``contentModeration`` it runs under; a client's is
    the one its inspection stage holds. Refused rather than silently never called."""
    if client is not None:
        raise ConfigError(
            "moderator= goes with policy=; a client's moderator is the one its "
            "InspectionStage(moderator=...) holds"
        )
    if policy is None:
        raise ConfigError("moderator= needs policy=: it runs under its contentModeration section")
    from ..inspect import Moderator

    if not isinstance(moderator, Moderator):
        raise ConfigError(
            "moderator= must have moderate(text) and async amoderate(text) methods "
            f"(aiguard.inspect.Moderator), got {type(moderator).__name__}"
        )


def _telemetry(telemetry: Any) -> Any:
    """A ``Telemetry`` becomes its pipeline stage; a stage object is used as it is."""
    from ..telemetry import Telemetry, TelemetryStage

    if telemetry is None:
        return NO_TELEMETRY
    if isinstance(telemetry, Telemetry):
        return TelemetryStage(telemetry)
    if all(hasattr(telemetry, h) for h in ("start", "attempt_start", "finish")):
        return telemetry
    raise ConfigError(f"telemetry= must be an aiguard Telemetry, got {type(telemetry).__name__}")
