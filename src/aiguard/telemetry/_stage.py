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
from ._policy import capture_content_of
from ._recorder import AttemptRecorder, CallRecorder
from ._telemetry import Telemetry

if TYPE_CHECKING:
    from .._call import Call, Endpoint

__all__ = ["TelemetryStage"]

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
    def _rec(call: Call) -> CallRecorder | None:
        rec = call.notes.get(_REC)
        return rec if isinstance(rec, CallRecorder) else None

    @staticmethod
    def _findings(call: Call, rec: CallRecorder) -> None:
        seen: int = call.notes.get(_SEEN, 0)
        for f in call.findings[seen:]:
            rec.decision(
                str(getattr(f, "category", "policy")),
                str(getattr(f, "action", "flag")),
                direction=str(getattr(f, "direction", "input")),
                detector=getattr(f, "detector", None) or None,
            )
        call.notes[_SEEN] = len(call.findings)

    def _policy(self, call: Call, rec: CallRecorder) -> None:
        """The effective policy the policy stage left in ``notes``: its hash for the record,
        and its ``logging.captureContent`` switch (content is captured if it or the telemetry
        settings say so). Read once per policy object: calls share their client's."""
        eff = call.notes.get(_POLICY)
        if eff is None:
            return
        seen = self._last_policy
        if seen is not None and seen[0] is eff:
            digest, capture = seen[1], seen[2]
        else:
            found = getattr(eff, "policy_hash", None)
            digest = str(found) if found else None
            capture = capture_content_of(getattr(getattr(eff, "spec", None), "logging", None))
            self._last_policy = (eff, digest, capture)
        if digest and rec.policy_hash is None:
            rec.policy_hash = digest
        if capture:
            rec.capture_content = True

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
        if not tel.recording():
            # No SDK installed and no audit log: nothing would be exported, so no recorder is
            # made and every later hook returns at its first line.
            return
        call.notes[_REC] = tel.start_call(
            call.operation, call.request, call.context, stream=call.stream
        )

    def event(self, call: Call, name: str, attributes: Mapping[str, Any]) -> None:
        rec = self._rec(call)
        if rec is None:
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
        rec = self._rec(call)
        if rec is None:
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
        rec = self._rec(call)
        if rec is None:
            return
        att = call.notes.pop(_ATTEMPT, None)
        if isinstance(att, AttemptRecorder):  # abandoned mid-attempt
            att.end(call.error)
        self._findings(call, rec)
        self._refusal(call, rec)
        self._policy(call, rec)
        if call.plan:  # routing ran, so input inspection finished: the request is redacted
            rec.input_redacted(call.request)
        if call.cached and not call.notes.get(_CACHE_SEEN):
            rec.cache(True)
        error = call.error
        if error is not None and type(error).__name__ == "_Abandoned":
            error = None  # the caller stopped reading a stream: recorded as cancelled
        rec.end(response=call.response if error is None else None, error=error)
