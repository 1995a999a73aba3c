"""Both clients expose the same methods, and guard/http_client work from a client."""

from __future__ import annotations

import inspect

import aiguard
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider

PUBLIC = {"chat", "stream", "embed", "usage", "guard", "http_client", "endpoints", "policy"}


def test_sync_and_async_clients_have_the_same_surface() -> None:
    for cls in (aiguard.Client, aiguard.AsyncClient):
        assert {n for n in dir(cls) if not n.startswith("_")} >= PUBLIC, cls
    for name in ("chat", "stream", "embed", "usage"):
        sync = inspect.signature(getattr(aiguard.Client, name)).parameters
        asyn = inspect.signature(getattr(aiguard.AsyncClient, name)).parameters
        assert list(sync) == list(asyn), name


def test_client_guard_and_http_client_share_the_clients_stages(fake: FakeProvider) -> None:
    client = aiguard.Client({"llm": OpenAICompatible(fake.openai_url, "m")})

    @client.guard(inputs=("prompt",))
    def ask(prompt: str) -> str:
        return client.chat(prompt).text

    assert ask("Hi") == "echo: Hi"
    sdk_http = client.http_client()
    assert hasattr(sdk_http, "send") and not isinstance(sdk_http, aiguard.Client)
    sdk_http.close()
    client.close()


async def test_async_client_hands_out_an_async_http_client(fake: FakeProvider) -> None:
    async with aiguard.AsyncClient({"llm": OpenAICompatible(fake.openai_url, "m")}) as client:
        sdk_http = client.http_client()
        assert inspect.iscoroutinefunction(sdk_http.send)
        await sdk_http.aclose()
