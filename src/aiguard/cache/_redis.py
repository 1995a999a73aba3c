"""The Redis backend (``pip install aiguard[redis]``): one cache for a fleet of processes.

Why this shape: a lookup is one ``GET`` and a store one ``SET ... PX`` (the TTL lives on the
server, so expiry needs no sweeper and every process agrees on it); values are compressed JSON
(``_codec``), readable by any aiguard of the same format version. The sync client and the
asyncio client are separate objects in redis-py; the asyncio one is bound to the event loop
that created its connections, so one is kept per loop. Connection errors are raised to the
stage, which turns them into a miss (or a skipped store) with a warning: a cache outage must
never fail a call, so the default client does not retry and times out quickly.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from .._stages import CacheHit
from ..errors import ConfigError
from ._codec import compress, decompress

__all__ = ["RedisBackend"]

DEFAULT_PREFIX = "aiguard:cache:"


def _redis() -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            "the Redis cache backend needs the redis client: pip install aiguard[redis]"
        ) from None
    return redis


class RedisBackend:
    """Answers in Redis under ``prefix`` + key, expiring on the server.

    Give ``url`` (``redis://host:6379/0``) and the backend builds its own clients (no retries,
    ``timeout`` seconds to connect and per command), or pass ``client`` (``redis.Redis``)
    and/or ``async_client`` (``redis.asyncio.Redis``) that you configured yourself; with a
    URL, ``AsyncClient`` gets one asyncio client per event loop. ``compress_level`` is zlib's.
    """

    blocking = True
    """Lookups cross the network, so the stage hands them to the driver as an ``Io``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        async_client: Any = None,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 0.5,
        compress_level: int = 6,
    ) -> None:
        if url is None and client is None and async_client is None:
            raise ConfigError("RedisBackend needs url=... (redis://host:6379/0) or a client")
        if not 0 <= compress_level <= 9:
            raise ConfigError(f"compress_level must be 0..9, got {compress_level!r}")
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.compress_level = compress_level
        self._client = client
        self._built = False
        self._async_client = async_client
        self._lock = threading.Lock()
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        # Never the URL: it may carry a password.
        return f"RedisBackend(prefix={self.prefix!r})"

    def _options(self, *, asyncio: bool) -> dict[str, Any]:
        from redis.backoff import NoBackoff

        if asyncio:
            from redis.asyncio.retry import Retry as AsyncRetry

            retry: Any = AsyncRetry(NoBackoff(), 0)
        else:
            from redis.retry import Retry

            retry = Retry(NoBackoff(), 0)
        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": retry,
        }

    def _sync(self) -> Any:
        client = self._client
        if client is None:
            if self.url is None:
                raise ConfigError("RedisBackend: no sync client (pass url= or client=)")
            with self._lock:
                if self._client is None:
                    self._client = _redis().Redis.from_url(self.url, **self._options(asyncio=False))
                    self._built = True
                client = self._client
        return client

    def _async(self) -> Any:
        if self._async_client is not None:
            return self._async_client
        if self.url is None:
            raise ConfigError("RedisBackend: no asyncio client (pass url= or async_client=)")
        loop = asyncio.get_running_loop()
        client = self._per_loop.get(loop)
        if client is None:
            _redis()
            from redis.asyncio import Redis as AsyncRedis

            client = AsyncRedis.from_url(self.url, **self._options(asyncio=True))
            self._per_loop[loop] = client
        return client

    # ------------------------------------------------------------------ the two round trips

    def get(self, key: str) -> CacheHit | None:
        raw = self._sync().get(self.prefix + key)
        return None if raw is None else decompress(raw)

    def set(self, key: str, hit: CacheHit, ttl: float) -> None:
        value = compress(hit, self.compress_level)
        self._sync().set(self.prefix + key, value, px=max(1, round(ttl * 1000)))

    async def aget(self, key: str) -> CacheHit | None:
        raw = await self._async().get(self.prefix + key)
        return None if raw is None else decompress(raw)

    async def aset(self, key: str, hit: CacheHit, ttl: float) -> None:
        value = compress(hit, self.compress_level)
        await self._async().set(self.prefix + key, value, px=max(1, round(ttl * 1000)))

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the sync client this backend built (not one that was passed in)."""
        with self._lock:
            if not self._built:
                return
            client, self._client, self._built = self._client, None, False
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop, if this backend built it."""
        loop = asyncio.get_running_loop()
        client = self._per_loop.pop(loop, None)
        if client is not None:
            await client.aclose()
