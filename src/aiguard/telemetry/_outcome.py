"""How a finished call ended, read the same way by its span and by its audit record.

The span recorder and the stage's audit-only path (no OpenTelemetry SDK) both settle a call
here, so a record reads the same whether or not an SDK is installed.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from .._types import ChatResponse

__all__ = ["error_type", "outcome_of", "settled"]


def error_type(error: BaseException) -> str:
    """``error.type``: the exception's qualified class name, never its message.

    Provider messages can echo a key (``Incorrect API key provided: sk-...``) or a prompt
    fragment, so only the type ever leaves.
    """
    cls = type(error)
    mod = cls.__module__
    return cls.__qualname__ if mod == "builtins" else f"{mod}.{cls.__qualname__}"


def outcome_of(error: BaseException | None, cached: bool = False) -> str:
    if error is None:
        return "cached" if cached else "ok"
    if isinstance(error, errors.PolicyViolation):
        return "blocked"
    if isinstance(error, errors.LimitExceeded):
        return "limited"
    if isinstance(error, errors.RefusalError):
        return "refused"
    if not isinstance(error, Exception):  # CancelledError, GeneratorExit, KeyboardInterrupt
        return "cancelled"
    return "error"


_Settled = tuple[
    Any, "float | None", "str | None", bool, "str | None", "str | None", "str | None", str
]


def settled(response: Any, error: BaseException | None, cached: bool) -> _Settled:
    """How a call ended, as its span and its audit record both report it: ``(usage, cost,
    response model, cached, endpoint, provider, error type, outcome)``.

    One function for the recorder and for the stage's audit-only path, so that a record
    reads the same whether or not an SDK is installed.
    """
    usage: Any = None
    cost: float | None = None
    model: str | None = None
    endpoint: str | None = None
    provider: str | None = None
    if type(response) is ChatResponse:  # the common case, without getattr
        usage, cost, model = response.usage, response.cost, response.model
        cached = cached or response.cached
        endpoint, provider = response.endpoint, response.provider
    elif response is not None:
        usage = getattr(response, "usage", None)
        cost = getattr(response, "cost", None)
        model = getattr(response, "model", None)
        cached = cached or bool(getattr(response, "cached", False))
        endpoint = getattr(response, "endpoint", None)
        provider = getattr(response, "provider", None)
    if error is not None:
        return usage, cost, model, cached, endpoint, provider, error_type(error), outcome_of(error)
    # Ended without an answer or an error: the caller let go.
    outcome = "cancelled" if response is None else "cached" if cached else "ok"
    return usage, cost, model, cached, endpoint, provider, None, outcome
