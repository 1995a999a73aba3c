"""A small HTTP/1.1 server on raw sockets: one accept thread, one thread per connection.

Why not ``http.server``: its per-request cost (``email`` header parsing, logging hooks, a
buffered file per connection) is several times what the clients we benchmark spend, and the
fake is the server in those benchmarks. This module parses just what clients send (request
line, headers, ``Content-Length`` or chunked bodies, ``Expect: 100-continue``), keeps
connections alive, and exposes the abnormal endings faults need: a TCP reset, a body cut
mid-way, a stall that only ends when the peer leaves or the server stops.

Shutdown is explicit so nothing leaks: ``stop()`` wakes the accept loop through a socket
pair, shuts down every open connection (which wakes threads blocked reading or stalled in a
fault), and joins every thread.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from http import HTTPStatus

__all__ = ["Connection", "HttpServer", "Request"]

_MAX_HEAD = 64 * 1024
_RECV = 65536
_PHRASES = {s.value: s.phrase for s in HTTPStatus}


class _Closed(Exception):
    """The peer went away or the server is stopping; the connection thread unwinds."""


class Request:
    """A parsed request head and its body."""

    __slots__ = ("body", "headers", "keep_alive", "method", "target")

    def __init__(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep_alive: bool
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


class Connection:
    """One client socket; the responder methods are what the fake's dispatch calls.

    After any method that ends the exchange abnormally (``reset``, ``abort``, ``hang``) the
    connection is marked closed and the serving loop drops it.
    """

    __slots__ = ("_buf", "_server", "closed", "sock")

    def __init__(self, sock: socket.socket, server: HttpServer) -> None:
        self.sock = sock
        self._server = server
        self._buf = b""
        self.closed = False

    # -- reading ----------------------------------------------------------------------------

    def _recv(self) -> bytes:
        data = self.sock.recv(_RECV)
        if not data:
            raise _Closed
        return data

    def read_request(self) -> Request | None:
        """The next request, or ``None`` when the peer closed between requests."""
        buf = self._buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(buf) > _MAX_HEAD:
                raise _Closed
            try:
                data = self.sock.recv(_RECV)
            except OSError:
                return None
            if not data:
                return None
            buf += data
        lines = buf[:end].decode("latin-1").split("\r\n")
        rest = buf[end + 4 :]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.sock.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            raise _Closed
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        conn_hdr = headers.get("connection", "").lower()
        keep_alive = "close" not in conn_hdr if version == "HTTP/1.1" else "keep-alive" in conn_hdr
        if headers.get("expect", "").lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        length = headers.get("content-length")
        if length is not None:
            n = int(length)
            while len(rest) < n:
                rest += self._recv()
            body, self._buf = rest[:n], rest[n:]
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, self._buf = self._read_chunked(rest)
        else:
            body, self._buf = b"", rest
        return Request(method, target, headers, body, keep_alive)

    def _read_chunked(self, buf: bytes) -> tuple[bytes, bytes]:
        out: list[bytes] = []
        while True:
            while (nl := buf.find(b"\r\n")) < 0:
                buf += self._recv()
            size = int(buf[:nl].split(b";")[0], 16)
            buf = buf[nl + 2 :]
            if size == 0:  # trailers end with an empty line
                while (end := buf.find(b"\r\n")) != 0:
                    if end < 0:
                        buf += self._recv()
                    else:
                        buf = buf[end + 2 :]
                return b"".join(out), buf[2:]
            while len(buf) < size + 2:
                buf += self._recv()
            out.append(buf[:size])
            buf = buf[size + 2 :]

    # -- writing ----------------------------------------------------------------------------

    @staticmethod
    def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_PHRASES.get(status, 'Unknown')}"]
        lines.extend(f"{k}: {v}" for k, v in headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, status: int, headers: list[tuple[str, str]], content: bytes) -> None:
        """A complete response with ``Content-Length``."""
        headers.append(("content-length", str(len(content))))
        self.sock.sendall(self._head(status, headers) + content)

    def send_truncated(self, status: int, headers: list[tuple[str, str]], content: bytes) -> None:
        """Announce the full length, send half, close: an incomplete body."""
        headers.append(("content-length", str(len(content))))
        self.sock.sendall(self._head(status, headers) + content[: len(content) // 2])
        self.abort()

    def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None:
        headers.append(("transfer-encoding", "chunked"))
        self.sock.sendall(self._head(status, headers))

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    def end_stream(self) -> None:
        self.sock.sendall(b"0\r\n\r\n")

    def abort(self) -> None:
        """Close after what was sent (FIN), without ending a chunked body."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Close with a TCP reset: the client sees the connection torn down, no response."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._server.forget(self)
        self.sock.close()

    def hang(self) -> None:
        """Block until the peer disconnects or the server stops; then drop the connection.

        ``stop()`` shuts the socket down, which makes it readable, so no polling is needed;
        the timeout only bounds how long a missed wake-up could last.
        """
        self.closed = True
        stopping = self._server.stopping
        with selectors.DefaultSelector() as sel:  # not select(): fds above 1024 are common
            sel.register(self.sock, selectors.EVENT_READ)
            while not stopping.is_set():
                try:
                    if sel.select(1.0) and not self.sock.recv(_RECV):
                        return
                except (OSError, ValueError):
                    return

    def sleep(self, seconds: float) -> bool:
        """Wait server-side; ``False`` when the server began stopping meanwhile."""
        return not self._server.stopping.wait(seconds)


App = Callable[[Connection, Request], None]


class HttpServer:
    """Accepts on a listening socket and serves each connection in its own daemon thread."""

    def __init__(self, host: str, port: int, app: App) -> None:
        self._app = app
        self.stopping = threading.Event()
        self._listener = socket.create_server((host, port), backlog=512)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()
        self._conns: dict[Connection, threading.Thread] = {}
        self.errors: list[BaseException] = []
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"aiguard-fake-{self.address[1]}", daemon=True
        )
        self._accept_thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        with selectors.DefaultSelector() as sel:
            sel.register(listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while self._accept_one(sel, listener):
                pass

    def _accept_one(self, sel: selectors.BaseSelector, listener: socket.socket) -> bool:
        try:
            ready = sel.select()
        except (OSError, ValueError):
            return False
        if self.stopping.is_set() or any(key.fileobj is self._wake_r for key, _ in ready):
            return False
        try:
            sock, _ = listener.accept()
        except OSError:
            return True
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(sock, self)
        thread = threading.Thread(
            target=self._serve, args=(conn,), name="aiguard-fake-conn", daemon=True
        )
        with self._lock:
            if self.stopping.is_set():
                sock.close()
                return False
            self._conns[conn] = thread
        thread.start()
        return True

    def _serve(self, conn: Connection) -> None:
        app = self._app
        try:
            while not conn.closed and not self.stopping.is_set():
                request = conn.read_request()
                if request is None:
                    break
                app(conn, request)
                if not request.keep_alive:
                    break
        except (_Closed, OSError, ValueError):
            pass
        except Exception as e:  # a bug in the fake: keep it for the test, stay quiet
            self.errors.append(e)
        finally:
            self.forget(conn)
            conn.sock.close()

    def forget(self, conn: Connection) -> None:
        with self._lock:
            self._conns.pop(conn, None)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, release every connection (hung ones too) and join all threads."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._accept_thread.join(timeout)
        with self._lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        current = threading.current_thread()
        for _, thread in conns:
            if thread is not current:
                thread.join(timeout)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()
