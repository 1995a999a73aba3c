"""The drivers that run a guarded call's flow (:mod:`._flow`): one for each kind of wrapped
function (plain, ``async``, generator, async generator), each performing the same effects its
own way, and the ``pump`` pair an SDK response body also reads a flow through.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

from .._drive import _Cursor
from .._effects import Io, Sleep
from ._flow import _END, Invoke, Pull, Yield
from ._runtime import Flow

__all__ = [
    "apump",
    "drive",
    "drive_async",
    "drive_async_gen",
    "drive_gen",
    "pump",
]

_DONE = object()  # the flow itself has returned


def _perform(
    eff: Any, fn: Callable[..., Any], sleep: Callable[[float], None], opened: list[Any]
) -> Any:
    if type(eff) is Pull:
        return next(eff.source, _END)
    if type(eff) is Invoke:
        result = fn(*eff.args, **eff.kwargs)
        if inspect.isgenerator(result):
            opened.append(result)
        return result
    if type(eff) is Sleep:
        sleep(eff.seconds)
        return None
    if type(eff) is Io:
        return eff.sync()
    raise TypeError(f"unknown effect {eff!r}")


async def _aperform(
    eff: Any, fn: Callable[..., Any], sleep: Callable[[float], Awaitable[None]], opened: list[Any]
) -> Any:
    if type(eff) is Pull:
        return await anext(eff.source, _END)
    if type(eff) is Invoke:
        result = fn(*eff.args, **eff.kwargs)
        if inspect.isasyncgen(result):
            opened.append(result)
            return result
        return await result
    if type(eff) is Sleep:
        await sleep(eff.seconds)
        return None
    if type(eff) is Io:
        return await eff.async_() if eff.async_ is not None else eff.sync()
    raise TypeError(f"unknown effect {eff!r}")


def drive(flow: Flow, fn: Callable[..., Any], sleep: Callable[[float], None] = time.sleep) -> Any:
    cur = _Cursor(flow)
    while True:
        try:
            eff = cur.resume()
        except StopIteration as stop:
            return stop.value
        try:
            cur.value = _perform(eff, fn, sleep, [])
        except BaseException as e:
            cur.error = e


async def drive_async(
    flow: Flow, fn: Callable[..., Any], sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> Any:
    cur = _Cursor(flow)
    while True:
        try:
            eff = cur.resume()
        except StopIteration as stop:
            return stop.value
        try:
            cur.value = await _aperform(eff, fn, sleep, [])
        except BaseException as e:
            cur.error = e


def _next_effect(cur: _Cursor) -> Any:
    """The flow's next effect, or ``_DONE`` once it has returned."""
    try:
        return cur.resume()
    except StopIteration:
        return _DONE


def pump(cur: _Cursor, perform: Callable[[Any], Any]) -> Generator[Any, None, None]:
    """Run the flow behind ``cur`` to its end, performing its effects with ``perform`` and
    yielding what it ``Yield``s: how a guarded generator and an SDK response body read it."""
    while (eff := _next_effect(cur)) is not _DONE:
        if type(eff) is Yield:
            yield eff.value
            continue
        try:
            cur.value = perform(eff)
        except BaseException as e:
            cur.error = e


async def apump(
    cur: _Cursor, perform: Callable[[Any], Awaitable[Any]]
) -> AsyncGenerator[Any, None]:
    """``pump``, awaiting ``perform``: its async twin (an async generator cannot share it)."""
    while (eff := _next_effect(cur)) is not _DONE:
        if type(eff) is Yield:
            yield eff.value
            continue
        try:
            cur.value = await perform(eff)
        except BaseException as e:
            cur.error = e


def drive_gen(
    flow: Flow, fn: Callable[..., Any], sleep: Callable[[float], None] = time.sleep
) -> Generator[Any, None, None]:
    opened: list[Any] = []
    try:
        yield from pump(_Cursor(flow), lambda eff: _perform(eff, fn, sleep, opened))
    finally:
        flow.close()  # settles and records a call its caller abandoned
        for source in opened:
            source.close()


async def drive_async_gen(
    flow: Flow, fn: Callable[..., Any], sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> AsyncGenerator[Any, None]:
    opened: list[Any] = []
    values = apump(_Cursor(flow), lambda eff: _aperform(eff, fn, sleep, opened))
    try:
        async for value in values:
            yield value
    finally:
        await values.aclose()  # what ``yield from`` does for ``drive_gen``
        flow.close()
        for source in opened:
            await source.aclose()
