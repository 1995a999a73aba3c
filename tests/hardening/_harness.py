"""Shared pieces of the hardening suites: a full policy, random faults on real loopback fakes,
a ledger of what the limiter settled, span and leak accounting.

Everything here is test code over public (or test-facing) aiguard APIs; nothing sleeps on the
wall clock. The client's ``sleep=`` records the wait and moves a fake clock, so retries,
Retry-After and breaker cooldowns cost no time.
"""

from __future__ import annotations

import gc
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiguard._call import Call
from aiguard.limits import LimitStage, limiter_from_policy
from aiguard.policy import Policy
from aiguard.providers import OpenAICompatible
from aiguard.telemetry import AuditLog, SQLiteAuditStore, Telemetry, TelemetryStage
from aiguard.testing import FakeProvider, Fault
from aiguard.testing._script import ScriptQueue

SOAK = os.environ.get("AIGUARD_SOAK") == "1"


def fake_key(*parts: str) -> str:
    """A credential-shaped string assembled at run time (never a committed literal)."""
    return "-".join(("sk", "test", *parts, "x" * 24))


# --------------------------------------------------------------------------- the policy

GENEROUS = 10**12


def full_policy(**cache: Any) -> dict[str, Any]:
    """Every section on: scopes, limits (generous), inspection, audit, routing over two
    endpoints, cache. The same shape as ``examples/policies/multi-tenant.yaml``, sized for
    tests: a rate limit per tenant+user, a token budget per tenant, a global concurrency cap."""
    return {
        "apiVersion": "v1",
        "kind": "AIAPIGatewayPolicy",
        "metadata": {"name": "hardening"},
        "spec": {
            "authentication": {"type": "oauth2", "scopes": ["ai.use"]},
            "rateLimit": {
                "requestsPerMinute": 10**9,
                "tokensPerDay": GENEROUS,
                "limits": [
                    {"name": "tenant-tokens", "key": ["tenant"], "tokensPerDay": GENEROUS},
                    {"name": "fleet", "key": ["global"], "maxConcurrent": 10**6},
                ],
            },
            "contentModeration": {
                "enabled": True,
                "blockList": ["hate speech", "PII", "investment advice", "secrets"],
                "pii": {"action": "redact"},
                "secrets": {"action": "block"},
            },
            "logging": {"enabled": False},
            "endpointRouting": {
                "default": "pool",
                "groups": {"pool": {"strategy": "weighted", "members": ["primary", "backup"]}},
            },
            "cache": {"enabled": True, "ttlSeconds": 600, "maxEntries": 512, **cache},
        },
    }


SCOPES = frozenset({"ai.use"})


def context(i: int, tenants: int = 4) -> dict[str, Any]:
    return {"tenant": f"t{i % tenants}", "user": f"u{i % 7}", "scopes": SCOPES}


# --------------------------------------------------------------------------- fakes and faults


class FakeClock:
    """Monotonic seconds moved only by recorded sleeps (and ``advance``)."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def fault_menu(
    timeout_faults: bool = True, partial: bool = True
) -> list[Callable[[random.Random], Fault]]:
    """Fault builders. ``partial=False`` leaves out the faults that let a non-streaming answer
    through whole (a stream missing its terminal event only breaks streams)."""
    menu: list[Callable[[random.Random], Fault]] = [
        lambda r: Fault.status_code(429, retry_after=r.choice([0.5, 1, 2])),
        lambda r: Fault.status_code(r.choice([500, 502, 503, 529])),
        lambda r: Fault.reset(),
        lambda r: Fault.malformed_json(),
        lambda r: Fault.cut_stream(after=r.randint(0, 3)),
    ]
    if partial:
        menu.append(lambda r: Fault.no_terminal())
    if timeout_faults:
        menu.append(lambda r: Fault.hang())
    return menu


class RandomFaults(ScriptQueue):
    """A fake's fault queue that fails a share of attempts at random, whatever was queued."""

    __slots__ = ("_menu", "_rate", "_rng", "_rng_lock", "injected")

    def __init__(
        self, rate: float, seed: int, *, timeout_faults: bool = True, partial: bool = True
    ) -> None:
        super().__init__()
        self._rate = rate
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._menu = fault_menu(timeout_faults, partial)
        self.injected: Counter[str] = Counter()

    def pop_fault(self, path: str, untargeted: bool = True) -> Fault | None:
        with self._rng_lock:
            if self._rng.random() >= self._rate:
                return None
            fault = self._rng.choice(self._menu)(self._rng)
            self.injected[fault.kind if fault.kind != "status" else str(fault.status)] += 1
            return fault


