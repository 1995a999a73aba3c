"""``FakeProvider``: scripts, faults and the request log over the HTTP core, for any format.

Dispatch order for one request: record it (so a test sees it even if it then hangs), match a
route, take the next fault, let the fault answer or shape the answer, otherwise take the next
scripted reply (or echo) and let the route's handler render it. The fault logic lives here
once; wire modules only say how their bodies, events and errors look.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from urllib.parse import parse_qsl, unquote

from ._script import Fault, Reply, ScriptQueue
from ._server import Connection, HttpServer, Request
from ._wire import (
    Body,
    Call,
    Handler,
    IsStream,
    RecordedRequest,
    Route,
    Stream,
    WireError,
    WireFormat,
    _json_stream_flag,
    make_route,
    registered_routes,
)

__all__ = ["FakeProvider"]

_GENERIC = WireFormat()


class FakeProvider:
    """A real HTTP server on loopback that answers like an LLM provider, for offline tests.

    Use it as a context manager (or ``start()``/``stop()``), point an endpoint's ``base_url``
    at ``openai_url``, queue ``Reply`` objects with ``script()`` and ``Fault`` objects with
    ``fault()``, and assert on ``requests``. With nothing scripted it echoes: the answer is
    ``"echo: "`` plus the last user message, cut to the request's ``max_tokens`` words (then
    finishing with ``"length"``), and usage counts words.

    ``chunk_size`` is how many characters each streamed text event carries unless a reply
    says otherwise; ``embed_dimensions`` is the length of embedding vectors unless the
    request asks for ``dimensions``. Both may be changed while the server runs.
    ``log_limit`` keeps only the last N requests in ``requests`` (``0``: none), so a
    long benchmark does not grow memory; ``request_count`` still counts them all.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_size: int = 4,
        embed_dimensions: int = 8,
        log_limit: int | None = None,
    ) -> None:
        if chunk_size < 1 or embed_dimensions < 1:
            raise ValueError("FakeProvider: chunk_size and embed_dimensions must be >= 1")
        if log_limit is not None and log_limit < 0:
            raise ValueError("FakeProvider: log_limit must be >= 0 or None")
        self.host = host
        self._port = port
        self.chunk_size = chunk_size
        self.embed_dimensions = embed_dimensions
        self._queue = ScriptQueue()
        self._cond = threading.Condition()
        self._log: deque[RecordedRequest] = deque(maxlen=log_limit)
        self._received = 0  # since the last clear(), including requests beyond log_limit
        self._seq = itertools.count(1)
        self._server: HttpServer | None = None
        self._errors: list[BaseException] = []
        self._exact: dict[tuple[str, str], Route] = {}
        self._patterns: list[Route] = []
        for route in registered_routes():
            self._add(route)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        """Bind and serve in daemon threads; a no-op when already running."""
        if self._server is None:
            self._server = HttpServer(self.host, self._port, self._dispatch)
            self._port = self._server.address[1]
        return self

    def stop(self) -> None:
        """Stop serving: hung and sleeping handlers are released, every thread is joined.

        The port is kept, so ``start()`` afterwards serves at the same ``url``.
        """
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            self._errors.extend(server.errors)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeProvider is not running: use `with FakeProvider()` or start()")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the server root."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        """The ``base_url`` for ``OpenAI``/``OpenAICompatible`` endpoints."""
        return f"{self.url}/v1"

    def __repr__(self) -> str:
        where = self.url if self._server else "stopped"
        return f"FakeProvider({where}, requests={self._received})"

    # -- scripting ----------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies, served in order; when none are left the fake echoes."""
        self._queue.add_replies(replies)

    def fault(self, *faults: Fault) -> None:
        """Queue faults; each hits the next ``times`` requests, before any reply is used."""
        self._queue.add_faults(faults)

    @property
    def pending_replies(self) -> int:
        """Scripted replies not yet served (assert 0 to prove every reply was used)."""
        return self._queue.pending_replies

    @property
    def pending_faults(self) -> int:
        return self._queue.pending_faults

    def add_route(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        wire: WireFormat = _GENERIC,
        is_stream: IsStream = _json_stream_flag,
        replies: bool = True,
        faults: bool = True,
    ) -> None:
        """Serve an extra endpoint on this instance only (see ``register_route``)."""
        self._add(make_route(method, pattern, handler, wire, is_stream, replies, faults))

    def _add(self, route: Route) -> None:
        if route.regex is None:
            self._exact[(route.method, route.pattern)] = route
        else:
            self._patterns = [r for r in self._patterns if r.pattern != route.pattern or
                              r.method != route.method] + [route]  # fmt: skip

    @property
    def server_errors(self) -> list[BaseException]:
        """Exceptions that escaped the fake itself (bugs, not faults): a test that sees a
        dropped connection it did not script can look here."""
        live = self._server.errors if self._server is not None else []
        return [*self._errors, *live]

    # -- the request log ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the last ``clear()``/``reset()``, in arrival order."""
        with self._cond:
            return list(self._log)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._cond:
            return self._log[-1] if self._log else None

    def wait_for_requests(self, count: int = 1, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until ``count`` requests have arrived (e.g. one that will hang), no polling.

        Raises ``TimeoutError`` after ``timeout`` seconds, so a broken test fails instead of
        blocking forever.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._received >= count, timeout):
                raise TimeoutError(f"FakeProvider saw {self._received} of {count} requests")
            return list(self._log)

    @property
    def request_count(self) -> int:
        """Requests received since the last ``clear()``/``reset()``, logged or not."""
        return self._received

    def clear(self) -> None:
        """Forget recorded requests; scripts and faults stay queued."""
        with self._cond:
            self._log.clear()
            self._received = 0

    def reset(self) -> None:
        """Forget recorded requests and drop queued replies and faults."""
        self._queue.clear()
        self.clear()

    # -- dispatch (runs in connection threads) ------------------------------------------------

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        route = self._exact.get((method, path))
        if route is not None:
            return route, {}
        for r in self._patterns:
            if r.method == method and r.regex is not None:
                m = r.regex.match(path)
                if m:
                    return r, {k: unquote(v) for k, v in m.groupdict().items()}
        return None, {}

    def _dispatch(self, conn: Connection, req: Request) -> None:
        seq = next(self._seq)
        rid = f"req_fake{seq:06d}"
        path, _, qs = req.target.partition("?")
        route, params = self._match(req.method, path)
        parsed = None
        if req.body:
            try:
                parsed = json.loads(req.body)
            except ValueError:
                parsed = None
        record = RecordedRequest(
            req.method,
            path,
            req.headers,
            parsed,
            req.body,
            time.time(),
            dict(parse_qsl(qs)) if qs else {},
            params,
            rid,
        )
        with self._cond:
            self._log.append(record)
            self._received += 1
            self._cond.notify_all()
        headers = [("x-request-id", rid)]
        if not req.keep_alive:
            headers.append(("connection", "close"))
        if route is None:
            body = _GENERIC.error(404, None, f"no fake route for {req.method} {path}")
            return self._send_body(conn, body, headers)
        wire = route.wire
        fault = self._queue.pop_fault(path, route.faults)
        if fault is not None:
            kind = fault.kind
            if fault.delay and not conn.sleep(fault.delay):
                return conn.abort()
            if kind == "status":
                assert fault.status is not None
                return self._send_error(conn, wire, fault.status, fault, headers)
            if kind == "reset":
                return conn.reset()
            if kind == "hang" and fault.after is None:
                return conn.hang()
            if kind == "malformed_json":
                if route.is_stream(record, params):
                    malformed = Stream([wire.malformed(stream=True)], tail=0)
                    return self._send_stream(conn, malformed, None, wire, headers)
                return self._send_body(conn, Body(200, wire.malformed(stream=False)), headers)
        reply = self._queue.pop_reply() if route.replies else None
        if reply is not None:
            headers.extend(reply.headers.items())
            if reply.body is not None and not route.is_stream(record, params):
                raw = reply.body
                if isinstance(raw, Mapping):
                    raw = json.dumps(raw)
                content = raw.encode() if isinstance(raw, str) else raw
                return self._send_body(conn, Body(200, content), headers, fault, wire)
        call = Call(record, params, reply, seq, self.chunk_size, self.embed_dimensions)
        try:
            result = route.handler(call)
        except WireError as e:  # rejected like the real API would: the reply stays queued
            if reply is not None:
                self._queue.requeue(reply)
            return self._send_error(conn, wire, e.status, None, headers, e.message)
        except Exception as e:  # a handler bug must fail the test's call, not kill the thread
            msg = f"fake handler failed: {type(e).__name__}: {e}"
            return self._send_error(conn, wire, 500, None, headers, msg)
        if isinstance(result, Stream):
            return self._send_stream(conn, result, fault, wire, headers)
        return self._send_body(conn, result, headers, fault, wire)

    def _send_error(
        self,
        conn: Connection,
        wire: WireFormat,
        status: int,
        fault: Fault | None,
        headers: list[tuple[str, str]],
        message: str | None = None,
    ) -> None:
        if fault is not None and fault.body is not None:
            raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
            ctype = "text/html" if raw.lstrip()[:1] == b"<" else "text/plain"
            body = Body(status, raw, ctype)
        else:
            body = wire.error(status, fault, message)
        if fault is not None:
            if fault.retry_after is not None:
                ra = fault.retry_after
                headers.append(("retry-after", str(int(ra)) if ra == int(ra) else str(ra)))
                headers.append(("retry-after-ms", str(round(ra * 1000))))
            headers.extend(fault.headers.items())
        self._send_body(conn, body, headers)

    def _send_body(
        self,
        conn: Connection,
        body: Body,
        headers: list[tuple[str, str]],
        fault: Fault | None = None,
        wire: WireFormat = _GENERIC,
    ) -> None:
        kind = fault.kind if fault is not None else None
        if kind == "error_event":  # no stream to put the event in: answer with the error
            assert fault is not None
            return self._send_error(conn, wire, fault.status or 500, fault, headers)
        headers.append(("content-type", body.content_type))
        if body.headers:
            headers.extend(body.headers.items())
        if kind == "cut_stream":
            return conn.send_truncated(body.status, headers, body.content)
        if kind == "hang":  # hang(after=N) on a non-streaming call: nothing to send early
            return conn.hang()
        conn.send(body.status, headers, body.content)

    def _send_stream(
        self,
        conn: Connection,
        stream: Stream,
        fault: Fault | None,
        wire: WireFormat,
        headers: list[tuple[str, str]],
    ) -> None:
        headers.append(("content-type", stream.content_type))
        headers.append(("cache-control", "no-cache"))
        if stream.headers:
            headers.extend(stream.headers.items())
        conn.start_stream(200, headers)
        events = stream.events
        body_end = len(events) - stream.tail
        kind = fault.kind if fault is not None else None
        if fault is None or kind in ("latency", "malformed_json"):
            for ev in events:
                conn.write_chunk(ev)
            return conn.end_stream()
        if kind == "no_terminal":
            for ev in events[:body_end]:
                conn.write_chunk(ev)
            return conn.end_stream()
        upto = min(stream.head + (fault.after or 0), body_end)
        for ev in events[:upto]:
            conn.write_chunk(ev)
        if kind == "cut_stream":
            if fault.clean:
                return conn.end_stream()
            return conn.abort()
        if kind == "error_event":
            conn.write_chunk(wire.stream_error(fault))
            return conn.end_stream()
        conn.hang()  # hang(after=N)
