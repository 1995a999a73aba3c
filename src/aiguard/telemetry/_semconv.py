"""Every telemetry name aiguard emits, in one place.

The OpenTelemetry GenAI conventions are still moving (``gen_ai.system`` became
``gen_ai.provider.name``; cache and reasoning token attributes arrived later). Keeping the names
here means following the next change is an edit to this module, and opting in to the newest
names is one setting: ``TelemetrySettings(semconv="latest")`` or the standard
``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` environment switch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "DEFAULT",
    "LATEST",
    "SemconvNames",
    "names_for",
]

SemconvChoice = Literal["default", "latest"]

INSTRUMENTATION_NAME: Final = "aiguard"
OPT_IN_ENV: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
OPT_IN_LATEST: Final = "gen_ai_latest_experimental"
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# --------------------------------------------------------------------- GenAI span attributes
OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
REQUEST_STREAM: Final = "gen_ai.request.stream"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
TOKEN_TYPE: Final = "gen_ai.token.type"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
HTTP_STATUS: Final = "http.response.status_code"
ERROR_TYPE: Final = "error.type"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_EVENT: Final = "exception"

# Values the conventions define for gen_ai.token.type and error.type.
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"
ERROR_TYPE_OTHER: Final = "_OTHER"

# --------------------------------------------------------------------- GenAI metrics
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"

# Bucket boundaries the conventions recommend (explicit_bucket_boundaries_advisory).
TOKEN_USAGE_BUCKETS: Final = (
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0,
    1048576.0, 4194304.0, 16777216.0, 67108864.0,
)  # fmt: skip
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip

# --------------------------------------------------------------------- aiguard's own names
ENDPOINT: Final = "aiguard.endpoint"
ATTEMPT: Final = "aiguard.attempt"
OUTCOME: Final = "aiguard.outcome"
CACHED: Final = "aiguard.cache.hit"
COST: Final = "aiguard.cost.usd"
ROUTE: Final = "aiguard.route"
TENANT: Final = "aiguard.tenant"
REGION: Final = "aiguard.region"
POLICY_HASH: Final = "aiguard.policy.hash"
CATEGORY: Final = "aiguard.policy.category"
ACTION: Final = "aiguard.policy.action"
DIRECTION: Final = "aiguard.policy.direction"
DETECTOR: Final = "aiguard.policy.detector"
LIMIT: Final = "aiguard.limit.name"
LIMIT_ACTION: Final = "aiguard.limit.action"
LIMIT_WAIT: Final = "aiguard.limit.wait_s"
BUDGET_REMAINING: Final = "aiguard.budget.remaining"
CACHE_RESULT: Final = "aiguard.cache.result"

EVENT_POLICY: Final = "aiguard.policy.decision"
EVENT_RATE_LIMIT: Final = "aiguard.rate_limit"
EVENT_BUDGET: Final = "aiguard.budget"
EVENT_FIRST_CHUNK: Final = "aiguard.stream.first_chunk"

METRIC_CALLS: Final = "aiguard.calls"
METRIC_VIOLATIONS: Final = "aiguard.violations"
METRIC_CACHE: Final = "aiguard.cache.lookups"
METRIC_RETRIES: Final = "aiguard.retries"
METRIC_FAILOVERS: Final = "aiguard.failovers"
METRIC_COST: Final = "aiguard.cost"
METRIC_RATE_LIMIT: Final = "aiguard.rate_limit.events"
METRIC_AUDIT_DROPPED: Final = "aiguard.audit.dropped"

AUDIT_LOGGER: Final = "aiguard.audit"
AUDIT_EVENT: Final = "aiguard.audit.record"


@dataclass(frozen=True, slots=True)
class SemconvNames:
    """The names that differ between the conventions' releases.

    ``None`` means "not emitted under this choice". Everything stable lives in the module
    constants above; only what moved lives here.
    """

    provider: str
    legacy_provider: str | None
    cache_read_tokens: str | None
    reasoning_tokens: str | None
    time_to_first_chunk_metric: str | None


DEFAULT: Final = SemconvNames(
    provider=PROVIDER_NAME,
    legacy_provider=None,
    cache_read_tokens=None,
    reasoning_tokens=None,
    time_to_first_chunk_metric=None,
)
LATEST: Final = SemconvNames(
    provider=PROVIDER_NAME,
    legacy_provider=None,
    cache_read_tokens="gen_ai.usage.cache_read.input_tokens",
    reasoning_tokens="gen_ai.usage.reasoning.output_tokens",
    time_to_first_chunk_metric=METRIC_TIME_TO_FIRST_CHUNK,
)


def names_for(
    choice: SemconvChoice | None, environ: Mapping[str, str] | None = None
) -> SemconvNames:
    """The name set for a setting, falling back to the standard opt-in environment switch."""
    if choice is None:
        env = os.environ if environ is None else environ
        opted = {v.strip() for v in env.get(OPT_IN_ENV, "").split(",")}
        return LATEST if OPT_IN_LATEST in opted else DEFAULT
    if choice == "latest":
        return LATEST
    if choice == "default":
        return DEFAULT
    from ..errors import ConfigError

    raise ConfigError(f"semconv must be 'default' or 'latest', got {choice!r}")
