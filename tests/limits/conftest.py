"""Shared fixtures: a settable clock, and a real Redis for the store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: $AIGUARD_REDIS_URL if set, else a private redis-server on loopback.

    Missing redis-server skips locally but FAILS when $CI is set: CI must prove the Redis
    store, never quietly skip it.
    """
    import os
    import shutil
    import subprocess
    import time

    import redis

    url = os.environ.get("AIGUARD_REDIS_URL")
    if url:
        yield url
        return
    exe = shutil.which("redis-server")
    if exe is None:
        msg = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI must run the Redis tests")
        pytest.skip(msg)
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(200):  # server start-up, not a timing assertion
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None:
                    pytest.fail(f"redis-server exited with {proc.returncode}")
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not answer PING within 10 s")
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def redis_prefix() -> str:
    import uuid

    return f"aiguard-test:{uuid.uuid4().hex}:"
