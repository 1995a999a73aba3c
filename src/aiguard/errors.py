"""Every exception aiguard raises, in one tree.

Catch ``AIGuardError`` to handle everything; catch a branch to tell *who* said no::

    AIGuardError
    ├── RefusalError                 aiguard refused; nothing was sent
    │   ├── ConfigError (ValueError)     fix your code or configuration
    │   │   ├── UnknownEndpointError
    │   │   ├── MissingCredentialsError
    │   │   ├── InvalidRequestError
    │   │   └── PolicyError              a policy document that does not load
    │   ├── PolicyViolation              the policy forbids this call
    │   │   ├── MissingScopeError
    │   │   ├── ToolNotAllowedError
    │   │   ├── ContentBlockedError
    │   │   └── NoRouteError
    │   ├── LimitExceeded                a rate limit or budget said no
    │   │   ├── RateLimited
    │   │   ├── BudgetExceeded
    │   │   └── LimitStoreError          the counter store failed (fail-closed)
    │   └── CacheMissError               cache="only" and nothing cached
    └── ProviderError                a provider (or the network to it) failed
        ├── APIStatusError               an HTTP error status, keyed by code
        │   ├── BadRequestError              400 / 422
        │   │   ├── ContextWindowExceeded
        │   │   └── ContentFilteredError
        │   ├── AuthenticationError          401
        │   ├── PermissionDeniedError        403
        │   ├── NotFoundError                404
        │   ├── RequestTimeoutError          408
        │   ├── RateLimitError               429 (``retry_after``)
        │   └── ServerError                  5xx
        │       └── OverloadedError              529 / overloaded
        ├── ConnectError
        ├── TimeoutError
        ├── StreamInterrupted            keeps ``partial_text``
        ├── DecodeError                  a body that is not what the API documents
        ├── CircuitOpenError             every candidate endpoint's breaker is open
        └── AllEndpointsFailedError      every attempt failed; ``attempts`` lists why

Provider errors carry ``provider``, ``endpoint``, ``status_code``, ``request_id`` and
``retry_after`` so that retry logic, audit records and users read the same facts. Messages
never contain credentials or prompt content.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AIGuardError",
    "APIStatusError",
    "AllEndpointsFailedError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceeded",
    "CacheMissError",
    "CircuitOpenError",
    "ConfigError",
    "ConnectError",
    "ContentBlockedError",
    "ContentFilteredError",
    "ContextWindowExceeded",
    "DecodeError",
    "InvalidRequestError",
    "LimitExceeded",
    "LimitStoreError",
    "MissingCredentialsError",
    "MissingScopeError",
    "NoRouteError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PolicyError",
    "PolicyViolation",
    "ProviderError",
    "RateLimitError",
    "RateLimited",
    "RefusalError",
    "RequestTimeoutError",
    "ServerError",
    "StreamInterrupted",
    "TimeoutError",
    "ToolNotAllowedError",
    "UnknownEndpointError",
    "error_for_status",
]


class AIGuardError(Exception):
    """Base of everything aiguard raises."""


# --------------------------------------------------------------------------- refusals


class RefusalError(AIGuardError):
    """aiguard decided not to make the call; no byte left the process."""


class ConfigError(RefusalError, ValueError):
    """The client, an endpoint, a request or a policy is misconfigured."""


class UnknownEndpointError(ConfigError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        listed = ", ".join(repr(k) for k in self.known) or "(none configured)"
        super().__init__(f"unknown endpoint or model alias {name!r}; known: {listed}")


class MissingCredentialsError(ConfigError):
    def __init__(self, provider: str, env_var: str, endpoint: str | None = None) -> None:
        self.provider = provider
        self.env_var = env_var
        self.endpoint = endpoint
        where = f" for endpoint {endpoint!r}" if endpoint else ""
        super().__init__(
            f"no API key for {provider}{where}: pass api_key=... or set the {env_var} "
            "environment variable"
        )


class InvalidRequestError(ConfigError):
    """A request that cannot be sent as given (malformed message, bad option)."""


class PolicyError(ConfigError):
    """A policy document that does not load; ``problems`` lists every mistake found."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        head = f"invalid policy{f' {source}' if source else ''}"
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head} ({len(self.problems)} problem(s)):\n{body}")


