"""The ``rateLimit`` section: how many requests, tokens and dollars, per whom.

This module only describes and validates limits; ``aiguard.limits`` builds the engine that
counts them. The top-level counts form the first rule (named ``default``); ``limits`` adds
rules with their own keys, so a per-user request rate and a per-tenant budget can coexist.
"""

from __future__ import annotations

import difflib
from typing import Literal, TypeAlias

from pydantic import Field, field_validator, model_validator

from ._model import PositiveFloat, PositiveInt, Section

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

__all__ = ["KEY_ATTRIBUTES", "LimitKey", "LimitRule", "LimitStore", "RateLimitSpec"]

LimitKey: TypeAlias = str
"""``global``, or attributes among ``tenant``, ``user``, ``region``, ``endpoint``, ``model``,
``route``, ``run`` and ``tags.<name>``."""
KEY_ATTRIBUTES = ("global", "tenant", "user", "region", "endpoint", "model", "route", "run")

_COUNTS = (
    "requests_per_minute",
    "requests_per_day",
    "tokens_per_minute",
    "tokens_per_day",
    "cost_per_day",
    "cost_per_month",
    "max_concurrent",
)
DEFAULT_KEY: tuple[LimitKey, ...] = ("tenant", "user")


def _check_key(key: tuple[str, ...]) -> list[str]:
    problems = []
    for i, k in enumerate(key):
        if k not in KEY_ATTRIBUTES and not (k.startswith("tags.") and len(k) > 5):
            near = difflib.get_close_matches(k, KEY_ATTRIBUTES, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            problems.append(
                f"[{i}]: unknown attribute {k!r}; {hint}use {', '.join(KEY_ATTRIBUTES)} "
                "or tags.<name>"
            )
    if not key:
        problems.append(": is empty; use [global] for one counter shared by every call")
    if len(set(key)) != len(key):
        problems.append(": lists an attribute twice")
    if "global" in key and len(key) > 1:
        problems.append(": 'global' cannot be combined with other attributes")
    return problems


class _Counts(Section):
    requests_per_minute: PositiveInt | None = None
    """Calls started per minute (sliding window)."""
    requests_per_day: PositiveInt | None = None
    """Calls started per calendar day (UTC)."""
    tokens_per_minute: PositiveInt | None = None
    """Input plus output tokens; a call reserves its estimate and settles the real usage."""
    tokens_per_day: PositiveInt | None = None
    """Input plus output tokens per calendar day (UTC)."""
    cost_per_day: PositiveFloat | None = None
    """US dollars per calendar day (UTC), computed from the price table."""
    cost_per_month: PositiveFloat | None = None
    """US dollars per calendar month (UTC)."""
    max_concurrent: PositiveInt | None = None
    """Calls in flight at once."""
    key: tuple[LimitKey, ...] = DEFAULT_KEY
    """Which context attributes each counter is kept per: any of ``tenant``, ``user``,
    ``region``, ``endpoint``, ``model``, ``route``, ``run``, ``tags.<name>``; or ``[global]``
    for one counter shared by every call."""

    @field_validator("key")
    @classmethod
    def _valid_key(cls, key: tuple[str, ...]) -> tuple[str, ...]:
        problems = _check_key(key)
        if problems:
            raise ValueError("\n".join(problems))
        return key

    def counts(self) -> dict[str, int | float]:
        """The counts this rule sets, by camelCase name (the form audit records use)."""
        out: dict[str, int | float] = {}
        for name in _COUNTS:
            v = getattr(self, name)
            if v is not None:
                out[_CAMEL[name]] = v
        return out


_CAMEL = {n: _Counts.model_fields[n].alias or n for n in _COUNTS}


class LimitRule(_Counts):
    """One set of limits counted per ``key``."""

    name: str | None = None
    """Shown in errors, ``explain`` and audit records; defaults to ``limits[<index>]``."""

    @model_validator(mode="after")
    def _valid(self) -> LimitRule:
        problems = []
        if not self.counts():
            problems.append(f": sets no limit; give at least one of {', '.join(_CAMEL.values())}")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class LimitStore(Section):
    """Where counters live: ``memory`` (one process), ``sqlite`` (processes on one host) or
    ``redis`` (a fleet)."""

    type: Literal["memory", "sqlite", "redis"] = "memory"
    url: str | None = None
    """Redis URL (``redis://host:6379/0``); required for ``redis``."""
    path: str | None = None
    """SQLite file; required for ``sqlite``."""

    @model_validator(mode="after")
    def _valid(self) -> LimitStore:
        problems = []
        if self.type == "redis" and not self.url:
            problems.append(".url: required for type 'redis' (redis://host:6379/0)")
        if self.type == "sqlite" and not self.path:
            problems.append(".path: required for type 'sqlite' (a file path)")
        if self.type != "redis" and self.url:
            problems.append(f".url: only used by type 'redis', not {self.type!r}")
        if self.url and not self.url.startswith(_REDIS_SCHEMES):
            problems.append(
                f".url: must start with redis://, rediss:// or unix://, got {self.url!r}"
            )
        if self.type != "sqlite" and self.path:
            problems.append(f".path: only used by type 'sqlite', not {self.type!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class RateLimitSpec(_Counts):
    """Limits on requests, tokens, cost and concurrency. No count set: nothing is limited."""

    limits: tuple[LimitRule, ...] = ()
    """More rules, each with its own key: ``[{key: [tenant], costPerDay: 50}]``."""
    mode: Literal["reject", "wait"] = "reject"
    """``reject`` raises ``RateLimited`` at once; ``wait`` waits up to ``maxWait`` first."""
    max_wait: PositiveFloat | None = None
    """Seconds ``wait`` mode may wait before rejecting (default 30)."""
    fail_mode: Literal["closed", "open"] = "closed"
    """If the store fails: ``closed`` refuses calls (``LimitStoreError``), ``open`` allows them."""
    store: LimitStore = Field(default_factory=LimitStore)
    """Where counters live."""

    @model_validator(mode="after")
    def _valid(self) -> RateLimitSpec:
        problems = []
        if self.max_wait is not None and self.mode != "wait":
            problems.append(".maxWait: only applies with mode 'wait'")
        names = [r.name for r in self.limits if r.name]
        if len(set(names)) != len(names) or "default" in names:
            problems.append(".limits: rule names must be unique and not 'default'")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def rules(self) -> tuple[LimitRule, ...]:
        """Every rule to enforce: the top-level counts (``default``) first, if any are set."""
        out: list[LimitRule] = []
        top = {n: getattr(self, n) for n in _COUNTS if getattr(self, n) is not None}
        if top:
            out.append(LimitRule(name="default", key=self.key, **top))
        for i, r in enumerate(self.limits):
            out.append(r if r.name else r.model_copy(update={"name": f"limits[{i}]"}))
        return tuple(out)

    @property
    def effective_max_wait(self) -> float:
        return float(self.max_wait) if self.max_wait is not None else 30.0
