"""Server-sent event streams of the SDKs' answers, rewritten as they arrive.

Each text delta goes through a stream inspector, and every event that repeats the answer's
text carries what the deltas delivered, so no event lets the raw text through. Where the text
sits in a whole body is ``_wire``'s; tool-call arguments are ``_calls``'s; the Responses
API's events are ``_sse_responses``'s; Anthropic thinking blocks are ``_thinking``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .._types import Usage
from ._calls import (
    LEGACY,
    HeldArguments,
    Inspect,
    calls_in,
    strip_chat_function_call,
)
from ._sse_responses import Held, ResponsesEvents
from ._texts import Scan
from ._thinking import ThinkingBlocks
from ._wire import Api, answer_texts_in, drop_logprobs, rewrite_response, usage_in

__all__ = ["SseRewriter"]


class SseRewriter(ThinkingBlocks, ResponsesEvents):  # ThinkingBlocks first: its ``_index``
    """Rewrites a server-sent event stream as it arrives: each text delta goes through a
    ``StreamInspector`` (one per choice, content block or content part) with a bounded
    look-behind. Every event that carries answer text carries what the deltas delivered.

    The text held back at the end of a text goes out just before the event that ends it:
    for OpenAI's Responses API in the last delta event of that text, which is sent when the
    next event arrives; for chat completions and Anthropic messages in an extra delta event.
    Deltas left empty by the look-behind are not sent. Events it does not understand pass
    through byte for byte.

    Tool-call arguments are held per call until the call ends, then go through
    ``arguments`` whole and out as one fragment (see ``_calls``); every event that repeats
    them carries that version. ``tools`` is called with each tool name the answer calls
    (the policy's allow-list raises), before anything of that call is sent.

    Reasoning (Responses reasoning summaries and text) is inspected like answer text and
    noted in ``reasoning``, not ``text``; Anthropic thinking blocks are judged whole (see
    ``_thinking``). ``resumed``: the stream starts after an upstream sequence number (a
    stored response streamed again with ``starting_after``)."""

    def __init__(
        self,
        api: Api,
        scan: Scan | None,
        *,
        arguments: Inspect | None = None,
        tools: Callable[[str], None] | None = None,
        resumed: bool = False,
    ) -> None:
        self.api = api
        self.scan = scan
        self.tools = tools
        self.resumed = resumed
        self._started: set[Any] = set()
        self._thoughts: dict[Any, Any] = {}
        self._gone: list[int] = []
        self.reasoning: list[str] = []
        self._args = HeldArguments(arguments)
        self._buf = b""
        self._streams: dict[Any, Any] = {}
        self._last: dict[Any, dict[str, Any]] = {}
        self._sent: dict[Any, list[str]] = {}  # per text: what its deltas delivered
        self._seen: dict[tuple[Any, str], str] = {}  # text met without deltas, inspected once
        self._held: Held | None = None
        self._shift = 0  # added to upstream sequence numbers after a made-up event
        self._seq: int | None = None  # the last sequence number sent
        self.usage: Usage | None = None
        self.text: list[str] = []

    @property
    def calls(self) -> list[tuple[str, str, str, str]]:
        """``(location, id, tool name, arguments)`` of each tool call as delivered."""
        names = self._args.names
        return [(w, *names.get(k, ("", "")), a) for k, w, a in self._args.calls]

    def feed(self, data: bytes) -> bytes:
        self._buf += data.replace(b"\r\n", b"\n")
        out: list[bytes] = []
        while b"\n\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n\n", 1)
            out.append(self._event(raw))
        return b"".join(out)

    def finish(self) -> bytes:
        """The end of the body: a trailing partial event, then anything still held."""
        rest, self._buf = self._buf, b""
        out = [self._event(rest)] if rest.strip() else []
        out.append(self._end(list(self._streams), None, self._args.held()))
        if self._thoughts:
            out.append(self._thinking_end())
        return b"".join(out)

    # ------------------------------------------------------------------ internals

    def _event(self, raw: bytes) -> bytes:
        lines = raw.split(b"\n")
        data_at = [k for k, line in enumerate(lines) if line.startswith(b"data:")]
        if not data_at:  # a comment or a name alone: nothing to keep in order with
            return raw + b"\n\n"
        if len(data_at) != 1:
            return self._end([]) + raw + b"\n\n"
        payload = lines[data_at[0]][5:].strip()
        try:
            event = json.loads(payload)
        except ValueError:  # "[DONE]" and friends: whatever is held goes out first
            return self._end(list(self._streams), None, self._args.held()) + raw + b"\n\n"
        if not isinstance(event, dict):
            return self._end([]) + raw + b"\n\n"
        self.usage = _merge_usage(self.usage, usage_in(event))
        if self.api.name == "openai.responses":
            return self._responses(lines, data_at[0], event)
        if self.api.name == "anthropic.messages":
            thought = self._thinking(lines, data_at[0], event)
            if thought is not None:
                return thought
        before, changed, drop = self._rewrite(event)
        changed = self._renumber(event) or changed
        if self.scan is not None and drop_logprobs(self.api, event):
            changed = True
        if drop:
            return before
        return before + self._encode(lines, data_at[0], event, changed)

    def _encode(self, lines: list[bytes], at: int, event: dict[str, Any], changed: bool) -> bytes:
        """The event as sent: renumbered after a made-up event, re-encoded if changed."""
        seq = event.get("sequence_number")
        if isinstance(seq, int) and not isinstance(seq, bool):
            if self._shift:
                event["sequence_number"] = seq = seq + self._shift
                changed = True
            self._seq = seq
        if changed:
            lines = [*lines]
            lines[at] = b"data: " + json.dumps(event, separators=(",", ":")).encode()
        return b"\n".join(lines) + b"\n\n"

    def _rewrite(self, event: dict[str, Any]) -> tuple[bytes, bool, bool]:
        """Chat completions and Anthropic messages: (held text to send first, whether
        ``event`` was modified, whether it is an empty delta to leave out)."""
        if self.api.name == "openai.chat":
            before = b""
            changed = held = False
            for choice in event.get("choices") or ():
                if not isinstance(choice, dict):
                    continue
                index = choice.get("index", 0)
                delta = choice.get("delta")
                calls = delta.get("tool_calls") if isinstance(delta, dict) else None
                if isinstance(calls, list) and isinstance(delta, dict):
                    out, took = self._chat_calls(event, index, delta, calls)
                    before += out
                    changed |= took
                    held |= took
                fc = delta.get("function_call") if isinstance(delta, dict) else None
                if isinstance(fc, dict) and isinstance(delta, dict):  # the legacy form
                    self._name(("call", (index, LEGACY)), fc.get("name"), "")
                    if self._args.inspect is not None:
                        took = strip_chat_function_call(self._args, event, index, delta)
                        changed |= took
                        held |= took
                for field in ("content", "refusal"):
                    if isinstance(delta, dict) and isinstance(delta.get(field), str):
                        key = index if field == "content" else (index, field)
                        self._last[key] = event
                        delta[field] = self._feed(key, delta[field])
                        changed = True
                if choice.get("finish_reason") is not None:
                    mine = [k for k in self._args.held() if k[1][0] == index]
                    before += self._end([index, (index, "refusal")], None, mine)
            return before, changed, (self.scan is not None or held) and _empty_chat_chunk(event)
        if self.api.name == "anthropic.messages":
            kind = event.get("type")
            key = event.get("index", 0)
            delta = event.get("delta")
            block = event.get("content_block")
            if (
                kind == "content_block_delta"
                and isinstance(delta, dict)
                and delta.get("type") == "input_json_delta"
                and isinstance(delta.get("partial_json"), str)
                and self._args.inspect is not None
            ):  # held until the block ends
                if delta["partial_json"]:
                    where = f"content[{key}].input"
                    self._args.hold(("call", key), delta["partial_json"], where, None)
                return b"", False, True
            if (
                kind == "content_block_delta"
                and isinstance(delta, dict)
                and isinstance(delta.get("text"), str)
            ):
                delta["text"] = self._feed(key, delta["text"])
                return b"", True, self.scan is not None and not delta["text"]
            if kind == "content_block_start" and isinstance(block, dict):
                if self._repeat(calls_in(self.api.name, {"content": [block]}), key):
                    return b"", True, False
                text = block.get("text")
                if isinstance(text, str) and text:  # text the SDK adds the deltas to
                    block["text"] = self._feed(key, text)
                    return b"", True, False
            if kind == "message_start":
                message = event.get("message")
                changed = self._repeat(calls_in(self.api.name, message))
                if self.scan is None:
                    return b"", changed, False
                texts = answer_texts_in(self.api, message)
                if any(t for _, t in texts):  # not sent by the API today: inspected anyway
                    rewrite_response(self.api, message, self._once)
                    return b"", True, False
                return b"", changed, False
            if kind == "content_block_stop":
                return self._end([key], None, [("call", key)]), False, False
            if kind in ("message_delta", "message_stop"):
                return self._end(list(self._streams), None, self._args.held()), False, False
        return b"", False, False

    def _once(self, text: str, location: str, key: Any = None) -> str:
        """A text that came without deltas: inspected once, however often it is repeated."""
        assert self.scan is not None
        seen = self._seen.get((key, text))
        if seen is None:
            seen = self._seen[(key, text)] = self.scan.text_out(text, location)
            self._sink(key).append(seen)
        return seen

    def _feed(self, key: Any, text: str) -> str:
        if self.scan is None:
            released = text
        else:
            stream = self._streams.get(key)
            if stream is None:
                stream = self._streams[key] = self.scan.stream()
            released = stream.feed(text)
        self._sink(key).append(released)
        self._sent.setdefault(key, []).append(released)
        return released

    def _end(self, keys: list[Any], next_seq: Any = None, calls: list[Any] | None = None) -> bytes:
        """Release what is held of these texts (a blocked one raises), then the held delta
        event, then the arguments of these tool ``calls``, before an event numbered
        ``next_seq`` (if it has a number)."""
        held = self._held
        if held is not None and held.key in keys:
            keys = [held.key, *(k for k in keys if k != held.key)]
        out = b""
        for key in keys:
            stream = self._streams.pop(key, None)
            if stream is None:
                continue
            tail: str = stream.finish()
            if self.scan is not None:
                self.scan.collect([stream])
            if not tail:
                continue
            self._sink(key).append(tail)
            self._sent.setdefault(key, []).append(tail)
            if held is not None and held.key == key and self._held is held:
                held.event["delta"] += tail
                continue
            out += self._release() + self._made_up(key, tail, next_seq)
        out += self._release()
        for call in calls or ():
            out += self._release_call(call, next_seq)
        return out

    def _release(self) -> bytes:
        """The held Responses delta, unless the look-behind left it empty."""
        held, self._held = self._held, None
        if held is None or not held.event["delta"]:
            return b""
        return self._encode(held.lines, held.at, held.event, True)

    def _made_up(self, key: Any, tail: str, next_seq: Any) -> bytes:
        """An extra delta event carrying ``tail``, numbered after the last event sent; the
        events after it are renumbered when the upstream's next number is taken."""
        last = self._last.get(key)
        if last is None and self.api.name != "anthropic.messages":
            return b""
        event = _with_text(self.api, json.loads(json.dumps(last)) if last else {}, key, tail)
        self._renumber(event)
        if isinstance(event.get("sequence_number"), int):
            self._number(event, next_seq)
        data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
        name = event.get("type") if self.api.name != "openai.chat" else None
        return b"event: " + str(name).encode() + b"\n" + data if name else data


def _empty_chat_chunk(event: dict[str, Any]) -> bool:
    """A chat chunk that carries nothing but empty text (left so by the look-behind)."""
    if event.get("usage") is not None or not event.get("choices"):
        return False
    return all(
        isinstance(choice, dict)
        and not set(choice) - _CHOICE_KEYS
        and choice.get("finish_reason") is None
        and not choice.get("logprobs")
        and choice.get("delta") in ({}, {"content": ""}, {"refusal": ""})
        for choice in event["choices"]
    )


_CHOICE_KEYS = frozenset(("index", "delta", "finish_reason", "logprobs"))


def _with_text(api: Api, event: dict[str, Any], key: Any, text: str) -> dict[str, Any]:
    """A copy of the last delta event of a text, carrying ``text`` and nothing else new."""
    if api.name == "openai.chat":
        for choice in event.get("choices") or ():
            choice["delta"] = {"refusal" if isinstance(key, tuple) else "content": text}
            choice["finish_reason"] = None
            choice.pop("logprobs", None)
        event.pop("usage", None)
    elif api.name == "anthropic.messages":
        event = {"type": "content_block_delta", "index": key,
                 "delta": {"type": "text_delta", "text": text}}  # fmt: skip
    else:
        event["delta"] = text
        if event.get("logprobs"):
            event["logprobs"] = []
    return event


def _merge_usage(old: Usage | None, new: Usage | None) -> Usage | None:
    """Anthropic reports input tokens at the start and output tokens at the end."""
    if new is None:
        return old
    if old is None:
        return new
    return Usage(
        input_tokens=new.input_tokens or old.input_tokens,
        output_tokens=new.output_tokens or old.output_tokens,
    )
