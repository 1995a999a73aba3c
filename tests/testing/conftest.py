"""Shared raw-httpx clients pointed at the per-test ``fake_provider``.

One client per test (not ``httpx.post``) so requests reuse a keep-alive connection, as real
SDKs do, and no TLS context is built per call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from aiguard.testing import FakeProvider


@pytest.fixture
def http(fake_provider: FakeProvider) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake_provider.openai_url, timeout=10.0) as client:
        yield client


@pytest.fixture
async def ahttp(fake_provider: FakeProvider) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_provider.openai_url, timeout=10.0) as client:
        yield client
