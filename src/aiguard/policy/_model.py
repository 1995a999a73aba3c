"""The base every policy section shares, and the constrained types its fields use.

Sections are frozen so a resolved policy cannot change under a cached decision; keys are
camelCase in documents and snake_case in Python because both audiences expect their own
convention. Numbers are strict: ``"60"`` in a policy is a typo to report, not a value to guess.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt
from pydantic.alias_generators import to_camel

__all__ = ["PositiveFloat", "PositiveInt", "ScopeList", "Section"]


class Section(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        use_attribute_docstrings=True,
        defer_build=True,
    )

    def __eq__(self, other: object) -> bool:
        # Fields only: private attributes hold compiled matchers and memo tables, which
        # differ between two loads of the same document.
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in type(self).model_fields)

    __hash__ = None  # type: ignore[assignment]  # sections hold dicts; Policy hashes by content


PositiveInt: TypeAlias = Annotated[StrictInt, Field(gt=0)]
PositiveFloat: TypeAlias = Annotated[StrictFloat | StrictInt, Field(gt=0)]
ScopeList: TypeAlias = tuple[Annotated[str, Field(min_length=1)], ...]
