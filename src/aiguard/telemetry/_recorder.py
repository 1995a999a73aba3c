"""What one call reports: its span, its attempts' spans, its metrics and its audit record.

The pipeline owns the order of events; a ``CallRecorder`` only turns them into telemetry. Every
attribute dictionary is built behind ``is_recording()`` so an application without an
OpenTelemetry SDK pays for a handful of no-op calls and nothing else. Nothing here reads
message content except ``_content`` helpers, and they only ever see what the pipeline handed
over as already redacted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

from .._types import ChatRequest
from . import _semconv as sc
from ._audit import AuditRecord, Violation, call_fields, record_of
from ._outcome import error_type, settled

if TYPE_CHECKING:
    from .._context import CallContext
    from ._telemetry import Telemetry

__all__ = ["AttemptRecorder", "CallRecorder"]

_Attrs = dict[str, Any]
_MetricAttrs = tuple[_Attrs, _Attrs, _Attrs]
_METRIC_ATTRS_CACHED = 1024  # distinct (endpoint, model, error type) combinations kept


# Request parameters as span attributes: (request field, attribute).
_PARAMETERS = (
    ("max_tokens", sc.REQUEST_MAX_TOKENS),
    ("temperature", sc.REQUEST_TEMPERATURE),
    ("top_p", sc.REQUEST_TOP_P),
    ("seed", sc.REQUEST_SEED),
    ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY),
    ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY),
)
_CHAT_PARAMETERS = attrgetter(*(name for name, _ in _PARAMETERS))


def _messages_json(request: Any) -> str | None:
    messages = getattr(request, "messages", None)
    if messages is None:
        inputs = getattr(request, "inputs", None)
        return None if inputs is None else json.dumps(list(inputs), ensure_ascii=False)
    out = []
    for m in messages:
        entry: dict[str, Any] = {"role": m.role, "parts": [{"type": "text", "content": m.text}]}
        if m.tool_calls:
            entry["parts"] += [
                {"type": "tool_call", "id": c.id, "name": c.function.name} for c in m.tool_calls
            ]
        out.append(entry)
    return json.dumps(out, ensure_ascii=False)


def _answer_json(response: Any) -> str | None:
    text = getattr(response, "text", None)
    if text is None:
        return None
    parts: list[dict[str, Any]] = [{"type": "text", "content": text}]
    parts += [
        {"type": "tool_call", "id": c.id, "name": c.function.name}
        for c in getattr(response, "tool_calls", ()) or ()
    ]
    msg = {"role": "assistant", "parts": parts, "finish_reason": response.finish_reason}
    return json.dumps([msg], ensure_ascii=False)


class AttemptRecorder:
    """One try at one endpoint: a child span, ended with the attempt's error if any.

    With ``attempt_spans="retries"`` the first attempt only notes its times; its span is
    written, with those times, if and when a second attempt starts.
    """

    __slots__ = ("_deferred", "_end_ns", "_error", "_span", "_status", "endpoint", "number")

    def __init__(self, span: Span, endpoint: str, number: int, deferred: bool = False) -> None:
        self._span = span
        self.endpoint = endpoint
        self.number = number
        self._deferred: int | None = None
        if deferred:  # the other slots are only read for a deferred span
            self._deferred = time.time_ns()
            self._end_ns: int | None = None
            self._error: BaseException | None = None
            self._status: int | None = None

    @property
    def span(self) -> Span:
        """The attempt's span, for a driver that wants HTTP spans nested under it."""
        return self._span

    def end(self, error: BaseException | None = None, *, status_code: int | None = None) -> None:
        if self._span is INVALID_SPAN:
            if self._deferred is not None:
                self._end_ns, self._error, self._status = time.time_ns(), error, status_code
            return
        self._finish(error, status_code, None)

    def _finish(self, error: BaseException | None, status: int | None, at: int | None) -> None:
        span = self._span
        if span.is_recording():
            if status is not None:
                span.set_attribute(sc.HTTP_STATUS, status)
            if error is not None:
                et = error_type(error)
                span.set_attribute(sc.ERROR_TYPE, et)
                span.set_status(Status(StatusCode.ERROR, et))
        span.end(end_time=at)

    def materialize(self, tracer: trace.Tracer, parent: Span) -> None:
        """Write the deferred span now, with the times the attempt really had."""
        start = self._deferred
        if start is None:
            return
        self._deferred = None
        self._span = tracer.start_span(
            f"attempt {self.endpoint}",
            context=trace.set_span_in_context(parent),
            kind=SpanKind.INTERNAL,
            attributes={sc.ENDPOINT: self.endpoint, sc.ATTEMPT: self.number},
            start_time=start,
        )
        if self._end_ns is not None:
            self._finish(self._error, self._status, self._end_ns)


