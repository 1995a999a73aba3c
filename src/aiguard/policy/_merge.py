"""Layering and hashing, both defined on the plain-data form of a policy.

Layering is field by field: a later layer's mapping is merged into the earlier one key by
key, recursively; anything else (a scalar, a list) replaces the earlier value whole. Lists
replace rather than append so a layer can remove an entry, and so the result never depends
on how many times a layer is applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

from pydantic import SecretStr

__all__ = ["SecretMode", "canonical_json", "deep_merge", "jsonable"]

SecretMode: TypeAlias = Literal["digest", "mask", "reveal"]


def deep_merge(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        prev = out.get(key)
        if isinstance(value, Mapping) and isinstance(prev, Mapping):
            out[key] = deep_merge(prev, value)
        else:
            out[key] = value
    return out


def jsonable(value: Any, *, secrets: SecretMode = "digest") -> Any:
    """Plain JSON data. A secret becomes a digest (hashes change when a key changes), a mask
    (dumps never show it by accident) or, asked explicitly, its value."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, secrets=secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v, secrets=secrets) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if secrets == "reveal":
            return secret
        if secrets == "mask":
            return "**********"
        return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()
    return value


def canonical_json(data: Any) -> str:
    return json.dumps(
        jsonable(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
