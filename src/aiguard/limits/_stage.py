"""The pipeline's admit/settle stage: a thin adapter from a ``Call`` to a ``Limiter``.

Admission happens after routing, so the first endpoint of the plan names the ``endpoint``
and ``model`` key attributes and the model whose tokenizer and price make the estimate.
Stores that do I/O (SQLite, Redis) are reached through ``Io`` effects, so the async client
awaits them natively; the in-memory store is called inline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._call import PROMPT_TOKENS_NOTE
from .._effects import Io
from .._types import Usage
from ._engine import Limiter
from ._records import Admission, Demand, Reservation

if TYPE_CHECKING:
    from .._call import Call

__all__ = ["LimitStage"]

_NOTE = "limits"


class _Note:
    __slots__ = ("demand", "limiter", "reservation")

    def __init__(self, demand: Demand, limiter: Limiter) -> None:
        self.demand = demand
        self.limiter = limiter
        self.reservation: Reservation | None = None


class LimitStage:
    """Implements the pipeline's ``Limiter`` stage protocol over a ``Limiter``."""

    def __init__(
        self, limiter: Limiter, *, select: Callable[[Call], Limiter | None] | None = None
    ) -> None:
        """``select`` picks the limiter for one call (a policy override that changes the
        limits gets its own); ``None`` from it means the call is not limited."""
        self.limiter = limiter
        self._select = select

    def _demand(self, call: Call, limiter: Limiter) -> Demand:
        first = call.plan[0] if call.plan else None
        endpoint = first.name if first is not None else call.model
        model = first.model if first is not None else call.model
        # Routing may have counted this very prompt for this model (a context-window check on
        # a long prompt, where a count is dearest): use its count rather than count again.
        counted = call.notes.get(PROMPT_TOKENS_NOTE)
        known = counted.get(model) if counted and model else None
        return limiter.demand(
            call.context, endpoint=endpoint, model=model, request=call.request, prompt_tokens=known
        )

    def admit(self, call: Call) -> float | Io | None:
        note: _Note | None = call.notes.get(_NOTE)
        if note is None:
            chosen = self._select(call) if self._select is not None else self.limiter
            if chosen is None:
                return None
            note = call.notes[_NOTE] = _Note(self._demand(call, chosen), chosen)
        elif note.reservation is not None:
            return None  # admitted for a later slot, and the pipeline has now waited for it
        lim = note.limiter
        demand = note.demand
        if not lim.store.native_async:
            return self._decided(note, lim.admit(demand))

        async def admit_async() -> float | None:
            return self._decided(note, await lim.aadmit(demand))

        return Io(lambda: self._decided(note, lim.admit(demand)), admit_async)

    @staticmethod
    def _decided(note: _Note, a: Admission) -> float | None:
        if a.reservation is None:
            note.demand = note.demand.after_waiting(a.wait)
            return a.wait
        note.reservation = a.reservation
        return a.wait if a.wait > 0 else None

    def settle(self, call: Call, usage: Usage | None) -> Io | None:
        note: _Note | None = call.notes.get(_NOTE)
        if note is None or note.reservation is None:
            return None
        res = note.reservation
        sent = bool(call.attempts)
        model = call.endpoint.model if call.endpoint is not None else note.demand.model
        if usage is not None and usage.estimated and usage.input_tokens == 0:
            # An interrupted stream without provider usage still consumed its prompt.
            usage = usage.model_copy(update={"input_tokens": note.demand.prompt_tokens})
        lim = note.limiter
        if not lim.store.native_async:
            lim.settle(res, usage, model=model, sent=sent)
            return None

        def settle_sync() -> Any:
            lim.settle(res, usage, model=model, sent=sent)

        async def settle_async() -> Any:
            await lim.asettle(res, usage, model=model, sent=sent)

        return Io(settle_sync, settle_async)
