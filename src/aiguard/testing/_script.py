"""What the fake answers: scripted replies, faults, and the thread-safe queue that holds them.

Everything here is independent of any wire format. A ``Reply`` says *what* the model answers
(text, tool calls, usage); each wire module renders it in its provider's shape. A ``Fault``
says *how the exchange goes wrong*; the server core applies it the same way for every format,
asking the wire module only for format-specific bytes (an error body, an error event).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Fault", "FaultKind", "Reply", "ScriptQueue", "ToolCallSpec"]

FaultKind = Literal[
    "status", "latency", "hang", "reset", "malformed_json", "cut_stream", "no_terminal",
    "error_event",
]  # fmt: skip

ToolCallSpec = tuple[str, str | Mapping[str, Any]] | tuple[str, str | Mapping[str, Any], str]
"""``(name, arguments)`` or ``(name, arguments, id)``; arguments as JSON text or a mapping."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted model answer, queued with ``FakeProvider.script`` and served FIFO.

    ``text`` and/or ``tool_calls`` (``(name, arguments)`` or ``(name, arguments, id)``) are the
    answer. ``chunks`` fixes the exact streamed text pieces (their concatenation is the text);
    otherwise the text is streamed ``chunk_size`` characters at a time (the fake's default
    when ``None``). ``usage`` is ``(prompt_tokens, completion_tokens)``; when ``None`` the fake
    counts words, so tests can still assert it. ``finish_reason`` defaults to ``"tool_calls"``
    when there are tool calls, else ``"stop"``; it is written in OpenAI's vocabulary and each
    wire format maps it to its own. ``body``, when set, is sent verbatim as the 200 JSON body of
    a non-streaming answer (for shapes the model does not cover). ``headers`` are added to the
    response.
    """

    text: str | None = None
    tool_calls: Sequence[ToolCallSpec] = ()
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    chunks: Sequence[str] | None = None
    chunk_size: int | None = None
    model: str | None = None
    body: bytes | str | Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.chunks is not None:
            joined = "".join(self.chunks)
            if self.text is not None and self.text != joined:
                raise ValueError("Reply: text and chunks disagree; give one or make them equal")
            object.__setattr__(self, "text", joined)
            object.__setattr__(self, "chunks", tuple(self.chunks))
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError("Reply: chunk_size must be >= 1")
        calls = []
        for i, spec in enumerate(self.tool_calls):
            if not isinstance(spec, tuple) or len(spec) not in (2, 3):
                raise ValueError(
                    f"Reply: tool_calls[{i}] must be (name, arguments) or (name, arguments, id)"
                )
            name, args = spec[0], spec[1]
            if not isinstance(args, str):
                args = json.dumps(args, separators=(",", ":"), ensure_ascii=False)
            calls.append((name, args, *spec[2:]) if len(spec) == 3 else (name, args))
        object.__setattr__(self, "tool_calls", tuple(calls))
        if self.usage is not None and (len(self.usage) != 2 or min(self.usage) < 0):
            raise ValueError("Reply: usage is (prompt_tokens, completion_tokens), both >= 0")

    @property
    def finish(self) -> str:
        """The finish reason to send, defaulted from the content."""
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    def pieces(self, default_chunk_size: int, text: str | None = None) -> list[str]:
        """The text (``text`` overrides, for echo) as streamed pieces; empty -> none."""
        if self.chunks is not None and text is None:
            return [c for c in self.chunks if c]
        if text is None:
            text = self.text or ""
        n = self.chunk_size or default_chunk_size
        return [text[i : i + n] for i in range(0, len(text), n)]

    def tool_call_ids(self, prefix: str) -> list[tuple[str, str, str]]:
        """``(id, name, arguments)`` per call; ids default to ``{prefix}{index}``."""
        out = []
        for i, spec in enumerate(self.tool_calls):
            call_id = str(spec[2]) if len(spec) == 3 else f"{prefix}{i}"
            out.append((call_id, spec[0], str(spec[1])))
        return out


@dataclass(frozen=True, slots=True)
class Fault:
    """How the next request(s) go wrong; queued with ``FakeProvider.fault``.

    Build one with a constructor (``Fault.status_code(503)``, ``Fault.hang()``, ...) or
    directly as ``Fault(status=429, retry_after=1.5)``. ``times`` is how many requests it
    hits (``None``: every request until ``reset()``); ``on(path)`` limits which requests.
    ``delay`` seconds are waited server-side before any fault acts, so latency combines with
    every other fault.

    Faults that answer instead of the model (``status``, ``reset``, ``hang`` without
    ``after``, ``malformed_json``) leave scripted replies queued for the retry. Faults that
    deliver part of an answer (``latency``, ``cut_stream``, ``no_terminal``, ``error_event``,
    ``hang(after=N)``) consume the reply they deliver.
    """

    status: int | None = None
    retry_after: float | None = None
    message: str | None = None
    code: str | int | None = None
    type: str | None = None
    kind: FaultKind = "status"
    delay: float = 0.0
    after: int | None = None
    clean: bool = False
    body: bytes | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    times: int | None = 1
    path: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "status" and (self.status is None or not 400 <= self.status <= 599):
            raise ValueError("Fault: a status fault needs status=400..599")
        if self.times is not None and self.times < 1:
            raise ValueError("Fault: times must be >= 1, or None for every request")
        if self.delay < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("Fault: delay and retry_after must be >= 0")
        if self.after is not None and self.after < 0:
            raise ValueError("Fault: after must be >= 0")

    def on(self, path: str) -> Fault:
        """This fault, aimed only at requests whose path starts with ``path`` (or matches it
        as a glob when it holds ``*``, ``?`` or ``[``); other requests pass it by.

        ``Fault.status_code(500).on("/v1/embeddings")`` fails the embeddings call and leaves
        chat calls alone; it is also the only way to fault routes registered as immune
        (a token endpoint, say).
        """
        return dataclasses.replace(self, path=path)

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def status_code(
        cls,
        status: int,
        *,
        retry_after: float | None = None,
        message: str | None = None,
        code: str | int | None = None,
        type: str | None = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> Fault:
        """An HTTP error in the wire format's error shape. ``body`` replaces it verbatim
        (e.g. an HTML page from a proxy); ``code`` such as ``"context_length_exceeded"``
        lets tests reach specific error classes."""
        return cls(
            status=status,
            retry_after=retry_after,
            message=message,
            code=code,
            type=type,
            body=body,
            headers=dict(headers or {}),
            times=times,
        )

    @classmethod
    def latency(cls, seconds: float, *, times: int | None = 1) -> Fault:
        """Answer normally after ``seconds`` (interrupted early by ``stop()``)."""
        return cls(kind="latency", delay=seconds, times=times)

    @classmethod
    def hang(cls, *, after: int | None = None, times: int | None = 1) -> Fault:
        """Never answer until the client disconnects or the server stops. With ``after``, a
        stream sends that many content events first, then stalls (a read timeout mid-stream).
        """
        return cls(kind="hang", after=after, times=times)

    @classmethod
    def timeout(cls, *, after: int | None = None, times: int | None = 1) -> Fault:
        """Alias of ``hang``: the client's timeout is what ends the exchange."""
        return cls.hang(after=after, times=times)

    @classmethod
    def reset(cls, *, times: int | None = 1) -> Fault:
        """Close the socket abruptly (TCP RST) without any response."""
        return cls(kind="reset", times=times)

    @classmethod
    def malformed_json(cls, *, times: int | None = 1) -> Fault:
        """Status 200 with a body that is not valid JSON (a broken event when streaming)."""
        return cls(kind="malformed_json", times=times)

    @classmethod
    def cut_stream(cls, after: int = 3, *, clean: bool = False, times: int | None = 1) -> Fault:
        """Send ``after`` content events, then close the connection mid-body.

        ``clean=False`` drops the TCP connection without ending the HTTP body (the client's
        HTTP layer sees an incomplete message); ``clean=True`` ends the HTTP body properly so
        only the provider's terminal event is missing. A non-streaming answer is truncated.
        """
        return cls(kind="cut_stream", after=after, clean=clean, times=times)

    @classmethod
    def no_terminal(cls, *, times: int | None = 1) -> Fault:
        """A complete stream (finish reason and usage included) lacking its terminal event
        (``data: [DONE]`` for OpenAI). Non-streaming answers are unaffected."""
        return cls(kind="no_terminal", times=times)

    @classmethod
    def error_event(
        cls,
        after: int = 1,
        *,
        status: int | None = None,
        message: str | None = None,
        code: str | int | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Send ``after`` content events, then the format's in-stream error object, then end
        the body. ``status`` is carried where the format has a place for it. A non-streaming
        request gets an error status instead (``status`` or 500)."""
        return cls(
            kind="error_event", after=after, status=status, message=message, code=code,
            times=times,
        )  # fmt: skip


def _path_matches(pattern: str, path: str) -> bool:
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(path, pattern)
    return path.startswith(pattern)


class ScriptQueue:
    """Replies and faults, FIFO each, shared by every connection thread.

    One lock guards both deques; pops are O(1) so the lock is held for nanoseconds.
    """

    __slots__ = ("_faults", "_lock", "_replies")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self._faults: deque[list[Any]] = deque()  # [fault, remaining or None]

    def add_replies(self, replies: Iterable[Reply]) -> None:
        items = list(replies)
        for r in items:
            if not isinstance(r, Reply):
                raise TypeError(f"script() takes Reply objects, got {type(r).__name__}")
        with self._lock:
            self._replies.extend(items)

    def add_faults(self, faults: Iterable[Fault]) -> None:
        items = list(faults)
        for f in items:
            if not isinstance(f, Fault):
                raise TypeError(f"fault() takes Fault objects, got {type(f).__name__}")
        with self._lock:
            self._faults.extend([f, f.times] for f in items)

    def pop_reply(self) -> Reply | None:
        if not self._replies:  # unlocked fast path: echo mode with nothing scripted
            return None
        with self._lock:
            return self._replies.popleft() if self._replies else None

    def requeue(self, reply: Reply) -> None:
        """Put a reply back at the head (its request was rejected before it was used)."""
        with self._lock:
            self._replies.appendleft(reply)

    def pop_fault(self, path: str, untargeted: bool = True) -> Fault | None:
        """The first queued fault that applies to ``path``; ``untargeted=False`` (routes
        immune to faults) only takes faults aimed at the path with ``Fault.on``."""
        if not self._faults:
            return None
        with self._lock:
            for entry in self._faults:
                fault: Fault = entry[0]
                if fault.path is None:
                    if not untargeted:
                        continue
                elif not _path_matches(fault.path, path):
                    continue
                if entry[1] is not None:
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._faults.remove(entry)
                return fault
            return None

    @property
    def pending_replies(self) -> int:
        return len(self._replies)

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._replies.clear()
            self._faults.clear()
