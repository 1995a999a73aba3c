from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["aiguard.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def _scratch_cwd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cwd")


@pytest.fixture(autouse=True)
def _run_outside_the_checkout(
    _scratch_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Tests run from a scratch directory: whatever writes to a default relative path (the
    audit log's ``aiguard-audit.db``, for one) must not litter the checkout."""
    monkeypatch.chdir(_scratch_cwd)
    yield
