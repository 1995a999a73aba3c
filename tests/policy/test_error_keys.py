"""A user's key is reported as the user wrote it, wherever it is and whatever it looks like.

pydantic puts union-branch tags in error locations (``str``, ``none``, a model's class name,
``function-after[...]``, ``literal[...]``); the loader drops them so paths read like the
document. A key of the user's own that happens to look like a tag (``[x``, ``none``,
``Metadata``, ``literal:x``) is never one of them: it is reported as an unknown key with its
path, and only :class:`~aiguard.errors.PolicyError` leaves the loader.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from aiguard.errors import PolicyError
from aiguard.policy import Policy

TAG_LIKE = ["[", "a[", "[x", "none", "str", "int", "Metadata", "literal:x", "literal-x",
            "function-after", "list[str]"]  # fmt: skip


def _problems(doc: dict[str, Any]) -> str:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict(doc)
    return str(info.value)


@pytest.mark.parametrize("key", TAG_LIKE)
def test_top_level_key_is_reported(key: str) -> None:
    text = _problems({"apiVersion": "v1", key: 1})
    assert f"unknown key {key!r}" in text


@pytest.mark.parametrize("key", TAG_LIKE)
def test_nested_key_is_reported_with_its_path(key: str) -> None:
    text = _problems({"spec": {key: 1}})
    assert f"unknown key {key!r}" in text
    assert "spec" in text.split("unknown key")[0]
    assert "did you mean 'spec'" not in text


@pytest.mark.parametrize("key", ["none", "str", "Metadata", "[x"])
def test_deep_key_keeps_the_whole_path(key: str) -> None:
    text = _problems({"spec": {"rateLimit": {key: 1}}})
    assert "spec.rateLimit" in text
    assert f"unknown key {key!r}" in text


@pytest.mark.parametrize("name", ["none", "str", "Metadata"])
def test_mapping_key_that_looks_like_a_tag_stays_in_the_path(name: str) -> None:
    """A topic named like a tag: the problem inside it names the topic."""
    doc = {"spec": {"contentModeration": {"topics": {name: {"threshold": "high"}}}}}
    text = _problems(doc)
    assert f"spec.contentModeration.topics.{name}.threshold: expected a number" in text


def test_union_tags_are_still_dropped() -> None:
    doc = {"spec": {"contentModeration": {"blockList": [5, {"phrase": "x", "bogus": 1}]}}}
    text = _problems(doc)
    assert "spec.contentModeration.blockList[0]: expected" in text
    assert "spec.contentModeration.blockList[1].bogus: unknown key 'bogus'" in text
    for tag in ("str", "BlockEntry", "function-"):
        assert tag not in text


def test_override_spec_key_is_reported() -> None:
    doc = {"spec": {"overrides": [{"match": {"tenant": "t"}, "spec": {"none": 1}}]}}
    assert "spec.overrides[0].spec.none: unknown key 'none'" in _problems(doc)


@pytest.mark.parametrize("key", TAG_LIKE)
def test_only_policy_error_leaves_every_loader(key: str) -> None:
    doc = {"spec": {key: 1}, key: None}
    with pytest.raises(PolicyError):
        Policy.from_dict(doc)
    with pytest.raises(PolicyError):
        Policy.from_yaml(yaml.safe_dump(doc))
    with pytest.raises(PolicyError):
        Policy.coerce(doc)
