"""Scoped overrides: partial ``spec`` changes that apply when a call matches.

An override's ``spec`` is merged into the policy's with the layering rules (mappings key by
key, lists and scalars replaced). Every override is validated at load time as if it applied
alone, so a typo in a rarely matching override is still caught before the first call.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ._model import Section
from .matching import Match

__all__ = ["OverrideRule"]


class OverrideRule(Section):
    """``match`` -> partial ``spec``. Later matching overrides win over earlier ones."""

    name: str | None = None
    """Shown by ``explain`` and in audit records; defaults to ``overrides[<index>]``."""
    match: Match = Match()
    """Conditions on tenant, region, route, endpoint, model, tags...; empty: every call."""
    spec: dict[str, Any] = Field(default_factory=dict)
    """Any part of ``spec`` except ``overrides``, in the same camelCase form."""

    def label(self, index: int) -> str:
        return self.name or f"overrides[{index}]"
