"""Run every core test against both clients through one small async facade."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

import aiguard
from aiguard.testing import FakeProvider


class Driver:
    """The same calls on ``Client`` or ``AsyncClient``; tests await either."""

    def __init__(self, kind: str, endpoints: Any, **kw: Any) -> None:
        self.kind = kind
        self.sleeps: list[float] = []
        if kind == "sync":
            self.client: Any = aiguard.Client(endpoints, sleep=self.sleeps.append, **kw)
        else:

            async def sleep(s: float) -> None:
                self.sleeps.append(s)

            self.client = aiguard.AsyncClient(endpoints, sleep=sleep, **kw)

    async def chat(self, messages: Any = "Hi", **kw: Any) -> aiguard.ChatResponse:
        if self.kind == "sync":
            return self.client.chat(messages, **kw)  # type: ignore[no-any-return]
        return await self.client.chat(messages, **kw)  # type: ignore[no-any-return]

    async def stream(
        self, messages: Any = "Hi", *, stop_after: int | None = None, **kw: Any
    ) -> tuple[list[aiguard.StreamEvent], aiguard.ChatResponse | None]:
        events: list[aiguard.StreamEvent] = []
        if self.kind == "sync":
            with self.client.stream(messages, **kw) as s:
                for ev in s:
                    events.append(ev)
                    if stop_after is not None and len(events) >= stop_after:
                        return events, None
            return events, s.response
        async with self.client.stream(messages, **kw) as s:
            async for ev in s:
                events.append(ev)
                if stop_after is not None and len(events) >= stop_after:
                    return events, None
        return events, s.response

    async def embed(self, inputs: Sequence[str], **kw: Any) -> aiguard.EmbeddingResponse:
        if self.kind == "sync":
            return self.client.embed(inputs, **kw)  # type: ignore[no-any-return]
        return await self.client.embed(inputs, **kw)  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self.kind == "sync":
            self.client.close()
        else:
            await self.client.aclose()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_driver(kind: str) -> AsyncIterator[Any]:
    made: list[Driver] = []

    def make(endpoints: Any, **kw: Any) -> Driver:
        d = Driver(kind, endpoints, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        await d.close()


@pytest.fixture
def fake() -> Any:
    with FakeProvider() as f:
        yield f
