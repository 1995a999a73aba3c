"""The audit record: one row per call, the facts a compliance review asks for.

A record holds identifiers, counts and hashes. Content (the redacted prompt and answer) is
filled in only when capture was opted in, and only by the writer thread from the already
redacted request and response, so hashing and serialising never run on the call path.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii as _encode_ascii
from operator import attrgetter
from typing import Any, NamedTuple

from pydantic import BaseModel

__all__ = [
    "AuditRecord",
    "Violation",
    "call_fields",
    "complete",
    "content_hashes",
    "record_fields",
    "record_of",
]


class Violation(NamedTuple):
    """What a policy decided about a call: a category and an action, never the matched text."""

    category: str
    action: str
    direction: str = "input"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One call, as the audit log keeps it.

    ``time`` is the call's start in epoch seconds (UTC). ``outcome`` is one of ``ok``,
    ``cached``, ``blocked`` (a policy violation), ``limited`` (a rate limit or budget),
    ``refused`` (configuration), ``error`` (the provider failed) or ``cancelled``.
    ``input_hash``/``output_hash`` let two records be compared without keeping content;
    ``content`` is JSON of the redacted messages and answer, present only when opted in.
    """

    time: float
    operation: str
    outcome: str
    record_id: str = ""
    principal: str | None = None
    tenant: str | None = None
    region: str | None = None
    route: str | None = None
    run_id: str | None = None
    requested_model: str | None = None
    endpoint: str | None = None
    provider: str | None = None
    model: str | None = None
    error_type: str | None = None
    violations: tuple[Violation, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    latency_ms: float = 0.0
    cache_hit: bool = False
    attempts: int = 0
    stream: bool = False
    request_id: str | None = None
    response_id: str | None = None
    policy_hash: str | None = None
    input_hash: str | None = None
    output_hash: str | None = None
    content: str | None = field(default=None, repr=False)

    @property
    def day(self) -> str:
        """The UTC calendar day of the call, ``YYYY-MM-DD``; reports group by it."""
        return datetime.fromtimestamp(self.time, tz=timezone.utc).strftime("%Y-%m-%d")

    def to_dict(self) -> dict[str, Any]:
        # Every field is immutable (the violations are rebuilt as lists below), so reading
        # the slots is the same as ``asdict``'s deep copy at a tenth of the cost.
        d = dict(zip(_FIELDS, _get_fields(self), strict=True))
        d["violations"] = [list(v) for v in self.violations]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditRecord:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        kw["violations"] = tuple(Violation(*v) for v in kw.get("violations") or ())
        kw["cache_hit"] = bool(kw.get("cache_hit", False))
        kw["stream"] = bool(kw.get("stream", False))
        return cls(**kw)


_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditRecord))
_get_fields = attrgetter(*_FIELDS)
record_fields: Callable[[AuditRecord], tuple[Any, ...]] = _get_fields
"""Every field's value in declaration order: what ``record_of`` takes."""


def call_fields(
    *,
    time: float,
    operation: str,
    outcome: str,
    record_id: str,
    context: Any,
    requested_model: str | None,
    endpoint: str | None,
    provider: str | None,
    model: str | None,
    error_type: str | None,
    violations: tuple[Violation, ...],
    input_tokens: int,
    output_tokens: int,
    cost: float | None,
    latency_ms: float,
    cache_hit: bool,
    attempts: int,
    stream: bool,
    response: Any,
    error: BaseException | None,
    policy_hash: str | None,
) -> tuple[Any, ...]:
    """A finished call's record fields in declaration order, without the hashes and content
    the writer adds: both telemetry paths (with and without a span recorder) build them here,
    so the positional layout ``record_of`` needs is written once. ``context`` gives the
    principal, tenant, region, route and run id; the answer, else the error, the request id."""
    c = context
    return (
        time,
        operation,
        outcome,
        record_id,
        c.user if c else None,
        c.tenant if c else None,
        c.region if c else None,
        c.route if c else None,
        c.run_id if c else None,
        requested_model,
        endpoint,
        provider,
        model,
        error_type,
        violations,
        input_tokens,
        output_tokens,
        cost,
        latency_ms,
        cache_hit,
        attempts,
        stream,
        getattr(response, "request_id", None) or getattr(error, "request_id", None),
        getattr(response, "id", None),
        policy_hash,
    )


class _Unfrozen(AuditRecord):
    """``AuditRecord``'s layout with plain attribute stores: ``record_of`` fills one, then
    makes it an ``AuditRecord`` (same slots, so ``__class__`` may change)."""

    __slots__ = ()
    # Both, so that the type's setattr slot is object's own (stores then go straight in).
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__


def _generated(name: str, lines: list[str]) -> Any:
    """A function from fixed text built from the field names (nothing else goes in)."""
    env: dict[str, Any] = {"_new": object.__new__, "_Unfrozen": _Unfrozen, "_cls": AuditRecord}
    exec("\n".join(lines), env)
    return env[name]


if _FIELDS[-3:] != ("input_hash", "output_hash", "content"):  # _with_hashes relies on it
    raise ImportError("AuditRecord must end with input_hash, output_hash, content")

_N = len(_FIELDS)
_KEPT = _FIELDS[:-3]  # complete() replaces the last three: input_hash, output_hash, content

