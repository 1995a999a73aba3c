"""One guarded call, written once as a sans-IO generator.

The flow yields effects (``Invoke`` the wrapped function, ``Pull`` the next item of the
generator it returned, ``Yield`` an item to the caller, ``Sleep``, ``Io``) and receives their
results, exactly like the client pipeline. A plain, ``async``, generator and async generator
function differ only in how a driver (:mod:`._drivers`) performs those effects, so
authorization, inspection, limits, retries and telemetry cannot drift between them.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._call import Call
from .._context import CallContext, current_context
from .._effects import Io
from .._types import ChatRequest, ChatResponse, EmbeddingRequest, Message, Usage
from ..errors import ConfigError
from ._runtime import Admission, Flow, Runtime, Target
from ._texts import Scan, answer_texts, chunk_text, texts_of, usage_of, with_chunk_text

__all__ = [
    "GuardCore",
    "Invoke",
    "Pull",
    "Yield",
    "check_inputs",
    "hand_over",
    "optional_io",
]

_END = object()  # a pulled generator is exhausted
_MISS = object()


@dataclass(slots=True)
class Invoke:
    """Call the wrapped function with these (inspected) arguments."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(slots=True)
class Pull:
    """The next item of the generator the function returned; ``_END`` when exhausted."""

    source: Any


@dataclass(slots=True)
class Yield:
    """Hand one (inspected) item to the caller of a guarded generator."""

    value: Any


