"""Spans and metrics as the GenAI conventions describe them, read back from the SDK."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from aiguard import errors
from aiguard._context import CallContext
from aiguard._types import Usage
from aiguard.telemetry import Telemetry
from aiguard.telemetry import _semconv as sc

from ._fakes import FakeClock, Otel, request, response

CTX = CallContext.build(user="u-42", tenant="acme", region="EU", route="support-bot")


def _telemetry(otel: Otel, clock: FakeClock, **options: Any) -> Telemetry:
    """The ``telemetry`` fixture's wiring with other options."""
    return Telemetry(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        clock=clock.time,
        timer=clock.timer,
        **options,
    )


def _ok_call(tel: Telemetry, clock: FakeClock) -> None:
    rec = tel.start_call("chat", request(max_tokens=100, temperature=0.2), CTX)
    rec.routed(
        endpoint="cloud-llm",
        provider="openai",
        model="gpt-4o-mini",
        server_address="api.openai.com",
        server_port=443,
    )
    att = rec.attempt_start(
        endpoint="cloud-llm",
        provider="openai",
        model="gpt-4o-mini",
        server_address="api.openai.com",
        server_port=443,
    )
    clock.advance(0.25)
    att.end(status_code=200)
    rec.end(response=response())


def test_one_client_span_per_call_named_operation_and_model(
    telemetry: Telemetry, otel: Otel, clock: FakeClock
) -> None:
    _ok_call(telemetry, clock)
    call = otel.span("chat gpt-4o-mini")
    assert call.kind is SpanKind.CLIENT
    a = dict(call.attributes or {})
    assert a[sc.OPERATION_NAME] == "chat"
    assert a[sc.PROVIDER_NAME] == "openai"
    assert a[sc.REQUEST_MODEL] == "gpt-4o-mini"
    assert a[sc.RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert a[sc.RESPONSE_ID] == "chatcmpl-123"
    assert a[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.USAGE_INPUT_TOKENS] == 12
    assert a[sc.USAGE_OUTPUT_TOKENS] == 5
    assert a[sc.SERVER_ADDRESS] == "api.openai.com"
    assert a[sc.SERVER_PORT] == 443
    assert a[sc.REQUEST_MAX_TOKENS] == 100
    assert a[sc.REQUEST_TEMPERATURE] == 0.2
    assert a[sc.TENANT] == "acme"
    assert a[sc.OUTCOME] == "ok"
    assert sc.ERROR_TYPE not in a
    assert call.status.status_code is StatusCode.UNSET


def test_attempt_spans_are_children_of_the_call_span(otel: Otel, clock: FakeClock) -> None:
    always = _telemetry(otel, clock, attempt_spans="always")
    _ok_call(always, clock)
    call = otel.span("chat gpt-4o-mini")
    attempt = otel.span("attempt cloud-llm")
    assert attempt.parent is not None
    assert attempt.parent.span_id == call.context.span_id
    assert attempt.context.trace_id == call.context.trace_id
    assert (attempt.attributes or {})[sc.ATTEMPT] == 1


def test_span_is_named_after_the_requested_model_until_routed(
    telemetry: Telemetry, otel: Otel
) -> None:
    rec = telemetry.start_call("chat", request(model="my-alias"), CTX)
    rec.end(error=errors.NoRouteError("no rule matched region 'MARS'"))
    span = otel.span("chat my-alias")
    assert span.status.status_code is StatusCode.ERROR


def test_errors_record_the_type_never_the_message(telemetry: Telemetry, otel: Otel) -> None:
    rec = telemetry.start_call("chat", request(), CTX)
    att = rec.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini")
    err = errors.AuthenticationError(
        "Incorrect API key provided: sk-proj-secret", provider="openai", status_code=401
    )
    att.end(err, status_code=401)
    rec.end(error=err)
    call = otel.span("chat gpt-4o-mini")
    assert (call.attributes or {})[sc.ERROR_TYPE] == "aiguard.errors.AuthenticationError"
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "aiguard.errors.AuthenticationError"
    assert (call.attributes or {})[sc.OUTCOME] == "error"
    events = [e for e in call.events if e.name == "exception"]
    assert [dict(e.attributes or {}) for e in events] == [
        {sc.EXCEPTION_TYPE: "aiguard.errors.AuthenticationError"}
    ]
    # The only attempt has no span of its own; its HTTP status is on the call's.
    assert [s.name for s in otel.spans()] == ["chat gpt-4o-mini"]
    assert (call.attributes or {})[sc.HTTP_STATUS] == 401


def test_retries_and_failover_each_get_a_span_and_a_count(telemetry: Telemetry, otel: Otel) -> None:
    rec = telemetry.start_call("chat", request(), CTX)
    for endpoint in ("cloud-llm", "cloud-llm", "on-prem-llm"):
        att = rec.attempt_start(endpoint=endpoint, provider="openai", model="m-" + endpoint)
        if endpoint == "on-prem-llm":
            att.end()
        else:
            att.end(errors.ServerError("boom", status_code=503))
    rec.end(response=response(endpoint="on-prem-llm"))
    attempts = [s for s in otel.spans() if s.name.startswith("attempt ")]
    assert [s.name for s in attempts] == [
        "attempt cloud-llm",
        "attempt cloud-llm",
        "attempt on-prem-llm",
    ]
    assert [(s.attributes or {})[sc.ATTEMPT] for s in attempts] == [1, 2, 3]
    assert [s.status.status_code for s in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    m = otel.metrics()
    assert sum(p.value for p in m[sc.METRIC_RETRIES]) == 1
    assert sum(p.value for p in m[sc.METRIC_FAILOVERS]) == 1
    # The call span reports the endpoint that answered.
    call = otel.span("chat m-on-prem-llm")
    assert (call.attributes or {})[sc.ENDPOINT] == "on-prem-llm"


def test_decisions_are_span_events_with_category_and_action_only(
    telemetry: Telemetry, otel: Otel
) -> None:
    rec = telemetry.start_call("chat", request(), CTX)
    rec.decision("pii.email", "redact", detector="pii")
    rec.cache(hit=False)
    rec.rate_limit("wait", limit="requestsPerMinute", wait_s=0.5)
    rec.budget(99_000, limit="tokensPerDay")
    rec.end(error=errors.ContentBlockedError("topic.investment_advice", "output"))
    call = otel.span("chat cloud-llm")
    events = {e.name: dict(e.attributes or {}) for e in call.events}
    assert events[sc.EVENT_POLICY] == {
        sc.CATEGORY: "pii.email",
        sc.ACTION: "redact",
        sc.DIRECTION: "input",
        sc.DETECTOR: "pii",
    }
    # The cache result is an attribute, which backends can filter on, not an event.
    assert "aiguard.cache" not in events
    assert (call.attributes or {})[sc.CACHE_RESULT] == "miss"
    assert events[sc.EVENT_RATE_LIMIT] == {
        sc.LIMIT_ACTION: "wait",
        sc.LIMIT: "requestsPerMinute",
        sc.LIMIT_WAIT: 0.5,
    }
    assert events[sc.EVENT_BUDGET] == {sc.BUDGET_REMAINING: 99_000, sc.LIMIT: "tokensPerDay"}
    assert (call.attributes or {})[sc.OUTCOME] == "blocked"
    viol = otel.metrics()[sc.METRIC_VIOLATIONS]
    assert [(dict(p.attributes), p.value) for p in viol] == [
        ({sc.CATEGORY: "pii.email", sc.ACTION: "redact", sc.DIRECTION: "input"}, 1)
    ]


def test_metrics_follow_the_genai_conventions(
    telemetry: Telemetry, otel: Otel, clock: FakeClock
) -> None:
    _ok_call(telemetry, clock)
    by_name = {m.name: m for m in otel.metric_objects()}
    tokens = by_name[sc.METRIC_TOKEN_USAGE]
    duration = by_name[sc.METRIC_OPERATION_DURATION]
    assert tokens.unit == "{token}"
    assert duration.unit == "s"
    points = {p.attributes[sc.TOKEN_TYPE]: p for p in tokens.data.data_points}
    assert points["input"].sum == 12
    assert points["output"].sum == 5
    assert tuple(points["input"].explicit_bounds) == sc.TOKEN_USAGE_BUCKETS
    assert dict(points["input"].attributes) == {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "openai",
        sc.REQUEST_MODEL: "gpt-4o-mini",
        sc.RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        sc.SERVER_ADDRESS: "api.openai.com",
        sc.SERVER_PORT: 443,
        sc.TOKEN_TYPE: "input",
    }
    (d,) = duration.data.data_points
    assert tuple(d.explicit_bounds) == sc.DURATION_BUCKETS
    assert d.sum == pytest.approx(0.25)  # the injected timer moved by exactly this much
    calls = otel.metrics()[sc.METRIC_CALLS]
    assert [(dict(p.attributes), p.value) for p in calls] == [
        ({sc.OPERATION_NAME: "chat", sc.OUTCOME: "ok", sc.ENDPOINT: "cloud-llm"}, 1)
    ]
    cost = otel.metrics()[sc.METRIC_COST]
    assert cost[0].value == 0.0021


def test_cache_hit_counts_no_provider_tokens_or_cost(telemetry: Telemetry, otel: Otel) -> None:
    rec = telemetry.start_call("chat", request(), CTX)
    rec.cache(hit=True)
    rec.end(response=response(cached=True))
    m = otel.metrics()
    assert sc.METRIC_TOKEN_USAGE not in m
    assert sc.METRIC_COST not in m
    assert [dict(p.attributes)[sc.CACHE_RESULT] for p in m[sc.METRIC_CACHE]] == ["hit"]
    assert [dict(p.attributes)[sc.OUTCOME] for p in m[sc.METRIC_CALLS]] == ["cached"]
    assert (otel.span("chat cloud-llm").attributes or {})[sc.CACHED] is True


def test_outcomes_name_who_said_no(telemetry: Telemetry, otel: Otel) -> None:
    cases = [
        (errors.MissingScopeError(["ai.write"], "chat"), "blocked"),
        (errors.RateLimited("60/min", limit="requestsPerMinute"), "limited"),
        (errors.BudgetExceeded("tokensPerDay"), "limited"),
        (errors.CacheMissError("nothing cached"), "refused"),
        (errors.TimeoutError("read timeout"), "error"),
        (asyncio.CancelledError(), "cancelled"),
    ]
    for err, _ in cases:
        telemetry.start_call("chat", request(), CTX).end(error=err)
    got = sorted((dict(p.attributes)[sc.OUTCOME], p.value) for p in otel.metrics()[sc.METRIC_CALLS])
    assert got == [("blocked", 1), ("cancelled", 1), ("error", 1), ("limited", 2), ("refused", 1)]


def test_streamed_call_records_first_chunk_under_latest_names(otel: Otel, clock: FakeClock) -> None:
    tel = _telemetry(otel, clock, semconv="latest")
    rec = tel.start_call("chat", request(), CTX, stream=True)
    rec.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini").end()
    clock.advance(0.1)
    rec.first_chunk()
    clock.advance(0.4)
    usage = Usage(input_tokens=10, output_tokens=3, cached_input_tokens=4, reasoning_tokens=2)
    rec.end(response=response(usage=usage))
    a = dict(otel.span("chat gpt-4o-mini").attributes or {})
    assert a[sc.REQUEST_STREAM] is True
    assert a["gen_ai.usage.cache_read.input_tokens"] == 4
    assert a["gen_ai.usage.reasoning.output_tokens"] == 2
    (p,) = otel.metrics()[sc.METRIC_TIME_TO_FIRST_CHUNK]
    assert p.sum == pytest.approx(0.1)


def test_newer_names_are_an_environment_opt_in() -> None:
    assert sc.names_for(None, {}) is sc.DEFAULT
    assert sc.names_for(None, {sc.OPT_IN_ENV: "http,gen_ai_latest_experimental"}) is sc.LATEST
    assert sc.names_for("latest", {}) is sc.LATEST


def test_ending_twice_records_once(telemetry: Telemetry, otel: Otel) -> None:
    rec = telemetry.start_call("chat", request(), CTX)
    rec.end(response=response())
    rec.end(error=errors.ServerError("late"))
    assert len(otel.spans()) == 1
    assert sum(p.value for p in otel.metrics()[sc.METRIC_CALLS]) == 1


def test_without_an_sdk_nothing_is_recorded_and_nothing_fails() -> None:
    tel = Telemetry(capture_content=True)  # the global, unconfigured providers
    rec = tel.start_call("chat", request(), CTX)
    assert not rec.span.is_recording()
    rec.decision("pii.email", "redact")
    att = rec.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini")
    assert not att.span.is_recording()
    att.end()
    assert rec.end(response=response()) is None  # no audit log configured


def test_the_stage_skips_calls_until_an_sdk_is_installed_then_traces_them() -> None:
    """No SDK and no audit log: the stage makes no recorder at all. Installing the SDK later
    (global providers can be set once per process, hence the subprocess) turns it on."""
    code = textwrap.dedent(
        """
        from types import SimpleNamespace
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from aiguard._types import ChatRequest, Message
        from aiguard.telemetry import Telemetry, TelemetryStage

        def call():
            req = ChatRequest(messages=(Message(role="user", content="Hi"),), model="m")
            return SimpleNamespace(
                operation="chat", request=req, context=None, stream=False, notes={},
                findings=[], attempts=[], error=None, plan=None, cached=False, response=None,
            )

        tel = Telemetry()
        stage = TelemetryStage(tel)
        before = call()
        stage.start(before)
        stage.finish(before)
        assert not tel.recording() and before.notes == {}, before.notes

        exporter = InMemorySpanExporter()
        tp = TracerProvider()
        tp.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tp)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        after = call()
        stage.start(after)
        stage.finish(after)
        assert tel.recording()
        assert [s.name for s in exporter.get_finished_spans()] == ["chat m"]
        names = [
            m.name
            for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        ]
        assert "aiguard.calls" in names, names
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_attempt_spans_are_written_for_calls_that_retried(otel: Otel, clock: FakeClock) -> None:
    tel = _telemetry(otel, clock)  # attempt_spans="retries" is the default
    single = tel.start_call("chat", request(), CTX)
    single.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini").end()
    single.end(response=response())
    assert [s.name for s in otel.spans()] == ["chat gpt-4o-mini"]  # no child for one attempt
    otel.exporter.clear()

    retried = tel.start_call("chat", request(), CTX)
    first = retried.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini")
    first.end(errors.ServerError("boom", status_code=503), status_code=503)
    retried.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini").end()
    retried.end(response=response())
    call = otel.span("chat gpt-4o-mini")
    attempts = sorted(
        (s for s in otel.spans() if s.name == "attempt cloud-llm"),
        key=lambda s: (s.attributes or {})[sc.ATTEMPT],
    )
    assert len(attempts) == 2
    a1, a2 = attempts
    assert a1.parent is not None and a1.parent.span_id == call.context.span_id
    assert a1.status.status_code is StatusCode.ERROR
    assert (a1.attributes or {})["http.response.status_code"] == 503
    assert sc.HTTP_STATUS not in (call.attributes or {})  # the attempts' spans carry it
    assert a1.start_time is not None and a1.end_time is not None and a2.start_time is not None
    assert a1.start_time <= a1.end_time <= a2.start_time  # the first keeps its real times
    with pytest.raises(errors.ConfigError, match="attempt_spans"):
        Telemetry(attempt_spans="never")  # type: ignore[arg-type]


def test_console_prints_spans_for_the_demo() -> None:
    import io

    from aiguard.telemetry import console

    out = io.StringIO()
    tel = console(out)
    rec = tel.start_call("chat", request(), CTX)
    rec.attempt_start(endpoint="cloud-llm", provider="openai", model="gpt-4o-mini").end()
    rec.end(response=response())
    printed = out.getvalue()
    assert '"name": "chat gpt-4o-mini"' in printed
    assert '"gen_ai.usage.output_tokens": 5' in printed
