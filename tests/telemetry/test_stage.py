"""End to end: aiguard.Client / AsyncClient with the telemetry stage plugged in."""

from __future__ import annotations

import pytest

from aiguard import errors
from aiguard.telemetry import _semconv as sc

from ._harness import KEY, Harness
from ._wire import MemoryCache, Redactor, RetryOnce, chat_body, sse_body


def test_a_call_through_the_client_yields_span_metrics_and_audit_row(h: Harness) -> None:
    reply = h.chat("Hello")
    assert reply.text == "Hi there"
    call = h.otel.span("chat gpt-4o-mini")
    a = dict(call.attributes or {})
    assert a[sc.PROVIDER_NAME] == "openai"
    assert a[sc.SERVER_ADDRESS] == "api.openai.com" and a[sc.SERVER_PORT] == 443
    assert a[sc.USAGE_INPUT_TOKENS] == 12 and a[sc.USAGE_OUTPUT_TOKENS] == 5
    assert a[sc.RESPONSE_ID] == "chatcmpl-123"
    assert sc.CACHE_RESULT not in a  # no cache configured, no lookup
    # One attempt, one span: an attempt span would only repeat the call's.
    assert [s.name for s in h.otel.spans()] == ["chat gpt-4o-mini"]
    (row,) = h.rows()
    assert (row.tenant, row.principal, row.endpoint, row.outcome) == (
        "acme",
        "u-42",
        "cloud-llm",
        "ok",
    )
    assert row.request_id == "req-abc" and row.attempts == 1
    assert row.input_hash is not None


def test_retry_then_failover_is_one_call_span_with_three_attempts(h: Harness) -> None:
    h.script.replies = [
        (503, {"error": {"message": "overloaded"}}, {}),
        (503, {"error": {"message": "overloaded"}}, {}),
        (200, chat_body(model="gpt-4o"), {}),
    ]
    h.chat("Hello", router=h.plan("cloud-llm", "backup-llm"), retry=RetryOnce())
    attempts = [s.name for s in h.otel.spans() if s.name.startswith("attempt ")]
    assert attempts == ["attempt cloud-llm", "attempt cloud-llm", "attempt backup-llm"]
    call = h.otel.span("chat gpt-4o")
    a = dict(call.attributes or {})
    assert a[sc.SERVER_ADDRESS] == "backup.example" and a[sc.SERVER_PORT] == 8443
    m = h.otel.metrics()
    assert sum(p.value for p in m[sc.METRIC_RETRIES]) == 1
    assert sum(p.value for p in m[sc.METRIC_FAILOVERS]) == 1
    (row,) = h.rows()
    assert row.attempts == 3 and row.endpoint == "backup-llm" and row.outcome == "ok"


def test_provider_failure_is_an_error_outcome(h: Harness) -> None:
    h.script.replies = [(401, {"error": {"message": "Incorrect API key provided"}}, {})]
    with pytest.raises(errors.AuthenticationError):
        h.chat("Hello")
    call = h.otel.span("chat gpt-4o-mini")
    assert (call.attributes or {})[sc.ERROR_TYPE] == "aiguard.errors.AuthenticationError"
    (row,) = h.rows()
    assert row.outcome == "error" and row.error_type == "aiguard.errors.AuthenticationError"


def test_redaction_and_block_decisions_are_recorded(h: Harness) -> None:
    h.chat("key " + KEY, inspector=Redactor((KEY,)))
    with pytest.raises(errors.ContentBlockedError):
        h.chat("key " + KEY, inspector=Redactor((KEY,), block=True))
    assert len(h.script.sent) == 1  # the blocked call never left the process
    rows = h.rows()
    assert [r.outcome for r in rows] == ["ok", "blocked"]
    assert [tuple(v.action for v in r.violations) for r in rows] == [("redact",), ("block",)]
    events = [
        dict(e.attributes or {})
        for s in h.otel.spans()
        for e in s.events
        if e.name == sc.EVENT_POLICY
    ]
    assert [e[sc.ACTION] for e in events] == ["redact", "block"]


def test_a_cache_hit_is_recorded_as_cached(h: Harness) -> None:
    cache = MemoryCache()
    h.chat("Hello", cache=cache)
    h.chat("Hello", cache=cache)
    assert len(h.script.sent) == 1
    assert [r.outcome for r in h.rows()] == ["ok", "cached"]
    assert [r.cache_hit for r in h.rows()] == [False, True]
    hits = h.otel.metrics()[sc.METRIC_CACHE]
    assert [dict(p.attributes)[sc.CACHE_RESULT] for p in hits] == ["hit"]


def test_a_stream_is_one_span_with_usage(h: Harness) -> None:
    h.script.replies = [(200, sse_body("Hi there"), {})]
    final = h.stream("Hello")
    assert final.text == "Hi there"
    call = h.otel.span("chat gpt-4o-mini")
    a = dict(call.attributes or {})
    assert a[sc.REQUEST_STREAM] is True
    assert a[sc.USAGE_INPUT_TOKENS] == 7 and a[sc.USAGE_OUTPUT_TOKENS] == 2
    (row,) = h.rows()
    assert row.stream and row.outcome == "ok" and row.output_tokens == 2


def test_embeddings_are_an_embeddings_span_with_input_tokens_only(h: Harness) -> None:
    h.script.replies = [
        (
            200,
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                    {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
                ],
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 4, "total_tokens": 4},
            },
            {},
        )
    ]
    h.embed(["a", "b"])
    span = h.otel.span("embeddings gpt-4o-mini")
    a = dict(span.attributes or {})
    assert a[sc.OPERATION_NAME] == "embeddings"
    assert a[sc.USAGE_INPUT_TOKENS] == 4
    points = h.otel.metrics()[sc.METRIC_TOKEN_USAGE]
    assert [p.attributes[sc.TOKEN_TYPE] for p in points] == ["input"]
    (row,) = h.rows()
    assert (row.operation, row.input_tokens, row.outcome) == ("embeddings", 4, "ok")
