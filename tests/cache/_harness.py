"""One test body, two clients: ``Driver`` runs calls through ``Client`` or ``AsyncClient``."""

from __future__ import annotations

from typing import Any

import aiguard
from aiguard import ChatResponse, StreamEvent
from aiguard.cache import ResponseCache
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider

HELLO = [{"role": "user", "content": "Hello"}]


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def endpoints(fake: FakeProvider, **more: Any) -> dict[str, Any]:
    eps: dict[str, Any] = {"llm": OpenAICompatible(base_url=fake.openai_url, model="gpt-4o-mini")}
    eps.update(more)
    return eps


class Driver:
    """``await d.chat(...)`` / ``await d.stream(...)`` whichever client is under test.

    Retry backoff is recorded in ``slept`` instead of slept: no test waits on wall-clock time.
    """

    def __init__(
        self,
        kind: str,
        eps: dict[str, Any],
        cache: ResponseCache,
        *,
        http_client: Any = None,
        stages: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.cache = cache
        stages = {**(stages or {}), "cache": cache}
        self.slept: list[float] = []
        if kind == "sync":
            self.sync = aiguard.Client(
                eps, stages=stages, http_client=http_client, sleep=self.slept.append
            )
        else:

            async def asleep(seconds: float) -> None:
                self.slept.append(seconds)

            self.aio = aiguard.AsyncClient(
                eps, stages=stages, http_client=http_client, sleep=asleep
            )

    async def chat(self, messages: Any = HELLO, **kw: Any) -> ChatResponse:
        kw.setdefault("model", "llm")
        if self.kind == "sync":
            return self.sync.chat(messages, **kw)
        return await self.aio.chat(messages, **kw)

    async def stream(
        self, messages: Any = HELLO, **kw: Any
    ) -> tuple[list[StreamEvent], ChatResponse]:
        kw.setdefault("model", "llm")
        if self.kind == "sync":
            with self.sync.stream(messages, **kw) as s:
                events = list(s)
                return events, s.response
        async with self.aio.stream(messages, **kw) as a:
            events = [ev async for ev in a]
            return events, a.response

    async def close(self) -> None:
        if self.kind == "sync":
            self.sync.close()
        else:
            await self.aio.aclose()