def chaotic(fake: FakeProvider, rate: float, seed: int, **kw: Any) -> RandomFaults:
    q = RandomFaults(rate, seed, **kw)
    fake._queue = q
    return q


def endpoints(primary: FakeProvider, backup: FakeProvider) -> dict[str, Any]:
    return {
        "primary": OpenAICompatible(primary.openai_url, "gpt-4o-mini", api_key=fake_key("p")),
        "backup": OpenAICompatible(backup.openai_url, "gpt-4o-mini", api_key=fake_key("b")),
    }


# --------------------------------------------------------------------------- accounting


class SpanBook(SpanProcessor):
    """Counts spans started and ended; ``open`` is what was started and never ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = 0
        self.ended = 0
        self.open: set[int] = set()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with self._lock:
            self.started += 1
            self.open.add(span.context.span_id)

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.ended += 1
            self.open.discard(span.context.span_id)


@dataclass
class Otel:
    keep_spans: bool = True
    book: SpanBook = field(default_factory=SpanBook)
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(self.book)
        if self.keep_spans:
            self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


class SettleLedger:
    """The pipeline's limiter stage, recording what each call settled with.

    Delegates to the ``LimitStage`` the policy's ``rateLimit`` section builds; ``limiter`` is
    exposed so ``client.usage()`` works as with the stage the client would build itself.
    """

    def __init__(self, stage: LimitStage) -> None:
        self.stage = stage
        self.limiter = stage.limiter
        self._lock = threading.Lock()
        self.settled: list[tuple[Call, Any]] = []
        self.charged: dict[int, Any] = {}  # id(reservation) -> the usage the engine charged
        settle, asettle = self.limiter.settle, self.limiter.asettle

        def charged_settle(res: Any, usage: Any, **kw: Any) -> Any:
            self.charged[id(res)] = usage
            return settle(res, usage, **kw)

        async def charged_asettle(res: Any, usage: Any, **kw: Any) -> Any:
            self.charged[id(res)] = usage
            return await asettle(res, usage, **kw)

        self.limiter.settle = charged_settle  # type: ignore[method-assign]
        self.limiter.asettle = charged_asettle  # type: ignore[method-assign]

    def charged_for(self, call: Call) -> Any:
        """The usage the limiter was finally charged with for ``call`` (after the stage's
        own adjustments), ``None`` when nothing was charged."""
        note = call.notes.get("limits")
        res = getattr(note, "reservation", None)
        return self.charged.get(id(res)) if res is not None else None

    def admit(self, call: Call) -> Any:
        return self.stage.admit(call)

    def settle(self, call: Call, usage: Any) -> Any:
        with self._lock:
            self.settled.append((call, usage))
        return self.stage.settle(call, usage)

    def close(self) -> None:
        self.limiter.close()


def ledger_for(policy: Policy, clock: Callable[[], float] | None = None) -> SettleLedger:
    limiter = limiter_from_policy(policy.spec.rate_limit, clock=clock)
    assert limiter is not None
    return SettleLedger(LimitStage(limiter))


def telemetry(otel: Otel, audit_path: Path, policy: Policy, **kw: Any) -> Telemetry:
    log = AuditLog(SQLiteAuditStore(audit_path), **kw)
    return Telemetry(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        audit=log,
        policy_hash=policy.hash,
    )


def stages_for(policy: Policy, tel: Telemetry, ledger: SettleLedger) -> dict[str, Any]:
    return {"limiter": ledger, "telemetry": TelemetryStage(tel)}


def token_usage(client_usage: list[Any], limit: str) -> tuple[float, float]:
    """(used, reserved) of one token limit from ``client.usage()``."""
    rows = [u for u in client_usage if u.limit == limit]
    assert len(rows) == 1, [u.limit for u in client_usage]
    return rows[0].used, rows[0].reserved


# --------------------------------------------------------------------------- leaks


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def socket_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def rss_kb() -> int:
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def errors_by_type(errors: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(errors.items()))
