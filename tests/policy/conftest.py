from __future__ import annotations

from pathlib import Path

import pytest

from aiguard.policy import Policy

SEED = Path(__file__).with_name("seed_policy.yaml")


@pytest.fixture
def seed() -> Policy:
    return Policy.from_yaml(SEED)
