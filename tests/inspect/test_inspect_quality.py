"""Detection quality on a generated, labelled corpus (Faker PII in varied templates, plus
hard negatives): precision and recall of each structured entity must stay >= 0.98.
``bench/bench_inspect.py`` prints the same table on a larger corpus."""

from __future__ import annotations

import pytest

pytest.importorskip("faker")

from inspect_corpus import ENTITIES, generate, score

from aiguard.inspect import ContentInspector

ENGINE = ContentInspector({"pii": {"action": "flag"}, "secrets": {"action": "flag"}})


def detect(text: str) -> list[tuple[int, int, str]]:
    return [
        (f.start, f.end, f.category.split(".", 1)[1])
        for f in ENGINE.scan(text)
        if f.category.startswith("pii.")
    ]


def test_precision_and_recall_per_entity() -> None:
    results = score(generate(per_entity=150, seed=2024, negatives=400), detect)
    low = {e: r[:2] for e, r in results.items() if r[0] < 0.98 or r[1] < 0.98}
    assert set(results) == set(ENTITIES)
    assert low == {}, low


def test_hard_negatives_raise_no_secret_findings() -> None:
    negatives = [s.text for s in generate(per_entity=0, seed=7, negatives=300)]
    hits = [f.category for t in negatives for f in ENGINE.scan(t)]
    assert hits == []
