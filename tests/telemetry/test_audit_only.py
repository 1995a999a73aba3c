"""Without an OpenTelemetry SDK the stage keeps no recorder: it reads the audit record off
the call when it finishes. The record must be the one a recorder writes, call for call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import aiguard
from aiguard import errors
from aiguard.policy import Policy
from aiguard.policy.stage import PolicyAuthorizer
from aiguard.providers import OpenAI
from aiguard.telemetry import AuditLog, AuditRecord, SQLiteAuditStore, Telemetry, TelemetryStage

from ._fakes import FakeClock, Otel
from ._harness import KEY, Harness
from ._wire import MemoryCache, Redactor, RetryOnce, Script, chat_body, sse_body


def _plain(h: Harness) -> None:
    h.chat("Hello")


def _retry_then_failover(h: Harness) -> None:
    h.script.replies = [
        (503, {"error": {"message": "overloaded"}}, {}),
        (503, {"error": {"message": "overloaded"}}, {}),
        (200, chat_body(model="gpt-4o"), {}),
    ]
    h.chat("Hello", router=h.plan("cloud-llm", "backup-llm"), retry=RetryOnce())


def _provider_failure(h: Harness) -> None:
    h.script.replies = [(401, {"error": {"message": "Incorrect API key provided"}}, {})]
    with pytest.raises(errors.AuthenticationError):
        h.chat("Hello")


def _redacted_then_blocked(h: Harness) -> None:
    h.chat("key " + KEY, inspector=Redactor((KEY,)))
    with pytest.raises(errors.ContentBlockedError):
        h.chat("key " + KEY, inspector=Redactor((KEY,), block=True))


def _cache_hit(h: Harness) -> None:
    cache = MemoryCache()
    h.chat("Hello", cache=cache)
    h.chat("Hello", cache=cache)


def _stream(h: Harness) -> None:
    h.script.replies = [(200, sse_body("Hi there"), {})]
    h.stream("Hello")


def _embeddings(h: Harness) -> None:
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    h.script.replies = [(200, body, {})]
    h.embed(["a"])


SCENARIOS: dict[str, Callable[[Harness], None]] = {
    "plain": _plain,
    "retry-then-failover": _retry_then_failover,
    "provider-failure": _provider_failure,
    "redacted-then-blocked": _redacted_then_blocked,
    "cache-hit": _cache_hit,
    "stream": _stream,
    "embeddings": _embeddings,
}


def _same_ids(rows: list[AuditRecord]) -> list[AuditRecord]:
    """Record ids are unique per ``Telemetry``; everything else must match."""
    return [replace(r, record_id="") for r in rows]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("capture", [False, True], ids=["hashes", "content"])
def test_without_an_sdk_the_record_is_the_one_the_recorder_writes(
    tmp_path: Path, clock: FakeClock, kind: str, scenario: str, capture: bool
) -> None:
    rows: dict[bool, list[AuditRecord]] = {}
    for sdk in (True, False):
        store = SQLiteAuditStore(tmp_path / f"{sdk}.db", clock=clock.time)
        h = Harness(Otel(), clock, store, kind, capture_content=capture, sdk=sdk)
        assert h.tel.exporting() is sdk
        try:
            SCENARIOS[scenario](h)
            rows[sdk] = h.rows()
        finally:
            h.log.close()
    assert rows[False], "no record written"
    assert _same_ids(rows[False]) == _same_ids(rows[True])
    assert len({r.record_id for r in rows[False]}) == len(rows[False])


def _policy_rows(tmp_path: Path, clock: FakeClock, sdk: bool) -> list[AuditRecord]:
    policy = Policy.from_dict(
        {
            "apiVersion": "v1",
            "kind": "AIAPIGatewayPolicy",
            "metadata": {"name": "audit-only"},
            "spec": {
                "authentication": {"type": "oauth2", "scopes": ["ai.read"]},
                "logging": {"enabled": True, "captureContent": True},
            },
        }
    )
    store = SQLiteAuditStore(tmp_path / f"p{sdk}.db", clock=clock.time)
    log = AuditLog(store)
    otel = Otel()
    tel = Telemetry(
        tracer_provider=otel.tracer_provider if sdk else None,
        meter_provider=otel.meter_provider if sdk else None,
        audit=log,
        clock=clock.time,
        timer=clock.timer,
    )
    stages: dict[str, Any] = {
        "telemetry": TelemetryStage(tel),
        "authorizer": PolicyAuthorizer(policy),
    }
    with aiguard.Client(
        {"cloud-llm": OpenAI(model="gpt-4o-mini", api_key=KEY)},
        http_client=Script().sync_client(),
        stages=stages,
    ) as client:
        client.chat("Hi", model="cloud-llm", context={"user": "u", "scopes": {"ai.read"}})
        with pytest.raises(errors.MissingScopeError):
            client.chat("Hi", model="cloud-llm", context={"scopes": set()})
    assert log.flush(10)
    rows = list(store.records())
    log.close()
    return rows


def test_without_an_sdk_the_policy_hash_and_content_switch_still_apply(
    tmp_path: Path, clock: FakeClock
) -> None:
    with_sdk, without = _policy_rows(tmp_path, clock, True), _policy_rows(tmp_path, clock, False)
    assert _same_ids(without) == _same_ids(with_sdk)
    assert [r.outcome for r in without] == ["ok", "blocked"]
    assert without[0].policy_hash and without[0].content is not None
    assert [tuple(v.action for v in r.violations) for r in without] == [(), ("block",)]
