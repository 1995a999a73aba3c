"""A rate limit changed by a policy override is the one enforced for the matching calls."""

from __future__ import annotations

from typing import Any

import pytest

from aiguard import errors
from aiguard.providers import OpenAICompatible
from aiguard.testing import FakeProvider

POLICY = {
    "apiVersion": "v1",
    "kind": "AIAPIGatewayPolicy",
    "metadata": {"name": "tiers"},
    "spec": {
        "authentication": {"type": "none"},
        "rateLimit": {"requestsPerMinute": 2},
        "overrides": [
            {"name": "acme-enterprise", "match": {"tenant": "acme"},
             "spec": {"rateLimit": {"requestsPerMinute": 100}}},
        ],
    },
}  # fmt: skip


async def test_override_raises_the_limit_for_its_tenant_only(
    fake: FakeProvider, make_driver: Any
) -> None:
    d = make_driver({"llm": OpenAICompatible(fake.openai_url, "m")}, policy=POLICY)
    for _ in range(5):
        await d.chat("Hi", context={"tenant": "acme", "user": "u"})
    await d.chat("Hi", context={"tenant": "small", "user": "u"})
    await d.chat("Hi", context={"tenant": "small", "user": "u"})
    with pytest.raises(errors.RateLimited):
        await d.chat("Hi", context={"tenant": "small", "user": "u"})
    assert len(fake.requests) == 7
