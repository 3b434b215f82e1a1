"""The fakes the reader and connection tests drive a Connection with, through its constructor
seams (``transport=``, ``runtime=``; ``_transport=``, ``_runtime=`` of a manager): a scripted
transport and stream, a runtime whose clock, randomness and wait the test owns, a recorder of
every callback, and a harness that closes what a test made.

No sockets and no real sleeping: the fake wait records each backoff and returns at once, and
``random`` is fixed at 0.5 (no jitter), so every delay is an exact number. A fake stream that
has nothing more to say blocks on a threading.Event until the connection aborts it. Every wait
is bounded by WAIT seconds.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Iterator, Optional, Union

from support import WAIT

from sseclient_sync import (
    ConnectError,
    Connection,
    ConnectionManager,
    Event,
    HTTPStatusError,
    Status,
)
from sseclient_sync._options import Runtime, build_options
from sseclient_sync._transport import Request

URL = "http://127.0.0.1:9/stream"
POLL_URL = "http://127.0.0.1:9/poll"
BLOCKED_READ_LIMIT = 10.0  # a silent fake stream gives up after this (only if a test forgot it)

CONNECTING, OPEN, RECONNECTING, POLLING = (
    Status.CONNECTING,
    Status.OPEN,
    Status.RECONNECTING,
    Status.POLLING,
)
COMPLETED, CLOSED, FAILED = Status.COMPLETED, Status.CLOSED, Status.FAILED


# --- fakes -----------------------------------------------------------------------------------


class Gate:
    """A point in a FakeStream's script: read() stops there until the test releases it (or the
    stream is aborted). ``reached`` is set once every chunk before it has been delivered."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def wait_released(self) -> None:
        self._released.wait(WAIT)

    def wait_reached(self) -> None:
        assert self.reached.wait(WAIT), "the reader never reached the gate"


class _Silence:
    """The stream stays open and says nothing until it is aborted."""


SILENCE = _Silence()

StreamItem = Union[bytes, BaseException, Gate, _Silence]


class FakeStream:
    """Implements the Stream protocol of _transport.py from a script: bytes are returned one item
    per read(), an exception instance is raised, a Gate waits for the test, SILENCE blocks
    until abort(). After the script, read() returns b"" (the server ended the body)."""

    def __init__(self, *items: StreamItem, url: str = URL) -> None:
        self.url = url
        self._items: collections.deque[StreamItem] = collections.deque(items)
        self._gates = [item for item in items if isinstance(item, Gate)]
        self._aborted = threading.Event()
        self.aborted = False
        self.closed = False

    def read(self) -> bytes:
        while True:
            if self._aborted.is_set() or not self._items:
                return b""
            item = self._items.popleft()
            if isinstance(item, bytes):
                return item
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Gate):
                item.reached.set()
                item.wait_released()
                continue
            self._aborted.wait(BLOCKED_READ_LIMIT)
            return b""

    def abort(self) -> None:
        self.aborted = True
        self._aborted.set()
        for gate in self._gates:
            gate.release()

    def close(self) -> None:
        self.closed = True


OpenItem = Union[FakeStream, None, BaseException, Callable[[Request], Any]]


class FakeTransport:
    """Implements the Transport protocol of _transport.py from a script of answers to open():
    a FakeStream, None (a 204) or an exception instance to raise. When the script runs out,
    ``then()`` makes the next answer (by default a silent stream). Records every request.

    poll() answers from ``polls`` (bytes, or an exception to raise); past them it waits until
    abort()/close() and returns an empty list of events."""

    def __init__(
        self,
        *script: OpenItem,
        then: Optional[Callable[[], OpenItem]] = None,
        polls: tuple[Union[bytes, BaseException], ...] = (),
    ) -> None:
        self._script: collections.deque[OpenItem] = collections.deque(script)
        self._then = then
        self._polls: collections.deque[Union[bytes, BaseException]] = collections.deque(polls)
        self._changed = threading.Condition()
        self._released = threading.Event()
        self.requests: list[Request] = []
        self.timeouts: list[tuple[float, Optional[float]]] = []
        self.streams: list[FakeStream] = []
        self.poll_calls: list[tuple[str, dict[str, Any], float]] = []
        self.poll_bounds: list[tuple[Optional[float], Optional[int]]] = []
        self.closed = 0

    def open(
        self, request: Request, timeout: float, read_timeout: Optional[float]
    ) -> Optional[FakeStream]:
        with self._changed:
            self.requests.append(request)
            self.timeouts.append((timeout, read_timeout))
            if self._script:
                item = self._script.popleft()
            else:
                item = self._then() if self._then is not None else FakeStream(SILENCE)
            if isinstance(item, FakeStream):
                self.streams.append(item)
            self._changed.notify_all()
        if isinstance(item, BaseException):
            raise item
        assert item is None or isinstance(item, FakeStream)
        return item

    def abort(self) -> bool:
        self._released.set()
        return True

    def poll(
        self, request: Request, timeout: float, read_timeout: Optional[float], limit: Optional[int]
    ) -> bytes:
        with self._changed:
            self.poll_calls.append((request.url, dict(request.headers or {}), timeout))
            self.poll_bounds.append((read_timeout, limit))
            item = self._polls.popleft() if self._polls else None
            self._changed.notify_all()
        if item is None:
            self._released.wait(WAIT)
            return b'{"events": []}'
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self.closed += 1
        self._released.set()

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        with self._changed:
            assert self._changed.wait_for(condition, WAIT), f"timed out waiting for {what}"

    def wait_requests(self, count: int) -> None:
        self.wait_for(lambda: len(self.requests) >= count, f"{count} requests")

    def wait_polls(self, count: int) -> None:
        self.wait_for(lambda: len(self.poll_calls) >= count, f"{count} polls")

    def header(self, index: int, name: str) -> Any:
        headers = self.requests[index].headers or {}
        return headers.get(name)


