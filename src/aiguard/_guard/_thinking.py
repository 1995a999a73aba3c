"""Anthropic ``thinking`` blocks in a stream: judged whole, then sent as they came or not at all.

A thinking block is signed: Anthropic refuses a changed one when the application sends it
back (which a tool-use loop must). So a block cannot be redacted the way answer text is:
its events are held until the block ends, its whole text is inspected, and then either
every event goes out byte for byte (nothing found, or findings that only log) or none does
(a finding that rewrites the text). A block dropped that way leaves a gap in the blocks'
``index``es, which the SDK uses to address its snapshot, so later blocks are renumbered.
A finding whose action blocks raises before anything of the block is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._texts import Scan

__all__ = ["ThinkingBlocks"]


@dataclass(slots=True)
class _Block:
    events: list[bytes] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


class ThinkingBlocks:
    """The thinking side of ``SseRewriter`` for Anthropic messages (which defines
    ``_encode``). Blocks are held only while answers are inspected (``scan``)."""

    scan: Scan | None
    reasoning: list[str]
    _thoughts: dict[Any, _Block]
    _gone: list[int]

    def _encode(self, lines: list[bytes], at: int, event: dict[str, Any], changed: bool) -> bytes:
        raise NotImplementedError

    def _index(self, index: Any) -> Any:
        """A block's index as the SDK sees it: less the dropped blocks before it."""
        if not self._gone or not isinstance(index, int):
            return index
        return index - sum(1 for g in self._gone if g < index)

    def _renumber(self, event: dict[str, Any]) -> bool:
        index = event.get("index")
        new = self._index(index)
        if new == index:
            return False
        event["index"] = new
        return True

    def _thinking(self, lines: list[bytes], at: int, event: dict[str, Any]) -> bytes | None:
        """What to send for an event of a thinking block (``b""`` while it is held), or
        ``None`` for any other event."""
        if self.scan is None:
            return None
        kind = event.get("type")
        index = event.get("index", 0)
        block = event.get("content_block")
        held: _Block | None
        if kind == "content_block_start" and isinstance(block, dict):
            if block.get("type") != "thinking":
                return None
            held = self._thoughts[index] = _Block()
            text = block.get("thinking")
            held.text.append(text if isinstance(text, str) else "")
        else:
            held = self._thoughts.get(index) if kind != "message_start" else None
            if held is None:
                return None
        if kind == "content_block_delta":
            delta = event.get("delta")
            piece = delta.get("thinking") if isinstance(delta, dict) else None
            if isinstance(piece, str):
                held.text.append(piece)
        if kind == "content_block_stop":
            return self._judged(index, self._encode(lines, at, event, self._renumber(event)))
        held.events.append(self._encode(lines, at, event, self._renumber(event)))
        return b""

    def _judged(self, index: Any, stop: bytes = b"") -> bytes:
        """A held block's events (then ``stop``), or nothing when inspection changed its
        text; a blocking finding raises."""
        held = self._thoughts.pop(index)
        assert self.scan is not None
        text = "".join(held.text)
        if text and self.scan.thought(text, f"content[{index}].thinking") != text:
            if isinstance(index, int):
                self._gone.append(index)
            return b""
        self.reasoning.append(text)
        return b"".join(held.events) + stop

    def _thinking_end(self) -> bytes:
        """The end of the stream: blocks that never ended are judged as they are."""
        return b"".join(self._judged(index) for index in list(self._thoughts))
