"""The ambient call context: nesting, isolation across tasks and threads, per-call layering."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

import aiguard
from aiguard._context import resolve_context
from aiguard.errors import InvalidRequestError


def test_nested_contexts_merge_and_unwind() -> None:
    with aiguard.context(user="u-1", tenant="acme", scopes={"ai.read"}, tags={"app": "bot"}):
        with aiguard.context(region="EU", scopes={"ai.write"}, tags={"feature": "faq"}) as inner:
            assert inner.user == "u-1"
            assert inner.tenant == "acme"
            assert inner.region == "EU"
            assert inner.scopes == {"ai.read", "ai.write"}
            assert dict(inner.tags) == {"app": "bot", "feature": "faq"}
        assert aiguard.current_context().region is None
        assert aiguard.current_context().scopes == {"ai.read"}
    assert aiguard.current_context() == aiguard.CallContext()


def test_inner_value_wins() -> None:
    with aiguard.context(tenant="a"), aiguard.context(tenant="b"):
        assert aiguard.current_context().tenant == "b"


async def test_context_follows_await_and_is_isolated_between_tasks() -> None:
    async def worker(tenant: str) -> str | None:
        with aiguard.context(tenant=tenant):
            await asyncio.sleep(0)
            return aiguard.current_context().tenant

    results = await asyncio.gather(*(worker(f"t{i}") for i in range(20)))
    assert results == [f"t{i}" for i in range(20)]


def test_threads_see_context_through_copy_context() -> None:
    seen: list[str | None] = []
    with aiguard.context(tenant="acme"):
        ctx = contextvars.copy_context()
    t = threading.Thread(
        target=lambda: seen.append(ctx.run(lambda: aiguard.current_context().tenant))
    )
    t.start()
    t.join()
    assert seen == ["acme"]


def test_per_call_context_layers_over_ambient() -> None:
    with aiguard.context(user="u-1", scopes={"ai.read"}):
        merged = resolve_context({"tenant": "acme", "scopes": {"ai.write"}})
    assert merged.user == "u-1"
    assert merged.tenant == "acme"
    assert merged.scopes == {"ai.read", "ai.write"}


def test_bad_context_input_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequestError, match="valid keys"):
        resolve_context({"tennant": "acme"})
    with (
        pytest.raises(InvalidRequestError, match="not the string"),
        aiguard.context(scopes="ai.read"),
    ):
        pass


def test_context_get_reads_fields_and_tags() -> None:
    ctx = aiguard.CallContext.build(region="EU", tags={"team": "search"})
    assert ctx.get("region") == "EU"
    assert ctx.get("tags.team") == "search"
    assert ctx.get("team") == "search"
