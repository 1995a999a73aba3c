"""What a call costs: a table of list prices per million tokens, overridable per model.

Prices are US dollars per 1,000,000 tokens, public list prices as of late 2025 for standard
(non-batch, non-priority) processing and the shortest context tier. They change; pass your
own with ``PriceTable(overrides={...})``. A model the table does not know is never priced by
guesswork: ``cost`` warns once per model and returns ``None``.
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .._types import Usage
from ..errors import ConfigError

__all__ = ["DEFAULT_PRICES", "Price", "PriceTable", "UnknownModelPriceWarning", "normalize_model"]


class UnknownModelPriceWarning(UserWarning):
    """A model has no price: its tokens are counted, its cost is reported as unknown."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens. ``cached_input`` defaults to ``input`` (no discount known);
    ``cache_write`` (Anthropic prompt-cache writes) defaults to ``input``."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None

    def __post_init__(self) -> None:
        for field in ("input", "output", "cached_input", "cache_write"):
            v = getattr(self, field)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"Price.{field} must be a finite number, got {v!r}")
            if v < 0:
                raise ConfigError(f"Price.{field} must be >= 0 USD per 1M tokens, got {v}")

    def cost(self, usage: Usage) -> float:
        """Dollars for ``usage``. ``input_tokens`` includes cached and cache-write tokens
        (OpenAI's convention, which every aiguard adapter reports)."""
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        written = min(usage.cache_creation_input_tokens, usage.input_tokens - cached)
        plain = usage.input_tokens - cached - written
        cached_price = self.input if self.cached_input is None else self.cached_input
        write_price = self.input if self.cache_write is None else self.cache_write
        total = (
            plain * self.input
            + cached * cached_price
            + written * write_price
            + usage.output_tokens * self.output
        )
        return total / 1_000_000


def _p(i: float, o: float, c: float | None = None, w: float | None = None) -> Price:
    return Price(i, o, c, w)


DEFAULT_PRICES: Mapping[str, Price] = MappingProxyType(
    {
        # OpenAI
        "gpt-5": _p(1.25, 10.0, 0.125),
        "gpt-5-mini": _p(0.25, 2.0, 0.025),
        "gpt-5-nano": _p(0.05, 0.40, 0.005),
        "gpt-4.1": _p(2.0, 8.0, 0.50),
        "gpt-4.1-mini": _p(0.40, 1.60, 0.10),
        "gpt-4.1-nano": _p(0.10, 0.40, 0.025),
        "gpt-4o": _p(2.50, 10.0, 1.25),
        "gpt-4o-mini": _p(0.15, 0.60, 0.075),
        "o1": _p(15.0, 60.0, 7.50),
        "o1-mini": _p(1.10, 4.40, 0.55),
        "o3": _p(2.0, 8.0, 0.50),
        "o3-mini": _p(1.10, 4.40, 0.55),
        "o4-mini": _p(1.10, 4.40, 0.275),
        "gpt-4-turbo": _p(10.0, 30.0),
        "gpt-4": _p(30.0, 60.0),
        "gpt-3.5-turbo": _p(0.50, 1.50),
        "text-embedding-3-small": _p(0.02, 0.0),
        "text-embedding-3-large": _p(0.13, 0.0),
        "text-embedding-ada-002": _p(0.10, 0.0),
        # Anthropic (cache reads 0.1x input, 5-minute cache writes 1.25x input)
        "claude-opus-4-5": _p(5.0, 25.0, 0.50, 6.25),
        "claude-opus-4-1": _p(15.0, 75.0, 1.50, 18.75),
        "claude-opus-4": _p(15.0, 75.0, 1.50, 18.75),
        "claude-sonnet-4-5": _p(3.0, 15.0, 0.30, 3.75),
        "claude-sonnet-4": _p(3.0, 15.0, 0.30, 3.75),
        "claude-3-7-sonnet": _p(3.0, 15.0, 0.30, 3.75),
        "claude-3-5-sonnet": _p(3.0, 15.0, 0.30, 3.75),
        "claude-haiku-4-5": _p(1.0, 5.0, 0.10, 1.25),
        "claude-3-5-haiku": _p(0.80, 4.0, 0.08, 1.0),
        "claude-3-opus": _p(15.0, 75.0, 1.50, 18.75),
        "claude-3-haiku": _p(0.25, 1.25, 0.03, 0.30),
        # Google Gemini (prompts up to 200k tokens)
        "gemini-2.5-pro": _p(1.25, 10.0, 0.125),
        "gemini-2.5-flash": _p(0.30, 2.50, 0.03),
        "gemini-2.5-flash-lite": _p(0.10, 0.40, 0.01),
        "gemini-2.0-flash": _p(0.10, 0.40, 0.025),
        "gemini-2.0-flash-lite": _p(0.075, 0.30),
        "gemini-1.5-pro": _p(1.25, 5.0),
        "gemini-1.5-flash": _p(0.075, 0.30),
        # Amazon Bedrock first-party models (Anthropic models on Bedrock map to the names above)
        "amazon.nova-pro": _p(0.80, 3.20, 0.20),
        "amazon.nova-lite": _p(0.06, 0.24, 0.015),
        "amazon.nova-micro": _p(0.035, 0.14, 0.00875),
        "meta.llama3-1-70b-instruct": _p(0.72, 0.72),
        "meta.llama3-1-8b-instruct": _p(0.22, 0.22),
        "mistral.mistral-large": _p(2.0, 6.0),
    }
)

