"""What an audit record keeps, byte for byte: its hashes and its columns.

Input and output hashes are compared across records written by different versions of aiguard,
so what they cover is pinned here by the formulas the documentation gives, independently of
how the writer computes them. The SQLite store must give back exactly what it was handed,
whichever fields are empty and however many records share a batch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from pathlib import Path
from typing import Any

import pytest

from aiguard._types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    FunctionCall,
    FunctionDef,
    ImagePart,
    ImageURL,
    Message,
    TextPart,
    Tool,
    ToolCall,
)
from aiguard.telemetry import AuditLog, AuditRecord, SQLiteAuditStore, Violation

from ._fakes import FakeClock, request, response


def _sha(text: str, key: bytes | None) -> str:
    data = text.encode("utf-8")
    if key:
        return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _expected_output(resp: ChatResponse) -> str | None:
    if resp.text is None and not resp.tool_calls:
        return None
    out: dict[str, Any] = {"text": resp.text}
    if resp.tool_calls:
        out["tool_calls"] = [c.model_dump(mode="json") for c in resp.tool_calls]
    return json.dumps(out, sort_keys=True)


class _OwnJSON(ChatRequest):
    """A request model with its own ``model_dump_json``: the hash covers what it returns."""

    def model_dump_json(self, **kwargs: Any) -> str:  # type: ignore[override]
        return '{"own": "json"}'


class _DuckJSON:
    """Not a pydantic model, but it serialises itself the same way."""

    def model_dump_json(self, **kwargs: Any) -> str:
        return '{"duck": ' + json.dumps(sorted(kwargs)) + "}"


_REQUESTS: list[Any] = [
    request("Hello"),
    request('quotes " and \\ backslashes, tabs\tand\nnewlines \x01\x1f \x7f'),
    request("naïve café, 日本語, emoji 🙂, RTL שלום"),
    request("x" * 5000, temperature=0.0, max_tokens=20, top_p=0.5, seed=7, stop=("\n\n",)),
    request("big and small numbers", temperature=1e-7, presence_penalty=-1.5e-3),
    request("extra body fields", extra={"b": [1, 2.5, None], "a": {"z": "é", "y": True}}),
    ChatRequest(
        messages=(
            Message(role="system", content="be brief"),
            Message(
                role="user",
                content=(
                    TextPart(text="what is this?"),
                    ImagePart(image_url=ImageURL(url="data:image/png;base64,AAAA", detail="low")),
                ),
            ),
            Message(
                role="assistant",
                tool_calls=(
                    ToolCall(id="c1", function=FunctionCall(name="f", arguments='{"a": 1}')),
                ),
            ),
            Message(role="tool", content="42", tool_call_id="c1", name="f"),
        ),
        tools=(Tool(function=FunctionDef(name="f", parameters={"type": "object"})),),
        tool_choice="auto",
    ),
    EmbeddingRequest(inputs=("one", "twö"), model="emb", dimensions=8),
    _OwnJSON(messages=(Message(role="user", content="mine"),)),
    _DuckJSON(),
    {"plain": "dict", "n": 1},
]

_RESPONSES: list[Any] = [
    response("Hi there"),
    response('un "quoted" \\ answer\nwith ünïcödé and 🙂 and \x00'),
    response(""),
    response(
        "",
        tool_calls=(ToolCall(id="c1", function=FunctionCall(name="f", arguments="{}")),),
    ),
    response(
        "calling",
        tool_calls=(
            ToolCall(id="c1", function=FunctionCall(name="f", arguments='{"x": "é"}')),
            ToolCall(id="c2", function=FunctionCall(name="g")),
        ),
    ),
]


def _written(
    tmp_path: Path, entries: list[tuple[Any, Any]], key: bytes | None
) -> list[AuditRecord]:
    store = SQLiteAuditStore(tmp_path / f"h{len(list(tmp_path.iterdir()))}.db")
    with AuditLog(store, hash_key=key) as log:
        for i, (req, resp) in enumerate(entries):
            rec = AuditRecord(time=1e9 + i, operation="chat", outcome="ok", record_id=str(i))
            log.submit(rec, request=req, response=resp)
        assert log.flush(10)
        return list(store.records())


@pytest.mark.parametrize("key", [None, b"k" * 32], ids=["sha256", "hmac"])
def test_input_hash_covers_the_redacted_request_as_pydantic_json(
    tmp_path: Path, key: bytes | None
) -> None:
    rows = _written(tmp_path, [(r, None) for r in _REQUESTS], key)
    for req, row in zip(_REQUESTS, rows, strict=True):
        if isinstance(req, dict):
            text = json.dumps(req, sort_keys=True, default=str)
        else:
            text = req.model_dump_json(exclude_none=True)
        assert row.input_hash == _sha(text, key), text[:80]
        assert row.output_hash is None


@pytest.mark.parametrize("key", [None, b"k" * 32], ids=["sha256", "hmac"])
def test_output_hash_covers_the_answer_as_sorted_ascii_json(
    tmp_path: Path, key: bytes | None
) -> None:
    rows = _written(tmp_path, [(None, r) for r in _RESPONSES], key)
    for resp, row in zip(_RESPONSES, rows, strict=True):
        text = _expected_output(resp)
        assert text is not None
        assert row.output_hash == _sha(text, key), text[:80]
        assert row.input_hash is None


def test_a_call_without_request_or_answer_keeps_the_hashes_it_was_given(
    tmp_path: Path,
) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    given = AuditRecord(
        time=1e9, operation="chat", outcome="error", input_hash="sha256:in", output_hash=None
    )
    with AuditLog(store) as log:
        log.submit(given)
        log.submit(given, request=None, response=response("ok"))
        assert log.flush(10)
        first, second = store.records()
    assert first == given
    assert second.input_hash == "sha256:in"
    assert second.output_hash == _sha(json.dumps({"text": "ok"}, sort_keys=True), None)


def _full(t: float, i: int) -> AuditRecord:
    return AuditRecord(
        time=t,
        operation="chat",
        outcome="blocked",
        record_id=f"r{i}",
        principal="u-1",
        tenant="acme",
        region="EU",
        route="support",
        run_id="run-9",
        requested_model="fast",
        endpoint="llm",
        provider="openai",
        model="gpt-x",
        error_type="aiguard.errors.ContentBlockedError",
        violations=(Violation("pii.email", "redact"), Violation("topic.x", "block", "output")),
        input_tokens=12,
        output_tokens=0,
        cost=0.0,
        latency_ms=1.25,
        cache_hit=True,
        attempts=2,
        stream=True,
        request_id="req-1",
        response_id="resp-1",
        policy_hash="sha256:pol",
        input_hash="sha256:in",
        output_hash="sha256:out",
        content='{"input": "é"}',
    )


def test_the_store_gives_back_every_field_whichever_are_empty(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db", clock=clock.time)
    t = clock.now
    bare = AuditRecord(time=t, operation="embeddings", outcome="ok")
    full = _full(t + 1, 1)
    some = AuditRecord(time=t + 2, operation="chat", outcome="ok", tenant="", cost=None)
    last = AuditRecord(time=t + 3, operation="chat", outcome="ok", principal="p")
    store.write([bare, full, some, last])
    assert list(store.records()) == [bare, full, some, last]
    back = list(store.records())[1]
    assert back.cache_hit is True and back.stream is True and back.cost == 0.0
    assert list(store.records(tenant="")) == [some]  # empty is not NULL


def test_a_missing_switch_is_stored_as_false_not_as_null(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    loose: Any = None  # a record built by hand, outside the declared types
    store.write(
        [AuditRecord(time=1e9, operation="chat", outcome="ok", cache_hit=loose, stream=loose)]
    )
    (row,) = store.records()
    assert row.cache_hit is False and row.stream is False


def test_a_nan_cost_is_stored_as_unknown(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    store.write([AuditRecord(time=1e9, operation="chat", outcome="ok", cost=math.nan)])
    (row,) = store.records()
    assert row.cost is None


@pytest.mark.parametrize("n", [1, 31, 32, 33, 100, 256])
def test_a_batch_of_any_size_is_written_whole_and_in_order(tmp_path: Path, n: int) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    records = [
        _full(1e9, i) if i % 3 == 0 else AuditRecord(time=1e9, operation="chat", outcome="ok")
        for i in range(n)
    ]
    store.write(records)
    assert list(store.records()) == records


@pytest.mark.parametrize("n", [5, 40])
def test_a_batch_that_fails_leaves_nothing_behind(tmp_path: Path, n: int) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    good = AuditRecord(time=1e9, operation="chat", outcome="ok")
    bad = AuditRecord(time=1e9, operation="chat", outcome="ok", model=object())  # type: ignore[arg-type]
    late = AuditRecord(time=None, operation="chat", outcome="ok")  # type: ignore[arg-type]
    for wrong in (bad, late):  # a value sqlite3 cannot bind; a constraint SQLite enforces
        with pytest.raises(Exception):  # noqa: B017 - whatever sqlite3 raises for it
            store.write([good] * n + [wrong])
        assert store.count() == 0
    store.write([good])
    assert store.count() == 1
    store.write([])
    assert store.count() == 1


class _ListSink:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, records: Any) -> None:
        self.records.extend(records)

    def purge(self) -> int:
        return 0

    def close(self) -> None:
        return None


def test_every_sink_gets_the_same_records_whichever_way_they_were_submitted(
    tmp_path: Path,
) -> None:
    """The writer binds field tuples straight into SQLite and builds record objects for the
    other sinks: both must see the records a submitted ``AuditRecord`` would give."""
    store, other = SQLiteAuditStore(tmp_path / "a.db"), _ListSink()
    full = _full(1e9, 1)
    fields = tuple(getattr(full, f) for f in AuditRecord.__dataclass_fields__)[:-3]
    with AuditLog([store, other]) as log:
        log.submit(full, request=_REQUESTS[0], response=_RESPONSES[0])
        log.submit_fields(fields, _REQUESTS[0], _RESPONSES[0], True)
        log.submit(AuditRecord(time=2e9, operation="chat", outcome="ok"))
        assert log.flush(10)
        rows = list(store.records())
    assert rows == other.records
    submitted, from_fields, bare = rows
    assert (
        submitted.input_hash
        == from_fields.input_hash
        == _sha(_REQUESTS[0].model_dump_json(exclude_none=True), None)
    )
    assert submitted.content == full.content  # not captured: the given content stays
    assert from_fields.content is not None and "Hello" in from_fields.content
    assert bare == AuditRecord(time=2e9, operation="chat", outcome="ok")