class PolicyViolation(RefusalError):
    """The policy forbids this call.

    ``category`` names what was violated (``"scope"``, ``"pii.email"``, ``"topic.hate"``...);
    ``direction`` is ``"input"`` or ``"output"``. The matched text itself is never included.
    """

    def __init__(
        self,
        message: str,
        *,
        category: str = "policy",
        direction: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.direction = direction
        self.details = dict(details or {})


class MissingScopeError(PolicyViolation):
    def __init__(self, missing: Sequence[str], required_for: str) -> None:
        self.missing = tuple(sorted(missing))
        self.required_for = required_for
        super().__init__(
            f"missing scope(s) {', '.join(self.missing)} required for {required_for}",
            category="scope",
            details={"missing": list(self.missing), "required_for": required_for},
        )


class ToolNotAllowedError(PolicyViolation):
    def __init__(self, tool: str, direction: str = "input") -> None:
        self.tool = tool
        super().__init__(
            f"tool {tool!r} is not allowed by the policy", category="tool", direction=direction
        )


class ContentBlockedError(PolicyViolation):
    """A detector's ``block`` action fired. Offsets locate it; the text is not repeated."""

    def __init__(
        self,
        category: str,
        direction: str,
        *,
        message_index: int | None = None,
        start: int | None = None,
        end: int | None = None,
        detector: str | None = None,
    ) -> None:
        self.message_index = message_index
        self.start = start
        self.end = end
        self.detector = detector
        where = f" in message {message_index}" if message_index is not None else ""
        span = f" at [{start}:{end}]" if start is not None else ""
        super().__init__(
            f"{direction} blocked by policy: {category}{where}{span}",
            category=category,
            direction=direction,
            details={"message_index": message_index, "start": start, "end": end},
        )


class NoRouteError(PolicyViolation):
    def __init__(self, message: str) -> None:
        super().__init__(message, category="route")


class LimitExceeded(RefusalError):
    """A rate limit or budget refused the call. ``retry_after`` is in seconds, if known."""

    def __init__(
        self, message: str, *, limit: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after


class RateLimited(LimitExceeded):
    pass


class BudgetExceeded(LimitExceeded):
    pass


class LimitStoreError(LimitExceeded):
    """The limit store (SQLite, Redis) failed and the limit is configured to fail closed."""


class CacheMissError(RefusalError):
    """``cache="only"`` was asked and the cache holds no answer for this request."""


# --------------------------------------------------------------------------- providers


class ProviderError(AIGuardError):
    """A provider, or the network to it, failed."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        endpoint: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body_snippet: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.endpoint = endpoint
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after
        self.body_snippet = body_snippet

    def __str__(self) -> str:
        facts = [
            f"{k}={v}"
            for k, v in (
                ("provider", self.provider),
                ("endpoint", self.endpoint),
                ("status", self.status_code),
                ("request_id", self.request_id),
            )
            if v is not None
        ]
        return f"{self.message} ({', '.join(facts)})" if facts else self.message


class APIStatusError(ProviderError):
    pass


class BadRequestError(APIStatusError):
    pass


class ContextWindowExceeded(BadRequestError):
    pass


class ContentFilteredError(BadRequestError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class RequestTimeoutError(APIStatusError):
    retryable = True


class RateLimitError(APIStatusError):
    retryable = True


class ServerError(APIStatusError):
    retryable = True


class OverloadedError(ServerError):
    pass


class ConnectError(ProviderError):
    retryable = True


class TimeoutError(ProviderError):
    retryable = True


class StreamInterrupted(ProviderError):
    """A stream broke or ended without its terminal event. ``partial_text`` is what arrived."""

    retryable = True

    def __init__(self, message: str, *, partial_text: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.partial_text = partial_text


class DecodeError(ProviderError):
    """The body is not what the provider's API documents (not JSON, missing fields)."""

    retryable = True


class CircuitOpenError(ProviderError):
    """Every endpoint that could take the call has an open circuit; nothing was sent.

    ``retry_after`` is when the first of them will accept a probe.
    """


class AllEndpointsFailedError(ProviderError):
    """Every endpoint of the plan failed. ``attempts`` is ``[(endpoint, error), ...]``."""

    def __init__(self, attempts: Sequence[tuple[str, BaseException]]) -> None:
        self.attempts = tuple(attempts)
        lines = "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in self.attempts)
        last = self.attempts[-1][1] if self.attempts else None
        super().__init__(
            f"all {len(self.attempts)} attempt(s) failed: {lines}",
            status_code=getattr(last, "status_code", None),
            retry_after=getattr(last, "retry_after", None),
        )


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    422: BadRequestError,
    429: RateLimitError,
    529: OverloadedError,
}


def error_for_status(status: int) -> type[APIStatusError]:
    """The error class for an HTTP status; providers refine it (context window, filter)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return APIStatusError
