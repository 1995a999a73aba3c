"""``ResponseCache``: the pipeline's cache stage (lookup before admission, store after).

Why it is built this way:

* The key is computed once per call, at lookup, from the request *as it will be sent* (input
  inspection has already redacted it) and kept in ``call.notes["cache"]`` for the store, so a
  request cannot change between the two.
* Only what can be trusted is stored: deterministic requests by default, finished answers
  (``stop``, ``length``, ``tool_calls``) only, never errors, content-filtered or interrupted
  answers (the pipeline never calls ``store`` for a failed call), and only an answer from the
  endpoint the key names (a failover answer is shared with waiting identical calls but not
  kept, since the next call may well reach the primary).
* A backend failure is a miss (or a skipped store) plus a logged warning; a call never fails
  because its cache did.
* Concurrent identical misses are coalesced in-process (``_flight``): one leader calls
  upstream, the rest wait as an ``Io`` the driver performs (blocking or awaited), released by
  the leader's ``store`` or ``abandon``. If the leader fails with a ``ProviderError`` the
  waiters raise a copy of it (the same request to the same endpoint would have failed the
  same way; a stampede on a failing provider helps nobody), except a stream interrupted after
  it started (its partial text is the leader's own). If it fails for any other reason
  (a refusal aimed at the leader's own user, a budget, cancellation, an abandoned stream, an
  answer that may not be cached) the waiters proceed as ordinary misses.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .._effects import Io
from .._stages import CacheHit
from .._types import ChatRequest, ChatResponse, StreamEvent
from ..errors import ProviderError, StreamInterrupted
from ._flight import Flight
from ._keys import KEY_SCHEMA_VERSION, UncacheableRequest, key_prefix, keyed_hash
from ._memory import MemoryBackend

if TYPE_CHECKING:
    from hashlib import _Hash

    from .._call import Call
    from ..policy.cache import CacheSpec

__all__ = ["CacheBackend", "CacheNote", "CacheStats", "ResponseCache"]

log = logging.getLogger("aiguard.cache")

CacheResult = Literal["hit", "coalesced", "shared_error", "miss", "uncacheable", "refresh", "error"]
_STORABLE_FINISH = frozenset(("stop", "length", "tool_calls"))
_OWN_ERRORS = (StreamInterrupted,)
"""Provider errors that belong to the leader's own exchange (a stream that broke after it
had started: its partial text is the leader's), so waiters make their own call instead."""
_WARN_EVERY = 30.0


class CacheBackend(Protocol):
    """Where answers live. ``blocking`` backends are called through ``Io`` (sync and async
    forms); non-blocking ones (in-process memory) are called inline. Backends raise freely:
    the stage turns any exception into a miss or a skipped store."""

    blocking: bool

    def get(self, key: str) -> CacheHit | None: ...

    def set(self, key: str, hit: CacheHit, ttl: float) -> None: ...

    def aget(self, key: str) -> Awaitable[CacheHit | None]: ...

    def aset(self, key: str, hit: CacheHit, ttl: float) -> Awaitable[None]: ...


@dataclass(slots=True)
class CacheNote:
    """What the cache did for one call, at ``call.notes["cache"]`` (telemetry reads it).

    ``result``: ``hit`` (from the backend), ``coalesced`` (from a concurrent identical call),
    ``shared_error`` (that identical call failed and this one raised its error), ``miss``
    (went upstream), ``uncacheable`` (not eligible; no lookup), ``refresh``
    (``cache="refresh"``: lookup skipped, answer stored), ``error`` (backend failed; served as
    a miss). ``stored`` says whether this call's answer was written.
    """

    key: str | None = None
    result: CacheResult = "uncacheable"
    stored: bool = False
    flight: Flight | None = None
    ttl: float = field(default=0.0, repr=False, compare=False)
    """The effective policy's TTL, read with the key (the store uses it without reading the
    policy again)."""


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int = 0
    """Answers served from the backend."""
    coalesced: int = 0
    """Answers served from a concurrent identical call (single-flight)."""
    misses: int = 0
    """Eligible lookups that went upstream."""
    uncacheable: int = 0
    """Calls not eligible for caching (non-deterministic, or no faithful key)."""
    stores: int = 0
    not_stored: int = 0
    """Answers refused for storage (finish reason, failover endpoint)."""
    errors: int = 0
    """Backend failures, each served as a miss or a skipped store."""
    waiting: int = 0
    """Calls waiting on an identical call right now."""


