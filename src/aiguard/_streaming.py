"""Folding stream events into one response, and unfolding a response into events.

The fold gives ``stream.response`` and the partial text of an interrupted stream; the unfold
lets a cached non-streamed answer be replayed to a streaming caller.
"""

from __future__ import annotations

from ._types import (
    ChatResponse,
    FinishReason,
    FunctionCall,
    StreamEvent,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["StreamAccumulator", "events_from_response"]


class StreamAccumulator:
    __slots__ = ("_parts", "_tools", "emitted", "finish_reason", "id", "model", "usage")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._tools: dict[int, list[str | None]] = {}
        self.emitted = False
        self.finish_reason: FinishReason | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.id: str | None = None

    def add(self, ev: StreamEvent) -> None:
        if ev.text:
            self._parts.append(ev.text)
        tc = ev.tool_call
        if tc is not None:
            slot = self._tools.get(tc.index)
            if slot is None:
                slot = self._tools[tc.index] = [tc.id, tc.name, ""]
            if tc.id:
                slot[0] = tc.id
            if tc.name:
                slot[1] = tc.name
            slot[2] = (slot[2] or "") + tc.arguments
        if ev.finish_reason is not None:
            self.finish_reason = ev.finish_reason
        if ev.usage is not None:
            self.usage = ev.usage
        if ev.model and self.model is None:
            self.model = ev.model
        if ev.id and self.id is None:
            self.id = ev.id

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def has_output(self) -> bool:
        return bool(self._parts or self._tools)

    def usage_or_estimate(self) -> Usage:
        """Provider usage when it came; else a rough output count (4 characters a token)."""
        if self.usage is not None:
            return self.usage
        chars = sum(len(p) for p in self._parts) + sum(
            len(t[2] or "") for t in self._tools.values()
        )
        return Usage(output_tokens=(chars + 3) // 4, estimated=True)

    def response(
        self,
        *,
        endpoint: str | None = None,
        provider: str | None = None,
        request_id: str | None = None,
        default_model: str | None = None,
    ) -> ChatResponse:
        tools = tuple(
            ToolCall(
                id=str(slot[0] or f"call_{i}"),
                function=FunctionCall(name=str(slot[1] or ""), arguments=str(slot[2] or "")),
            )
            for i, slot in sorted(self._tools.items())
        )
        return ChatResponse(
            text=self.text,
            tool_calls=tools,
            finish_reason=self.finish_reason or ("tool_calls" if tools else "stop"),
            usage=self.usage_or_estimate(),
            model=self.model or default_model,
            id=self.id,
            endpoint=endpoint,
            provider=provider,
            request_id=request_id,
        )


def events_from_response(response: ChatResponse) -> tuple[StreamEvent, ...]:
    events: list[StreamEvent] = []
    if response.text:
        events.append(StreamEvent(text=response.text, model=response.model, id=response.id))
    for i, tc in enumerate(response.tool_calls):
        events.append(
            StreamEvent(
                tool_call=ToolCallDelta(
                    index=i, id=tc.id, name=tc.function.name, arguments=tc.function.arguments
                )
            )
        )
    events.append(StreamEvent(finish_reason=response.finish_reason, usage=response.usage))
    return tuple(events)
