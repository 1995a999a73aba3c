"""Reasoning is model output too: the Responses API's reasoning summaries are inspected like
answer text, and Anthropic's signed thinking blocks are judged whole, then kept byte for
byte, dropped (a redaction: a changed block would be refused when sent back) or refused.

The answers are served over HTTP by routes added to FakeProvider (it does not make
reasoning up itself) and parsed by the official SDKs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from aiguard.errors import ContentBlockedError
from aiguard.sdk import http_client
from aiguard.testing import Body, Call, FakeProvider, Stream
from aiguard.testing.wire import sse
from guard._support import REDACT, api_key

SUMMARY = "The user is jane@example.com; I should call +1 415 555 2671."
REDACTED = "The user is [EMAIL_1]; I should call [PHONE_1]."
PII = ("jane@example.com", "415 555 2671")
SIGNATURE = "c2lnbmVk" * 4
Event = dict[str, Any]


def serve(fake: FakeProvider, path: str, answer: Callable[[], Event | list[Event]]) -> None:
    """Answer POSTs to ``path`` with ``answer()``: a JSON body, or a list of events."""

    def handler(call: Call) -> Body | Stream:
        made = answer()
        if isinstance(made, dict):
            return Body(200, json.dumps(made).encode())
        events = [sse(json.dumps(e).encode(), e["type"]) for e in made]
        return Stream(events, tail=1)

    fake.add_route("POST", path, handler)


def raw_clean(value: Any) -> bool:
    dumped = value.model_dump_json(warnings=False) if hasattr(value, "model_dump_json") else value
    return not any(v in dumped for v in PII)


# ------------------------------------------------------------------------------ OpenAI


def reasoning_item(summary: str) -> Event:
    return {"id": "rs_1", "type": "reasoning", "status": "completed",
            "summary": [{"type": "summary_text", "text": summary}]}  # fmt: skip


def message(text: str) -> Event:
    return {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [],
                         "logprobs": []}]}  # fmt: skip


def response(status: str, output: list[Event]) -> Event:
    return {"id": "resp_1", "object": "response", "created_at": 1, "model": "m",
            "status": status, "output": output, "parallel_tool_calls": True, "tools": [],
            "tool_choice": "auto", "error": None, "incomplete_details": None,
            "instructions": None, "metadata": {}, "temperature": 1.0, "top_p": 1.0}  # fmt: skip


def summary_stream(summary: str, size: int) -> list[Event]:
    where = {"item_id": "rs_1", "output_index": 0, "summary_index": 0}
    part = {"type": "summary_text", "text": ""}
    events: list[Event] = [
        {"type": "response.created", "response": response("in_progress", [])},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": "rs_1", "type": "reasoning", "summary": []}},
        {"type": "response.reasoning_summary_part.added", **where, "part": part},
    ]  # fmt: skip
    for i in range(0, len(summary), size):
        events.append({"type": "response.reasoning_summary_text.delta", **where,
                       "delta": summary[i : i + size]})  # fmt: skip
    done = reasoning_item(summary)
    events += [
        {"type": "response.reasoning_summary_text.done", **where, "text": summary},
        {"type": "response.reasoning_summary_part.done", **where,
         "part": {"type": "summary_text", "text": summary}},
        {"type": "response.output_item.done", "output_index": 0, "item": done},
        {"type": "response.completed", "response": response("completed", [done, message("ok")])},
    ]  # fmt: skip
    for n, e in enumerate(events):
        e["sequence_number"] = n
    return events


def openai_client(fake: FakeProvider, prefix: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fake.url}{prefix}/v1", api_key=api_key(), max_retries=0,
                         http_client=http_client(policy=REDACT))  # fmt: skip


def test_reasoning_summary_in_an_answer(fake: FakeProvider) -> None:
    said = [SUMMARY]
    serve(fake, "/rs/v1/responses", lambda: response("completed",
          [reasoning_item(said[0]), message("done")]))  # fmt: skip
    with openai_client(fake, "/rs") as client:
        got = client.responses.create(model="m", input="hi")
        assert raw_clean(got)
        assert got.output[0].summary[0].text == REDACTED  # type: ignore[union-attr]
        assert got.output_text == "done"
        said[0] = "thinking about investment advice"
        with pytest.raises(ContentBlockedError):
            client.responses.create(model="m", input="hi")


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_reasoning_summary_stream(fake: FakeProvider, size: int) -> None:
    said = [SUMMARY]
    serve(fake, "/rss/v1/responses", lambda: summary_stream(said[0], size))
    with openai_client(fake, "/rss") as client:
        events = list(client.responses.create(model="m", input="hi", stream=True))
        assert all(raw_clean(e) for e in events)
        deltas = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
        assert "".join(deltas) == REDACTED and all(deltas)
        by_type = {e.type: e for e in events}
        assert by_type["response.reasoning_summary_text.done"].text == REDACTED  # type: ignore[union-attr]
        assert by_type["response.reasoning_summary_part.done"].part.text == REDACTED  # type: ignore[union-attr]
        final = by_type["response.completed"].response  # type: ignore[union-attr]
        assert final.output[0].summary[0].text == REDACTED  # type: ignore[union-attr]
        numbers = [e.sequence_number for e in events]
        assert numbers == sorted(set(numbers))

        said[0] = "ok " * 30 + "some investment advice"
        seen: list[str] = []
        with pytest.raises(ContentBlockedError):
            for e in client.responses.create(model="m", input="hi", stream=True):
                seen.append(e.model_dump_json(warnings=False))
        assert "investment" not in "".join(seen)


# ------------------------------------------------------------------------------ Anthropic


def anthropic_client(fake: FakeProvider, prefix: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{fake.url}{prefix}", api_key=api_key(), max_retries=0,
                               http_client=http_client(policy=REDACT))  # fmt: skip


def claude_message(thinking: str, text: str) -> Event:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "thinking", "thinking": thinking, "signature": SIGNATURE},
                        {"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 9}}  # fmt: skip


def claude_stream(thinking: str, text: str, size: int = 7) -> list[Event]:
    start = {**claude_message("", ""), "content": [], "stop_reason": None}
    events: list[Event] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    ]  # fmt: skip
    for i in range(0, len(thinking), size):
        piece = thinking[i : i + size]
        events.append({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "thinking_delta", "thinking": piece}})  # fmt: skip
    events += [
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "signature_delta", "signature": SIGNATURE}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]  # fmt: skip
    return events


def test_thinking_in_an_answer(fake: FakeProvider) -> None:
    said = ["Let me think this through.", "mail jane@example.com"]
    serve(fake, "/th/v1/messages", lambda: claude_message(*said))
    with anthropic_client(fake, "/th") as client:
        got = client.messages.create(model="c", max_tokens=64, messages=[{"role": "user",
                                     "content": "hi"}])  # fmt: skip
        assert got.content[0].type == "thinking"
        assert got.content[0].thinking == said[0] and got.content[0].signature == SIGNATURE
        assert got.content[1].text == "mail [EMAIL_1]"  # type: ignore[union-attr]

        said[:] = [SUMMARY, "ok"]  # a redaction would break the signature: dropped
        got = client.messages.create(model="c", max_tokens=64, messages=[{"role": "user",
                                     "content": "hi"}])  # fmt: skip
        assert [b.type for b in got.content] == ["text"] and raw_clean(got)

        said[:] = ["now some investment advice", "ok"]
        with pytest.raises(ContentBlockedError):
            client.messages.create(model="c", max_tokens=64, messages=[{"role": "user",
                                   "content": "hi"}])  # fmt: skip


def test_thinking_in_a_stream(fake: FakeProvider) -> None:
    said = ["Let me think this through, step by step.", "reach jane@example.com"]
    serve(fake, "/ths/v1/messages", lambda: claude_stream(*said))
    ask: dict[str, Any] = {"model": "c", "max_tokens": 64,
                           "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    with anthropic_client(fake, "/ths") as client:
        with client.messages.stream(**ask) as s:
            events = list(s)
            final = s.get_final_message()
        assert final.content[0].type == "thinking"
        assert final.content[0].thinking == said[0]  # kept as it came: the signature holds
        assert final.content[0].signature == SIGNATURE
        assert final.content[1].text == "reach [EMAIL_1]"  # type: ignore[union-attr]
        assert all(raw_clean(e) for e in events)

        said[0] = SUMMARY  # dropped whole; the text block after it becomes block 0
        with client.messages.stream(**ask) as s:
            events = list(s)
            final = s.get_final_message()
        assert [b.type for b in final.content] == ["text"]
        assert final.content[0].text == "reach [EMAIL_1]"  # type: ignore[union-attr]
        assert all(raw_clean(e) for e in events)
        assert {getattr(e, "index", 0) for e in events} == {0}

        said[0] = "ok " * 30 + "then investment advice"
        seen: list[str] = []
        with pytest.raises(ContentBlockedError), client.messages.stream(**ask) as s:
            for e in s:
                seen.append(e.model_dump_json(warnings=False))
        assert "ok ok" not in "".join(seen)  # nothing of the block went out
