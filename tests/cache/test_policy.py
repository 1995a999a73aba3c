"""The cache under a policy: the ``cache`` section, and overrides that switch it per tenant."""

from __future__ import annotations

from typing import Any

import aiguard
from aiguard.cache import ResponseCache
from aiguard.policy import Policy
from aiguard.testing import FakeProvider

from ._harness import HELLO, endpoints

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