class FakeRuntime:
    """The clock, randomness and wait of a connection. ``wait`` records the delay and returns
    at once (True if the event is already set); with ``blocking=True`` it waits for the event
    instead (bounded by WAIT), so a test can act during a backoff."""

    def __init__(self, *, random: float = 0.5, blocking: bool = False) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0
        self.draw = random
        self.blocking = blocking
        self.waits: list[float] = []
        self._changed = threading.Condition()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        with self._changed:
            self.waits.append(seconds)
            self._changed.notify_all()
        if self.blocking:
            return event.wait(WAIT)
        return event.is_set()

    def wait_waits(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.waits) >= count, WAIT)

    def runtime(self) -> Runtime:
        return Runtime(
            monotonic=lambda: self.now,
            wall_clock=lambda: self.wall,
            random=lambda: self.draw,
            wait=self.wait,
        )


class Recorder:
    """Every callback of a connection, in one ordered log, with a bounded wait on it."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self._changed = threading.Condition()

    def _add(self, kind: str, value: Any) -> None:
        with self._changed:
            self.log.append((kind, value))
            self._changed.notify_all()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_open": lambda conn: self._add("open", conn),
            "on_message": lambda event: self._add("message", event),
            "on_error": lambda error: self._add("error", error),
            "on_complete": lambda conn: self._add("complete", conn),
            "on_close": lambda conn: self._add("close", conn),
            "on_status": lambda conn, old, new: self._add("status", (old, new)),
        }

    def of(self, kind: str) -> list[Any]:
        with self._changed:
            return [value for logged, value in self.log if logged == kind]

    @property
    def messages(self) -> list[Event]:
        return self.of("message")

    @property
    def data(self) -> list[str]:
        return [event.data for event in self.messages]

    @property
    def errors(self) -> list[BaseException]:
        return self.of("error")

    @property
    def statuses(self) -> list[tuple[Status, Status]]:
        return self.of("status")

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        with self._changed:
            assert self._changed.wait_for(condition, WAIT), f"timed out waiting for {what}"

    def wait_messages(self, count: int) -> None:
        self.wait_for(lambda: len(self.of("message")) >= count, f"{count} messages")

    def wait_status(self, status: Status) -> None:
        self.wait_for(
            lambda: any(new is status for _, new in self.of("status")), f"status {status}"
        )


class Harness:
    """Makes connections over one fake transport and runtime, and closes them afterwards."""

    def __init__(self) -> None:
        self.fake_runtime = FakeRuntime()
        self.recorder = Recorder()
        self._connections: list[Connection] = []
        self._managers: list[ConnectionManager] = []

    def connection(
        self,
        transport: FakeTransport,
        *,
        start: bool = True,
        record: bool = True,
        url: str = URL,
        **options: Any,
    ) -> Connection:
        given: dict[str, Any] = {}
        if record:
            given.update(self.recorder.callbacks())
        given.update(options)
        connection = Connection(
            url, build_options(url, given), transport=transport, runtime=self.fake_runtime.runtime()
        )
        self._connections.append(connection)
        if start:
            connection.start()
        return connection

    def manager(self, transport: FakeTransport, **defaults: Any) -> ConnectionManager:
        manager = ConnectionManager(
            _transport=transport, _runtime=self.fake_runtime.runtime(), **defaults
        )
        self._managers.append(manager)
        return manager

    def bare_manager(self) -> ConnectionManager:
        manager = ConnectionManager()
        self._managers.append(manager)
        return manager

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
        for manager in self._managers:
            manager.shutdown()


# --- the fixtures' bodies --------------------------------------------------------------------


def new_harness() -> Iterator[Harness]:
    """The ``harness`` fixture: closes every connection and manager it made."""
    made = Harness()
    try:
        yield made
    finally:
        made.close()


def harness_waits(harness: Harness) -> list[float]:
    """The ``waits`` fixture: every backoff the connection waited, in seconds."""
    return harness.fake_runtime.waits


def harness_recorder(harness: Harness) -> Recorder:
    """The ``rec`` fixture: the log of every callback of the harness's connections."""
    return harness.recorder


# --- helpers ---------------------------------------------------------------------------------


def status_of(conn: Connection) -> Status:
    """The status now (a function call, so that type checkers do not narrow it)."""
    return conn.status


def ended(conn: Connection) -> Status:
    status = conn.wait(WAIT)
    assert status.is_final, f"the connection did not end within {WAIT}s: {status}"
    return status


def drop(message: str = "the stream broke off") -> ConnectError:
    return ConnectError(message, url=URL)


def failing_forever() -> ConnectError:
    return drop("connection refused")


def status_error(code: int, retry_after: Optional[float] = None) -> HTTPStatusError:
    return HTTPStatusError(
        f"{URL} answered {code}", url=URL, status_code=code, retry_after=retry_after
    )


def is_done(event: Event) -> bool:
    return event.data == "[DONE]"
