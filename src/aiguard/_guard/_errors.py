"""Reading any provider failure as an ``aiguard.errors.ProviderError``.

Guarded functions raise whatever their SDK raises. The retry policy only understands
aiguard's error tree, so an exception is translated by its facts: an HTTP status (the
official SDKs' ``APIStatusError`` and httpx's ``HTTPStatusError`` carry one), or its class
names for connection failures and timeouts. aiguard never imports the SDKs to do this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import errors
from ..providers._base import parse_retry_after

__all__ = ["as_provider_error"]

_TIMEOUT_NAMES = frozenset(
    ("APITimeoutError", "TimeoutException", "ReadTimeout", "ConnectTimeout", "TimeoutError")
)
_CONNECT_NAMES = frozenset(
    [
        "APIConnectionError",
        "ConnectError",
        "NetworkError",
        "TransportError",
        "ConnectionError",
        "RemoteProtocolError",
        "ReadError",
    ]
)


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        return status
    return None


def _headers(error: BaseException) -> Mapping[str, str] | None:
    headers = getattr(getattr(error, "response", None), "headers", None)
    return headers if isinstance(headers, Mapping) else None


def _provider(error: BaseException) -> str | None:
    module = type(error).__module__.split(".", 1)[0]
    return None if module in ("builtins", "aiguard") else module


def as_provider_error(error: BaseException) -> errors.ProviderError | None:
    """``error`` as aiguard would have raised it, or ``None`` when it is not a provider
    failure (a bug in the guarded function is never retried)."""
    if isinstance(error, errors.ProviderError):
        return error
    if isinstance(error, errors.AIGuardError) or not isinstance(error, Exception):
        return None
    names = {cls.__name__ for cls in type(error).__mro__}
    status = _status(error)
    provider = _provider(error)
    if status is not None:
        headers = _headers(error)
        retry_after = parse_retry_after(headers) if headers is not None else None
        cls = errors.error_for_status(status)
        return cls(
            f"{type(error).__name__} from the guarded call",
            provider=provider,
            status_code=status,
            retry_after=retry_after,
            request_id=_request_id(error, headers),
        )
    if names & _TIMEOUT_NAMES:
        return errors.TimeoutError(f"{type(error).__name__} in the guarded call", provider=provider)
    if names & _CONNECT_NAMES:
        return errors.ConnectError(f"{type(error).__name__} in the guarded call", provider=provider)
    return None


def _request_id(error: BaseException, headers: Mapping[str, str] | None) -> str | None:
    rid: Any = getattr(error, "request_id", None)
    if rid is None and headers is not None:
        rid = headers.get("x-request-id") or headers.get("request-id")
    return rid if isinstance(rid, str) else None
