"""The policy's ``logging`` section drives the audit log; its hash lands in every record."""

from __future__ import annotations

from pathlib import Path

import pytest

import aiguard
from aiguard import errors
from aiguard.policy import LoggingSpec, Policy
from aiguard.policy.stage import PolicyAuthorizer
from aiguard.providers import OpenAI
from aiguard.telemetry import (
    AuditLog,
    LoggingSink,
    SQLiteAuditStore,
    Telemetry,
    TelemetryStage,
    audit_log_from_policy,
)

from ._fakes import FakeClock, Otel
from ._harness import KEY
from ._wire import Script

SEED = """
apiVersion: v1
kind: AIAPIGatewayPolicy
metadata:
  name: secure-llm-endpoint
spec:
  authentication:
    type: oauth2
    scopes: ["ai.read", "ai.write"]
  logging:
    enabled: true
    retentionDays: 90
"""


def test_the_seed_logging_section_gives_a_sqlite_log_with_its_retention(tmp_path: Path) -> None:
    log = audit_log_from_policy(
        {"enabled": True, "retentionDays": 90}, default_path=str(tmp_path / "a.db")
    )
    assert log is not None
    (sink,) = log.sinks
    assert isinstance(sink, SQLiteAuditStore) and sink.retention_days == 90
    log.close()
    assert audit_log_from_policy({"enabled": False, "retentionDays": 90}) is None
    assert audit_log_from_policy(None) is None


def test_a_parsed_logging_spec_picks_its_sink() -> None:
    log = audit_log_from_policy(LoggingSpec(enabled=True, retention_days=30, sink="logging"))
    assert log is not None
    (sink,) = log.sinks
    assert isinstance(sink, LoggingSink) and sink.retention_days == 30
    log.close()


def test_bad_logging_sections_say_what_to_fix() -> None:
    with pytest.raises(errors.ConfigError, match="retentionDays must be a number"):
        audit_log_from_policy({"enabled": True, "retentionDays": "ninety"})
    with pytest.raises(errors.ConfigError, match=r"logging\.sink must be one of"):
        audit_log_from_policy({"enabled": True, "sink": "kafka"})
    with pytest.raises(errors.ConfigError, match="path is required"):
        audit_log_from_policy({"enabled": True, "sink": "jsonl"})


def test_records_carry_the_policy_hash_and_refusals_are_blocked(
    otel: Otel, clock: FakeClock, store: SQLiteAuditStore
) -> None:
    policy = Policy.from_yaml(SEED)
    log = AuditLog(store)
    tel = Telemetry(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        audit=log,
        clock=clock.time,
        timer=clock.timer,
    )
    script = Script()
    stages = {"telemetry": TelemetryStage(tel), "authorizer": PolicyAuthorizer(policy)}
    with aiguard.Client(
        {"cloud-llm": OpenAI(model="gpt-4o-mini", api_key=KEY)},
        http_client=script.sync_client(),
        stages=stages,
    ) as client:
        client.chat("Hi", model="cloud-llm", context={"scopes": {"ai.read", "ai.write"}})
        with pytest.raises(errors.MissingScopeError):
            client.chat("Hi", model="cloud-llm", context={"scopes": {"ai.read"}})
    assert log.flush(10)
    rows = list(store.records())
    assert [r.outcome for r in rows] == ["ok", "blocked"]
    assert rows[0].policy_hash == policy.hash
    assert rows[1].error_type == "aiguard.errors.MissingScopeError"
    log.close()
