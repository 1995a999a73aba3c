"""The cache under a policy: the ``cache`` section, and overrides that switch it per tenant."""

from __future__ import annotations

from typing import Any

import aiguard
from aiguard.cache import MemoryBackend, ResponseCache
from aiguard.policy import Policy
from aiguard.testing import FakeProvider

from ._harness import HELLO, Clock, endpoints

POLICY: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "AIAPIGatewayPolicy",
    "metadata": {"name": "cache-test"},
    "spec": {
        "cache": {"enabled": True, "ttlSeconds": 600},
        "overrides": [
            {"match": {"tenant": "secret"}, "spec": {"cache": {"enabled": False}}},
            {"match": {"tenant": "open"}, "spec": {"cache": {"deterministicOnly": False}}},
        ],
    },
}


async def _chat(kind: str, client: Any, **kw: Any) -> Any:
    if kind == "sync":
        return client.chat(HELLO, model="llm", **kw)
    return await client.chat(HELLO, model="llm", **kw)


async def test_overrides_switch_caching_per_call(kind: str, fake: FakeProvider) -> None:
    policy = Policy.coerce(POLICY)
    cache = ResponseCache.from_spec(policy.spec.cache, policy_hash=policy.hash)
    cls = aiguard.Client if kind == "sync" else aiguard.AsyncClient
    client: Any = cls(endpoints(fake), policy=policy, stages={"cache": cache})
    try:
        for tenant in ("acme", "secret", "open"):
            await _chat(kind, client, context={"tenant": tenant}, temperature=0)
        assert (await _chat(kind, client, context={"tenant": "acme"}, temperature=0)).cached
        secret = await _chat(kind, client, context={"tenant": "secret"}, temperature=0)
        assert not secret.cached  # this tenant's override disables the cache
        await _chat(kind, client, context={"tenant": "open"})
        assert (await _chat(kind, client, context={"tenant": "open"})).cached
        assert not (await _chat(kind, client, context={"tenant": "acme"})).cached
    finally:
        if kind == "sync":
            client.close()
        else:
            await client.aclose()
    assert len(fake.requests) == 6


async def test_each_entry_keeps_the_ttl_of_its_calls_policy(kind: str, fake: FakeProvider) -> None:
    """An override's ``ttlSeconds`` is the lifetime of the entries its calls store."""
    doc: dict[str, Any] = {
        **POLICY,
        "spec": {
            "cache": {"enabled": True, "ttlSeconds": 600},
            "overrides": [{"match": {"tenant": "brief"}, "spec": {"cache": {"ttlSeconds": 60}}}],
        },
    }
    policy = Policy.coerce(doc)
    clock = Clock()
    cache = ResponseCache.from_spec(
        policy.spec.cache, policy_hash=policy.hash, backend=MemoryBackend(timer=clock)
    )
    cls = aiguard.Client if kind == "sync" else aiguard.AsyncClient
    client: Any = cls(endpoints(fake), policy=policy, stages={"cache": cache})
    try:
        for tenant in ("acme", "brief"):
            await _chat(kind, client, context={"tenant": tenant}, temperature=0)
        clock.advance(120)
        assert (await _chat(kind, client, context={"tenant": "acme"}, temperature=0)).cached
        brief = await _chat(kind, client, context={"tenant": "brief"}, temperature=0)
        assert not brief.cached  # stored for 60 s, asked again after 120 s
    finally:
        if kind == "sync":
            client.close()
        else:
            await client.aclose()
    assert len(fake.requests) == 3
