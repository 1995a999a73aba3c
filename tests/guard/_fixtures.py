"""The fixtures the guard and SDK tests share: one fake provider per module, a fresh working
directory per test, recorded telemetry. Each package's ``conftest.py`` imports them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiguard.testing import FakeProvider

from ._support import Recorded


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.reset()
    monkeypatch.chdir(tmp_path)  # the seed policy's audit log defaults to ./aiguard-audit.db


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    r = Recorded()
    yield r
    r.close()
