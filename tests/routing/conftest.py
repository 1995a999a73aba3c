"""Both clients for every end-to-end test: ``run`` builds a runner over an ``Env``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ._harness import Env, Runner


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def run(kind: str) -> AsyncIterator[Callable[..., Runner]]:
    made: list[Runner] = []

    def make(env: Env | None = None, **kw: Any) -> Runner:
        r = Runner(kind, env if env is not None else Env(**kw))
        made.append(r)
        return r

    yield make
    for r in made:
        await r.close()
