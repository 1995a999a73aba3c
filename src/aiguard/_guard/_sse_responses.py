"""The Responses API side of the SDK transport's ``SseRewriter``.

Responses events name the text they are about by output item and content part (or, for a
reasoning item, by summary part), and the same text comes back whole in the events that end
it and in the item and the response that repeat it. This side keeps each text's deltas
flowing through its stream inspector and makes every repetition carry what the deltas
delivered; the framing (``_end``, ``_encode``, ``_release``) is ``SseRewriter``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._calls import (
    RESPONSES_DELTAS,
    RESPONSES_DONES,
    RESPONSES_TERMINAL,
    HeldArguments,
    ToolCallEvents,
)
from ._texts import Scan
from ._wire import (
    Api,
    Key,
    content_parts,
    drop_logprobs,
    is_reasoning,
    item_parts,
    location,
    output_parts,
)

__all__ = ["ResponsesEvents"]

_DELTAS = {
    "response.output_text.delta": "text",
    "response.refusal.delta": "refusal",
    "response.reasoning_summary_text.delta": "text",
    "response.reasoning_text.delta": "text",
}
_DONES = {
    "response.output_text.done": "text",
    "response.refusal.done": "refusal",
    "response.reasoning_summary_text.done": "text",
    "response.reasoning_text.done": "text",
}
_PART_DONES = frozenset(("response.content_part.done", "response.reasoning_summary_part.done"))


@dataclass(slots=True)
class Held:
    """A Responses text delta not sent yet: the text held back at the end of its text is
    added to it, so no event has to be made up (nor a sequence number)."""

    key: Any
    lines: list[bytes]
    at: int
    event: dict[str, Any]


class ResponsesEvents(ToolCallEvents):
    """OpenAI's Responses API events: answer text, refusals, reasoning summaries and
    reasoning text alike (reasoning is model output the application may show)."""

    api: Api
    scan: Scan | None
    text: list[str]
    reasoning: list[str]
    resumed: bool
    _args: HeldArguments
    _streams: dict[Any, Any]
    _last: dict[Any, dict[str, Any]]
    _sent: dict[Any, list[str]]
    _started: set[Any]
    _held: Held | None

    # the framing: SseRewriter's
    def _release(self) -> bytes:
        raise NotImplementedError

    def _feed(self, key: Any, text: str) -> str:
        raise NotImplementedError

    def _once(self, text: str, location: str, key: Any = None) -> str:
        raise NotImplementedError

    def _sink(self, key: Any) -> list[str]:
        """Where a text's delivered pieces are noted: the answer, or its reasoning."""
        if isinstance(key, tuple) and len(key) == 2 and is_reasoning(key):
            return self.reasoning
        return self.text

    def _responses(self, lines: list[bytes], at: int, event: dict[str, Any]) -> bytes:
        """OpenAI's Responses API: deltas are held until the next event; every event that
        ends a text first releases what is held of it; texts in the events that repeat the
        answer (``.done``, ``content_part``, ``output_item``, the response) are replaced by
        what the deltas delivered."""
        kind = event.get("type")
        if kind in RESPONSES_DELTAS and self._args.inspect is not None:
            out = self._end([])  # a text delta held before it goes first
            piece = event.get("delta")
            if isinstance(piece, str) and piece:
                oi = event.get("output_index", 0)
                where = f"output[{oi}].{RESPONSES_DONES[RESPONSES_DELTAS[kind]]}"
                self._args.hold(("call", oi), piece, where, (lines, at, event))
            return out
        if kind in ("response.content_part.added", "response.reasoning_summary_part.added"):
            self._started.add(_key(event))
        elif kind == "response.output_item.added":
            self._started.add(("item", event.get("output_index", 0)))
        field = _DELTAS.get(kind) if isinstance(kind, str) else None
        if field is not None and isinstance(event.get("delta"), str):
            key = _key(event)
            self._last[key] = event
            event["delta"] = self._feed(key, event["delta"])
            if self.scan is not None:
                drop_logprobs(self.api, event)
            out = self._release()
            if self.scan is None:
                return out + self._encode(lines, at, event, False)
            self._held = Held(key, lines, at, event)
            return out
        seq = event.get("sequence_number")
        out = self._end(self._ends(kind, event), seq, self._call_ends(kind, event))
        changed = self._repeat(self._call_slots(kind, event))
        if self.scan is not None:
            changed = self._texts(kind, event) | drop_logprobs(self.api, event) | changed
        return out + self._encode(lines, at, event, changed)

    def _ends(self, kind: Any, event: dict[str, Any]) -> list[Any]:
        """The texts (keys of ``_streams``) a Responses event ends."""
        if kind in RESPONSES_TERMINAL:
            return list(self._streams)
        if kind in _DONES or kind in _PART_DONES:
            return [_key(event)]
        if kind == "response.output_item.done":
            return [k for k in self._streams if k[0] == event.get("output_index", 0)]
        return []

    def _texts(self, kind: Any, event: dict[str, Any]) -> bool:
        """Put the delivered (or inspected) text in every text slot of a Responses event."""
        slots: list[tuple[Key, dict[str, Any], str]] = []
        if kind in _DONES:
            slots.append((_key(event), event, _DONES[kind]))
        part = event.get("part")
        if isinstance(part, dict):
            slots += [(_key(event), p, f) for _, p, f in content_parts([part])]
        item = event.get("item")
        if isinstance(item, dict):
            slots += item_parts(item, event.get("output_index", 0))
        response = event.get("response")
        if isinstance(response, dict):
            slots += output_parts(response)
        changed = False
        for key, holder, name in slots:
            old = holder[name]
            if key in self._sent and self._whole(key):
                new = "".join(self._sent[key])
            elif not old:
                continue
            else:
                new = self._once(old, location(key, name), key)
            if new != old:
                holder[name] = new
                changed = True
        return changed

    def _whole(self, key: Key) -> bool:
        """Whether this stream's deltas carried the text from its start. A stream resumed
        after a sequence number (``starting_after``) may begin in the middle of a text: the
        events that repeat such a text carry all of it, inspected on its own."""
        return not self.resumed or key in self._started or ("item", key[0]) in self._started


def _key(event: dict[str, Any]) -> Key:
    """The text a Responses event is about (see ``_wire.Key``)."""
    oi = event.get("output_index", 0)
    kind = event.get("type")
    if isinstance(kind, str) and kind.startswith("response.reasoning_summary_"):
        return (oi, ("summary", event.get("summary_index", 0)))
    if isinstance(kind, str) and kind.startswith("response.reasoning_text."):
        return (oi, ("reasoning", event.get("content_index", 0)))
    return (oi, event.get("content_index", 0))