class ResponseCache:
    """Exact-match response cache; plug it in with ``Client(stages={"cache": ...})``.

    ``backend``: ``MemoryBackend()`` (default) or ``RedisBackend(url)``. ``ttl``: seconds an
    answer is kept unless a call passes ``cache_ttl=``. ``deterministic_only``: cache only
    requests with ``temperature=0`` or a ``seed``. ``share_across_tenants``: let tenants share
    answers to identical requests (off: the tenant is part of the key). ``policy_hash``: the
    policy document's hash, so a policy change starts a fresh keyspace. ``single_flight`` and
    ``wait_timeout``: coalesce identical concurrent misses, waiting at most that long.
    ``follow_policy``: take ``enabled``, ``ttl_seconds``, ``deterministic_only`` and
    ``share_across_tenants`` per call from the call's effective policy
    (``call.notes["policy"].cache``, left there by the policy stage), so an override can switch
    caching off for a tenant; ``from_spec`` turns it on. ``observer(call, note)`` is told how
    each lookup ended (``note.result``), for telemetry. ``clock`` times the log throttle.
    """

    def __init__(
        self,
        backend: CacheBackend | None = None,
        *,
        ttl: float = 3600.0,
        deterministic_only: bool = True,
        share_across_tenants: bool = False,
        policy_hash: str | None = None,
        key_schema_version: int = KEY_SCHEMA_VERSION,
        single_flight: bool = True,
        wait_timeout: float = 60.0,
        follow_policy: bool = False,
        observer: Callable[[Call, CacheNote], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be > 0 seconds, got {ttl!r}")
        if wait_timeout <= 0:
            raise ValueError(f"wait_timeout must be > 0 seconds, got {wait_timeout!r}")
        self.backend: CacheBackend = backend if backend is not None else MemoryBackend()
        self.ttl = float(ttl)
        self.deterministic_only = deterministic_only
        self.share_across_tenants = share_across_tenants
        self.policy_hash = policy_hash
        self.key_schema_version = key_schema_version
        self.single_flight = single_flight
        self.wait_timeout = wait_timeout
        self.follow_policy = follow_policy
        self.observer = observer
        self._clock = clock
        self._blocking = bool(self.backend.blocking)
        # Re-entrant: a stream dropped in a reference cycle is finalised by the garbage
        # collector, which may run inside one of our critical sections and call ``abandon``.
        self._lock = threading.RLock()
        self._flights: dict[str, Flight] = {}
        self._prefixes: dict[tuple[int, str | None, bool], tuple[Any, Any, _Hash]] = {}
        self._last_spec: tuple[Any, tuple[bool, bool, bool, float]] | None = None
        self._counts = dict.fromkeys(
            ("hits", "coalesced", "misses", "uncacheable", "stores", "not_stored", "errors"), 0
        )
        self._waiting = 0
        self._waiting_changed = threading.Condition(threading.Lock())
        self._last_warning = -_WARN_EVERY

    @classmethod
    def from_spec(
        cls,
        spec: CacheSpec,
        *,
        policy_hash: str | None = None,
        backend: CacheBackend | None = None,
        observer: Callable[[Call, CacheNote], None] | None = None,
    ) -> ResponseCache:
        """The stage a policy's ``cache`` section describes, following per-call overrides.

        Build it when the base section *or any override* enables caching: a call whose
        effective section says ``enabled: false`` is then neither looked up nor stored.
        """
        if backend is None:
            if spec.backend == "redis":
                from ._redis import RedisBackend

                backend = RedisBackend(spec.url)
            else:
                backend = MemoryBackend(max_entries=spec.max_entries, max_bytes=spec.max_bytes)
        return cls(
            backend,
            ttl=float(spec.ttl_seconds),
            deterministic_only=spec.deterministic_only,
            share_across_tenants=spec.share_across_tenants,
            policy_hash=policy_hash,
            follow_policy=True,
            observer=observer,
        )

    def close(self) -> None:
        """Close the backend's sync connections, if it has any."""
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()

    async def aclose(self) -> None:
        """Close the backend's asyncio connections for the running loop, if it has any."""
        aclose = getattr(self.backend, "aclose", None)
        if callable(aclose):
            await aclose()

    # ------------------------------------------------------------------ introspection

    def stats(self) -> CacheStats:
        with self._lock:
            counts = dict(self._counts)
        return CacheStats(**counts, waiting=self._waiting)

    def waiting(self) -> int:
        """Calls currently waiting for an identical call's answer."""
        return self._waiting

    def key_for(self, call: Call) -> str | None:
        """The key ``call`` would use, or ``None`` when it is not eligible."""
        return self._key(call, None)

    # ------------------------------------------------------------------ keys

    def _settings(self, call: Call) -> tuple[bool, bool, bool, float]:
        """(enabled, deterministic_only, share_across_tenants, ttl) for this call."""
        if self.follow_policy:
            spec = getattr(call.notes.get("policy"), "cache", None)
            if spec is not None:
                last = self._last_spec  # sections are frozen: same object, same settings
                if last is not None and last[0] is spec:
                    return last[1]
                settings = (
                    bool(spec.enabled),
                    bool(spec.deterministic_only),
                    bool(spec.share_across_tenants),
                    float(spec.ttl_seconds),
                )
                self._last_spec = (spec, settings)
                return settings
        return True, self.deterministic_only, self.share_across_tenants, self.ttl

    def _key(self, call: Call, note: CacheNote | None) -> str | None:
        """The key, or ``None``; ``note`` (if given) is told the TTL the settings name."""
        request = call.request
        if call.operation != "chat" or not call.plan or not isinstance(request, ChatRequest):
            return None
        enabled, deterministic_only, share, ttl = self._settings(call)
        if not enabled:
            return None
        if note is not None:
            note.ttl = ttl
        if deterministic_only and not (request.temperature == 0 or request.seed is not None):
            return None
        provider = call.plan[0].provider
        describe = provider.describe()
        tenant = None if share else call.context.tenant
        # The prefix depends on the endpoint's describe() and the scope only; it is hashed
        # once per provider object and scope, and that hash state is copied for each key
        # while describe() still answers the same.
        memo_key: tuple[int, str | None, bool] | None = (id(provider), tenant, share)
        try:
            memo = self._prefixes.get(memo_key)  # type: ignore[arg-type]
        except TypeError:  # an unhashable tenant: no memo, compute every time
            memo_key, memo = None, None
        try:
            if memo is not None and memo[0] is provider and memo[1] == describe:
                prefix_hash = memo[2]
            else:
                prefix_hash = hashlib.sha256(
                    key_prefix(
                        describe,
                        tenant=tenant,
                        share_across_tenants=share,
                        policy_hash=self.policy_hash,
                        schema_version=self.key_schema_version,
                    )
                )
                if memo_key is not None:
                    if len(self._prefixes) > 1024:
                        self._prefixes.clear()
                    # A copy: a provider that hands out one dict and edits it is still seen.
                    self._prefixes[memo_key] = (provider, dict(describe), prefix_hash)
            return keyed_hash(prefix_hash, request)
        except UncacheableRequest:
            return None

    # ------------------------------------------------------------------ lookup

    def lookup(self, call: Call) -> CacheHit | Io | None:
        note = CacheNote()
        call.notes["cache"] = note
        key = self._key(call, note)
        if key is None:
            self._count("uncacheable")
            return None
        note.key = key
        lead = self.single_flight and call.options.cache != "only"
        error: Exception | None = None
        hit: CacheHit | None = None
        with self._lock:
            flight = self._flights.get(key) if self.single_flight else None
            if flight is None:
                if not self._blocking:
                    try:
                        hit = self.backend.get(key)
                    except Exception as e:
                        error = e
                    self._counts["hits" if hit is not None else "misses"] += 1
                if lead and hit is None:
                    note.flight = self._flights[key] = Flight()
        if flight is None and not self._blocking:
            note.result = "hit" if hit is not None else "miss"
            if error is not None:
                self._failed("lookup", error, note)  # takes the lock: outside it
            self._observe(call, note)
            return hit
        if flight is None:
            return self._fetch_io(call, key)
        self._waiter_delta(+1)
        return self._wait_io(call, flight)

    # The ``Io`` closures are made here, not in ``lookup``: variables a lambda captures
    # become cells, which every lookup (the inline memory path too) would pay to create.

    def _fetch_io(self, call: Call, key: str) -> Io:
        return Io(lambda: self._fetch(call, key), lambda: self._afetch(call, key))

    def _wait_io(self, call: Call, flight: Flight) -> Io:
        return Io(lambda: self._wait(call, flight), lambda: self._await(call, flight))

    def _fetch(self, call: Call, key: str) -> CacheHit | None:
        try:
            hit = self.backend.get(key)
        except Exception as e:
            self._failed("lookup", e, call.notes["cache"])
            hit = None
        return self._fetched(call, hit)

    async def _afetch(self, call: Call, key: str) -> CacheHit | None:
        try:
            hit = await self.backend.aget(key)
        except Exception as e:
            self._failed("lookup", e, call.notes["cache"])
            hit = None
        return self._fetched(call, hit)

    def _fetched(self, call: Call, hit: CacheHit | None) -> CacheHit | None:
        note: CacheNote = call.notes["cache"]
        if hit is not None:
            self._count("hits")
            note.result = "hit"
            self._release(note, hit, None)  # waiters get it without another round trip
        else:
            self._count("misses")
            if note.result != "error":
                note.result = "miss"
        self._observe(call, note)
        return hit

    def _wait(self, call: Call, flight: Flight) -> CacheHit | None:
        try:
            if flight.would_deadlock_sync():
                return self._waited(call, flight, resolved=False)
            return self._waited(call, flight, resolved=flight.wait(self.wait_timeout))
        finally:
            self._waiter_delta(-1)

    async def _await(self, call: Call, flight: Flight) -> CacheHit | None:
        try:
            if flight.would_deadlock_async():
                return self._waited(call, flight, resolved=False)
            resolved = await flight.wait_async(self.wait_timeout)
            return self._waited(call, flight, resolved=resolved)
        finally:
            self._waiter_delta(-1)

    def _waited(self, call: Call, flight: Flight, *, resolved: bool) -> CacheHit | None:
        note: CacheNote = call.notes["cache"]
        error = flight.error
        if resolved and flight.answer is not None:
            self._count("coalesced")
            note.result = "coalesced"
        elif resolved and isinstance(error, ProviderError) and not isinstance(error, _OWN_ERRORS):
            note.result = "shared_error"
            self._observe(call, note)
            raise _copy_error(error) from error
        else:
            if not resolved:
                log.debug("aiguard cache: stopped waiting for an identical call; calling upstream")
            self._count("misses")
            note.result = "miss"
        self._observe(call, note)
        return flight.answer if note.result == "coalesced" else None

    def _observe(self, call: Call, note: CacheNote) -> None:
        """Tell the observer (telemetry) how this call's lookup ended; never fails the call."""
        observer = self.observer
        if observer is None:
            return
        try:
            observer(call, note)
        except Exception:
            log.debug("aiguard cache: observer failed", exc_info=True)

    # ------------------------------------------------------------------ store / abandon

    def store(
        self, call: Call, response: ChatResponse, events: tuple[StreamEvent, ...] | None
    ) -> Io | None:
        mode = call.options.cache
        note = call.notes.get("cache")
        if mode == "bypass":
            if isinstance(note, CacheNote):
                self._release(note, None, None)
            return None
        if not isinstance(note, CacheNote):  # "refresh": no lookup happened
            note = CacheNote(result="refresh")
            call.notes["cache"] = note
            note.key = self._key(call, note)
            if note.key is None:
                note.result = "uncacheable"
                self._count("uncacheable")
                return None
        key = note.key
        if key is None:
            return None
        if response.finish_reason not in _STORABLE_FINISH:
            self._count("not_stored")
            self._release(note, None, None)
            return None
        hit = CacheHit(response, events)
        if not _from_keyed_endpoint(call):
            self._count("not_stored")
            self._release(note, hit, None)
            return None
        ttl = call.options.cache_ttl or note.ttl or self._settings(call)[3]
        if not self._blocking:
            self._put(note, key, hit, ttl)
            return None
        return self._put_io(note, key, hit, ttl)

    def _put_io(self, note: CacheNote, key: str, hit: CacheHit, ttl: float) -> Io:
        return Io(lambda: self._put(note, key, hit, ttl), lambda: self._aput(note, key, hit, ttl))

    def _put(self, note: CacheNote, key: str, hit: CacheHit, ttl: float) -> None:
        try:
            self.backend.set(key, hit, ttl)
        except Exception as e:
            self._failed("store", e, None)
            self._release(note, hit, None)
            return
        except BaseException:
            self._release(note, hit, None)
            raise
        # The common case in one critical section: count the store, end the flight.
        note.stored = True
        flight = note.flight
        note.flight = None
        with self._lock:
            self._counts["stores"] += 1
            if flight is not None and self._flights.get(key) is flight:
                del self._flights[key]
        if flight is not None:
            flight.resolve(hit, None)

    async def _aput(self, note: CacheNote, key: str, hit: CacheHit, ttl: float) -> None:
        try:
            await self.backend.aset(key, hit, ttl)
            self._stored(note)
        except Exception as e:
            self._failed("store", e, None)
        finally:
            self._release(note, hit, None)

    def _stored(self, note: CacheNote) -> None:
        note.stored = True
        self._count("stores")

    def abandon(self, call: Call, error: BaseException | None) -> None:
        note = call.notes.get("cache")
        if isinstance(note, CacheNote):
            self._release(note, None, error)

    # ------------------------------------------------------------------ plumbing

    def _release(self, note: CacheNote, hit: CacheHit | None, error: BaseException | None) -> None:
        """If this call leads a flight, end it and hand its outcome to the waiters."""
        flight = note.flight
        if flight is None:
            return
        note.flight = None
        with self._lock:
            if note.key is not None and self._flights.get(note.key) is flight:
                del self._flights[note.key]
        flight.resolve(hit, error)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _waiter_delta(self, delta: int) -> None:
        with self._waiting_changed:
            self._waiting += delta
            self._waiting_changed.notify_all()

    def wait_for_waiters(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` calls are waiting on identical calls (for tests
        and diagnostics); ``False`` on timeout."""
        with self._waiting_changed:
            return self._waiting_changed.wait_for(lambda: self._waiting >= count, timeout)

    def _failed(self, op: str, error: Exception, note: CacheNote | None) -> None:
        """Count the failure and log it; warnings are throttled so an outage does not flood
        the log (later failures within the window go to debug)."""
        now = self._clock()
        with self._lock:
            self._counts["errors"] += 1
            loud = now - self._last_warning >= _WARN_EVERY
            if loud:
                self._last_warning = now
        if note is not None:
            note.result = "error"
        what = "served as a miss" if op == "lookup" else "answer not stored"
        (log.warning if loud else log.debug)(
            "aiguard cache: %s %s failed (%s: %s); %s",
            type(self.backend).__name__,
            op,
            type(error).__name__,
            error,
            what,
        )


def _from_keyed_endpoint(call: Call) -> bool:
    """Whether the answer came from the endpoint the key describes (the plan's first)."""
    if call.endpoint is None or not call.plan or call.endpoint is call.plan[0]:
        return True
    return bool(call.endpoint.provider.describe() == call.plan[0].provider.describe())


def _copy_error(error: ProviderError) -> ProviderError:
    """A copy per waiter, so concurrent raises do not share one traceback. ``__init__`` is
    skipped (subclasses take different arguments); the attributes are carried over."""
    cls = type(error)
    try:
        dup = cls.__new__(cls)
        dup.__dict__.update(error.__dict__)
        dup.args = error.args
    except Exception:  # pragma: no cover - an exotic subclass: share the original
        return error
    return dup
