"""``@aiguard.guard``: the policy around a function of yours that calls a model.

Most applications already have functions that call an LLM through an official SDK or their
own HTTP code. Rewriting them onto ``aiguard.Client`` is not always possible, so the guard
applies everything aiguard does around the *send* step without owning it: the call context,
authorization, inspection of the arguments that carry prompts (a block raises before the
function runs; a redaction rewrites the argument), inspection of what comes back (chunk by
chunk for generators), rate limits and budgets, retries on provider errors (including the
official SDKs' exceptions), one OpenTelemetry span and one audit record per call, and
optional memoisation. The policy logic is the pipeline's own stages (see
``aiguard._guard._runtime``); the four kinds of functions share one sans-IO flow.

    @aiguard.guard(policy="policy.yaml", inputs=("prompt",))
    def answer(prompt: str) -> str:
        return openai_client.chat.completions.create(...).choices[0].message.content
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Literal, ParamSpec, TypeVar, overload

from ._context import CallContext
from ._guard._drivers import drive, drive_async, drive_async_gen, drive_gen
from ._guard._flow import GuardCore, check_inputs
from ._guard._runtime import Runtime
from .errors import ConfigError

__all__ = ["DEFAULT_INPUTS", "Governor", "guard"]

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_INPUTS = ("prompt", "messages")
"""The argument names inspected when ``inputs=`` is not given."""
DEFAULT_MEMO_TTL = 300.0
DEFAULT_MEMO_SIZE = 1024


@overload
def guard(client_or_policy: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def guard(
    client_or_policy: Any = None,
    /,
    *,
    policy: Any = None,
    client: Any = None,
    inputs: Sequence[str] | None = None,
    output: bool = True,
    context: CallContext | Mapping[str, Any] | None = None,
    scopes: Collection[str] = (),
    operation: Literal["chat", "embeddings"] = "chat",
    model: str | None = None,
    retries: int = 0,
    memoize: bool | float | Any = False,
    telemetry: Any = None,
    moderator: Any = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    async_sleep: Callable[[float], Awaitable[None]] | None = None,
    rng: Any = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def guard(
    client_or_policy: Any = None,
    /,
    *,
    policy: Any = None,
    client: Any = None,
    inputs: Sequence[str] | None = None,
    output: bool = True,
    context: CallContext | Mapping[str, Any] | None = None,
    scopes: Collection[str] = (),
    operation: Literal["chat", "embeddings"] = "chat",
    model: str | None = None,
    retries: int = 0,
    memoize: bool | float | Any = False,
    telemetry: Any = None,
    moderator: Any = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    async_sleep: Callable[[float], Awaitable[None]] | None = None,
    rng: Any = None,
) -> Any:
    """Guard a function that calls a model (sync, ``async``, generator or async generator;
    also methods, ``classmethod`` and ``staticmethod``).

    ``client_or_policy`` (or ``policy=``/``client=``): the ``Policy`` (object, path, YAML
    text or dict), the aiguard ``Client`` or the :class:`Governor` whose stages govern the
    calls; ``None`` applies telemetry and retries only. ``inputs``: names of the arguments
    that carry prompts (strings or message lists), inspected before the function runs; the default
    ``("prompt", "messages")`` must match at least one parameter. ``output``: inspect the
    return value or each yielded chunk. ``context``: defaults for the call context (the
    ambient ``aiguard.context(...)`` wins over them). ``scopes``: scopes the caller must hold
    for this function, on top of the policy's. ``operation``/``model``: what the policy
    resolves rules, limits and token estimates for. ``retries``: retries after the first
    attempt on retryable provider errors (429, 5xx, timeouts, connection errors; official
    SDK exceptions included). ``memoize``: ``True`` (5 minutes), a TTL in seconds, or a
    ``cachetools`` cache; results are keyed on the inspected arguments and the caller's
    context. ``telemetry``: a ``Telemetry`` (tests pass in-memory providers). ``moderator``:
    a model-based :class:`~aiguard.inspect.Moderator`, run under the policy's
    ``contentModeration.moderator`` settings on the prompts and (with ``output``) the answer
    or the stream; a ``Client``'s or ``Governor``'s own applies without it. ``clock``,
    ``sleep``, ``async_sleep`` and ``rng`` are injectable for tests.
    """
    if callable(client_or_policy) and _is_guardable(client_or_policy):
        return guard()(client_or_policy)
    runtime = runtime_for(client_or_policy, policy, client, telemetry, clock, moderator)
    retry = runtime.retry_policy(retries, rng)
    if isinstance(inputs, str):
        raise ConfigError(f"guard: inputs must be a tuple of names, e.g. inputs=({inputs!r},)")
    if operation not in ("chat", "embeddings"):
        raise ConfigError(f"guard: operation must be 'chat' or 'embeddings', got {operation!r}")
    if isinstance(scopes, str):
        raise ConfigError(f"guard: scopes must be a set of names, e.g. scopes={{{scopes!r}}}")
    explicit = inputs is not None
    names = tuple(inputs) if inputs is not None else DEFAULT_INPUTS
    ctx = _context(context)
    memo = _memo(memoize, runtime.clock)
    sync_sleep = sleep or time.sleep
    asleep = async_sleep or asyncio.sleep

    def decorate(fn: Any) -> Any:
        if isinstance(fn, (classmethod, staticmethod)):
            return type(fn)(decorate(fn.__func__))
        if isinstance(fn, property) or not _is_guardable(fn):
            raise ConfigError(
                f"guard can wrap functions, methods, classmethods and staticmethods, not "
                f"{_describe(fn)}; guard the function that calls the model"
            )
        check_inputs(fn, names, explicit)
        core = GuardCore(
            fn,
            runtime,
            inputs=names,
            output=output,
            context=ctx,
            scopes=frozenset(scopes),
            operation=operation,
            model=model,
            memo=memo,
            retry=retry,
        )
        if memo is not None and (inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)):
            raise ConfigError("guard: memoize= does not apply to generator functions")
        wrapper = _wrapper(core, fn, sync_sleep, asleep)
        wrapped = functools.wraps(fn)(wrapper)
        wrapped.__aiguard_guard__ = core  # type: ignore[attr-defined]
        return wrapped

    return decorate


def _wrapper(
    core: GuardCore,
    fn: Callable[..., Any],
    sleep: Callable[[float], None],
    asleep: Callable[[float], Awaitable[None]],
) -> Callable[..., Any]:
    """The one wrapper for ``fn``'s kind; each only chooses how effects are performed."""
    if inspect.isasyncgenfunction(fn):

        async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            inner = drive_async_gen(core.run_stream(args, kwargs), fn, asleep)
            try:
                async for item in inner:
                    yield item
            finally:
                await inner.aclose()

        return agen_wrapper
    if inspect.iscoroutinefunction(fn):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await drive_async(core.run(args, kwargs), fn, asleep)

        return async_wrapper
    if inspect.isgeneratorfunction(fn):

        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            return (yield from drive_gen(core.run_stream(args, kwargs), fn, sleep))

        return gen_wrapper

    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        return drive(core.run(args, kwargs), fn, sleep)

    return sync_wrapper


