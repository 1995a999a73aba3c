"""The pipeline's telemetry stage: reads the call state and drives a ``CallRecorder``.

The pipeline calls five hooks (``start``, ``event``, ``attempt_start``, ``attempt_end``,
``finish``). What each stage decided is read from the ``Call`` itself (``findings``,
``cached``, ``response``, ``error``), so policy, limits and cache report through telemetry
without knowing it exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import PolicyViolation
from ._audit import Violation, call_fields
from ._outcome import settled
from ._policy import capture_content_of
from ._recorder import AttemptRecorder, CallRecorder
from ._telemetry import Telemetry

if TYPE_CHECKING:
    from .._call import Call, Endpoint

__all__ = ["TelemetryStage"]

# What ``start`` keeps for a call that only the audit log wants: (epoch seconds, timer,
# requested model). Everything else the record needs is on the ``Call`` when it finishes.
_AuditStart = tuple[float, float, "str | None"]

_REC = "telemetry"
_ATTEMPT = "telemetry.attempt"
_SEEN = "telemetry.findings"
_CACHE_SEEN = "telemetry.cache"
_POLICY = "policy"  # where the policy stage leaves the call's effective policy
# String attributes of a generic event that are safe to export (names, never content).
_SAFE_STRINGS = frozenset(
    ("category", "action", "direction", "detector", "limit", "result", "endpoint", "reason")
)


def _server(base_url: str | None) -> tuple[str | None, int | None]:
    if not base_url:
        return None, None
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme else None)
    return parts.hostname, port


class TelemetryStage:
    """Plugs a ``Telemetry`` into the pipeline: ``stages={"telemetry": TelemetryStage(tel)}``."""

    __slots__ = ("_last_policy", "_servers", "telemetry")

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._servers: dict[str, tuple[str | None, int | None]] = {}
        # (effective policy, its hash, its captureContent): the last one read.
        self._last_policy: tuple[object, str | None, bool] | None = None

    def _where(self, endpoint: Endpoint) -> tuple[str | None, int | None]:
        base = getattr(endpoint.provider, "base_url", None)
        key = base or ""
        hit = self._servers.get(key)
        if hit is None:
            hit = self._servers[key] = _server(base)
        return hit

    @staticmethod
    def _findings(call: Call, rec: CallRecorder) -> None:
        if not call.findings:
            return
        seen: int = call.notes.get(_SEEN, 0)
        for f in call.findings[seen:]:
            rec.decision(
                str(getattr(f, "category", "policy")),
                str(getattr(f, "action", "flag")),
                direction=str(getattr(f, "direction", "input")),
                detector=getattr(f, "detector", None) or None,
            )
        call.notes[_SEEN] = len(call.findings)

    def _policy(self, call: Call) -> tuple[str | None, bool]:
        """The effective policy the policy stage left in ``notes``: its hash for the record,
        and its ``logging.captureContent`` switch (content is captured if it or the telemetry
        settings say so). Read once per policy object: calls share their client's."""
        eff = call.notes.get(_POLICY)
        if eff is None:
            return None, False
        seen = self._last_policy
        if seen is not None and seen[0] is eff:
            return seen[1], seen[2]
        found = getattr(eff, "policy_hash", None)
        digest = str(found) if found else None
        capture = capture_content_of(getattr(getattr(eff, "spec", None), "logging", None))
        self._last_policy = (eff, digest, capture)
        return digest, capture

    @staticmethod
    def _refusal(call: Call, rec: CallRecorder) -> None:
        """A policy refusal is a violation even when no detector finding describes it
        (missing scope, tool not allowed, a block raised before findings were kept)."""
        error = call.error
        if not isinstance(error, PolicyViolation):
            return
        if any(getattr(f, "category", None) == error.category for f in call.findings):
            return
        rec.decision(error.category, "block", direction=error.direction or "input", detector=None)

    # ------------------------------------------------------------------ hooks
    def start(self, call: Call) -> None:
        tel = self.telemetry
        if tel.exporting():
            call.notes[_REC] = tel.start_call(
                call.operation, call.request, call.context, stream=call.stream
            )
        elif tel.audit is not None:
            # No SDK: a recorder would only feed the audit record, which ``finish`` reads off
            # the call instead (a recorder's bookkeeping cost more than the record itself).
            started: _AuditStart = (tel.clock(), tel.timer(), getattr(call.request, "model", None))
            call.notes[_REC] = started
        # Else nothing would be exported or kept: every later hook returns at its first line.

    def event(self, call: Call, name: str, attributes: Mapping[str, Any]) -> None:
        rec = call.notes.get(_REC)
        if not isinstance(rec, CallRecorder):
            return
        if name == "aiguard.rate_limit.wait":
            seconds = attributes.get("seconds")
            limit = attributes.get("limit")
            rec.rate_limit(
                "wait",
                limit=limit if isinstance(limit, str) else None,
                wait_s=float(seconds) if isinstance(seconds, (int, float)) else None,
            )
        elif name == "aiguard.rate_limit.refuse":
            limit = attributes.get("limit")
            rec.rate_limit("refuse", limit=limit if isinstance(limit, str) else None)
        elif name == "aiguard.budget":
            remaining = attributes.get("remaining")
            limit = attributes.get("limit")
            if isinstance(remaining, (int, float)):
                rec.budget(remaining, limit=limit if isinstance(limit, str) else None)
        elif name == "aiguard.stream.first_chunk":
            rec.first_chunk()
        elif name == "aiguard.cache":
            call.notes[_CACHE_SEEN] = True
            rec.cache(attributes.get("result") == "hit")
        else:
            span = rec.span
            if span.is_recording():
                safe = {
                    k: v
                    for k, v in attributes.items()
                    if isinstance(v, (bool, int, float))
                    or (k in _SAFE_STRINGS and isinstance(v, str))
                }
                span.add_event(name, safe)

    def attempt_start(self, call: Call, endpoint: Endpoint, attempt: int) -> None:
        rec = call.notes.get(_REC)
        if not isinstance(rec, CallRecorder):
            return
        if len(call.attempts) <= 1:
            # The first attempt: input inspection is over, so the request is the redacted one.
            rec.input_redacted(call.request)
            self._findings(call, rec)
        host, port = self._where(endpoint)
        call.notes[_ATTEMPT] = rec.attempt_start(
            endpoint=endpoint.name,
            provider=endpoint.provider_name,
            model=endpoint.model,
            server_address=host,
            server_port=port,
        )

    def attempt_end(self, call: Call, error: BaseException | None) -> None:
        att = call.notes.pop(_ATTEMPT, None)
        if isinstance(att, AttemptRecorder):
            att.end(error, status_code=getattr(error, "status_code", None))

    def finish(self, call: Call) -> None:
        rec = call.notes.get(_REC)
        if type(rec) is tuple:
            self._audit_only(call, rec)
            return
        if not isinstance(rec, CallRecorder):
            return
        att = call.notes.pop(_ATTEMPT, None)
        if isinstance(att, AttemptRecorder):  # abandoned mid-attempt
            att.end(call.error)
        self._findings(call, rec)
        self._refusal(call, rec)
        digest, capture = self._policy(call)
        if digest and rec.policy_hash is None:
            rec.policy_hash = digest
        if capture:
            rec.capture_content = True
        if call.plan:  # routing ran, so input inspection finished: the request is redacted
            rec.input_redacted(call.request)
        if call.cached and not call.notes.get(_CACHE_SEEN):
            rec.cache(True)
        error = call.error
        if error is not None and type(error).__name__ == "_Abandoned":
            error = None  # the caller stopped reading a stream: recorded as cancelled
        rec.finish(response=call.response if error is None else None, error=error)

    def _audit_only(self, call: Call, started: _AuditStart) -> None:
        """Queue the audit record of a call that had no recorder, read off the call: what
        ``CallRecorder`` would have written (tests hold the two to the same record)."""
        tel = self.telemetry
        audit = tel.audit
        if audit is None:
            return
        at, t0, requested_model = started
        elapsed = tel.timer() - t0
        error = call.error
        if error is not None and type(error).__name__ == "_Abandoned":
            error = None  # the caller stopped reading a stream: recorded as cancelled
        response = call.response if error is None else None
        usage, cost, resp_model, cached, endpoint, provider, et, outcome = settled(
            response, error, call.cached
        )
        model = None
        where = call.endpoint  # the last attempt's
        if where is not None:
            endpoint, provider, model = where.name, where.provider_name, where.model
        digest, capture = self._policy(call)
        policy_hash = tel.policy_hash if tel.policy_hash is not None else digest or None
        audit.submit_fields(
            call_fields(
                time=at,
                operation=call.operation,
                outcome=outcome,
                record_id=tel.next_record_id(),
                context=call.context,
                requested_model=requested_model,
                endpoint=endpoint,
                provider=provider,
                model=resp_model or model,
                error_type=et,
                violations=self._violations(call),
                input_tokens=usage.input_tokens if usage is not None else 0,
                output_tokens=usage.output_tokens if usage is not None else 0,
                cost=cost,
                latency_ms=elapsed * 1000.0,
                cache_hit=cached,
                attempts=len(call.attempts),
                stream=call.stream,
                response=response,
                error=error,
                policy_hash=policy_hash,
            ),
            # Input inspection is over once the call was routed or tried: it is redacted.
            call.request if call.plan or call.attempts else None,
            response,
            capture or tel.capture_content,
        )

    @staticmethod
    def _violations(call: Call) -> tuple[Violation, ...]:
        """The findings as ``_findings`` reports them, then the refusal ``_refusal`` adds."""
        found = call.findings
        error = call.error
        if not found and not isinstance(error, PolicyViolation):
            return ()  # the usual call: nothing found, nothing refused
        out = [
            Violation(
                str(getattr(f, "category", "policy")),
                str(getattr(f, "action", "flag")),
                str(getattr(f, "direction", "input")),
            )
            for f in found
        ]
        if isinstance(error, PolicyViolation) and not any(
            getattr(f, "category", None) == error.category for f in found
        ):
            out.append(Violation(error.category, "block", error.direction or "input"))
        return tuple(out)
