"""Costs are right for known models, unknown models are never priced by guesswork."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from aiguard._tokens import _encodings
from aiguard._types import Usage
from aiguard.errors import ConfigError
from aiguard.tokens import Price, PriceTable, UnknownModelPriceWarning, cost, normalize_model


def test_cost_of_openai_call_with_cached_input() -> None:
    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cached_input_tokens=400_000)
    # gpt-4o-mini: 0.15 in, 0.60 out, 0.075 cached
    assert PriceTable().cost("gpt-4o-mini", u) == pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 0.60)


def test_anthropic_cache_writes_and_reads_are_priced() -> None:
    u = Usage(
        input_tokens=1_000_000, cached_input_tokens=500_000, cache_creation_input_tokens=100_000
    )
    assert PriceTable().cost("claude-sonnet-4-5", u) == pytest.approx(
        0.4 * 3.0 + 0.5 * 0.30 + 0.1 * 3.75
    )


@pytest.mark.parametrize(
    ("model_id", "name"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("amazon.nova-pro-v1:0", "amazon.nova-pro"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ],
)
def test_provider_model_ids_find_their_price(model_id: str, name: str) -> None:
    assert normalize_model(model_id) == name
    assert model_id in PriceTable()


def test_unknown_model_warns_once_and_cost_is_none() -> None:
    table = PriceTable()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert table.cost("my-private-model", Usage(input_tokens=10)) is None
        assert table.cost("my-private-model", Usage(input_tokens=10)) is None
    assert len([w for w in caught if w.category is UnknownModelPriceWarning]) == 1
    assert "my-private-model" in str(caught[0].message)


def test_user_overrides_win_and_add_models() -> None:
    table = PriceTable({"gpt-4o": Price(1.0, 2.0), "my-ft": {"input": 3, "output": 4}})
    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert table.cost("gpt-4o-2024-11-20", u) == pytest.approx(3.0)
    assert table.cost("my-ft", u) == pytest.approx(7.0)
    assert cost("gpt-4o", u) == pytest.approx(12.5)  # the default table is untouched


@pytest.mark.parametrize(
    "bad",
    [
        {"x": {"input": -1, "output": 1}},
        {"x": {"input": 1}},
        {"x": {"input": 1, "output": 1, "typo": 2}},
        {"x": {"input": float("nan"), "output": 1}},
        {"": Price(1, 1)},
    ],
)
def test_bad_prices_are_config_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        PriceTable(bad)  # type: ignore[arg-type]


def test_corrupted_encoding_file_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _encodings.ENCODINGS["cl100k_base"]
    monkeypatch.setitem(
        _encodings.ENCODINGS, "cl100k_base", dataclasses.replace(spec, sha256="0" * 64)
    )
    with pytest.raises(ConfigError, match=r"cl100k_base\.tiktoken is corrupted"):
        _encodings._Loader().get("cl100k_base")
