"""What a limit is: a metric, an amount, a period, and who it is counted per.

Limits are validated when they are built, never when the first call hits them: a zero, a
negative, a NaN, an unknown key attribute or a period that makes no sense for the metric is a
``ConfigError`` that names the field to fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, TypeAlias
from urllib.parse import quote

from .._context import CallContext
from ..errors import ConfigError

__all__ = ["KEY_ATTRIBUTES", "Limit", "Metric", "Mode", "Period"]

Metric: TypeAlias = Literal["requests", "tokens", "cost", "concurrent"]
Period: TypeAlias = Literal["minute", "hour", "day", "month"]
Mode: TypeAlias = Literal["reject", "wait"]

KEY_ATTRIBUTES = frozenset(
    {"global", "tenant", "user", "endpoint", "model", "route", "run_id", "run", "region"}
)
"""Attributes a limit may be keyed by. ``run`` is an alias of ``run_id`` (the policy's name);
``tags.<name>`` keys by a context tag."""

_METRICS = ("requests", "tokens", "cost", "concurrent")
_PERIODS = ("minute", "hour", "day", "month")
PERIOD_SECONDS = {"minute": 60.0, "hour": 3600.0}
ALGO_GCRA = 1
ALGO_WINDOW = 2
ALGO_LEASE = 3
WINDOW_DAY = 1
WINDOW_MONTH = 2
_ABSENT = "-"


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit, counted separately for every distinct value of ``key``.

    ``per="minute"``/``"hour"`` are rolling rates (a leaky bucket, the meter form of GCRA:
    ``amount`` drains evenly over the period, so bursts of up to ``amount`` are admitted and
    then a sustained ``amount`` per period). ``per="day"``/``"month"`` are budgets over UTC
    calendar windows that reset at 00:00:00 UTC (the 1st of the month for ``"month"``).
    ``metric="concurrent"`` caps calls in flight and takes no period; a slot held by a process
    that died is reclaimed after ``lease_seconds``.

    ``mode="wait"`` waits up to ``max_wait`` seconds for capacity instead of refusing;
    ``fail_open=True`` admits calls (logged and counted) while the store is unreachable.
    """

    metric: Metric
    amount: float
    per: Period | None = None
    key: tuple[str, ...] = ("global",)
    name: str = ""
    mode: Mode = "reject"
    max_wait: float = 30.0
    fail_open: bool = False
    lease_seconds: float = 600.0
    _parts: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"limit {self.name!r}" if self.name else "limit"
        if self.metric not in _METRICS:
            raise ConfigError(f"{where}: metric must be one of {', '.join(_METRICS)}")
        a = self.amount
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a):
            raise ConfigError(f"{where}: amount must be a finite number, got {a!r}")
        if a <= 0:
            raise ConfigError(f"{where}: amount must be > 0, got {a}; remove the limit instead")
        if self.metric in ("requests", "tokens", "concurrent") and a != int(a):
            raise ConfigError(f"{where}: {self.metric} amount must be a whole number, got {a}")
        if self.metric == "concurrent":
            if self.per is not None:
                raise ConfigError(f"{where}: concurrent limits take no period; drop per=")
        elif self.per not in _PERIODS:
            raise ConfigError(
                f"{where}: per must be one of {', '.join(_PERIODS)}, got {self.per!r}"
            )
        if self.mode not in ("reject", "wait"):
            raise ConfigError(f"{where}: mode must be 'reject' or 'wait', got {self.mode!r}")
        for fname in ("max_wait", "lease_seconds"):
            v = getattr(self, fname)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ConfigError(f"{where}: {fname} must be > 0 seconds, got {v!r}")
            if not math.isfinite(v):
                raise ConfigError(f"{where}: {fname} must be finite, got {v!r}")
        key = tuple(self.key) if not isinstance(self.key, str) else (self.key,)
        if not key:
            raise ConfigError(f"{where}: key is empty; use ('global',) for one shared counter")
        for k in key:
            if k not in KEY_ATTRIBUTES and not (k.startswith("tags.") and len(k) > 5):
                raise ConfigError(
                    f"{where}: unknown key attribute {k!r}; use any of "
                    f"{', '.join(sorted(KEY_ATTRIBUTES))} or tags.<name>"
                )
        if len(set(key)) != len(key) or ("global" in key and len(key) > 1):
            raise ConfigError(f"{where}: key {key!r} repeats an attribute or mixes 'global' in")
        name = self.name or (
            "concurrent" if self.metric == "concurrent" else f"{self.metric}_per_{self.per}"
        )
        if not name or any(c in name for c in "|\n"):
            raise ConfigError(f"{where}: name must be non-empty, without '|' or newlines")
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "amount", float(a))
        parts = tuple("run_id" if k == "run" else k for k in key if k != "global")
        object.__setattr__(self, "_parts", parts)

    # ------------------------------------------------------------------ derived facts

    @property
    def algorithm(self) -> int:
        if self.metric == "concurrent":
            return ALGO_LEASE
        return ALGO_GCRA if self.per in PERIOD_SECONDS else ALGO_WINDOW

    @property
    def period_code(self) -> float:
        """Seconds for rolling rates, the window kind for calendar budgets, the lease TTL."""
        if self.metric == "concurrent":
            return self.lease_seconds
        if self.per in PERIOD_SECONDS:
            return PERIOD_SECONDS[self.per]
        return WINDOW_DAY if self.per == "day" else WINDOW_MONTH

    def storage_key(
        self, context: CallContext, endpoint: str | None = None, model: str | None = None
    ) -> str:
        """The counter this call belongs to: the limit's name plus each key attribute's value
        (percent-encoded; ``-`` when the context does not set it, which groups those calls)."""
        if not self._parts:
            return self.name
        out = [self.name]
        for attr in self._parts:
            if attr == "endpoint":
                v = endpoint
            elif attr == "model":
                v = model
            else:
                v = context.get(attr)
            out.append(f"{attr}={_ABSENT if v is None else quote(str(v), safe='')}")
        return "|".join(out)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def requests(cls, amount: float, per: Period = "minute", **kw: object) -> Limit:
        return cls("requests", amount, per, **kw)  # type: ignore[arg-type]

    @classmethod
    def tokens(cls, amount: float, per: Period = "day", **kw: object) -> Limit:
        return cls("tokens", amount, per, **kw)  # type: ignore[arg-type]

    @classmethod
    def cost(cls, dollars: float, per: Period = "day", **kw: object) -> Limit:
        return cls("cost", dollars, per, **kw)  # type: ignore[arg-type]

    @classmethod
    def concurrent(cls, amount: int, **kw: object) -> Limit:
        return cls("concurrent", amount, None, **kw)  # type: ignore[arg-type]
