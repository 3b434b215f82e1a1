"""Connection: the public face of one event stream, and the wiring of its parts.

The rule this module owns: a connection is used from any thread through this API only, and
``close()`` always returns, whatever the reader is doing. The reading, the policy and the
delivery live in ``_reader``, ``_policy`` and ``_dispatch``; this module holds no rule of
theirs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Callable, Iterable, Iterator, Optional

from ._dispatch import Dispatcher, Latch, wait_in_slices
from ._http import RequestsTransport
from ._models import Event, Stats, Status
from ._options import DEFAULT_RUNTIME, Options, Runtime, normalise_method
from ._parser import SSEParser
from ._reader import Lifecycle, Reader, Supervisor, in_a_reader_thread
from ._transport import Transport

__all__ = ["Connection", "close_together"]

log = logging.getLogger(__name__)

#: How long ``close()`` waits for a reader thread that is inside a user callback.
CLOSE_JOIN_TIMEOUT = 2.0
#: While close() waits for the reader, how often it interrupts the reader's I/O again.
_REINTERRUPT_INTERVAL = 0.005

Handler = Callable[[Event], Any]


class Connection:
    """One Server-Sent Events stream, read by its own daemon thread.

    Made by ``create_sse_connection`` / ``ConnectionManager.create``; see the README for the
    options. Iterate it for the events, or give callbacks. A context manager: leaving the
    ``with`` block closes it. ``transport``, ``runtime`` and ``supervisor`` are seams for
    the manager and for tests.
    """

    __slots__ = ("_closer", "_dispatcher", "_life", "_options", "_reader", "id", "url")

    def __init__(
        self,
        url: str,
        options: Options,
        *,
        transport: Optional[Transport] = None,
        runtime: Runtime = DEFAULT_RUNTIME,
        supervisor: Optional[Supervisor] = None,
    ) -> None:
        self.id: str = uuid.uuid4().hex[:12]
        self.url: str = url
        self._options = options
        if transport is None:
            transport = RequestsTransport(options.session)
        stop = Latch()
        self._dispatcher = Dispatcher(url, options, stop)
        self._life = life = Lifecycle(
            stop,
            self._dispatcher,
            runtime,
            connection=self,
            supervisor=supervisor,
            on_status=options.on_status,
        )
        parser = SSEParser(
            last_event_id=options.last_event_id or None, max_event_size=options.max_event_size
        )
        method = normalise_method(options.method)
        self._reader = Reader(
            url,
            method=method,
            options=options,
            transport=transport,
            lifecycle=life,
            parser=parser,
        )
        self._closer: Optional[threading.Thread] = None  # the thread whose close() runs

    # -- state --------------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        """The current :class:`Status`."""
        return self._life.status

    @property
    def last_event_id(self) -> Optional[str]:
        """The last event ID the stream set (sent as ``Last-Event-ID`` on reconnect)."""
        return self._reader.parser.last_event_id

    @property
    def error(self) -> Optional[BaseException]:
        """The error the connection failed with, once it is FAILED."""
        return self._life.error

    def is_open(self) -> bool:
        """True while a stream is open and delivering (status OPEN)."""
        return self._life.status is Status.OPEN

    def stats(self) -> Stats:
        """A snapshot of the counters (see :class:`Stats`)."""
        return self._life.stats()

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> Connection:
        """Start the reader thread (done for you by ``create_sse_connection``)."""
        self._reader.start(f"sseclient-sync-{self.id}")
        return self

    def wait_open(self) -> Connection:
        """Block until the stream is open, polling, or ended; raise the error if it failed
        before ever opening."""
        life = self._life
        wait_in_slices(life.opened, None)
        if life.status is Status.FAILED and life.error is not None and not life.was_open:
            raise life.error
        # A stream that opened and then failed is returned: its events are there to iterate,
        # and iteration raises the error after them.
        return self

    def wait(self, timeout: Optional[float] = None) -> Status:
        """Block until the connection ends (completed, closed or failed), or ``timeout``
        seconds pass; return the status."""
        wait_in_slices(self._life.ended, timeout)
        return self._life.status

    def reconnect(self) -> None:
        """Drop the current stream and open a new one at once (resuming from the last event ID),
        without waiting out a backoff. Does nothing once the connection has ended."""
        if self._life.status.is_final or self._life.stop.is_set():
            return
        self._reader.force_reconnect = True
        self._reader.wake.set()
        self._reader.interrupt()

    def restart_reader(self, cause: BaseException) -> None:
        """Start a new reader thread after the last one died of an internal error: a reconnect
        from the resume state, counted in ``reconnect_count`` and within the Retry budget.
        The manager's supervision calls this."""
        if self._life.status.is_final or self._life.stop.is_set():
            return
        self._reader.interrupt()
        self._reader.start(f"sseclient-sync-{self.id}", self._reader.death(cause))

    def close(self) -> None:
        """Stop the stream and the reader thread. Safe from any thread, from inside a callback,
        and twice (the second call does nothing). Events not yet iterated are discarded. From
        a callback it does not wait for the reader thread, which ends once its callback
        returns."""
        self._close(time.monotonic() + CLOSE_JOIN_TIMEOUT)

    def _close(self, deadline: float) -> None:
        """close(), waiting for the reader until ``deadline`` at the most."""
        life, reader = self._life, self._reader
        current = threading.current_thread()
        with life.lock:
            closer = self._closer
            if closer is None:
                self._closer = current
            thread = reader.thread
        if closer is not None:
            # Another close() is under way (close_all() in another thread, say): return once
            # the connection is closed, as that call will. Not in the threads it may be waiting
            # for (the reader, inside a callback) or running callbacks in (its own on_close).
            if current is not closer and current is not thread:
                life.ended.wait(CLOSE_JOIN_TIMEOUT + 1.0)
            return
        try:
            self._stop_soon()
            self._dispatcher.discard()
            self._wait_for_the_reader(thread, current, deadline)
        finally:
            # Also past a Ctrl-C in the wait: this call claimed the closing (a second close()
            # returns at once), so the connection ends here or never.
            reader.finish(Status.CLOSED, None)
            self._dispatcher.discard()
            if thread is None or not thread.is_alive():
                reader.transport.close()

    def _wait_for_the_reader(
        self, thread: Optional[threading.Thread], current: threading.Thread, deadline: float
    ) -> None:
        """close()'s wait for the reader thread, until ``deadline`` at the most."""
        if thread is not None and thread is not current and in_a_reader_thread():
            # From another connection's callback, no join: two readers closing each other's
            # connections at once (close_all() in both) would each wait for the other. A
            # thread of its own interrupts the reader until it ends (the first interrupt can
            # come before its request has a socket).
            threading.Thread(
                target=self._join_interrupting,
                args=(thread, deadline),
                name=f"{thread.name}-closer",
                daemon=True,
            ).start()
        elif (
            thread is not None
            and thread is not current
            and self._join_interrupting(thread, deadline)
            and thread.is_alive()
        ):
            log.warning(
                "the reader of %s is still inside a callback %.1fs after close(); it stops "
                "when that callback returns",
                self.url,
                CLOSE_JOIN_TIMEOUT,
            )

    def _stop_soon(self) -> None:
        """Tell the reader to stop, without waiting for it (close() waits)."""
        self._life.stop.set()
        self._reader.wake.set()
        self._reader.interrupt()

    def _join_interrupting(self, thread: threading.Thread, deadline: float) -> bool:
        """Join the reader until ``deadline``, interrupting its I/O again while it runs: the
        first interrupt can come just before the reader starts a request (the transport then
        forgets it). False, at once, when the reader is in a request no interrupt reaches (a
        session of the caller's own): it ends when the headers arrive or ``timeout`` passes."""
        while True:
            thread.join(min(_REINTERRUPT_INTERVAL, max(0.0, deadline - time.monotonic())))
            if not thread.is_alive() or time.monotonic() >= deadline:
                return True
            if not self._reader.interrupt():
                return False

    # -- events -------------------------------------------------------------------------------

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """The events in order, until the connection ends; then raise its error if it failed.
        ``timeout`` bounds the wait for each next event (``TimeoutError`` past it, which ends
        this loop). A loop that breaks off and a later one share the stream: the later one
        goes on where it stopped."""
        return self._dispatcher.events(timeout, lambda: f"status: {self._life.status.value}")

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def subscribe(self, event_type: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(event)`` for each event of this type (``"message"`` for unnamed
        events), in the reader thread. Returns a function that unsubscribes it."""
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._dispatcher.subscribe(event_type, handler)
        return lambda: self.unsubscribe(event_type, handler)

    def unsubscribe(self, event_type: str, handler: Optional[Handler] = None) -> None:
        """Remove ``handler`` from ``event_type``, or every handler of it when ``None``."""
        self._dispatcher.unsubscribe(event_type, handler)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self._life.status.value} {self.url}>"


def close_together(connections: Iterable[Connection]) -> None:
    """Close ``connections``, telling every one to stop first: readers busy in callbacks are
    then waited for together, in at most one close's wait, not one after another."""
    connections = list(connections)
    deadline = time.monotonic() + CLOSE_JOIN_TIMEOUT
    for connection in connections:
        if not connection.status.is_final:
            connection._stop_soon()
    closing = iter(connections)
    try:
        for connection in closing:
            connection._close(deadline)
    except BaseException:  # Ctrl-C in one wait: the rest are told to stop, so end them too
        for connection in closing:
            connection._close(time.monotonic())
        raise
