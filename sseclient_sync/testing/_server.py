"""The server's sockets and threads: everything it starts, it ends. One accept thread, and one
thread per client connection (doing the TLS handshake too, so a slow client holds up nobody);
:meth:`SSEServer.stop` wakes every wait, closes every socket and joins every thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import selectors
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from typing import Any, Callable, Collection, Optional

from . import _writer
from ._replies import text_reply
from ._routes import RecordedRequest, Recorder, Responder, Routes
from ._wire import BadRequest, Incoming, SocketReader, read_request

logger = logging.getLogger(__name__)

#: Large enough that 500 clients connecting at once are all queued, never refused.
_BACKLOG = 1024
#: How long stop() waits, in all, for the server's threads to end.
_STOP_TIMEOUT = 2.0
#: Waits with no deadline of their own (Silence, the accept loop) look at ``stopping`` this often.
_POLL_INTERVAL = 1.0
# poll() needs no file descriptor of its own, unlike epoll; hundreds of waiting connections
# would otherwise double the process's open files.
_Selector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.SelectSelector
)


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

    ``tls`` is a server-side ``ssl.SSLContext`` (``ssl.create_default_context(
    ssl.Purpose.CLIENT_AUTH)`` with a certificate loaded) to serve HTTPS; ``None`` serves plain
    HTTP. To check client certificates, set its ``verify_mode`` to ``ssl.CERT_REQUIRED`` (or
    ``CERT_OPTIONAL``) and load the CA: the certificate a client presented is then in
    :attr:`RecordedRequest.client_cert`. ``handshake_timeout`` bounds each TLS handshake, in
    seconds; a client that has not finished it by then is disconnected.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. It can be started
    once. Routes may be added or replaced at any time, also while it runs.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: Optional[ssl.SSLContext] = None,
        handshake_timeout: float = 5.0,
    ) -> None:
        if tls is not None and not isinstance(tls, ssl.SSLContext):
            raise TypeError(f"SSEServer tls must be an ssl.SSLContext or None, got {tls!r}")
        if tls is not None and tls.check_hostname:
            raise ValueError(
                "SSEServer tls needs a server-side context (check_hostname off), such as "
                "ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)"
            )
        if isinstance(handshake_timeout, bool) or not (
            isinstance(handshake_timeout, (int, float))
            and handshake_timeout > 0
            and math.isfinite(handshake_timeout)
        ):
            raise ValueError(
                f"SSEServer handshake_timeout must be a positive number of seconds, "
                f"got {handshake_timeout!r}"
            )
        self._host = host
        self._requested_port = port
        self._tls = tls
        self._handshake_timeout = float(handshake_timeout)
        #: Set when :meth:`stop` begins; a blocking callable responder should watch it.
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._routes = Routes()
        self._recorder = Recorder()
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._accepted = 0
        self._sockets: Optional[_Sockets] = None
        self._acceptor: Optional[threading.Thread] = None
        self._stopped = False

    # Life cycle

    def start(self) -> SSEServer:
        """Bind, listen and start accepting; return the server. RuntimeError if started before."""
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
            # Under the lock, as connection threads close their sockets under it: a shutdown()
            # racing a close() could hit a reused file descriptor. socket.socket's shutdown, as
            # ssl.SSLSocket's would drop TLS state a handshake may be using.
            for conn in self._connections:
                _quietly(socket.socket.shutdown, conn, socket.SHUT_RDWR)
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
        """The base URL, such as ``"http://127.0.0.1:8123"`` (``https://`` with ``tls``; known
        once started)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "http" if self._tls is None else "https"
        return f"{scheme}://{host}:{self.port}"

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
        self._routes.add(path, responder, methods)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, 404s included, in arrival order."""
        return self._recorder.snapshot()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests have arrived and return them all (a copy);
        TimeoutError if they have not within ``timeout`` seconds."""
        return self._recorder.wait_for(count, timeout, self.url)

    @property
    def open_connections(self) -> int:
        """How many client connections are open right now."""
        with self._lock:
            return len(self._connections)

    @property
    def connections_accepted(self) -> int:
        """How many client connections the server has accepted since it started (a test of
        keep-alive checks that several requests shared one)."""
        with self._lock:
            return self._accepted

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
        if self._tls is not None:
            try:
                # No I/O yet: the handshake happens in the connection's own thread.
                conn = self._tls.wrap_socket(
                    conn, server_side=True, do_handshake_on_connect=False
                )
            except OSError:
                conn.close()
                return
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
        reset = False
        try:
            client_cert = self._handshake(conn)
            self._serve_requests(conn, SocketReader(conn), client_cert)
        except _writer.Abort:
            reset = True
        except ssl.SSLError as exc:
            logger.debug("SSEServer: TLS failed: %s", exc)
        except OSError:
            pass  # the client went away, or stop() shut the socket: nothing to report
        except Exception:
            logger.exception("SSEServer: a response failed mid-way; resetting the connection")
            reset = True
        finally:
            with self._lock:
                self._connections.discard(conn)
                if reset:
                    _set_reset_on_close(conn)
                conn.close()

    def _handshake(self, conn: socket.socket) -> Optional[dict[str, Any]]:
        """Over TLS, do the handshake within ``handshake_timeout`` (raising OSError past it)
        and return the client's certificate, if it presented one the context verified."""
        if not isinstance(conn, ssl.SSLSocket):
            return None
        conn.settimeout(self._handshake_timeout)
        conn.do_handshake()
        conn.settimeout(None)
        return conn.getpeercert() or None

    def _serve_requests(
        self, conn: socket.socket, reader: SocketReader, client_cert: Optional[dict[str, Any]]
    ) -> None:
        while not self.stopping.is_set():
            try:
                incoming = read_request(reader, conn.sendall, client_cert)
            except BadRequest as exc:
                reply = text_reply(400, f"bad request: {exc}\n")
                conn.sendall(_writer.whole(_writer.plan(reply, "GET", True, keep_alive=False)))
                return
            if incoming is None:
                return
            self._recorder.record(incoming.request)
            if not self._respond(conn, reader, incoming):
                return

    def _respond(self, conn: socket.socket, reader: SocketReader, incoming: Incoming) -> bool:
        """Write one response. True when the connection stays open for another request."""
        request = incoming.request
        try:
            reply = self._routes.reply_for(request)
            plan = _writer.plan(reply, request.method, incoming.http11, incoming.keep_alive)
        except Exception:
            logger.exception("SSEServer: no reply for %s %s", request.method, request.target)
            reply = text_reply(500, traceback.format_exc())
            plan = _writer.plan(reply, request.method, incoming.http11, incoming.keep_alive)
        return _writer.write(conn, plan, lambda seconds: self._wait(conn, reader, seconds))

    def _wait(self, conn: socket.socket, reader: SocketReader, seconds: Optional[float]) -> bool:
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
                    if reader.peer_closed():
                        return False
                    if reader.buffered:
                        # The client sent more (a pipelined request), so it is still there;
                        # stop watching it and leave the bytes for the next request.
                        selector.unregister(conn)
        return False


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


def _set_reset_on_close(conn: socket.socket) -> None:
    # SO_LINGER on with a zero timeout makes close() send RST instead of FIN, so the client
    # sees a broken connection, not a clean end. Windows' struct linger holds two u_shorts.
    linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
    _quietly(conn.setsockopt, socket.SOL_SOCKET, socket.SO_LINGER, linger)


def _quietly(operation: Callable[..., object], *args: Any) -> None:
    """Run a socket operation whose failure only means the socket is already gone."""
    with contextlib.suppress(OSError):
        operation(*args)
