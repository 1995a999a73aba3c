"""Hardening suites: chaos, concurrency, fuzzing, evasion, memory.

Longer variants carry ``@pytest.mark.soak`` and run only with ``AIGUARD_SOAK=1``
(``make soak``); the rest is sized to run in CI in about a minute and a half.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "soak: long hardening variant; runs only when AIGUARD_SOAK=1 (make soak)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("AIGUARD_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak variant: set AIGUARD_SOAK=1 (make soak)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