class GuardCore:
    """Everything one decorated function needs; shared by its wrapper and all its calls."""

    def __init__(
        self,
        fn: Callable[..., Any],
        runtime: Runtime,
        *,
        inputs: Sequence[str],
        output: bool,
        context: CallContext,
        scopes: frozenset[str],
        operation: str,
        model: str | None,
        memo: Any,
        retry: Any,
    ) -> None:
        self.fn = fn
        self.runtime = runtime
        self.signature = inspect.signature(fn)
        self.inputs = tuple(inputs)
        self.output = output
        self.context = context
        self.scopes = scopes
        self.operation = operation
        self.model = model
        self.memo = memo
        self.retry = retry
        self._memo_lock = threading.Lock()
        label = str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "guarded"))
        self.target = Target(label, model).endpoint(label)

    # ------------------------------------------------------------------ shared steps

    def _start(self, args: tuple[Any, ...], kwargs: dict[str, Any], stream: bool) -> Call:
        bound = self._bind(args, kwargs)
        ctx = self.context.merged(current_context())
        return self.runtime.new_call(self._request(self._arguments(bound)), ctx, stream=stream)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        try:
            return self.signature.bind(*args, **kwargs)
        except TypeError:
            raise  # the call itself is wrong: the same error the function would raise

    def _arguments(self, bound: inspect.BoundArguments) -> dict[str, Any]:
        """The named arguments, those passed through ``**kwargs`` included."""
        out = dict(bound.arguments)
        for p in self.signature.parameters.values():
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                out.pop(p.name, None)
                out.update(bound.arguments.get(p.name) or {})
        return out

    def _request(self, arguments: Mapping[str, Any]) -> ChatRequest | EmbeddingRequest:
        texts = [t for name in self.inputs for t in texts_of(arguments.get(name))]
        if self.operation == "embeddings":
            return EmbeddingRequest(inputs=tuple(texts) or ("",), model=self.model)
        messages = tuple(Message(role="user", content=t) for t in texts)
        return ChatRequest(
            messages=messages or (Message(role="user", content=""),), model=self.model
        )

    def _prepare(
        self, call: Call, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Scan | None, tuple[Any, ...], dict[str, Any]]:
        """Authorize, then inspect (and rewrite) the named arguments before the function runs."""
        rt = self.runtime
        rt.authorize(call, self.scopes)
        inspector = rt.inspector(call)
        if inspector is None:
            return None, args, kwargs
        from ..inspect import Vault

        scan = Scan(inspector, Vault(), call.findings)
        if not inspector.active("input"):
            return scan, args, kwargs
        bound = self._bind(args, kwargs)
        extra = next(
            (bound.arguments.get(p.name) for p in self.signature.parameters.values()
             if p.kind is inspect.Parameter.VAR_KEYWORD),
            None,
        )  # fmt: skip
        for name in self.inputs:
            if name in bound.arguments:
                bound.arguments[name] = scan.argument(bound.arguments[name], name)
            elif isinstance(extra, dict) and name in extra:
                extra[name] = scan.argument(extra[name], name)
        call.request = self._request(self._arguments(bound))
        return scan, bound.args, bound.kwargs

    def _memo_key(self, call: Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.memo is None:
            return None
        from cachetools.keys import hashkey

        c = call.context
        who = (c.user, c.tenant, c.region, tuple(sorted(c.scopes)), tuple(sorted(c.tags.items())),
               c.route, c.data_classification)  # fmt: skip
        try:
            key = hashkey(who, *args, **kwargs)
            hash(key)
        except TypeError:
            return None  # unhashable arguments: not memoised, still guarded
        return key

    # ------------------------------------------------------------------ the flows

    def run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Flow:
        """A plain or ``async`` function: returns its (inspected) result."""
        return self._claimed(self._run, args, kwargs, stream=False)

    def _run(self, claim: Admission, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Flow:
        rt, call = self.runtime, claim.call
        scan, args, kwargs = self._prepare(call, args, kwargs)
        yield from optional_io(scan.judge_prompt(call) if scan is not None else None)
        key = self._memo_key(call, args, kwargs)
        if key is not None:
            with self._memo_lock:
                hit = self.memo.get(key, _MISS)
            if hit is not _MISS:
                call.cached = True
                call.response = _response(hit, None)
                return hit
        yield from claim.admit()
        while True:
            rt.attempt_start(call, self.target)
            try:
                result = yield Invoke(args, kwargs)
            except Exception as e:
                yield from rt.failed(call, e, self.retry)
                continue
            rt.attempt_end(call, None)
            break
        if scan is not None and self.output:
            result = scan.result(result)
            yield from optional_io(scan.judge_answer(answer_texts(result)))
        usage = usage_of(result)
        call.response = _response(result, usage)
        claim.usage = usage
        yield from claim.settle()
        if key is not None:
            with self._memo_lock:
                self.memo[key] = result
        return result

    def run_stream(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Flow:
        """A generator or async generator: each item is inspected before it is yielded.

        Text is released through a ``StreamInspector`` (bounded look-behind), so a phrase
        split across chunks is still found. A failure is retried only before the first item
        reached the caller."""
        return self._claimed(self._run_stream, args, kwargs, stream=True)

    def _claimed(
        self,
        body: Callable[[Admission, tuple[Any, ...], dict[str, Any]], Flow],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        stream: bool,
    ) -> Flow:
        """Start the call (when the flow is first resumed) and run ``body`` for it inside the
        ``Admission`` that settles and finishes it however it ends."""
        claim = Admission(self.runtime, self._start(args, kwargs, stream=stream))
        return (yield from claim.around(body(claim, args, kwargs)))

    def _run_stream(self, claim: Admission, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Flow:
        rt, call = self.runtime, claim.call
        scan, args, kwargs = self._prepare(call, args, kwargs)
        yield from optional_io(scan.judge_prompt(call) if scan is not None else None)
        out_scan = scan if self.output else None
        active = out_scan is not None and out_scan.inspector.active("output")
        yield from claim.admit()
        while True:
            rt.attempt_start(call, self.target)
            texts: list[str] = []  # what reached the caller
            try:
                source = yield Invoke(args, kwargs)
                state = _Chunks(out_scan) if active and out_scan is not None else None
                gate = _Gate(out_scan)
                while True:
                    item = yield Pull(source)
                    if item is _END:
                        break
                    claim.usage = usage_of(item) or claim.usage
                    out = state.feed(item) if state is not None else [item]
                    yield from hand_over(gate.release(out), texts)
                tail = state.finish() if state is not None else []
                yield from hand_over(gate.end(tail), texts)
            except Exception as e:
                if texts:  # something reached the caller: too late to try again
                    rt.attempt_end(call, e)
                    raise
                yield from rt.failed(call, e, self.retry)
                continue
            rt.attempt_end(call, None)
            break
        usage = claim.usage or Usage(estimated=True)
        call.response = ChatResponse(text="".join(texts), usage=usage)
        yield from claim.settle()
        return None


class _Chunks:
    """Output inspection of yielded chunks through one ``StreamInspector`` at a time."""

    def __init__(self, scan: Scan) -> None:
        self.scan = scan
        self.stream = scan.stream()
        self.used = [self.stream]
        self.last: Any = None

    def feed(self, item: Any) -> list[Any]:
        text = chunk_text(item)
        if text is None:
            # A chunk without text (a finish reason, a tool call): what is held goes first.
            return [*self._flush(restart=True), item]
        self.last = item
        released = self.stream.feed(text)
        if isinstance(item, str) and not released:
            return []
        return [with_chunk_text(item, released)]

    def _flush(self, *, restart: bool) -> list[Any]:
        if not self.stream.pending:
            return []
        tail = self.stream.finish()
        self.scan.collect(self.used)
        if restart:
            self.stream = self.scan.stream()
            self.used.append(self.stream)
        if not tail:
            return []
        return [with_chunk_text(self.last, tail, fresh=True)]

    def finish(self) -> list[Any]:
        out = self._flush(restart=False)
        self.scan.collect(self.used)
        return out


class _Gate:
    """A guarded stream's items on their way out: through the moderator's ``OutputGate``
    (when one judges answers) with the text released so far, for its verdict at the end."""

    def __init__(self, scan: Scan | None) -> None:
        self.gate = scan.gate() if scan is not None else None
        self.texts: list[str] = []

    def release(self, items: list[Any]) -> list[Any]:
        if self.gate is None:
            return items
        self.texts.extend(chunk_text(v) or "" for v in items)
        return self.gate.release(items)

    def end(self, items: list[Any]) -> list[Any]:
        if self.gate is None:
            return items
        out = self.release(items)
        return [*out, *self.gate.end([("stream", "".join(self.texts))])]


def hand_over(values: list[Any], texts: list[str] | None = None) -> Flow:
    """``Yield`` each value to the caller in order (noting its text in ``texts``); an
    ``Io`` among them (the moderator's verdict) is performed instead, before the values
    after it."""
    for value in values:
        if type(value) is Io:
            yield value
            continue
        if texts is not None:
            texts.append(chunk_text(value) or "")
        yield Yield(value)


def optional_io(io: Io | None) -> Flow:
    """Perform ``io`` when there is one (a flow's ``yield from``)."""
    if io is not None:
        yield io


def _response(result: Any, usage: Usage | None) -> ChatResponse:
    """What the audit record and span read: the answer's usage and model (its text only if
    the result is text, and only recorded when content capture is on)."""
    if isinstance(result, ChatResponse):
        return result
    model = getattr(result, "model", None)
    return ChatResponse(
        text=result if isinstance(result, str) else "",
        usage=usage or Usage(estimated=True),
        model=model if isinstance(model, str) else None,
    )


def check_inputs(fn: Callable[..., Any], inputs: Sequence[str], explicit: bool) -> None:
    """Name the arguments to inspect, or say so: a guard that inspects nothing by accident is
    the silent gap this refuses."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = [n for n in inputs if n not in params]
    name = getattr(fn, "__qualname__", repr(fn))
    if explicit and unknown:
        raise ConfigError(
            f"guard: {name}() has no parameter(s) {', '.join(map(repr, unknown))} to inspect; "
            f"its parameters: {', '.join(params) or '(none)'}"
        )
    if not explicit and len(unknown) == len(inputs):
        raise ConfigError(
            f"guard: {name}() has none of the default prompt parameters "
            f"({', '.join(inputs)}); pass inputs=(...) naming the arguments that carry "
            "prompts, or inputs=() to inspect none"
        )
