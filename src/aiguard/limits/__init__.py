"""Rate limits, token budgets and cost budgets that hold under concurrency and across hosts.

Build ``Limit`` objects (or load them from a policy's ``rateLimit`` section with
``limiter_from_policy``), give them a store, and the pipeline admits every call against all of
them atomically before it is sent, then settles the real usage once it has ended::

    from aiguard.limits import Limit, Limiter, SQLiteStore

    limiter = Limiter(
        [Limit.requests(60, per="minute", key=("user",)),
         Limit.tokens(100_000, per="day", key=("tenant",))],
        store=SQLiteStore("limits.db"),
    )

Stores: ``MemoryStore`` (default; one process), ``SQLiteStore`` (processes on one host,
survives restarts), ``RedisStore`` (a fleet; needs ``aiguard[redis]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import limiter_from_policy, limits_from_policy, store_from_policy
from ._engine import Limiter, Store
from ._errors import LimitStoreCorrupted, LimitStoreUnavailable
from ._memory import MemoryStore
from ._model import KEY_ATTRIBUTES, Limit
from ._records import Admission, Demand, LimitUsage, Reservation
from ._stage import LimitStage

if TYPE_CHECKING:
    from ._redis import RedisStore
    from ._sqlite import SQLiteStore

__all__ = [
    "KEY_ATTRIBUTES",
    "Admission",
    "Demand",
    "Limit",
    "LimitStage",
    "LimitStoreCorrupted",
    "LimitStoreUnavailable",
    "LimitUsage",
    "Limiter",
    "MemoryStore",
    "RedisStore",
    "Reservation",
    "SQLiteStore",
    "Store",
    "limiter_from_policy",
    "limits_from_policy",
    "store_from_policy",
]


def __getattr__(name: str) -> Any:
    # The SQLite and Redis stores import their drivers; load them only when asked for.
    if name == "SQLiteStore":
        from ._sqlite import SQLiteStore

        return SQLiteStore
    if name == "RedisStore":
        from ._redis import RedisStore

        return RedisStore
    raise AttributeError(f"module 'aiguard.limits' has no attribute {name!r}")
