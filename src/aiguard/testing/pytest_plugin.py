"""pytest fixtures for testing code that calls LLMs through aiguard.

Installed with aiguard as a ``pytest11`` plugin, so the fixtures need no import; in a project
without the entry point, add ``pytest_plugins = ["aiguard.testing.pytest_plugin"]`` to a
``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from . import FakeProvider

__all__ = ["fake_provider", "fake_provider_factory"]


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A started ``FakeProvider``, one per test, stopped (threads joined) afterwards.

    Point endpoints at ``fake_provider.openai_url``; every test starts with an empty request
    log and nothing scripted, so tests cannot leak replies or faults into each other.
    """
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fake_provider_factory() -> Iterator[Callable[..., FakeProvider]]:
    """Start as many fakes as a test needs (one per endpoint, e.g. to test failover):
    ``primary, backup = fake_provider_factory(), fake_provider_factory()``. All are stopped
    after the test."""
    started: list[FakeProvider] = []

    def make(*, chunk_size: int = 4, embed_dimensions: int = 8) -> FakeProvider:
        fake = FakeProvider(chunk_size=chunk_size, embed_dimensions=embed_dimensions).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()
