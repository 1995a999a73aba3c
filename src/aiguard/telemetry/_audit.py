"""The audit record: one row per call, the facts a compliance review asks for.

A record holds identifiers, counts and hashes. Content (the redacted prompt and answer) is
filled in only when capture was opted in, and only by the writer thread from the already
redacted request and response, so hashing and serialising never run on the call path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any, NamedTuple

__all__ = ["AuditRecord", "Violation"]


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
_INPUT_HASH = _FIELDS.index("input_hash")
_OUTPUT_HASH = _FIELDS.index("output_hash")
_CONTENT = _FIELDS.index("content")


def _record_builder() -> Callable[[Sequence[Any]], AuditRecord]:
    """``record_of``, generated once: one slot store per field, unrolled.

    A frozen dataclass's ``__init__`` sets each of the 28 fields through
    ``object.__setattr__``; storing straight into the slots costs half as much, and the
    call path builds one record per call. (``dataclasses`` generates ``__init__`` the same
    way.)
    """
    env: dict[str, Any] = {"_new": object.__new__, "_cls": AuditRecord}
    lines = [
        "def record_of(values):",
        f"    if len(values) != {len(_FIELDS)}:",
        f"        raise TypeError('record_of needs {len(_FIELDS)} values, got %d' % len(values))",
        "    r = _new(_cls)",
    ]
    for i, name in enumerate(_FIELDS):
        env[f"_set_{name}"] = AuditRecord.__dict__[name].__set__
        lines.append(f"    _set_{name}(r, values[{i}])")
    lines.append("    return r")
    exec("\n".join(lines), env)  # fixed text, built from the field names
    fn: Callable[[Sequence[Any]], AuditRecord] = env["record_of"]
    return fn


record_of = _record_builder()
"""An ``AuditRecord`` from every field's value in declaration order (``AuditRecord``'s
``__init__`` without its per-field cost). The values must be what the fields hold: no default
is applied, nothing is converted."""


# json.dumps(obj, sort_keys=True[, ensure_ascii=False]) without a new encoder per call.
_canonical = json.JSONEncoder(sort_keys=True).encode
_canonical_unicode = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode


def _dump(obj: Any) -> str | None:
    if obj is None:
        return None
    dump = getattr(obj, "model_dump_json", None)
    if dump is not None:
        return str(dump(exclude_none=True))
    return json.dumps(obj, sort_keys=True, default=str)


def _digest(text: str, key: bytes | None) -> str:
    data = text.encode("utf-8")
    if key:
        return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()
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


def complete(
    record: AuditRecord,
    request: Any,
    response: Any,
    *,
    capture_content: bool,
    hash_key: bytes | None,
) -> AuditRecord:
    """Add hashes (and content, when opted in) from the redacted request and response.

    Runs on the writer thread: canonical JSON and SHA-256 cost tens of microseconds for a
    large prompt, which the call path should not pay.
    """
    req_text = _dump(request)
    resp_content = _content_of_response(response)
    if req_text is None and resp_content is None:
        return record
    values = list(_get_fields(record))
    if req_text is not None:
        values[_INPUT_HASH] = _digest(req_text, hash_key)
    if resp_content is not None:
        values[_OUTPUT_HASH] = _digest(_canonical(resp_content), hash_key)
    if capture_content:
        payload = {
            "input": _content_of_request(request) if request is not None else None,
            "output": resp_content,
        }
        values[_CONTENT] = _canonical_unicode(payload)
    return record_of(values)
