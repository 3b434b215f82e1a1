"""A small scriptable SSE server on loopback, for tests, demos and benchmarks.

The one rule this module owns: a test says exactly what goes on the wire and when, and the
server does that and nothing else. Each ``bytes`` or ``str`` item of a reply body is sent at
once (one HTTP chunk per item in chunked framing); :class:`Pause`, :class:`Drop` and
:class:`Silence` script the timing and the failures; ``drop_at`` breaks a stream at an exact
byte. Every request is recorded, and :meth:`SSEServer.stop` leaves no thread and no socket
behind. It needs nothing beyond the standard library. Example::

    from sseclient_sync import Event
    from sseclient_sync.testing import Drop, Pause, Reply, SSEServer, sse

    with SSEServer() as server:
        server.route("/stream", [
            Reply(body=[sse(Event(data="one", id="1")), Pause(0.1), Drop()]),
            Reply(body=[sse(Event(data="two", id="2"))]),
        ])
        ...  # point a client at server.url_for("/stream")
        second = server.wait_for_requests(2)[1]
        assert second.headers["last-event-id"] == "1"

The server speaks HTTP/1.1 with keep-alive, one thread per client connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http
import json as _json
import logging
import selectors
import socket
import struct
import sys
import threading
import time
import traceback
from typing import (
    IO,
    Any,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)
from urllib.parse import parse_qs

from ._models import Event

__all__ = [
    "BodyItem",
    "Drop",
    "Pause",
    "RecordedRequest",
    "Reply",
    "Responder",
    "SSEServer",
    "Silence",
    "redirect",
    "sse",
]

logger = logging.getLogger(__name__)

#: Large enough that 500 clients connecting at once are all queued, never refused.
_BACKLOG = 1024
_MAX_LINE = 65536
_MAX_HEADER_FIELDS = 100
_MAX_REQUEST_BODY = 64 * 1024 * 1024
#: How long stop() waits, in all, for the server's threads to end.
_STOP_TIMEOUT = 2.0
#: Waits with no deadline of their own (Silence, the accept loop) look at ``stopping`` this often.
_POLL_INTERVAL = 1.0
_FRAMINGS = ("chunked", "close", "length")
_DEFAULT_HEADERS: Mapping[str, str] = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
}
# poll() needs no file descriptor of its own, unlike epoll; hundreds of waiting connections
# would otherwise double the process's open files.
_Selector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.SelectSelector
)


# --- What a test writes -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pause:
    """A body item: write nothing for ``seconds``, then carry on with the next item.

    The pause ends the response early (the connection is closed) if the client goes away or
    the server stops meanwhile.
    """

    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds >= 0:  # also rejects NaN
            raise ValueError(f"Pause needs a non-negative number of seconds, got {self.seconds!r}")


@dataclasses.dataclass(frozen=True)
class Drop:
    """A body item: abort the connection right here, with a TCP reset and no proper ending.

    A chunked body gets no terminating chunk, a ``length`` body stays short of its
    Content-Length.
    """


@dataclasses.dataclass(frozen=True)
class Silence:
    """A body item: write nothing more, and hold the connection open until the client
    disconnects or the server stops."""


#: One item of a :class:`Reply` body. ``str`` is sent UTF-8 encoded.
BodyItem = Union[bytes, str, Pause, Drop, Silence]


@dataclasses.dataclass
class Reply:
    """One scripted response.

    ``status`` is the status code. ``headers`` are the response headers: ``None`` sends
    ``Content-Type: text/event-stream`` and ``Cache-Control: no-cache``; a mapping sends exactly
    those headers (``{}`` sends none), so a test can send a wrong content type or none. The
    server adds only what the framing needs (``Transfer-Encoding``, ``Content-Length``,
    ``Connection: close``).

    ``body`` is consumed lazily, item by item, while the response is written, so a generator
    may block or decide what comes next; an iterator can therefore be served only once (use a
    callable responder to make a fresh one per request). A lone ``bytes`` or ``str`` is one
    item. Each ``bytes``/``str`` item is sent at once; empty items are skipped.

    ``framing`` is ``"chunked"`` (each item one HTTP chunk; HTTP/1.0 clients get ``"close"``),
    ``"close"`` (no length, no chunking; the end of the body is the connection closing) or
    ``"length"`` (Content-Length; the body is gathered before sending, so it may hold only
    ``bytes`` and ``str``).

    ``drop_at`` aborts the connection (as :class:`Drop` does) once exactly that many body bytes
    have been written, cutting inside an item if need be: mid-line, between CR and LF, inside a
    UTF-8 character. In chunked framing the bytes before the cut go out as one complete chunk,
    so a client gets all of them before the reset. If the body ends first, the connection is
    aborted at its end. ``None`` never aborts; ``0`` aborts right after the headers.
    """

    status: int = 200
    headers: Optional[Mapping[str, str]] = None
    body: Union[bytes, str, Iterable[BodyItem]] = ()
    framing: str = "chunked"
    drop_at: Optional[int] = None

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise TypeError(f"Reply status must be an int, got {self.status!r}")
        if not 100 <= self.status <= 999:
            raise ValueError(f"Reply status must be a three-digit code, got {self.status!r}")
        if self.framing not in _FRAMINGS:
            raise ValueError(f"Reply framing must be one of {_FRAMINGS}, got {self.framing!r}")
        drop_at = self.drop_at
        if drop_at is not None and (
            isinstance(drop_at, bool) or not isinstance(drop_at, int) or drop_at < 0
        ):
            raise ValueError(f"Reply drop_at must be None or an int >= 0, got {drop_at!r}")
        if self.framing == "length" and isinstance(self.body, (list, tuple)):
            _join_for_length(self.body)


def redirect(location: str, status: int = 302) -> Reply:
    """A redirect to ``location`` (absolute, or relative to the request) with an empty body."""
    if not 300 <= status <= 399:
        raise ValueError(f"a redirect status must be 3xx, got {status!r}")
    return Reply(status=status, headers={"Location": location}, framing="length")


def sse(*items: Union[Event, str, bytes]) -> bytes:
    """Concatenate wire-format SSE: an :class:`Event` is written with ``Event.encode()``, ``str``
    (UTF-8) and ``bytes`` pass through untouched, so malformed streams can be scripted too."""
    parts = []
    for item in items:
        if isinstance(item, Event):
            parts.append(item.encode())
        elif isinstance(item, str):
            parts.append(item.encode("utf-8"))
        elif isinstance(item, bytes):
            parts.append(item)
        else:
            raise TypeError(f"sse() takes Event, str or bytes items, got {item!r}")
    return b"".join(parts)


# --- What the server received -------------------------------------------------------------


class _Headers(Mapping[str, str]):
    """Header fields by case-insensitive name; a repeated field's values are joined with ", "
    (RFC 9110 section 5.3). Iterating gives the names as first received."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[Tuple[str, str]] = ()) -> None:
        self._fields: dict[str, Tuple[str, str]] = {}
        for name, value in fields:
            key = name.lower()
            if key in self._fields:
                first_name, earlier = self._fields[key]
                self._fields[key] = (first_name, earlier + ", " + value)
            else:
                self._fields[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    ``path`` is the target without its query string (``"/chat"``), ``target`` the raw request
    target (``"/chat?offset=3"``), ``query`` the parsed query string (blank values kept).
    ``headers`` is a case-insensitive mapping (``headers["last-event-id"]``); a repeated
    field's values are joined with ``", "``. ``body`` is the request body, de-chunked.
    """

    method: str
    path: str
    target: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, _Headers):
            object.__setattr__(self, "headers", _Headers(self.headers.items()))

    def json(self, **loads_kwargs: Any) -> Any:
        """Parse ``body`` as JSON (``json.loads`` keyword arguments are passed through)."""
        return _json.loads(self.body, **loads_kwargs)

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The value of header ``name`` (any case), or ``default`` when it was not sent."""
        return self.headers.get(name, default)


#: What :meth:`SSEServer.route` serves: one Reply for every request, a sequence of Replies
#: served in order (the last one repeats), or a callable making the Reply for each request.
Responder = Union[Reply, Sequence[Reply], Callable[[RecordedRequest], Reply]]


# --- The server ---------------------------------------------------------------------------


class _BadRequest(Exception):
    """The client sent something that is not HTTP/1.x; answered with 400."""


class _ClientGone(ConnectionError):
    """The client closed its side in the middle of a request."""


class _Abort(Exception):
    """End the connection with a TCP reset (Drop, drop_at, or a body that failed mid-way)."""


@dataclasses.dataclass(frozen=True)
class _Incoming:
    request: RecordedRequest
    http11: bool
    keep_alive: bool


@dataclasses.dataclass(frozen=True)
class _Plan:
    """A response ready to write: its head, and its body items (None when it has no body)."""

    head: bytes
    items: Optional[Iterable[BodyItem]]
    chunked: bool
    drop_at: Optional[int]
    keep_alive: bool


@dataclasses.dataclass
class _Route:
    responder: Union[Reply, Tuple[Reply, ...], Callable[[RecordedRequest], Reply]]
    methods: Optional[frozenset[str]]
    served: int = 0

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods

    def next_responder(self) -> Union[Reply, Callable[[RecordedRequest], Reply]]:
        """The Reply (or callable) for the next request. Called with the server's lock held."""
        if isinstance(self.responder, tuple):
            reply = self.responder[min(self.served, len(self.responder) - 1)]
            self.served += 1
            return reply
        return self.responder


@dataclasses.dataclass(frozen=True)
class _Sockets:
    """What exists only while the server runs."""

    listener: socket.socket
    wake_reader: socket.socket  # becomes readable, for good, when stop() begins
    wake_writer: socket.socket
    port: int


class SSEServer:
    """A threaded HTTP/1.1 server on ``host``:``port`` (0 picks a free port) that serves scripted
    :class:`Reply` objects and records every request.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. It can be started
    once. Routes may be added or replaced at any time, also while it runs.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._requested_port = port
        #: Set when :meth:`stop` begins; a blocking callable responder should watch it.
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._request_arrived = threading.Condition(self._lock)
        self._routes: dict[str, _Route] = {}
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._accepted = 0  # connections accepted so far, for tests of keep-alive
        self._sockets: Optional[_Sockets] = None
        self._acceptor: Optional[threading.Thread] = None
        self._stopped = False

    # Life cycle

    def start(self) -> SSEServer:
        """Bind, listen and start accepting. Returns the server. Raises RuntimeError if it was
        started before."""
        with self._lock:
            if self._sockets is not None or self._stopped:
                raise RuntimeError("an SSEServer can be started only once")
            self._sockets = _open_sockets(self._host, self._requested_port)
            self._acceptor = threading.Thread(
                target=self._accept_loop,
                name=f"SSEServer-{self._sockets.port}-accept",
                daemon=True,
            )
            self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, set :attr:`stopping`, end every response (waking Pause and Silence),
        close every socket and join every thread the server started. Calling it again, or on a
        server never started, does nothing.

        Returns within about two seconds even if a callable responder ignores
        :attr:`stopping`; such threads are logged as a warning and left running.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.stopping.set()
        sockets = self._sockets
        if sockets is None:
            return
        deadline = time.monotonic() + _STOP_TIMEOUT
        _quietly(sockets.wake_writer.send, b"x")
        if self._acceptor is not None:
            self._acceptor.join(_STOP_TIMEOUT / 2)
        with self._lock:
            # Under the lock, because a connection's thread closes its socket under it too: a
            # shutdown() racing a close() could hit a file descriptor number already reused.
            for conn in self._connections:
                _quietly(conn.shutdown, socket.SHUT_RDWR)
            threads = list(self._threads)
        # A responder may call stop() itself; its own thread ends after it returns.
        others = [thread for thread in threads if thread is not threading.current_thread()]
        for thread in others:
            thread.join(max(0.0, deadline - time.monotonic()))
        for sock in (sockets.listener, sockets.wake_reader, sockets.wake_writer):
            sock.close()
        busy = [thread.name for thread in others if thread.is_alive()]
        if busy:
            logger.warning(
                "SSEServer.stop: %d connection threads still busy (a callable responder or body "
                "generator ignoring server.stopping?): %s",
                len(busy),
                ", ".join(busy),
            )

    def __enter__(self) -> SSEServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Addresses

    @property
    def port(self) -> int:
        """The port the server listens on (known once started)."""
        return self._running().port

    @property
    def url(self) -> str:
        """The base URL, such as ``"http://127.0.0.1:8123"`` (known once started)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def url_for(self, path: str) -> str:
        """The absolute URL of ``path`` (``"/stream"`` or ``"stream"``) on this server."""
        return self.url + "/" + path.lstrip("/")

    # Scripting and inspection

    def route(
        self, path: str, responder: Responder, methods: Optional[Collection[str]] = None
    ) -> None:
        """Serve ``responder`` at ``path`` (exact match, query string ignored).

        A :class:`Reply` is served to every request; a sequence of Replies is served one per
        request in order, its last one repeating once exhausted; a callable is called with the
        :class:`RecordedRequest` in the connection's own thread (it may block, watching
        :attr:`stopping`) and must return a Reply. ``methods`` limits the route to those
        methods, in any case (``None``: any method; a single string is one method). A later
        route for the same path replaces this one. Requests for an unknown path, or with a
        method not allowed, get a 404.
        """
        if not path.startswith("/") or "?" in path:
            raise ValueError(f"a route path starts with '/' and has no query, got {path!r}")
        allowed = None
        if methods is not None:
            allowed = frozenset([methods] if isinstance(methods, str) else methods)
            allowed = frozenset(method.upper() for method in allowed)
        route = _Route(_check_responder(responder), allowed)
        with self._lock:
            self._routes[path] = route

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, 404s included, in arrival order."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests have arrived and return them all (a copy).

        Raises TimeoutError if they have not within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._request_arrived:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(f"{r.method} {r.target}" for r in self._requests) or "none"
                    raise TimeoutError(
                        f"waited {timeout} s for {count} requests to {self.url}, "
                        f"{len(self._requests)} arrived: {seen}"
                    )
                self._request_arrived.wait(remaining)
            return list(self._requests)

    @property
    def open_connections(self) -> int:
        """How many client connections are open right now."""
        with self._lock:
            return len(self._connections)

    # Accepting

    def _running(self) -> _Sockets:
        sockets = self._sockets
        if sockets is None:
            raise RuntimeError("the SSEServer is not started: call start() or use `with`")
        return sockets

    def _accept_loop(self) -> None:
        sockets = self._running()
        try:
            with _Selector() as selector:
                selector.register(sockets.listener, selectors.EVENT_READ)
                selector.register(sockets.wake_reader, selectors.EVENT_READ)
                while not self.stopping.is_set():
                    selector.select(_POLL_INTERVAL)
                    self._accept_pending(sockets.listener)
        except Exception:
            logger.exception("SSEServer: the accept loop failed")

    def _accept_pending(self, listener: socket.socket) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                return
            except ConnectionError:
                continue  # the client gave up while queued
            except OSError:
                logger.warning("SSEServer: accept failed; retrying shortly", exc_info=True)
                self.stopping.wait(0.05)  # out of file descriptors: do not spin
                return
            self._adopt(conn)

    def _adopt(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        # Events must leave at once, not wait for Nagle to fill a segment.
        _quietly(conn.setsockopt, socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self.stopping.is_set():
                conn.close()
                return
            self._accepted += 1
            self._threads = {thread for thread in self._threads if thread.is_alive()}
            thread = threading.Thread(
                target=self._serve_connection,
                args=(conn,),
                name=f"SSEServer-{self._running().port}-conn-{self._accepted}",
                daemon=True,
            )
            self._connections.add(conn)
            self._threads.add(thread)
            try:
                thread.start()
            except RuntimeError:
                logger.warning("SSEServer: cannot start a thread; closing the connection")
                self._connections.discard(conn)
                self._threads.discard(thread)
                conn.close()

    # Serving one connection

    def _serve_connection(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        abort = False
        try:
            self._serve_requests(conn, reader)
        except _Abort:
            abort = True
        except OSError:
            pass  # the client went away, or stop() shut the socket: nothing to report
        except Exception:
            logger.exception("SSEServer: a response failed mid-way; resetting the connection")
            abort = True
        finally:
            reader.close()
            with self._lock:
                self._connections.discard(conn)
                if abort:
                    _set_reset_on_close(conn)
                conn.close()

    def _serve_requests(self, conn: socket.socket, reader: IO[bytes]) -> None:
        while not self.stopping.is_set():
            try:
                incoming = _read_request(reader, conn)
            except _BadRequest as exc:
                reply = _text_reply(400, f"bad request: {exc}\n")
                conn.sendall(_write_all(_plan(reply, "GET", http11=True, keep_alive=False)))
                return
            if incoming is None:
                return
            with self._request_arrived:
                self._requests.append(incoming.request)
                self._request_arrived.notify_all()
            if not self._respond(conn, incoming):
                return

    def _respond(self, conn: socket.socket, incoming: _Incoming) -> bool:
        """Write one response. True when the connection stays open for another request."""
        request = incoming.request
        try:
            reply = self._reply_for(request)
            plan = _plan(reply, request.method, incoming.http11, incoming.keep_alive)
        except Exception:
            logger.exception("SSEServer: no reply for %s %s", request.method, request.target)
            reply = _text_reply(500, traceback.format_exc())
            plan = _plan(reply, request.method, incoming.http11, incoming.keep_alive)
        conn.sendall(plan.head)
        if plan.items is None:
            return plan.keep_alive
        return self._write_body(conn, plan) and plan.keep_alive

    def _reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            route = self._routes.get(request.path)
            if route is None:
                return _text_reply(404, f"no route for {request.path}\n")
            if not route.allows(request.method):
                allowed = ", ".join(sorted(route.methods or ()))
                return _text_reply(
                    404, f"{request.path} does not accept {request.method} (only {allowed})\n"
                )
            responder = route.next_responder()
        if isinstance(responder, Reply):
            return responder
        reply = responder(request)
        if not isinstance(reply, Reply):
            raise TypeError(f"the responder for {request.path} returned {reply!r}, not a Reply")
        return reply

    def _write_body(self, conn: socket.socket, plan: _Plan) -> bool:
        """Write the body items. False when it ended early and the connection must close."""
        assert plan.items is not None
        writer = _BodyWriter(conn, plan.chunked, plan.drop_at)
        items = iter(plan.items)
        try:
            for item in items:
                if isinstance(item, (bytes, str)):
                    writer.write(item.encode("utf-8") if isinstance(item, str) else item)
                elif isinstance(item, Pause):
                    if not self._wait(conn, item.seconds):
                        return False
                elif isinstance(item, Silence):
                    self._wait(conn, None)
                    return False
                elif isinstance(item, Drop):
                    raise _Abort
                else:
                    raise TypeError(
                        f"a Reply body item must be bytes, str, Pause, Drop or Silence: {item!r}"
                    )
            writer.finish()
            return True
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # run a generator's cleanup now, in this thread

    def _wait(self, conn: socket.socket, seconds: Optional[float]) -> bool:
        """Wait ``seconds`` (``None``: with no end). True when the time ran out; False as soon
        as the client went away or the server began stopping."""
        if self.stopping.is_set():
            return False
        deadline = None if seconds is None else time.monotonic() + seconds
        with _Selector() as selector:
            selector.register(self._running().wake_reader, selectors.EVENT_READ)
            selector.register(conn, selectors.EVENT_READ)
            while not self.stopping.is_set():
                timeout = _POLL_INTERVAL if deadline is None else deadline - time.monotonic()
                if timeout <= 0:
                    return True
                for key, _ in selector.select(min(timeout, _POLL_INTERVAL)):
                    if key.fileobj is not conn:
                        continue
                    if _peer_closed(conn):
                        return False
                    # The client sent more (a pipelined request), so it is still there; stop
                    # watching it and leave the bytes for the next request.
                    selector.unregister(conn)
        return False


class _BodyWriter:
    """Writes body bytes in the response's framing, counting them to honour ``drop_at``."""

    def __init__(self, conn: socket.socket, chunked: bool, drop_at: Optional[int]) -> None:
        self._conn = conn
        self._chunked = chunked
        self._drop_at = drop_at
        self._written = 0

    def write(self, data: bytes) -> None:
        if self._drop_at is not None and self._written + len(data) >= self._drop_at:
            self._send(data[: self._drop_at - self._written])
            raise _Abort
        self._send(data)

    def finish(self) -> None:
        if self._drop_at is not None:
            raise _Abort
        if self._chunked:
            self._conn.sendall(b"0\r\n\r\n")

    def _send(self, data: bytes) -> None:
        if not data:
            return  # an empty chunk would end a chunked body
        self._written += len(data)
        if self._chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self._conn.sendall(data)


# --- Helpers ------------------------------------------------------------------------------


def _open_sockets(host: str, port: int) -> _Sockets:
    wake_reader, wake_writer = socket.socketpair()
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=_BACKLOG)
    except BaseException:
        wake_reader.close()
        wake_writer.close()
        raise
    listener.setblocking(False)
    return _Sockets(listener, wake_reader, wake_writer, int(listener.getsockname()[1]))


def _check_responder(
    responder: Responder,
) -> Union[Reply, Tuple[Reply, ...], Callable[[RecordedRequest], Reply]]:
    if isinstance(responder, Reply):
        return responder
    if isinstance(responder, Sequence):
        replies = tuple(responder)
        if not replies:
            raise ValueError("a sequence responder needs at least one Reply")
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"a sequence responder holds Replies only, got {reply!r}")
        return replies
    if callable(responder):
        return responder
    raise TypeError(f"a responder is a Reply, a sequence of Replies or a callable: {responder!r}")


def _text_reply(status: int, text: str) -> Reply:
    return Reply(
        status=status,
        headers={"Content-Type": "text/plain; charset=utf-8"},
        body=(text,),
        framing="length",
    )


def _body_items(body: Union[bytes, str, Iterable[BodyItem]]) -> Iterable[BodyItem]:
    return (body,) if isinstance(body, (bytes, str)) else body


def _join_for_length(items: Iterable[BodyItem]) -> bytes:
    parts = []
    for item in items:
        if isinstance(item, str):
            parts.append(item.encode("utf-8"))
        elif isinstance(item, bytes):
            parts.append(item)
        else:
            raise TypeError(
                f'a Reply with framing="length" may hold only bytes and str, got {item!r}'
            )
    return b"".join(parts)


def _plan(reply: Reply, method: str, http11: bool, keep_alive: bool) -> _Plan:
    framing = reply.framing
    if framing == "chunked" and not http11:
        framing = "close"  # HTTP/1.0 has no chunked encoding
    headers = list((_DEFAULT_HEADERS if reply.headers is None else reply.headers).items())
    items: Optional[Iterable[BodyItem]] = _body_items(reply.body)
    if method.upper() == "HEAD" or reply.status < 200 or reply.status in (204, 304):
        items = None
    elif framing == "length":
        payload = _join_for_length(_body_items(reply.body))
        items = (payload,)
        headers.append(("Content-Length", str(len(payload))))
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
    keep_alive = keep_alive and framing != "close"
    if not keep_alive:
        headers.append(("Connection", "close"))
    head = _encode_head(reply.status, headers)
    return _Plan(head, items, framing == "chunked", reply.drop_at, keep_alive)


def _write_all(plan: _Plan) -> bytes:
    """The whole response of a plan whose body is bytes only (for the 400 answer)."""
    return plan.head + _join_for_length(plan.items or ())


def _encode_head(status: int, headers: Iterable[Tuple[str, str]]) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_request(reader: IO[bytes], conn: socket.socket) -> Optional[_Incoming]:
    """Read one request; None when the client closed the connection between requests."""
    try:
        line = _read_line(reader)
        if not line:
            line = _read_line(reader)  # RFC 9112 2.2: ignore a blank line before a request
    except _ClientGone:
        return None
    parts = line.decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(f"not an HTTP/1.x request line: {line!r}")
    method, target, version = parts
    headers = _Headers(_read_fields(reader))
    http11 = version != "HTTP/1.0"
    if http11 and headers.get("expect", "").lower() == "100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = _read_body(reader, headers)
    path, _, query = target.partition("?")
    request = RecordedRequest(
        method=method,
        path=path,
        target=target,
        query=parse_qs(query, keep_blank_values=True),
        headers=headers,
        body=body,
    )
    tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    return _Incoming(request, http11, keep_alive=http11 and "close" not in tokens)


def _read_line(reader: IO[bytes]) -> bytes:
    """One line without its line end. Raises _ClientGone at the end of the stream."""
    line = reader.readline(_MAX_LINE + 1)
    if not line.endswith(b"\n"):
        if len(line) > _MAX_LINE:
            raise _BadRequest(f"a line longer than {_MAX_LINE} bytes")
        raise _ClientGone("the client closed the connection mid-request")
    return line[:-2] if line.endswith(b"\r\n") else line[:-1]


def _read_fields(reader: IO[bytes]) -> list[Tuple[str, str]]:
    fields: list[Tuple[str, str]] = []
    while True:
        line = _read_line(reader)
        if not line:
            return fields
        if len(fields) >= _MAX_HEADER_FIELDS:
            raise _BadRequest(f"more than {_MAX_HEADER_FIELDS} header fields")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip():
            raise _BadRequest(f"not a header field: {line!r}")
        fields.append((name, value.strip()))


def _read_body(reader: IO[bytes], headers: Mapping[str, str]) -> bytes:
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.split(",")[-1].strip().lower() != "chunked":
            raise _BadRequest(f"unsupported Transfer-Encoding {coding!r}")
        return _read_chunked(reader)
    length = headers.get("content-length")
    if length is None:
        return b""
    if not (length.isascii() and length.isdigit()):
        raise _BadRequest(f"bad Content-Length {length!r}")
    if int(length) > _MAX_REQUEST_BODY:
        raise _BadRequest(f"a body over {_MAX_REQUEST_BODY} bytes")
    return _read_exactly(reader, int(length))


def _read_chunked(reader: IO[bytes]) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_field = _read_line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise _BadRequest(f"bad chunk size {size_field!r}") from None
        if size < 0 or total + size > _MAX_REQUEST_BODY:
            raise _BadRequest(f"bad chunk size {size_field!r}")
        if size == 0:
            _read_fields(reader)  # trailer fields, ignored
            return b"".join(parts)
        total += size
        parts.append(_read_exactly(reader, size))
        if _read_line(reader):
            raise _BadRequest("a chunk not followed by CRLF")


def _read_exactly(reader: IO[bytes], size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise _ClientGone("the client closed the connection mid-body")
    return data


def _peer_closed(conn: socket.socket) -> bool:
    """After a readable select(): has the client closed (or reset) its side?"""
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def _set_reset_on_close(conn: socket.socket) -> None:
    # SO_LINGER on with a zero timeout makes close() send RST instead of FIN, so the client
    # sees a broken connection, not a clean end. Windows' struct linger holds two u_shorts.
    linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
    _quietly(conn.setsockopt, socket.SOL_SOCKET, socket.SO_LINGER, linger)


def _quietly(operation: Callable[..., object], *args: Any) -> None:
    """Run a socket operation whose failure only means the socket is already gone."""
    with contextlib.suppress(OSError):
        operation(*args)