class CallRecorder:
    """The telemetry of one call, from ``Telemetry.start_call`` to ``end``.

    Methods are cheap and never raise on the caller's behalf. Call them as the pipeline
    reaches each stage; only ``end`` is required.
    """

    __slots__ = (
        "_attempts",
        "_cache_hit",
        "_cache_result",
        "_ended",
        "_first_attempt",
        "_first_chunk",
        "_last_endpoint",
        "_on",
        "_redacted",
        "_request",
        "_span",
        "_t0",
        "_tel",
        "_time",
        "_violations",
        "capture_content",
        "context",
        "endpoint",
        "model",
        "operation",
        "policy_hash",
        "provider",
        "requested_model",
        "server_address",
        "server_port",
        "stream",
    )

    def __init__(
        self,
        tel: Telemetry,
        operation: str,
        request: Any,
        context: CallContext | None,
        stream: bool,
        policy_hash: str | None,
    ) -> None:
        self._tel = tel
        self.operation = operation
        self.requested_model: str | None = getattr(request, "model", None)
        self.model: str | None = None
        self.provider: str | None = None
        self.endpoint: str | None = None
        self.server_address: str | None = None
        self.server_port: int | None = None
        self.context = context
        self.stream = stream
        self.policy_hash = policy_hash
        self.capture_content = tel.capture_content
        """Record the redacted prompt and answer; a policy may switch it on per call."""
        self._violations: list[tuple[str, str, str]] = []
        self._cache_hit = False
        self._cache_result: str | None = None
        self._attempts = 0
        self._last_endpoint: str | None = None
        self._redacted: Any = None
        self._first_chunk: float | None = None
        self._first_attempt: AttemptRecorder | None = None
        self._ended = False
        self._request = request
        self._time = tel.clock()
        self._t0 = tel.timer()
        span: Span = INVALID_SPAN
        if tel.tracer is not None and tel.tracing_live():
            model = self.requested_model
            # What a sampler may need is given at creation; the rest is set once, at the end.
            first: _Attrs = {sc.OPERATION_NAME: operation}
            if model:
                first[sc.REQUEST_MODEL] = model
            span = tel.tracer.start_span(
                f"{operation} {model}" if model else operation,
                kind=SpanKind.CLIENT,
                attributes=first,
            )
        self._span = span
        self._on = span.is_recording()

    # ------------------------------------------------------------------ helpers
    def _request_attributes(self, a: _Attrs, request: Any) -> None:
        if type(request) is ChatRequest:  # every parameter is a field: read in one C call
            values = _CHAT_PARAMETERS(request)
        else:
            values = tuple(getattr(request, name, None) for name, _ in _PARAMETERS)
        for (_, key), v in zip(_PARAMETERS, values, strict=True):
            if v is not None:
                a[key] = v
        if self.stream:
            a[sc.REQUEST_STREAM] = True
        ctx = self.context
        if ctx is not None:
            if ctx.tenant:
                a[sc.TENANT] = ctx.tenant
            if ctx.region:
                a[sc.REGION] = ctx.region
            if ctx.route:
                a[sc.ROUTE] = ctx.route
        if self.policy_hash:
            a[sc.POLICY_HASH] = self.policy_hash

    def _model_attrs(self) -> _Attrs:
        """The low-cardinality attributes metrics share."""
        a: _Attrs = {sc.OPERATION_NAME: self.operation}
        provider = self.provider
        if provider:
            a[self._tel.names.provider] = provider
        model = self.model or self.requested_model
        if model:
            a[sc.REQUEST_MODEL] = model
        if self.server_address:
            a[sc.SERVER_ADDRESS] = self.server_address
            if self.server_port:
                a[sc.SERVER_PORT] = self.server_port
        return a

    def _metric_attrs(self, resp_model: str | None, et: str | None) -> _MetricAttrs:
        """The attribute sets of the duration and the two token points, built once per
        endpoint, model and error type and shared by every call with the same ones (the SDK
        copies what it is given; these dictionaries are never changed once cached)."""
        key = (
            self.operation,
            self.provider,
            self.model or self.requested_model,
            self.server_address,
            self.server_port,
            resp_model,
            et,
        )
        cache = self._tel.metric_attrs
        sets = cache.get(key)
        if sets is None:
            base = self._model_attrs()
            if resp_model:
                base[sc.RESPONSE_MODEL] = resp_model
            duration = dict(base)
            if et is not None:
                duration[sc.ERROR_TYPE] = et
            sets = (
                duration,
                {**base, sc.TOKEN_TYPE: sc.TOKEN_TYPE_INPUT},
                {**base, sc.TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT},
            )
            if len(cache) < _METRIC_ATTRS_CACHED:
                cache[key] = sets
        return sets

    # ------------------------------------------------------------------ stage events
    def routed(
        self,
        *,
        endpoint: str,
        provider: str | None = None,
        model: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> None:
        """The endpoint the call is going to (again on failover). The span is renamed
        ``{operation} {model}`` and given these attributes when it ends, in one batch."""
        self.endpoint = endpoint
        self.provider = provider or self.provider
        self.model = model or self.model
        self.server_address = server_address
        self.server_port = server_port

    def input_redacted(self, request: Any) -> None:
        """The request as input inspection left it: the only input content ever captured."""
        self._redacted = request

    def decision(
        self,
        category: str,
        action: str,
        *,
        direction: str = "input",
        detector: str | None = None,
    ) -> None:
        """A policy finding: the category and what was done, never the matched text."""
        self._violations.append((category, action, direction))
        self._tel.instruments.violations.add(
            1, ((sc.CATEGORY, category), (sc.ACTION, action), (sc.DIRECTION, direction))
        )
        span = self._span
        if self._on:
            attrs: _Attrs = {sc.CATEGORY: category, sc.ACTION: action, sc.DIRECTION: direction}
            if detector:
                attrs[sc.DETECTOR] = detector
            span.add_event(sc.EVENT_POLICY, attrs)

    def cache(self, hit: bool) -> None:
        self._cache_hit = hit
        result = "hit" if hit else "miss"
        self._tel.instruments.cache.add(1, ((sc.CACHE_RESULT, result),))
        # The result is a span attribute, set with the others when the call ends: one
        # attribute in a batch costs a fraction of a span event, and backends index it.
        self._cache_result = result

    def rate_limit(
        self, action: str, *, limit: str | None = None, wait_s: float | None = None
    ) -> None:
        """A rate limit made the call wait (``"wait"``) or refused it (``"refuse"``)."""
        key = (
            ((sc.LIMIT_ACTION, action), (sc.LIMIT, limit))
            if limit
            else ((sc.LIMIT_ACTION, action),)
        )
        self._tel.instruments.rate_limit.add(1, key)
        if self._on:
            attrs: _Attrs = dict(key)
            if wait_s is not None:
                attrs[sc.LIMIT_WAIT] = wait_s
            self._span.add_event(sc.EVENT_RATE_LIMIT, attrs)

    def budget(self, remaining: float, *, limit: str | None = None) -> None:
        """What is left of a token or cost budget after this call's reservation."""
        if self._on:
            attrs: _Attrs = {sc.BUDGET_REMAINING: remaining}
            if limit:
                attrs[sc.LIMIT] = limit
            self._span.add_event(sc.EVENT_BUDGET, attrs)

    def first_chunk(self) -> None:
        """The first streamed chunk arrived (time to first token)."""
        if self._first_chunk is None:
            self._first_chunk = self._tel.timer() - self._t0
            if self._on:
                self._span.add_event(sc.EVENT_FIRST_CHUNK)

    def attempt_start(
        self,
        *,
        endpoint: str,
        provider: str | None = None,
        model: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> AttemptRecorder:
        """One try; a repeat on the same endpoint counts as a retry, a new one as failover."""
        self._attempts += 1
        n = self._attempts
        if n > 1:
            same = endpoint == self._last_endpoint
            counter = self._tel.instruments.retries if same else self._tel.instruments.failovers
            counter.add(1, ((sc.ENDPOINT, endpoint),))
        self._last_endpoint = endpoint
        if endpoint != self.endpoint or model != self.model:
            self.endpoint = endpoint
            self.provider = provider or self.provider
            self.model = model or self.model
            self.server_address = server_address
            self.server_port = server_port
        span: Span = INVALID_SPAN
        tracer = self._tel.tracer
        if tracer is not None and self._on:
            if self._tel.attempt_spans == "retries":
                if n == 1:
                    self._first_attempt = AttemptRecorder(span, endpoint, n, deferred=True)
                    return self._first_attempt
                if self._first_attempt is not None:
                    self._first_attempt.materialize(tracer, self._span)
                    self._first_attempt = None
            span = tracer.start_span(
                f"attempt {endpoint}",
                context=trace.set_span_in_context(self._span),
                kind=SpanKind.INTERNAL,
                attributes={sc.ENDPOINT: endpoint, sc.ATTEMPT: n},
            )
        return AttemptRecorder(span, endpoint, n)

    @property
    def span(self) -> Span:
        """The call's span (``INVALID_SPAN`` when tracing is off)."""
        return self._span

    # ------------------------------------------------------------------ end
    def end(
        self,
        *,
        response: Any = None,
        error: BaseException | None = None,
    ) -> AuditRecord | None:
        """Close the span, record the metrics and queue the audit record.

        ``response`` must be the answer as output inspection left it (redacted). Returns the
        audit record (without hashes, which the writer adds) or ``None`` if already ended.
        """
        fields = self._close(response, error)
        audit = self._tel.audit
        if fields is None or audit is None:
            return None
        record = record_of((*fields, None, None, None))  # the writer adds hashes and content
        audit.submit(
            record,
            request=self._redacted,
            response=response,
            capture_content=self.capture_content,
        )
        return record

    def finish(self, *, response: Any = None, error: BaseException | None = None) -> None:
        """``end`` without building the record here: the pipeline's stage has no use for it,
        and the writer builds it once, with its hashes."""
        fields = self._close(response, error)
        audit = self._tel.audit
        if fields is not None and audit is not None:
            audit.submit_fields(fields, self._redacted, response, self.capture_content)

    def _close(self, response: Any, error: BaseException | None) -> tuple[Any, ...] | None:
        """Span and metrics; then the audit record's fields without hashes and content
        (``None`` if already ended or there is no audit log)."""
        if self._ended:
            return None
        self._ended = True
        tel = self._tel
        elapsed = tel.timer() - self._t0
        usage, cost, resp_model, cached, endpoint, provider, et, outcome = settled(
            response, error, self._cache_hit
        )
        if self.endpoint is None:
            self.endpoint = endpoint
        if self.provider is None:
            self.provider = provider
        in_tok = usage.input_tokens if usage is not None else 0
        out_tok = usage.output_tokens if usage is not None else 0

        span = self._span
        if self._on:
            a: _Attrs = {sc.OUTCOME: outcome}
            self._request_attributes(a, self._request)
            if self.endpoint:
                a[sc.ENDPOINT] = self.endpoint
            if self.model and self.model != self.requested_model:  # else named so at start
                a[sc.REQUEST_MODEL] = self.model
                span.update_name(f"{self.operation} {self.model}")
            if self.server_address:
                a[sc.SERVER_ADDRESS] = self.server_address
                if self.server_port:
                    a[sc.SERVER_PORT] = self.server_port
            if self.provider:
                a[tel.names.provider] = self.provider
            if resp_model:
                a[sc.RESPONSE_MODEL] = resp_model
            if response is not None:
                if getattr(response, "id", None):
                    a[sc.RESPONSE_ID] = response.id
                finish = getattr(response, "finish_reason", None)
                if finish:
                    a[sc.RESPONSE_FINISH_REASONS] = (finish,)
            if usage is not None:
                a[sc.USAGE_INPUT_TOKENS] = in_tok
                a[sc.USAGE_OUTPUT_TOKENS] = out_tok
                if tel.names.cache_read_tokens and usage.cached_input_tokens:
                    a[tel.names.cache_read_tokens] = usage.cached_input_tokens
                if tel.names.reasoning_tokens and usage.reasoning_tokens:
                    a[tel.names.reasoning_tokens] = usage.reasoning_tokens
            if cost is not None:
                a[sc.COST] = cost
            if cached:
                a[sc.CACHED] = True
            first = self._first_attempt
            if first is not None and first._deferred is not None and first._status is not None:
                # The only attempt has no span of its own: its HTTP status goes on the call's.
                a[sc.HTTP_STATUS] = first._status
            if self._cache_result is not None:
                a[sc.CACHE_RESULT] = self._cache_result
            if self.capture_content:
                self._content_attributes(a, response)
            if et is not None:
                a[sc.ERROR_TYPE] = et
                span.add_event(sc.EXCEPTION_EVENT, {sc.EXCEPTION_TYPE: et})
                span.set_status(Status(StatusCode.ERROR, et))
            span.set_attributes(a)
        span.end()

        ins = tel.instruments
        if tel.metrics_live():
            duration_attrs, input_attrs, output_attrs = self._metric_attrs(resp_model, et)
            ins.duration.record(elapsed, duration_attrs)
            if usage is not None and not cached:
                ins.tokens.record(in_tok, input_attrs)
                if out_tok or self.operation == "chat":  # embeddings produce no output tokens
                    ins.tokens.record(out_tok, output_attrs)
            if self._first_chunk is not None and ins.first_chunk is not None:
                ins.first_chunk.record(self._first_chunk, self._model_attrs())
        c: tuple[tuple[str, Any], ...] = (
            (sc.OPERATION_NAME, self.operation),
            (sc.OUTCOME, outcome),
        )
        if self.endpoint:
            c += ((sc.ENDPOINT, self.endpoint),)
        ins.calls.add(c, cost if cost and not cached else 0.0)

        if tel.audit is None:
            return None
        return call_fields(
            time=self._time,
            operation=self.operation,
            outcome=outcome,
            record_id=tel.next_record_id(),
            context=self.context,
            requested_model=self.requested_model,
            endpoint=self.endpoint,
            provider=self.provider,
            model=resp_model or self.model,
            error_type=et,
            violations=tuple([Violation(*v) for v in self._violations]),
            input_tokens=in_tok,
            output_tokens=out_tok,
            cost=cost,
            latency_ms=elapsed * 1000.0,
            cache_hit=cached,
            attempts=self._attempts,
            stream=self.stream,
            response=response,
            error=error,
            policy_hash=self.policy_hash,
        )

    def _content_attributes(self, a: _Attrs, response: Any) -> None:
        if self._redacted is not None:
            text = _messages_json(self._redacted)
            if text is not None:
                a[sc.INPUT_MESSAGES] = text
        if response is not None:
            text = _answer_json(response)
            if text is not None:
                a[sc.OUTPUT_MESSAGES] = text


Clock = Callable[[], float]
