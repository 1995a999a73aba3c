"""Counters in Redis, for applications that run on many hosts.

Every admit and every settle is exactly one ``EVALSHA`` (falling back to ``EVAL`` once if the
server lost its script cache): one atomic round trip. The sync ``redis.Redis`` and the async
``redis.asyncio.Redis`` clients run the very same scripts. Keys are ``<prefix><limit key>``
and every key carries a TTL.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError, LimitStoreError
from ._errors import LimitStoreCorrupted, LimitStoreUnavailable
from ._lua import ADMIT, PEEK, SETTLE
from ._model import ALGO_LEASE
from ._state import AdmitItem, Outcome, SettleItem, State

__all__ = ["RedisStore"]


class _Script:
    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


_ADMIT, _SETTLE, _PEEK = _Script(ADMIT), _Script(SETTLE), _Script(PEEK)
_UNAVAILABLE = ("BUSY", "LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "OOM", "TRYAGAIN")
"""Server replies that mean "not now" (a fail-open limit may admit), not "your data is bad"."""


class RedisStore:
    """Counters shared by every process that points at the same Redis.

    Give a sync client, an async client, or both (``redis.Redis`` / ``redis.asyncio.Redis``),
    or a ``url`` to create both (pools of ``max_connections``, waiting up to ``timeout``
    seconds for a free connection). ``clock`` overrides the server's ``TIME`` (tests only: the
    whole fleet must share one clock, and the server's is the one they all see).
    """

    native_async = True

    def __init__(
        self,
        client: Any = None,
        *,
        async_client: Any = None,
        url: str | None = None,
        prefix: str = "aiguard:limits:",
        clock: Callable[[], float] | None = None,
        max_connections: int = 32,
        timeout: float = 5.0,
    ) -> None:
        try:
            import redis
            import redis.asyncio
        except ImportError as e:  # pragma: no cover - exercised only without the extra
            raise ConfigError(
                "RedisStore needs the redis client: pip install 'aiguard[redis]'"
            ) from e
        if url is not None:
            if client is not None or async_client is not None:
                raise ConfigError("RedisStore: pass url= or clients, not both")
            # Blocking pools: a burst of concurrent calls queues for a connection instead of
            # failing with "Too many connections".
            client = redis.Redis(
                connection_pool=redis.BlockingConnectionPool.from_url(
                    url, max_connections=max_connections, timeout=timeout
                )
            )
            async_client = redis.asyncio.Redis(
                connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
                    url, max_connections=max_connections, timeout=timeout
                )
            )
        if client is None and async_client is None:
            raise ConfigError("RedisStore needs a client, an async_client or a url")
        if client is not None and not isinstance(client, redis.Redis):
            raise ConfigError(f"client must be a redis.Redis, got {type(client).__name__}")
        if async_client is not None and not isinstance(async_client, redis.asyncio.Redis):
            raise ConfigError(
                f"async_client must be a redis.asyncio.Redis, got {type(async_client).__name__}"
            )
        if not prefix:
            raise ConfigError("RedisStore prefix must not be empty: keys would collide")
        self._client = client
        self._aclient = async_client
        self.prefix = prefix
        self._clock = clock
        self._redis = redis

    # ------------------------------------------------------------------ encoding

    def _now(self) -> str:
        return "" if self._clock is None else repr(self._clock())

    def _admit_args(self, items: Sequence[AdmitItem], lease_id: str) -> tuple[list[str], list[str]]:
        keys = [self.prefix + it.key for it in items]
        args = [self._now(), lease_id]
        for it in items:
            args += [
                str(it.algo),
                repr(it.amount),
                repr(it.period),
                repr(it.cost),
                repr(it.max_wait),
            ]
        return keys, args

    def _settle_args(self, items: Sequence[SettleItem]) -> tuple[list[str], list[str]]:
        keys = [self.prefix + it.key for it in items]
        args = [self._now()]
        for it in items:
            token = it.token if isinstance(it.token, str) else repr(float(it.token))
            args += [
                str(it.algo),
                repr(it.amount),
                repr(it.period),
                repr(it.reserved),
                repr(it.actual),
                token,
            ]
        return keys, args

    @staticmethod
    def _outcome(items: Sequence[AdmitItem], raw: Sequence[Any]) -> Outcome:
        r = [x.decode() if isinstance(x, bytes) else str(x) for x in raw]
        status, seconds, index, now = int(r[0]), float(r[1]), int(r[2]), float(r[3])
        tokens: list[float | str] = []
        for it, tok in zip(items, r[4:], strict=False):
            tokens.append(tok if it.algo == ALGO_LEASE else float(tok))
        return Outcome(status, seconds, index, tokens, now)

    @staticmethod
    def _peeked(raw: Sequence[Any]) -> tuple[list[State | None], float]:
        r = [x.decode() if isinstance(x, bytes) else str(x) for x in raw]
        now = float(r[0])
        out: list[State | None] = []
        for i in range(1, len(r), 4):
            kind = r[i]
            if kind == "hash":
                out.append(State(float(r[i + 1]), float(r[i + 2]), float(r[i + 3])))
            elif kind == "zset":
                st = State()
                st.leases = {str(j): now + 1.0 for j in range(int(r[i + 1]))}
                out.append(st)
            else:
                out.append(None)
        return out, now

    def _error(self, e: Exception) -> LimitStoreError:
        ex = self._redis.exceptions
        msg = str(e)
        if isinstance(e, (ex.ConnectionError, ex.TimeoutError)) or msg.startswith(_UNAVAILABLE):
            return LimitStoreUnavailable(f"limit store redis unavailable: {e}")
        if "AIGUARD_CORRUPT" in msg or "WRONGTYPE" in msg:
            text = msg.split("AIGUARD_CORRUPT ", 1)[-1]
            key = text.split(" ")[1] if text.startswith("key ") else "?"
            return LimitStoreCorrupted(
                f"limit store redis: {text}; delete or rename it, aiguard will not overwrite it",
                where=key,
            )
        return LimitStoreError(f"limit store redis failed: {e}")

    # ------------------------------------------------------------------ round trips

    def _call(self, script: _Script, keys: list[str], args: list[str]) -> Any:
        c = self._client
        if c is None:
            raise ConfigError("this RedisStore has only an async client; use the AsyncClient")
        ex = self._redis.exceptions
        try:
            try:
                return c.evalsha(script.sha, len(keys), *keys, *args)
            except ex.NoScriptError:
                return c.eval(script.text, len(keys), *keys, *args)
        except ex.RedisError as e:
            raise self._error(e) from e

    async def _acall(self, script: _Script, keys: list[str], args: list[str]) -> Any:
        c = self._aclient
        if c is None:
            return await asyncio.to_thread(self._call, script, keys, args)
        ex = self._redis.exceptions
        try:
            try:
                return await c.evalsha(script.sha, len(keys), *keys, *args)
            except ex.NoScriptError:
                return await c.eval(script.text, len(keys), *keys, *args)
        except ex.RedisError as e:
            raise self._error(e) from e

    # ------------------------------------------------------------------ the store protocol

    def admit(self, items: Sequence[AdmitItem], lease_id: str) -> Outcome:
        keys, args = self._admit_args(items, lease_id)
        return self._outcome(items, self._call(_ADMIT, keys, args))

    async def aadmit(self, items: Sequence[AdmitItem], lease_id: str) -> Outcome:
        keys, args = self._admit_args(items, lease_id)
        return self._outcome(items, await self._acall(_ADMIT, keys, args))

    def settle(self, items: Sequence[SettleItem]) -> None:
        self._call(_SETTLE, *self._settle_args(items))

    async def asettle(self, items: Sequence[SettleItem]) -> None:
        await self._acall(_SETTLE, *self._settle_args(items))

    def peek(self, keys: Sequence[str]) -> tuple[list[State | None], float]:
        return self._peeked(self._call(_PEEK, [self.prefix + k for k in keys], [self._now()]))

    async def apeek(self, keys: Sequence[str]) -> tuple[list[State | None], float]:
        raw = await self._acall(_PEEK, [self.prefix + k for k in keys], [self._now()])
        return self._peeked(raw)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.aclose()
