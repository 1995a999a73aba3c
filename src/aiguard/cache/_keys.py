"""Cache keys: SHA-256 over a canonical encoding of everything that can change the answer.

Why this shape: caches that build keys from an allow-list of request fields have served one
request's answer to another. Here the *whole* request goes in (as it will be sent, i.e. after
redaction), plus the resolved endpoint (provider, model, base URL; never credentials or
headers), the tenant scope, the policy hash and a schema version. Leaving something out must
be a deliberate, reviewed change (and bumps ``KEY_SCHEMA_VERSION``), not an accident.

The encoding is JSON, which is unambiguous on its own (every value is self-delimiting), with
each section tagged by name so that different shapes cannot produce the same bytes. The typed
part of the request is serialised by pydantic in schema field order (fast, and deterministic
for equal requests); the free-form parts (``extra``, tools with their parameter schemas,
``response_format``, ``tool_choice``) are encoded as providers' JSON bodies encode them, with
sorted keys, so that two requests differing only in dict insertion order share a key (they
send the same JSON), while a value JSON cannot carry (bytes, sets, NaN, custom objects...)
makes the request uncacheable rather than letting it collide with a different request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from math import isfinite
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticSerializationError

from .._types import ChatRequest

if TYPE_CHECKING:
    from hashlib import _Hash

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
_FREE_FIELDS: set[str] = {"extra", "tools", "tool_choice", "response_format"}
"""Fields that may hold arbitrary JSON (dicts whose key order is the caller's)."""


class UncacheableRequest(ValueError):
    """The request holds a value that has no faithful canonical form; it is not cached."""


_FREE_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
"""The free-form parts, encoded the way providers' JSON bodies are (``json``), keys sorted."""


def _free_json(value: Any) -> bytes:
    """Canonical JSON of a free-form value, or ``UncacheableRequest`` when ``json`` refuses
    it (bytes, sets, NaN/infinity, mixed key types, cycles...): such a request could not be
    sent as given either, so it must never borrow another request's answer."""
    try:
        return _FREE_JSON.encode(value).encode()
    except (TypeError, ValueError) as e:
        raise UncacheableRequest(f"free-form value without a JSON form: {e}") from None


def canonical_request(request: ChatRequest) -> bytes:
    """The request as canonical JSON bytes (``None`` fields omitted: they are not sent).

    Without free-form values this is pydantic's JSON of the request (a JSON object). With
    them it is a two-element JSON array: the typed fields, then the free-form ones with
    sorted keys; an array can never equal an object, so the two forms cannot collide. Raises
    ``UncacheableRequest`` for values without a faithful encoding.
    """
    d = request.__dict__  # a pydantic attribute read costs several dict lookups
    for name in _FLOAT_FIELDS:
        v = d[name]
        if v is not None and not isfinite(v):
            raise UncacheableRequest(f"{name} is not a finite number")
    serializer = request.__pydantic_serializer__
    choice, fmt = d["tool_choice"], d["response_format"]
    try:
        if (
            d["extra"] is None
            and d["tools"] is None
            and (choice is None or isinstance(choice, str))
            and (fmt is None or fmt.json_schema is None)
        ):
            # Fast path: every value is typed, so pydantic's JSON in field order is canonical.
            return serializer.to_json(request, exclude_none=True)
        typed = serializer.to_json(request, exclude_none=True, exclude=_FREE_FIELDS)
    except PydanticSerializationError as e:  # a lone surrogate in a text, for one
        raise UncacheableRequest(f"request without a JSON form: {e}") from None
    free: dict[str, Any] = {}
    if request.extra is not None:
        free["extra"] = request.extra
    if request.tool_choice is not None:
        free["tool_choice"] = request.tool_choice
    if request.tools is not None:
        free["tools"] = [t.model_dump(exclude_none=True) for t in request.tools]
    if request.response_format is not None:
        free["response_format"] = request.response_format.model_dump(exclude_none=True)
    return b"[" + typed + b"," + _free_json(free) + b"]"


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
        "endpoint": dict(endpoint),
        "scope": scope,
        "policy": policy_hash,
    }
    return _free_json(head)[:-1] + b',"request":'


def cache_key(prefix: bytes, request: ChatRequest) -> str:
    """Hex SHA-256 of ``prefix`` (from ``key_prefix``) + the canonical request."""
    return keyed_hash(hashlib.sha256(prefix), request)


def keyed_hash(prefix_hash: _Hash, request: ChatRequest) -> str:
    """``cache_key`` from a hash that has already taken in the prefix (it is not changed):
    a stage keeps one per scope instead of hashing the same prefix on every call."""
    h = prefix_hash.copy()
    h.update(canonical_request(request))
    h.update(b"}")
    return h.hexdigest()
