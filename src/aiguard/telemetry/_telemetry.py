"""``Telemetry``: the tracer, meter, audit log and content switch one client shares.

Providers are injectable (tests pass the SDK's in-memory ones); by default the global
providers are used, so aiguard exports wherever the application's OpenTelemetry setup says,
and with no SDK installed every call is a no-op.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as _metrics_internal

from ..errors import ConfigError
from . import _semconv as sc
from ._instruments import Instruments
from ._recorder import CallRecorder

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from .._context import CallContext
    from ._writer import AuditLog

__all__ = ["Telemetry", "capture_content_from_env"]

_UNKNOWN = object()
_Attrs = dict[str, Any]


def _global_set(module: Any, name: str) -> bool | None:
    """Whether an OpenTelemetry global provider was installed, read without the public getter.

    The getters consult ``os.environ`` on every call (about 2 us each), which alone would
    blow the no-SDK budget. The module globals are private, so an unexpected shape returns
    ``None`` and the caller falls back to the public API.
    """
    value = getattr(module, name, _UNKNOWN)
    if value is _UNKNOWN:
        return None
    return value is not None


# Both private globals exist in every supported API version; if one ever goes, ``exporting``
# takes the slower public route instead.
_GLOBALS_READABLE = (
    _global_set(trace, "_TRACER_PROVIDER") is not None
    and _global_set(_metrics_internal, "_METER_PROVIDER") is not None
)

_TRUE = frozenset(("1", "true", "yes", "on"))


def capture_content_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """The standard GenAI switch, off unless set to a true value."""
    env = os.environ if environ is None else environ
    return env.get(sc.CAPTURE_CONTENT_ENV, "").strip().lower() in _TRUE


class Telemetry:
    """Spans, metrics and audit records for every call of one client.

    ``capture_content`` records the *redacted* prompt and answer on spans and audit records;
    ``None`` reads ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``. ``semconv="latest"``
    opts in to the newest GenAI names (``None`` reads ``OTEL_SEMCONV_STABILITY_OPT_IN``).
    ``tracing=False``/``metrics_enabled=False`` turn either off entirely.
    ``attempt_spans="retries"`` (the default) writes attempt child spans only for calls that
    needed more than one attempt: an ordinary call's single attempt would repeat its parent at
    the cost of a second span. ``"always"`` writes them for every call.
    ``clock`` (epoch seconds) stamps audit records; ``timer`` (monotonic seconds) measures
    durations.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        audit: AuditLog | None = None,
        capture_content: bool | None = None,
        semconv: sc.SemconvChoice | None = None,
        tracing: bool = True,
        attempt_spans: Literal["always", "retries"] = "retries",
        metrics_enabled: bool = True,
        policy_hash: str | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if capture_content is not None and not isinstance(capture_content, bool):
            raise ConfigError(
                f"capture_content must be True, False or None, got {capture_content!r}"
            )
        if attempt_spans not in ("always", "retries"):
            raise ConfigError(f"attempt_spans must be 'always' or 'retries', got {attempt_spans!r}")
        self.attempt_spans = attempt_spans
        self.names = sc.names_for(semconv, environ)
        self.capture_content = (
            capture_content_from_env(environ) if capture_content is None else capture_content
        )
        self.audit = audit
        self.policy_hash = policy_hash
        self._tracing_seen = tracer_provider is not None
        self._metrics_seen = meter_provider is not None and metrics_enabled
        self._metrics_on = metrics_enabled
        self._recording = audit is not None or self._tracing_seen or self._metrics_seen
        self._exporting = (tracing and self._tracing_seen) or self._metrics_seen
        # Resolve the globals once: this is what loads a provider named by the
        # OTEL_PYTHON_TRACER_PROVIDER / OTEL_PYTHON_METER_PROVIDER environment variables.
        trace.get_tracer_provider()
        metrics.get_meter_provider()
        self._id_prefix = os.urandom(8).hex()
        self._ids = itertools.count(1)
        self.clock = clock
        self.timer = timer
        version = str(getattr(sys.modules.get("aiguard"), "__version__", ""))
        self.tracer: trace.Tracer | None = (
            trace.get_tracer(sc.INSTRUMENTATION_NAME, version, tracer_provider) if tracing else None
        )
        meter = (
            metrics.get_meter(sc.INSTRUMENTATION_NAME, version, meter_provider)
            if metrics_enabled
            else metrics.NoOpMeter(sc.INSTRUMENTATION_NAME)
        )
        dropped = (lambda: audit.dropped) if audit is not None else None
        self.instruments = Instruments(meter, self.names, dropped)
        self.metric_attrs: dict[tuple[Any, ...], tuple[_Attrs, _Attrs, _Attrs]] = {}
        """The histograms' attribute sets by endpoint, model and error type (``CallRecorder``)."""

    def tracing_live(self) -> bool:
        """False while no tracer provider is installed: then no span is even started.

        Checked per call (global providers are set once and never unset, so a ``True`` is
        remembered), so an application that installs its SDK after creating the client is
        traced from then on.
        """
        if self._tracing_seen:
            return True
        live = _global_set(trace, "_TRACER_PROVIDER")
        if live is None:
            live = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        self._tracing_seen = live
        return live

    def metrics_live(self) -> bool:
        """False while no meter provider is installed: histogram attributes are not built."""
        if self._metrics_seen or not self._metrics_on:
            return self._metrics_seen
        live = _global_set(_metrics_internal, "_METER_PROVIDER")
        if live is None:
            live = True
        self._metrics_seen = live
        return live

    def recording(self) -> bool:
        """Whether a call has anything to report: an audit log, or an installed tracer or meter
        provider. The pipeline's stage skips a call entirely while this is false (the no-SDK
        default), and checks again on every call until it turns true, for good."""
        if self._recording:
            return True
        live = (self.tracer is not None and self.tracing_live()) or self.metrics_live()
        self._recording = live
        return live

    def exporting(self) -> bool:
        """Whether a call's span or metric points would reach an SDK.

        While it is false the stage leaves the recorder out and reads the audit record off
        the call when it finishes. Until an SDK shows up this is two reads of module globals
        per call (no provider installed: nothing can be exported); then ``True`` for good.
        """
        if self._exporting:
            return True
        if (
            _GLOBALS_READABLE
            and trace._TRACER_PROVIDER is None
            and _metrics_internal._METER_PROVIDER is None
        ):
            return False
        live = (self.tracer is not None and self.tracing_live()) or self.metrics_live()
        self._exporting = live
        return live

    def next_record_id(self) -> str:
        """Unique per process run without the cost of ``uuid4`` on the call path."""
        return f"{self._id_prefix}{next(self._ids):08x}"

    def start_call(
        self,
        operation: str,
        request: Any,
        context: CallContext | None = None,
        *,
        stream: bool = False,
        policy_hash: str | None = None,
    ) -> CallRecorder:
        """Open the call's span. Only request *parameters* are read here, never content."""
        return CallRecorder(
            self,
            operation,
            request,
            context,
            stream,
            policy_hash if policy_hash is not None else self.policy_hash,
        )

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush and close the audit log (spans and metrics belong to the app's providers)."""
        if self.audit is not None:
            self.audit.close(timeout)
