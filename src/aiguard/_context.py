"""Who is calling, from where, and why: the facts every policy step decides on.

The ambient context lives in a ``contextvars.ContextVar`` so it follows ``await`` and tasks,
and threads started with ``contextvars.copy_context().run``. Nested ``aiguard.context(...)``
blocks merge: inner values win, scopes and tags are combined.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import InvalidRequestError

__all__ = ["CallContext", "context", "current_context"]


@dataclass(frozen=True, slots=True)
class CallContext:
    """The principal and circumstances of a call.

    ``route`` names the application feature making the call; ``run_id`` ties the calls of one
    agent run together (per-run budgets); ``data_classification`` is what routing rules use for
    data residency (``"private"``, ``"public"``...).
    """

    user: str | None = None
    tenant: str | None = None
    region: str | None = None
    scopes: frozenset[str] = frozenset()
    tags: Mapping[str, str] = field(default_factory=dict)
    route: str | None = None
    run_id: str | None = None
    data_classification: str | None = None

    def merged(self, other: CallContext | None) -> CallContext:
        """``other`` layered over ``self``: set fields win, scopes and tags are combined."""
        if other is None or other is _EMPTY:
            return self
        if self is _EMPTY:
            return other
        return CallContext(
            user=other.user if other.user is not None else self.user,
            tenant=other.tenant if other.tenant is not None else self.tenant,
            region=other.region if other.region is not None else self.region,
            scopes=self.scopes | other.scopes,
            tags={**self.tags, **other.tags},
            route=other.route if other.route is not None else self.route,
            run_id=other.run_id if other.run_id is not None else self.run_id,
            data_classification=(
                other.data_classification
                if other.data_classification is not None
                else self.data_classification
            ),
        )

    def get(self, attribute: str) -> Any:
        """An attribute by name, or a tag with ``tags.<name>``; rule matching uses this."""
        if attribute.startswith("tags."):
            return self.tags.get(attribute[5:])
        if attribute in _FIELDS:
            return getattr(self, attribute)
        return self.tags.get(attribute)

    def with_values(self, **values: Any) -> CallContext:
        return replace(self, **values)

    @classmethod
    def build(
        cls,
        *,
        user: str | None = None,
        tenant: str | None = None,
        region: str | None = None,
        scopes: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        route: str | None = None,
        run_id: str | None = None,
        data_classification: str | None = None,
    ) -> CallContext:
        if isinstance(scopes, str):
            raise InvalidRequestError(
                f"scopes must be a set of scope names, not the string {scopes!r}; "
                f"write scopes={{{scopes!r}}}"
            )
        if tags is not None and not isinstance(tags, Mapping):
            raise InvalidRequestError(f"tags must be a mapping, got {type(tags).__name__}")
        return cls(
            user=user,
            tenant=tenant,
            region=region,
            scopes=frozenset(scopes or ()),
            tags=dict(tags or {}),
            route=route,
            run_id=run_id,
            data_classification=data_classification,
        )


_FIELDS = frozenset(CallContext.__dataclass_fields__)
_EMPTY = CallContext()
_current: contextvars.ContextVar[CallContext] = contextvars.ContextVar(
    "aiguard_context", default=_EMPTY
)


def current_context() -> CallContext:
    """The ambient context of this task or thread (empty when none was set)."""
    return _current.get()


@contextmanager
def context(
    *,
    user: str | None = None,
    tenant: str | None = None,
    region: str | None = None,
    scopes: Iterable[str] | None = None,
    tags: Mapping[str, str] | None = None,
    route: str | None = None,
    run_id: str | None = None,
    data_classification: str | None = None,
) -> Iterator[CallContext]:
    """Set who is calling for every aiguard call made inside the block.

    >>> with aiguard.context(user="u-42", tenant="acme", region="EU", scopes={"ai.read"}):
    ...     client.chat("Hi", model="chat-default")
    """
    layer = CallContext.build(
        user=user,
        tenant=tenant,
        region=region,
        scopes=scopes,
        tags=tags,
        route=route,
        run_id=run_id,
        data_classification=data_classification,
    )
    merged = _current.get().merged(layer)
    token = _current.set(merged)
    try:
        yield merged
    finally:
        _current.reset(token)


def resolve_context(explicit: CallContext | Mapping[str, Any] | None) -> CallContext:
    """Step 1 of the pipeline: the ambient context with the per-call one layered over it."""
    ambient = _current.get()
    if explicit is None:
        return ambient
    if isinstance(explicit, Mapping):
        try:
            explicit = CallContext.build(**explicit)
        except TypeError as e:
            raise InvalidRequestError(
                f"context: {e}; valid keys: {', '.join(sorted(_FIELDS))}"
            ) from None
    elif not isinstance(explicit, CallContext):
        raise InvalidRequestError(
            f"context must be a CallContext or a dict, got {type(explicit).__name__}"
        )
    return ambient.merged(explicit)
