from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiguard.testing import FakeProvider
from guard._support import Recorded


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeProvider) -> None:
    fake.reset()


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    r = Recorded()
    yield r
    r.close()
