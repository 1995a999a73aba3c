"""What the limiter hands out and takes back: a call's demand, its reservation, the
admission answer, and usage reports. Kept apart from the engine that computes them."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

__all__ = ["Admission", "Demand", "LimitUsage", "LimiterStats", "Reservation"]


@dataclass(frozen=True, slots=True, init=False)
class Demand:
    """What one call asks of every limit: built by ``Limiter.demand``; pass it to ``admit``.

    ``waited`` is how long this call has already waited in ``wait`` mode; the stage adds to
    it so that ``max_wait`` bounds the total, not each wait.
    """

    keys: tuple[str, ...]
    costs: tuple[float, ...]
    model: str | None
    tokens: int
    """Estimated total tokens (prompt + output allowance) reserved on token limits."""
    dollars: float | None
    waited: float = 0.0
    prompt_tokens: int = 0

    def __init__(
        self,
        keys: tuple[str, ...],
        costs: tuple[float, ...],
        model: str | None,
        tokens: int,
        dollars: float | None,
        waited: float = 0.0,
        prompt_tokens: int = 0,
    ) -> None:
        # The generated frozen __init__ goes through object.__setattr__ once per field, a
        # third of the whole admission's cost; the slots' own descriptors store the same
        # values without it (a Demand is built for every call).
        _set_keys(self, keys)
        _set_costs(self, costs)
        _set_model(self, model)
        _set_tokens(self, tokens)
        _set_dollars(self, dollars)
        _set_waited(self, waited)
        _set_prompt_tokens(self, prompt_tokens)

    def after_waiting(self, seconds: float) -> Demand:
        return replace(self, waited=self.waited + seconds)


(
    _set_keys,
    _set_costs,
    _set_model,
    _set_tokens,
    _set_dollars,
    _set_waited,
    _set_prompt_tokens,
) = (vars(Demand)[f.name].__set__ for f in fields(Demand))


class Reservation:
    """Capacity held for one call until ``Limiter.settle``/``release``; settles only once."""

    __slots__ = ("_once", "demand", "enforced", "lease_id", "tokens")

    def __init__(
        self, demand: Demand, tokens: list[float | str], lease_id: str, enforced: bool = True
    ) -> None:
        self.demand = demand
        self.tokens = tokens
        self.lease_id = lease_id
        self.enforced = enforced
        """False when admitted without counting because the store was down (fail-open)."""
        self._once = [True]

    @property
    def settled(self) -> bool:
        return not self._once

    def _claim(self) -> bool:
        # list.pop is atomic, so exactly one of several racing settles wins, without a lock.
        try:
            return self._once.pop()
        except IndexError:
            return False


class Admission:
    """``reservation`` set: admitted; sleep ``wait`` seconds first if it is > 0 (a rate slot
    reserved in the near future, FIFO). ``reservation`` None: nothing reserved; wait ``wait``
    seconds and ask again with ``demand.after_waiting(wait)``."""

    __slots__ = ("reservation", "wait")

    def __init__(self, reservation: Reservation | None, wait: float = 0.0) -> None:
        self.reservation = reservation
        self.wait = wait

    def __repr__(self) -> str:
        return f"Admission(reservation={self.reservation!r}, wait={self.wait!r})"


@dataclass(frozen=True, slots=True)
class LimitUsage:
    """Consumption of one limit for one key. ``resets_at`` (epoch seconds) is the end of the
    calendar window for budgets and when the bucket will be empty for rates."""

    limit: str
    key: str
    metric: str
    per: str | None
    amount: float
    used: float
    reserved: float
    remaining: float
    resets_at: float | None


@dataclass
class LimiterStats:
    fail_open_admits: int = 0
    settle_failures: int = 0
