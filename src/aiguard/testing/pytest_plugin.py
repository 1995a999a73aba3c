"""pytest fixtures for testing code that calls LLMs through aiguard.

Installed with aiguard as a ``pytest11`` plugin, so the fixtures need no import; in a project
without the entry point, add ``pytest_plugins = ["aiguard.testing.pytest_plugin"]`` to a
``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import FakeProvider

__all__ = ["fake_provider"]


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A started ``FakeProvider``, one per test, stopped (threads joined) afterwards.

    Point endpoints at ``fake_provider.openai_url``; every test starts with an empty request
    log and nothing scripted, so tests cannot leak replies or faults into each other.
    """
    with FakeProvider() as fake:
        yield fake