record_of: Callable[[Sequence[Any]], AuditRecord] = _generated(
    "record_of",
    [
        "def record_of(values):",
        f"    if len(values) != {_N}:",
        f"        raise TypeError('record_of needs {_N} values, got %d' % len(values))",
        "    r = _new(_Unfrozen)",
        f"    {', '.join(f'r.{f}' for f in _FIELDS)}, = values",
        "    r.__class__ = _cls",
        "    return r",
    ],
)
"""An ``AuditRecord`` from every field's value in declaration order (``AuditRecord``'s
``__init__`` without its per-field cost). The values must be what the fields hold: no default
is applied, nothing is converted.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, a call per
field; this fills an unfrozen twin with plain slot stores, then gives it its class."""

_Hash = str | None
_with_hashes: Callable[[AuditRecord, _Hash, _Hash, _Hash], AuditRecord] = _generated(
    "with_hashes",
    [
        "def with_hashes(s, input_hash, output_hash, content):",
        "    r = _new(_Unfrozen)",
        f"    {', '.join(f'r.{f}' for f in _KEPT)} = {', '.join(f's.{f}' for f in _KEPT)}",
        "    r.input_hash, r.output_hash, r.content = input_hash, output_hash, content",
        "    r.__class__ = _cls",
        "    return r",
    ],
)
"""A copy of the record with its content hashes and content replaced."""

# json.dumps(obj, sort_keys=True[, ensure_ascii=False]) without a new encoder per call.
_canonical = json.JSONEncoder(sort_keys=True).encode
_canonical_unicode = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode

# ``model_dump_json(exclude_none=True)``'s bytes without the str round trip: the same
# serializer call with the same arguments (``by_alias`` as this pydantic's default).
_MODEL_DUMP_JSON = BaseModel.model_dump_json
_BY_ALIAS = inspect.signature(_MODEL_DUMP_JSON).parameters["by_alias"].default


def _request_json(obj: Any) -> bytes | None:
    """UTF-8 JSON of the request, as the input hash has always covered it: pydantic's
    ``model_dump_json(exclude_none=True)``, else ``json.dumps(sort_keys=True, default=str)``."""
    if obj is None:
        return None
    dump = getattr(obj, "model_dump_json", None)
    if dump is None:
        return json.dumps(obj, sort_keys=True, default=str).encode("utf-8")
    # Read through the instance, not the class: pydantic's metaclass defines ``__getattr__``,
    # which makes every attribute read on a model class several times dearer.
    if getattr(dump, "__func__", None) is _MODEL_DUMP_JSON:
        data: bytes = obj.__pydantic_serializer__.to_json(
            obj, exclude_none=True, by_alias=_BY_ALIAS
        )
        return data
    return str(dump(exclude_none=True)).encode("utf-8")


def _digest(data: bytes, key: bytes | None) -> str:
    if key:
        return "hmac-sha256:" + hmac.digest(key, data, "sha256").hex()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _content_of_request(request: Any) -> Any:
    messages = getattr(request, "messages", None)
    if messages is not None:
        return [m.model_dump(exclude_none=True, mode="json") for m in messages]
    return list(getattr(request, "inputs", ()) or ())


def _content_of_response(response: Any) -> Any:
    if response is None:
        return None
    text = getattr(response, "text", None)
    calls = getattr(response, "tool_calls", ()) or ()
    if text is None and not calls:
        return None
    out: dict[str, Any] = {"text": text}
    if calls:
        out["tool_calls"] = [c.model_dump(mode="json") for c in calls]
    return out


def _response_json(response: Any) -> str | None:
    """``_canonical(_content_of_response(response))``, spelled out for a plain text answer
    (the encoder's setup costs more than encoding a short answer)."""
    if response is None:
        return None
    text = getattr(response, "text", None)
    if type(text) is str and not (getattr(response, "tool_calls", ()) or ()):
        return '{"text": ' + _encode_ascii(text) + "}"
    content = _content_of_response(response)
    return None if content is None else _canonical(content)


def content_hashes(
    request: Any, response: Any, capture_content: bool, hash_key: bytes | None
) -> tuple[str | None, str | None, str | None]:
    """``(input_hash, output_hash, content)`` of the redacted request and answer; all three
    ``None`` when there is neither, and each hash ``None`` when its side is missing.

    Runs on the writer thread: canonical JSON and SHA-256 cost tens of microseconds for a
    large prompt, which the call path should not pay.
    """
    req_json = _request_json(request)
    resp_json = _response_json(response)
    if req_json is None and resp_json is None:
        return None, None, None
    input_hash = None if req_json is None else _digest(req_json, hash_key)
    output_hash = None if resp_json is None else _digest(resp_json.encode("utf-8"), hash_key)
    content = None
    if capture_content:
        payload = {
            "input": _content_of_request(request) if request is not None else None,
            "output": _content_of_response(response),
        }
        content = _canonical_unicode(payload)
    return input_hash, output_hash, content


def complete(
    record: AuditRecord,
    request: Any,
    response: Any,
    *,
    capture_content: bool,
    hash_key: bytes | None,
) -> AuditRecord:
    """Add hashes (and content, when opted in) from the redacted request and response; a
    side that is missing keeps the hash the record came with."""
    input_hash, output_hash, content = content_hashes(request, response, capture_content, hash_key)
    if input_hash is None and output_hash is None:
        return record
    return _with_hashes(
        record,
        record.input_hash if input_hash is None else input_hash,
        record.output_hash if output_hash is None else output_hash,
        content if capture_content else record.content,
    )
