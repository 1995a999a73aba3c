"""Cache keys: SHA-256 over a canonical encoding of everything that can change the answer.

Why this shape: caches that build keys from an allow-list of request fields have served one
request's answer to another. Here the *whole* request goes in (as it will be sent, i.e. after
redaction), plus the resolved endpoint (provider, model, base URL; never credentials or
headers), the tenant scope, the policy hash and a schema version. Leaving something out must
be a deliberate, reviewed change (and bumps ``KEY_SCHEMA_VERSION``), not an accident.

The encoding is JSON, which is unambiguous on its own (every value is self-delimiting), with
each section tagged by name so that different shapes cannot produce the same bytes. The typed
part of the request is serialised by pydantic in schema field order (fast, and deterministic
for equal requests); the free-form parts (``extra``, tool parameter schemas, JSON schemas, a
``tool_choice`` object) are rebuilt with sorted keys and strict types first, so that two
requests that differ only in dict insertion order share a key, and a value JSON cannot carry
faithfully (bytes, sets, NaN, custom objects...) makes the request uncacheable rather than
letting it collide with a different request.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import pydantic_core

from .._types import ChatRequest

__all__ = [
    "KEY_SCHEMA_VERSION",
    "UncacheableRequest",
    "cache_key",
    "canonical_request",
    "key_prefix",
]

KEY_SCHEMA_VERSION = 1
"""Bump when the key material changes shape, so old entries can never be read as new ones."""

_FLOAT_FIELDS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


class UncacheableRequest(ValueError):
    """The request holds a value that has no faithful canonical form; it is not cached."""


def _canon(value: Any) -> Any:
    """A free-form JSON value rebuilt with sorted keys; anything JSON cannot carry exactly is
    refused (``bool`` is checked before ``int`` because it is a subclass)."""
    t = type(value)
    if value is None or t is str or t is bool or t is int:
        return value
    if t is float:
        if not math.isfinite(value):
            raise UncacheableRequest("non-finite float")
        return value
    if t is dict:
        if not all(type(k) is str for k in value):
            raise UncacheableRequest("object with non-string keys")
        return {k: _canon(value[k]) for k in sorted(value)}
    if t is list or t is tuple:
        return [_canon(v) for v in value]
    raise UncacheableRequest(f"value of type {t.__name__} in a free-form field")


def _has_free_form(r: ChatRequest) -> bool:
    return (
        r.extra is not None
        or r.tools is not None
        or (r.tool_choice is not None and not isinstance(r.tool_choice, str))
        or (r.response_format is not None and r.response_format.json_schema is not None)
    )


def canonical_request(request: ChatRequest) -> bytes:
    """The request as canonical JSON bytes (``None`` fields omitted: they are not sent).

    Raises ``UncacheableRequest`` for values without a faithful encoding.
    """
    for name in _FLOAT_FIELDS:
        v = getattr(request, name)
        if v is not None and not math.isfinite(v):
            raise UncacheableRequest(f"{name} is not a finite number")
    if not _has_free_form(request):
        # Fast path: every value is typed, so pydantic's JSON in field order is canonical.
        return request.__pydantic_serializer__.to_json(request, exclude_none=True)
    data: dict[str, Any] = request.model_dump(exclude_none=True)
    if "extra" in data:
        data["extra"] = _canon(data["extra"])
    if isinstance(data.get("tool_choice"), dict):
        data["tool_choice"] = _canon(data["tool_choice"])
    rf = data.get("response_format")
    if rf is not None and "json_schema" in rf:
        rf["json_schema"] = _canon(rf["json_schema"])
    for tool in data.get("tools") or ():
        fn = tool["function"]
        if "parameters" in fn:
            fn["parameters"] = _canon(fn["parameters"])
    try:
        return pydantic_core.to_json(data)
    except pydantic_core.PydanticSerializationError as e:  # pragma: no cover - _canon guards
        raise UncacheableRequest(str(e)) from None


def key_prefix(
    endpoint: Mapping[str, Any],
    *,
    tenant: str | None,
    share_across_tenants: bool,
    policy_hash: str | None,
    schema_version: int = KEY_SCHEMA_VERSION,
) -> bytes:
    """Everything but the request: the opening of the key material's JSON object.

    ``endpoint`` is the provider's ``describe()`` (non-secret facts). The tenant scope is
    ``{"tenant": name}`` (``null`` for calls without a tenant, which are a scope of their own)
    or ``{"shared": true}`` when tenants share entries by explicit opt-in.
    """
    scope: dict[str, Any] = {"shared": True} if share_across_tenants else {"tenant": tenant}
    head = {
        "aiguard.cache": schema_version,
        "kind": "chat",
        "endpoint": _canon(dict(endpoint)),
        "scope": scope,
        "policy": policy_hash,
    }
    encoded: bytes = pydantic_core.to_json(head)
    return encoded[:-1] + b',"request":'


def cache_key(prefix: bytes, request: ChatRequest) -> str:
    """Hex SHA-256 of ``prefix`` (from ``key_prefix``) + the canonical request."""
    h = hashlib.sha256(prefix)
    h.update(canonical_request(request))
    h.update(b"}")
    return h.hexdigest()