_PREFIX = re.compile(r"^(?:openai|azure|anthropic|google|gemini|vertex_ai|bedrock|models)[/:]")
_BEDROCK_REGION = re.compile(r"^(?:us|eu|apac|us-gov|global)\.(?=[a-z]+\.)")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_DATE = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|-latest|-preview|@\d{8})$")


def normalize_model(model: str) -> str:
    """The price-table name of a provider model id.

    ``openai/gpt-4o-2024-08-06`` -> ``gpt-4o``; ``us.anthropic.claude-sonnet-4-20250514-v1:0``
    -> ``claude-sonnet-4``; ``models/gemini-2.5-flash`` -> ``gemini-2.5-flash``.
    """
    m = model.strip().lower()
    m = _PREFIX.sub("", m)
    m = _BEDROCK_REGION.sub("", m)
    m = _BEDROCK_VERSION.sub("", m)
    if m.startswith("anthropic."):
        m = m[len("anthropic.") :]
    for _ in range(2):
        m = _DATE.sub("", m)
    return m


class PriceTable:
    """Model prices with user overrides; ``cost(model, usage)`` is what the pipeline calls.

    Overrides are looked up by the exact model id first, then by its normalized name, so
    ``{"my-finetune": Price(...)}`` and ``{"gpt-4o": Price(...)}`` both work.
    """

    def __init__(
        self,
        overrides: Mapping[str, Price | Mapping[str, float]] | None = None,
        *,
        include_defaults: bool = True,
    ) -> None:
        table: dict[str, Price] = dict(DEFAULT_PRICES) if include_defaults else {}
        for name, price in (overrides or {}).items():
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"price table: model names must be non-empty strings: {name!r}")
            table[name.strip().lower()] = _coerce_price(name, price)
        self._table = table
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._resolved: dict[str, Price | None] = {}

    def price(self, model: str) -> Price | None:
        """The price of ``model``, or ``None`` if neither it nor its normalized name is known."""
        try:
            return self._resolved[model]  # every call prices its model: remember the answer
        except KeyError:
            pass
        key = model.strip().lower()
        p = self._table.get(key)
        if p is None:
            p = self._table.get(normalize_model(key))
        if len(self._resolved) < 4096:
            self._resolved[model] = p
        return p

    def cost(self, model: str, usage: Usage) -> float | None:
        """Dollars for ``usage`` on ``model``; ``None`` (and one warning per model) if unknown."""
        p = self.price(model)
        if p is None:
            self._warn_unknown(model)
            return None
        return p.cost(usage)

    def __call__(self, model: str, usage: Usage) -> float | None:
        return self.cost(model, usage)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.price(model) is not None

    def _warn_unknown(self, model: str) -> None:
        with self._lock:
            if model in self._warned:
                return
            self._warned.add(model)
        warnings.warn(
            f"no price known for model {model!r}: tokens are counted but cost is unknown; "
            f"add it with PriceTable(overrides={{{model!r}: Price(input=..., output=...)}})",
            UnknownModelPriceWarning,
            stacklevel=3,
        )


def _coerce_price(name: str, price: Price | Mapping[str, float]) -> Price:
    if isinstance(price, Price):
        return price
    if isinstance(price, Mapping):
        allowed = {"input", "output", "cached_input", "cache_write"}
        unknown = set(price) - allowed
        if unknown or not {"input", "output"} <= set(price):
            raise ConfigError(
                f"price for {name!r}: give input and output (and optionally cached_input, "
                f"cache_write) in USD per 1M tokens; got keys {sorted(price)}"
            )
        return Price(**price)
    raise ConfigError(
        f"price for {name!r} must be a Price or a mapping, got {type(price).__name__}"
    )
