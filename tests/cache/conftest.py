"""Fixtures: a FakeProvider per test, a real redis-server per session, each backend, and
a ``driver`` that runs every test through the sync ``Client`` and the ``AsyncClient``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from aiguard.cache import MemoryBackend, RedisBackend
from aiguard.testing import FakeProvider

from ._harness import Clock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: $AIGUARD_REDIS_URL if set, else a private redis-server on loopback.

    Missing redis-server skips locally but fails when $CI is set: CI must prove the Redis
    backend, never quietly skip it. Readiness is read from the server's own log line.
    """
    url = os.environ.get("AIGUARD_REDIS_URL")
    if url:
        yield url
        return
    exe = shutil.which("redis-server")
    if exe is None:
        msg = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI must run the Redis cache tests")
        pytest.skip(msg)
    port = free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*args, "--daemonize", "no"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail(f"redis-server exited with {proc.wait()}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as f:
        yield f


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Any]:
    """Each backend the suite must hold for; Redis entries live under a per-test prefix."""
    if request.param == "memory":
        yield MemoryBackend(timer=clock)
        return
    url = request.getfixturevalue("redis_url")
    b = RedisBackend(url, prefix=f"aiguard-test:{uuid.uuid4().hex}:")
    yield b
    await b.aclose()
    b.close()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