class Governor:
    """One policy's stages, shared by every function and SDK client it governs.

    Each ``guard(policy=...)`` call builds its own stages, so two functions decorated that
    way count rate limits separately and write to separate audit logs. A ``Governor`` is
    built once and shared: every ``governor.guard(...)`` function and every
    ``governor.http_client()`` counts against the same limits and records to the same log::

        governor = aiguard.Governor("policy.yaml")

        @governor.guard(inputs=("question",))
        def answer(question: str) -> str: ...

        sdk = openai.OpenAI(http_client=governor.http_client(), max_retries=0)
    """

    def __init__(
        self,
        policy: Any = None,
        *,
        client: Any = None,
        telemetry: Any = None,
        clock: Callable[[], float] | None = None,
        moderator: Any = None,
    ) -> None:
        self.runtime = Runtime(
            policy=policy, client=client, telemetry=telemetry, clock=clock, moderator=moderator
        )

    @property
    def policy(self) -> Any:
        """The ``Policy`` this governor applies (``None`` without one)."""
        return self.runtime.policy

    @overload
    def guard(self, fn: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def guard(
        self, fn: None = None, /, **options: Any
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def guard(self, fn: Any = None, /, **options: Any) -> Any:
        """``aiguard.guard`` with this governor's stages: ``@governor.guard`` or
        ``@governor.guard(inputs=..., retries=...)``."""
        if fn is not None:
            return guard(self, **options)(fn)
        return guard(self, **options)

    def http_client(self, **options: Any) -> Any:
        """``aiguard.http_client`` with this governor's stages."""
        from .sdk import http_client

        return http_client(self, **options)

    def async_http_client(self, **options: Any) -> Any:
        """``aiguard.async_http_client`` with this governor's stages."""
        from .sdk import async_http_client

        return async_http_client(self, **options)

    def close(self) -> None:
        """Flush and close the audit log built from the policy."""
        self.runtime.close()

    def __enter__(self) -> Governor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def runtime_for(
    client_or_policy: Any,
    policy: Any,
    client: Any,
    telemetry: Any,
    clock: Callable[[], float] | None,
    moderator: Any = None,
) -> Runtime:
    """The stages a guard or an SDK client uses: a ``Governor``'s, a client's, or new ones
    built from a policy."""
    if client_or_policy is not None:
        if policy is not None or client is not None:
            raise ConfigError("pass the policy, client or governor once")
        if isinstance(client_or_policy, Governor):
            if telemetry is not None or clock is not None or moderator is not None:
                raise ConfigError("telemetry=, clock= and moderator= belong to the Governor")
            return client_or_policy.runtime
        if hasattr(client_or_policy, "_core"):
            client = client_or_policy
        else:
            policy = client_or_policy
    return Runtime(
        policy=policy, client=client, telemetry=telemetry, clock=clock, moderator=moderator
    )


def _is_guardable(obj: Any) -> bool:
    if isinstance(obj, (type, property)) or not callable(obj):
        return False
    if isinstance(obj, (classmethod, staticmethod)):
        return True
    try:
        inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    return True


def _describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__qualname__} (decorate its methods instead)"
    if isinstance(obj, property):
        return "a property"
    return f"{type(obj).__name__} {obj!r:.60}"


def _context(context: CallContext | Mapping[str, Any] | None) -> CallContext:
    if context is None:
        return CallContext()
    if isinstance(context, CallContext):
        return context
    if isinstance(context, Mapping):
        try:
            return CallContext.build(**context)
        except TypeError as e:
            raise ConfigError(f"guard: context: {e}") from None
    raise ConfigError(f"guard: context must be a dict or CallContext, got {type(context).__name__}")


def _memo(memoize: Any, clock: Callable[[], float]) -> Any:
    if memoize is False or memoize is None:
        return None
    from cachetools import Cache, TTLCache

    if isinstance(memoize, Cache):
        return memoize
    if memoize is True:
        ttl = DEFAULT_MEMO_TTL
    elif isinstance(memoize, (int, float)) and not isinstance(memoize, bool) and memoize > 0:
        ttl = float(memoize)
    else:
        raise ConfigError(
            f"guard: memoize must be True, a TTL in seconds or a cachetools cache, got {memoize!r}"
        )
    return TTLCache(maxsize=DEFAULT_MEMO_SIZE, ttl=ttl, timer=clock)
