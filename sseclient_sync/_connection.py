"""Connection: one event stream, its reader thread, its queue and its reconnect policy.

Threads: the reader thread is the only one that reads the socket, parses, and runs the
callbacks (so a slow callback slows reading: back-pressure, not loss). Other threads touch a
connection only through ``close()``, ``reconnect()``, ``subscribe()``, ``stats()`` and
iteration. No lock is held while user code runs, while joining a thread, or while waiting.

Delivery: events go to the callbacks and subscribers, and to the queue that iteration reads.
A connection with ``on_message`` or subscribers feeds the queue only once somebody iterates, so
nobody iterating never stalls it.
"""

from __future__ import annotations

import itertools
import logging
import operator
import queue
import threading
import time
import uuid
from typing import AbstractSet, Any, Callable, Iterator, Mapping, Optional, Union

from ._exceptions import (
    ConnectError,
    ContentTypeError,
    EventTooLarge,
    HTTPStatusError,
    ReadTimeout,
    RetryExhausted,
    SSEError,
)
from ._http import Request, RequestsTransport, Stream, Transport, is_retryable_status
from ._models import TRANSITIONS, Event, Stats, Status
from ._options import Options, normalise_method
from ._parser import SSEParser
from ._poll import parse_poll_body

__all__ = ["Connection"]

log = logging.getLogger(__name__)

#: How many of the latest own event ids ``dedup`` remembers at least (twice as many at most):
#: a server that replays more than this many events after a reconnect can repeat the oldest.
#: Only what earlier streams delivered is a replay: within one stream, an id that comes again
#: is the server's own business (a cursor per topic, say), and its event is delivered.
DEDUP_WINDOW = 10_000
#: How long ``close()`` waits for a reader thread that is inside a user callback.
CLOSE_JOIN_TIMEOUT = 2.0
_QUEUE_POLL = 0.1
#: Most events in one queued batch; ``queue_size`` batches bound the queue's memory.
_BATCH_LIMIT = 256
_WAIT_SLICE = 0.2  # longest a waiting user thread is deaf to interrupt_main()
#: While close() waits for the reader, how often it interrupts the reader's I/O again.
_REINTERRUPT_INTERVAL = 0.005

Handler = Callable[[Event], Any]


class _End:
    """The last item on the queue: iteration stops there, raising ``error`` if there is one."""

    def __init__(self, error: Optional[BaseException]) -> None:
        self.error = error


class _Outcome:
    """How one stream ended, when not by an error."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class _Latch:
    """A threading.Event that is set once and never cleared, at a tenth of its memory: one
    lock, held until ``set()``, instead of a Condition with its deque and bound methods."""

    __slots__ = ("_is_set", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._is_set = False

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        with _LATCH_GUARD:
            if self._is_set:
                return
            self._is_set = True
        self._lock.release()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until set, or ``timeout`` seconds pass; True when set."""
        if self._is_set:
            return True
        if self._lock.acquire(True, -1 if timeout is None else max(0.0, timeout)):
            self._lock.release()  # let the next waiter through
            return True
        return self._is_set


_LATCH_GUARD = threading.Lock()  # makes set() once-only across threads


_NO_EVENT_YET = "\0"  # no event id contains NUL: "this stream has had no event yet"

_SERVER_STOP = _Outcome("server-stop")  # 204, or the done marker: complete
_END_OF_STREAM = _Outcome("end-of-stream")  # the server closed the body
_INTERRUPTED = _Outcome("interrupted")  # close() or reconnect() cut the stream

_Ending = Union[_Outcome, SSEError]
_QueueItem = Union[list[Event], _End]


class Connection:
    """One Server-Sent Events stream, read by its own daemon thread.

    Made by ``create_sse_connection`` / ``ConnectionManager.create``; see the README for the
    options. Iterate it for the events, or give callbacks. A context manager: leaving the
    ``with`` block closes it.
    """

    # Slots: a manager may hold thousands of connections, and a dict of this many attributes
    # costs about 1.5 KiB each.
    __slots__ = (
        "_attempts",
        "_bytes",
        "_closer",
        "_current",
        "_current_batch",
        "_delivered_ids",
        "_end",
        "_ended",
        "_final_error",
        "_flushing",
        "_force_reconnect",
        "_iterating",
        "_last_message_time",
        "_messages",
        "_method",
        "_opened",
        "_opened_at",
        "_options",
        "_parked",
        "_parser",
        "_previous_id",
        "_queue",
        "_reader",
        "_reconnect_count",
        "_replayable_ids",
        "_resume_request",
        "_runtime",
        "_state_lock",
        "_status",
        "_stop",
        "_stream",
        "_subscribers",
        "_transport",
        "_wake",
        "_was_open",
        "id",
        "on_end",
        "on_reader_death",
        "url",
    )

    def __init__(self, url: str, options: Options) -> None:
        self.id: str = uuid.uuid4().hex[:12]
        self.url: str = url
        self._options = options
        self._runtime = options.runtime
        self._method = normalise_method(options.method)
        self._transport: Transport = options.transport or RequestsTransport(options.session)
        self._parser = SSEParser(
            last_event_id=options.last_event_id, max_event_size=options.max_event_size
        )
        # Made when first needed: a connection read by callbacks alone never needs one.
        self._queue: Optional[queue.Queue[_QueueItem]] = None
        # The batch iteration is in, and the iterator over it (shared by every loop).
        self._current_batch: list[Event] = []
        self._current: Optional[Iterator[Event]] = None
        self._state_lock = threading.Lock()
        self._status = Status.CONNECTING
        self._closer: Optional[threading.Thread] = None  # the thread whose close() runs
        self._stop = _Latch()  # close() began: every loop and wait checks it
        self._wake = threading.Event()  # cuts a backoff or poll wait short (close, reconnect)
        self._opened = _Latch()  # first OPEN, or the end
        self._was_open = False  # a stream was open once (then wait_open() never raises)
        self._ended = _Latch()
        self._end: Optional[_End] = None
        self._final_error: Optional[BaseException] = None
        self._stream: Optional[Stream] = None
        self._reader: Optional[threading.Thread] = None
        self._force_reconnect = False
        self._resume_request: Mapping[str, Any] = {}
        self._attempts = 0
        self._reconnect_count = 0
        self._messages = 0
        self._bytes = 0
        self._last_message_time: Optional[float] = None
        self._opened_at: Optional[float] = None
        self._iterating = False
        self._subscribers: Mapping[str, tuple[Handler, ...]] = {}
        self._flushing = False  # the first subscriber is taking over the queued backlog
        self._parked: list[list[Event]] = []
        # dedup: the own ids delivered (the latest, oldest first), and those of them that
        # earlier streams delivered, which the current stream may replay.
        self._delivered_ids: list[str] = []
        self._replayable_ids: AbstractSet[str] = frozenset()
        self._previous_id: Optional[str] = None  # id of the stream's previous event, for dedup
        # Set by a manager: told when the connection ends, and when its reader thread died.
        self.on_end: Optional[Callable[[Connection], None]] = None
        self.on_reader_death: Optional[Callable[[Connection, BaseException], None]] = None

    # -- public surface ---------------------------------------------------------------------

    @property
    def status(self) -> Status:
        """The current :class:`Status`."""
        return self._status

    @property
    def last_event_id(self) -> Optional[str]:
        """The last event ID the stream set (sent as ``Last-Event-ID`` on reconnect)."""
        return self._parser.last_event_id

    @property
    def error(self) -> Optional[BaseException]:
        """The error the connection failed with, once it is FAILED."""
        return self._final_error

    def is_open(self) -> bool:
        """True while a stream is open and delivering (status OPEN)."""
        return self._status is Status.OPEN

    def start(self) -> Connection:
        """Start the reader thread (done for you by ``create_sse_connection``)."""
        self._start_reader(initial_failure=None)
        return self

    def wait_open(self) -> Connection:
        """Block until the stream is open, polling, or ended; raise the error if it failed
        before ever opening."""
        _wait_in_slices(self._opened, None)
        if self._status is Status.FAILED and self._final_error is not None and not self._was_open:
            raise self._final_error
        # A stream that opened and then failed is returned: its events are there to iterate,
        # and iteration raises the error after them.
        return self

    def wait(self, timeout: Optional[float] = None) -> Status:
        """Block until the connection ends (completed, closed or failed), or ``timeout``
        seconds pass; return the status."""
        _wait_in_slices(self._ended, timeout)
        return self._status

    def close(self) -> None:
        """Stop the stream and the reader thread. Safe from any thread, from inside a callback,
        and twice (the second call does nothing). Events not yet iterated are discarded."""
        current = threading.current_thread()
        with self._state_lock:
            closer = self._closer
            if closer is None:
                self._closer = current
        if closer is not None:
            # Another close() is under way (close_all() in another thread, say): return once
            # the connection is closed, as that call will. Not in the threads it may be waiting
            # for (the reader, inside a callback) or running callbacks in (its own on_close).
            if current is not closer and current is not self._reader:
                self._ended.wait(CLOSE_JOIN_TIMEOUT + 1.0)
            return
        self._stop.set()
        self._wake.set()
        self._interrupt_io()
        self._drain_queue()
        with self._state_lock:
            reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            self._join_interrupting(reader)
            if reader.is_alive():
                log.warning(
                    "the reader of %s is still inside a callback %.1fs after close(); it stops "
                    "when that callback returns",
                    self.url,
                    CLOSE_JOIN_TIMEOUT,
                )
        self._finish(Status.CLOSED, None)
        self._drain_queue()
        self._put_end()
        if reader is None or not reader.is_alive():
            self._transport.close()

    def _join_interrupting(self, reader: threading.Thread) -> None:
        """Join the reader, interrupting its I/O again while it runs: the first interrupt can
        come just before the reader starts a request (the transport then forgets it) or while
        the request is still connecting (there is no socket to shut down yet)."""
        deadline = time.monotonic() + CLOSE_JOIN_TIMEOUT
        while True:
            reader.join(min(_REINTERRUPT_INTERVAL, max(0.0, deadline - time.monotonic())))
            if not reader.is_alive() or time.monotonic() >= deadline:
                return
            self._interrupt_io()

    def reconnect(self) -> None:
        """Drop the current stream and open a new one at once (resuming from the last event ID),
        without waiting out a backoff. Does nothing once the connection has ended."""
        if self._status.is_final or self._stop.is_set():
            return
        self._force_reconnect = True
        self._wake.set()
        self._interrupt_io()

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """The events in order, until the connection ends; then raise its error if it failed.
        ``timeout`` bounds the wait for each next event (``TimeoutError`` past it). A loop that
        breaks off and a later one share the stream: the later one goes on where it stopped."""
        # Events come out of the queued batches through C-level iterators (a chain over list
        # iterators): no Python code runs per event. close() empties the batch being iterated
        # in place, which ends its iterator at once.
        return itertools.chain.from_iterable(self._batches(timeout))

    def _batches(self, timeout: Optional[float]) -> Iterator[Iterator[Event]]:
        self._iterating = True
        current = self._current
        if current is not None:
            yield current  # the rest of the batch an earlier loop stopped in
        while True:
            self._current, self._current_batch = None, []  # let the finished batch go
            try:
                item = self._get(timeout)
            except queue.Empty:
                raise TimeoutError(
                    f"no event from {self.url} within timeout={timeout}s "
                    f"(status: {self._status.value})"
                ) from None
            if isinstance(item, _End):
                self._put_end()  # leave it for any other iterator
                if item.error is not None:
                    raise item.error
                return
            self._current_batch = item  # before the check: close() empties it from now on
            if self._stop.is_set():
                # close() began and may have drained the queue before this batch reached it:
                # handing it out would skip the discarded events and carry on after them.
                item.clear()
                continue
            self._current = current = iter(item)
            yield current

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def _get(self, timeout: Optional[float]) -> _QueueItem:
        """``queue.get`` in short slices: a blocking get is deaf to ``interrupt_main()`` (how
        Jupyter and Windows deliver Ctrl-C) until something arrives."""
        waiting = self._the_queue()
        for piece in _slices(timeout):
            try:
                return waiting.get(timeout=piece)
            except queue.Empty:
                pass
        raise queue.Empty

    def subscribe(self, event_type: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(event)`` for each event of this type (``"message"`` for unnamed
        events), in the reader thread. Returns a function that unsubscribes it."""
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        with self._state_lock:
            first_consumer = not (self._subscribers or self._options.on_message or self._iterating)
            handlers = self._subscribers.get(event_type, ())
            self._subscribers = {**self._subscribers, event_type: (*handlers, handler)}
        if first_consumer:
            self._claim_and_flush_backlog()
        return lambda: self.unsubscribe(event_type, handler)

    def _claim_and_flush_backlog(self) -> None:
        with self._state_lock:
            if self._flushing or self._queue is None or self._queue.empty():
                return
            self._flushing = True
        self._flush_backlog()

    def _flush_backlog(self) -> None:
        """Hand the events queued before the first subscriber to it, in this thread and in
        order. Meanwhile the reader parks new events behind them (``_parked``), so a
        ``subscribe()`` right after ``create_sse_connection`` misses nothing."""
        end: Optional[_End] = None
        while True:
            with self._state_lock:
                item = self._next_backlog_item()
                if item is None:
                    self._flushing = False
                    break
            if isinstance(item, _End):
                end = item  # put back last, after the parked events
                continue
            subscribers = self._subscribers
            for event in item:
                for listener in subscribers.get(event.event, ()):
                    if self._stop.is_set():
                        return
                    self._call_user(listener, event)
        if end is not None:
            self._put_end()

    def _next_backlog_item(self) -> Optional[_QueueItem]:
        if self._queue is not None:
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                pass
        return self._parked.pop(0) if self._parked else None

    def unsubscribe(self, event_type: str, handler: Optional[Handler] = None) -> None:
        """Remove ``handler`` from ``event_type``, or every handler of it when ``None``."""
        with self._state_lock:
            handlers = self._subscribers.get(event_type, ())
            kept = () if handler is None else tuple(h for h in handlers if h != handler)
            subscribers = dict(self._subscribers)
            if kept:
                subscribers[event_type] = kept
            else:
                subscribers.pop(event_type, None)
            self._subscribers = subscribers

    def stats(self) -> Stats:
        """A snapshot of the counters (see :class:`Stats`)."""
        with self._state_lock:
            status = self._status
            opened_at = self._opened_at
            connected = status is Status.OPEN and opened_at is not None
            return Stats(
                status=status,
                connected=connected,
                reconnect_count=self._reconnect_count,
                messages_received=self._messages,
                bytes_received=self._bytes,
                last_message_time=self._last_message_time,
                uptime=self._runtime.monotonic() - opened_at if connected and opened_at else 0.0,
            )

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self._status.value} {self.url}>"

    # -- the reader thread --------------------------------------------------------------------

    def _start_reader(self, initial_failure: Optional[SSEError]) -> None:
        thread = threading.Thread(
            target=self._run,
            args=(initial_failure,),
            name=f"sseclient-sync-{self.id}",
            daemon=True,
        )
        with self._state_lock:
            self._reader = thread
            thread.start()

    def restart_reader(self, cause: BaseException) -> None:
        """Start a new reader thread after the last one died of an internal error: a reconnect
        from the resume state, counted in ``reconnect_count`` and within the Retry budget.
        The manager's supervision calls this."""
        if self._status.is_final or self._stop.is_set():
            return
        self._interrupt_io()
        error = SSEError(f"the reader thread of {self.url} died: {cause!r}", url=self.url)
        error.__cause__ = cause
        self._start_reader(initial_failure=error)

    def _run(self, initial_failure: Optional[SSEError]) -> None:
        try:
            if initial_failure is None or self._prepare_reconnect(initial_failure):
                self._read_until_the_end()
        except BaseException as error:  # a bug of ours: hand it over instead of dying silently
            if self._stop.is_set() or self._status.is_final:
                return
            log.error("the reader thread of %s died", self.url, exc_info=True)
            if self.on_reader_death is not None:
                self.on_reader_death(self, error)
            else:
                self._finish(Status.FAILED, error)
        finally:
            if self._status.is_final and self._reader is threading.current_thread():
                self._transport.close()

    def _read_until_the_end(self) -> None:
        while not self._stop.is_set():
            try:
                ending: _Ending = self._stream_once()
            except SSEError as error:
                ending = error
            if self._stop.is_set():
                return
            if ending is _SERVER_STOP:
                self._finish(Status.COMPLETED, None)
                return
            if not self._prepare_reconnect(ending):
                return

    def _stream_once(self) -> _Ending:
        """Open one stream and read it to its end; return how it ended."""
        self._parser.reset()  # a cut-off event is discarded, never glued to the next stream
        self._begin_stream()
        stream = self._transport.open(
            self._build_request(), self._options.timeout, self._options.read_timeout
        )
        if stream is None:
            return _SERVER_STOP
        with self._state_lock:
            self._stream = stream
            self._opened_at = self._runtime.monotonic()
        if self._stop.is_set() or self._force_reconnect:
            stream.abort()
            return _INTERRUPTED
        try:
            self._set_status(Status.OPEN)
            self._was_open = True
            self._call_user(self._options.on_open, self)
            self._opened.set()
            return self._read(stream)
        finally:
            with self._state_lock:
                self._stream = None
                self._opened_at = None
            stream.abort()

    def _read(self, stream: Stream) -> _Ending:
        parser = self._parser
        while True:
            chunk = stream.read()
            if not chunk:
                return (
                    _INTERRUPTED
                    if self._stop.is_set() or self._force_reconnect
                    else (_END_OF_STREAM)
                )
            self._bytes += len(chunk)
            try:
                events, own_ids = parser.feed_marking_ids(chunk)
            except EventTooLarge as error:
                if self._deliver(error.events, []):
                    return _SERVER_STOP  # the done marker came before the oversized event
                # The parser knows no URL; the message must name it.
                raise EventTooLarge(
                    f"the stream from {self.url}: {error}",
                    url=self.url,
                    limit=error.limit,
                    events=error.events,
                ) from error
            if events and self._deliver(events, own_ids):
                return _SERVER_STOP

    def _build_request(self) -> Request:
        options = self._options
        headers: dict[str, Any] = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        headers.update(options.headers or {})
        params = dict(options.params) if options.params else None
        body_json, body_data = options.json, options.data
        overrides = self._resume_request
        if overrides.get("params"):
            params = {**(params or {}), **overrides["params"]}
        if overrides.get("headers"):
            headers.update(overrides["headers"])
        if "json" in overrides:
            body_json, body_data = overrides["json"], None
        if "data" in overrides:
            body_json, body_data = None, overrides["data"]
        last_id = self._parser.last_event_id
        if last_id:
            headers["Last-Event-ID"] = _header_value(last_id)
        return self._request(
            self._method, self.url, headers, params=params, json=body_json, data=body_data
        )

    def _request(self, method: str, url: str, headers: Mapping[str, Any], **body: Any) -> Request:
        """A request carrying the connection's credentials: auth, verify, cert, proxies."""
        options = self._options
        return Request(
            method=method,
            url=url,
            headers=headers,
            auth=options.auth,
            verify=options.verify,
            cert=options.cert,
            proxies=options.proxies,
            **body,
        )

    # -- reconnect policy ---------------------------------------------------------------------

    def _prepare_reconnect(self, ending: _Ending) -> bool:
        """Decide what follows a stream's end; wait out the backoff. True: open a new stream."""
        if (
            ending is _END_OF_STREAM
            and self._options.done is None
            and (self._method != "GET" or self._options.retry.max_attempts == 0)
        ):
            # A POST answer that ended normally is complete; so is a GET stream that may not
            # reconnect.
            self._finish(Status.COMPLETED, None)
            return False
        if self._force_reconnect:
            self._force_reconnect = False
            return self._begin_reconnect(delay=0.0)
        error = self._error_for(ending)
        if not _is_retryable(error):
            self._fail(error)
            return False
        if not self._replay_is_safe(error):
            self._fail(self._unsafe_replay_error(error))
            return False
        retry = self._options.retry
        if retry.max_attempts == 0 or not self._call_user(retry.allows, error):
            self._fail(error)
            return False
        if retry.is_exhausted(self._attempts):
            exhausted = RetryExhausted(
                f"gave up on {self.url} after {self._attempts} reconnect attempts; the last "
                f"error: {error}. Raise Retry(max_attempts=...) or check the server",
                url=self.url,
                attempts=self._attempts,
            )
            exhausted.__cause__ = error
            self._fail(exhausted)
            return False
        if ending is not _END_OF_STREAM:
            self._call_user(self._options.on_error, error)
        delay = self._backoff(error)
        self._attempts += 1
        return self._begin_reconnect(delay)

    def _begin_reconnect(self, delay: float) -> bool:
        self._set_status(Status.RECONNECTING)
        log.debug("reconnecting to %s in %.3fs", self.url, delay)
        if delay > 0 and self._runtime.wait(self._wake, delay) and self._stop.is_set():
            return False
        self._wake.clear()
        self._force_reconnect = False  # a reconnect() during the wait asked for this very one
        if self._stop.is_set():
            return False
        problem = self._apply_resume()
        if isinstance(problem, SSEError):
            return self._prepare_reconnect(problem)  # a failed attempt, counted there
        if problem is not None:
            self._fail(problem)
            return False
        with self._state_lock:
            self._reconnect_count += 1
        return True

    def _backoff(self, error: SSEError) -> float:
        retry_after = error.retry_after if isinstance(error, HTTPStatusError) else None
        if retry_after is not None:
            return min(retry_after, self._options.retry.max_delay)
        server_retry = self._parser.retry
        return self._options.retry.backoff_time(
            self._attempts,
            server_delay=None if server_retry is None else server_retry / 1000.0,
            random=self._runtime.random,
        )

    def _apply_resume(self) -> Optional[Exception]:
        """Call ``resume(conn)`` for the next request. Returns None when it worked, an SSEError
        when the hook raised (a failed attempt), a TypeError when it returned a wrong type."""
        resume = self._options.resume
        if resume is None:
            return None
        try:
            overrides: Any = resume(self)
        except Exception as error:
            log.exception("resume= hook of %s raised", self.url)
            failure = SSEError(f"the resume= hook for {self.url} raised {error!r}", url=self.url)
            failure.__cause__ = error
            return failure
        if overrides is not None and not isinstance(overrides, Mapping):
            return TypeError(f"resume= must return a dict or None, got {type(overrides).__name__}")
        self._resume_request = dict(overrides or {})
        return None

    def _error_for(self, ending: _Ending) -> SSEError:
        if isinstance(ending, SSEError):
            return ending
        if ending is _END_OF_STREAM and self._options.done is not None:
            return ConnectError(f"{self.url} ended the stream before the done marker", url=self.url)
        return ConnectError(f"{self.url} closed the stream", url=self.url)

    def _replay_is_safe(self, error: SSEError) -> bool:
        """Re-sending a request that is not a GET can run it again (an LLM answer twice). It is
        safe when the request surely never reached the server, when the server answered with a
        retryable status, or when the server can resume: an event id or a resume hook."""
        return (
            self._method == "GET"
            or (isinstance(error, ConnectError) and not error.request_sent)
            or isinstance(error, HTTPStatusError)
            or bool(self._parser.last_event_id)
            or self._options.resume is not None
        )

    def _unsafe_replay_error(self, error: SSEError) -> SSEError:
        what = "broke off" if self._was_open else "reached the server but got no answer"
        failure = ConnectError(
            f"the {self._method} request to {self.url} {what} ({error}); sending it again "
            "could run it twice (an LLM would generate the answer again), and the stream has "
            "no event ids to resume from. Pass resume= to continue it (for example with an "
            "offset), or raise read_timeout if the server is slow to start its answer",
            url=self.url,
        )
        failure.__cause__ = error
        return failure

    def _fail(self, error: BaseException) -> None:
        if self._options.poll_url is not None and not self._stop.is_set():
            self._call_user(self._options.on_error, error)
            self._poll_until_closed()
            return
        self._finish(Status.FAILED, error)

    # -- delivery -----------------------------------------------------------------------------

    def _deliver(self, events: list[Event], own_ids: list[int]) -> bool:
        """Hand events to the queue, callbacks and subscribers. True when ``done`` matched."""
        options = self._options
        if not events:
            return False
        last_id = events[-1].id
        if own_ids and options.dedup:
            events = self._drop_replayed(events, own_ids)
        self._previous_id = last_id
        completed = False
        done = options.done
        if done is not None:
            for index, event in enumerate(events):
                if self._call_user(done, event):
                    events = events[:index]
                    completed = True
                    break
        if not events or self._stop.is_set():
            return completed
        with self._state_lock:
            self._attempts = 0
            self._messages += len(events)
            self._last_message_time = self._runtime.wall_clock()
            if self._flushing:  # the first subscriber is taking the backlog: queue up behind it
                self._parked.append(events)
                return completed
            subscribers = self._subscribers
        on_message = options.on_message
        if self._iterating or not (on_message or subscribers):
            self._put(events)
            if not subscribers and self._subscribers and not self._iterating:
                # A first subscriber came while these were being queued: see that it gets them.
                self._claim_and_flush_backlog()
                return completed
        if subscribers:
            for event in events:
                if self._stop.is_set():
                    break  # a callback closed the connection: nothing is delivered after close()
                self._call_user(on_message, event)
                for handler in subscribers.get(event.event, ()):
                    if self._stop.is_set():
                        break
                    self._call_user(handler, event)
        elif on_message is not None:
            self._call_on_message(on_message, events)
        return completed

    def _call_on_message(self, on_message: Handler, events: list[Event]) -> None:
        # The common callback path, without a wrapper call per event.
        for event in events:
            if self._stop.is_set():
                break  # a callback closed the connection: nothing is delivered after close()
            try:
                on_message(event)
            except Exception as error:
                self._report_user_error(error, on_message)

    def _drop_replayed(self, events: list[Event], own_ids: list[int]) -> list[Event]:
        """Drop the events an earlier stream already delivered (by their own id), and note
        the ids delivered, for the streams after this one."""
        if len(own_ids) == len(events):
            ids = list(map(_event_id, events))
        else:
            ids = [events[index].id for index in own_ids]
        replayable = self._replayable_ids
        if replayable and not replayable.isdisjoint(ids):
            events, ids = self._without_replays(events, own_ids)
        delivered = self._delivered_ids
        delivered.extend(ids)
        if len(delivered) > 2 * DEDUP_WINDOW:
            del delivered[:-DEDUP_WINDOW]  # in bulk, rather than one eviction per event
        return events

    def _without_replays(
        self, events: list[Event], own_ids: list[int]
    ) -> tuple[list[Event], list[str]]:
        """The events (and own ids) that are not replays. An empty id only resets the last
        event ID, so it is no identity; and an id that merely restates the id of the event
        just before it in the stream (a relay writing every event's id) is no replay."""
        replayable = self._replayable_ids
        previous = self._previous_id
        own = set(own_ids)
        kept: list[Event] = []
        kept_ids: list[str] = []
        for index, event in enumerate(events):
            event_id = event.id
            if index in own and event_id:
                if event_id != previous and event_id in replayable:
                    previous = event_id
                    continue
                kept_ids.append(event_id)
            previous = event_id
            kept.append(event)
        return kept, kept_ids

    def _begin_stream(self) -> None:
        """A new stream (or poll answer) begins: what came before it may be replayed in it."""
        self._previous_id = _NO_EVENT_YET
        if self._options.dedup and self._delivered_ids:
            self._replayable_ids = frozenset(self._delivered_ids)

    def _put(self, item: _QueueItem) -> None:
        if isinstance(item, list) and self._join_queued_batch(item):
            return
        # Back-pressure: wait for the consumer, but never past close().
        waiting = self._the_queue()
        while not self._stop.is_set():
            try:
                waiting.put(item, timeout=_QUEUE_POLL)
                return
            except queue.Full:
                continue

    def _join_queued_batch(self, events: list[Event]) -> bool:
        """While the consumer lags, add events to the batch still waiting at the queue's tail:
        one hand-off instead of one per read. The consumer was already woken for that batch
        and only ever takes whole items under the queue's mutex, so this is safe."""
        waiting = self._queue
        if waiting is None:
            return False
        with waiting.mutex:
            tail = waiting.queue[-1] if waiting.queue else None
            if isinstance(tail, list) and len(tail) + len(events) <= _BATCH_LIMIT:
                tail.extend(events)
                return True
        return False

    def _the_queue(self) -> queue.Queue[_QueueItem]:
        """The queue, made on first use; a connection that already ended gets its end in it."""
        made = self._queue
        if made is not None:
            return made  # every read and get after the first: no lock
        with self._state_lock:
            waiting = self._queue
            if waiting is None:
                waiting = self._queue = queue.Queue(self._options.queue_size)
                if self._end is not None:
                    waiting.put_nowait(self._end)
            return waiting

    def _put_end(self) -> None:
        end = self._end
        if end is None or self._queue is None:
            return  # nobody iterates yet: the first to do so finds the end (_the_queue)
        if self._stop.is_set():
            try:
                self._queue.put_nowait(end)
            except queue.Full:
                pass  # an iterator will find the end through the one already queued
            return
        self._put(end)

    def _drain_queue(self) -> None:
        waiting = self._queue
        try:
            while waiting is not None:
                waiting.get_nowait()
        except queue.Empty:
            pass
        self._current_batch.clear()  # ends the iterator over it, in whichever thread

    def _call_user(self, function: Optional[Callable[..., Any]], *args: Any) -> Any:
        """Run user code: its exception is logged and reported to on_error, never fatal."""
        if function is None:
            return None
        try:
            return function(*args)
        except Exception as error:
            self._report_user_error(error, function)
            return None

    def _report_user_error(self, error: Exception, function: Callable[..., Any]) -> None:
        log.error("a callback of %s raised", self.url, exc_info=error)
        on_error = self._options.on_error
        if on_error is not None and function is not on_error:
            try:
                on_error(error)
            except Exception:
                log.exception("on_error of %s raised", self.url)

    # -- status -------------------------------------------------------------------------------

    def _set_status(self, new: Status) -> bool:
        """The one place a status changes: checked against TRANSITIONS, on_status fired after."""
        with self._state_lock:
            old = self._status
            if new is old or new not in TRANSITIONS[old]:
                return False
            self._status = new
        log.debug("%s: %s -> %s", self.url, old.value, new.value)
        self._call_user(self._options.on_status, self, old, new)
        return True

    def _finish(self, status: Status, error: Optional[BaseException]) -> None:
        """End the connection once: status, callbacks, the end of the queue, the manager."""
        with self._state_lock:
            if self._end is not None:
                return
            self._end = _End(error if status is Status.FAILED else None)
            self._final_error = error
        self._set_status(status)
        if error is not None:
            self._call_user(self._options.on_error, error)
        if status is Status.COMPLETED:
            self._call_user(self._options.on_complete, self)
        self._call_user(self._options.on_close, self)
        if self.on_end is not None:
            self.on_end(self)  # first: count() is exact once wait() returns
        self._opened.set()
        self._ended.set()
        if not self._stop.is_set():
            self._put_end()

    def _interrupt_io(self) -> None:
        with self._state_lock:
            stream = self._stream
        self._transport.abort()
        if stream is not None:
            stream.abort()

    # -- polling fallback ---------------------------------------------------------------------

    def _poll_until_closed(self) -> None:
        """Poll ``poll_url`` every ``poll_interval`` until closed; failures go to on_error."""
        options = self._options
        assert options.poll_url is not None
        self._set_status(Status.POLLING)
        self._opened.set()
        while not self._stop.is_set():
            if self._poll_once(options.poll_url):
                self._finish(Status.COMPLETED, None)
                return
            if self._runtime.wait(self._wake, options.poll_interval) and self._stop.is_set():
                break
            self._wake.clear()
        self._finish(Status.CLOSED, None)

    def _poll_once(self, url: str) -> bool:
        """Poll once; True when the done marker arrived."""
        options = self._options
        headers: dict[str, Any] = dict(options.headers or {})
        headers["Accept"] = "application/json"
        last_id = self._parser.last_event_id
        if last_id:
            headers["Last-Event-ID"] = _header_value(last_id)
        try:
            body = self._transport.poll(self._request("GET", url, headers), options.timeout)
            events, own_ids = parse_poll_body(body, url, last_id)
        except (SSEError, ValueError) as error:
            if not self._stop.is_set():
                self._call_user(options.on_error, error)
            return False
        if not events:
            return False
        self._parser.last_event_id = events[-1].id
        self._begin_stream()  # each poll answer may replay what came before it
        return self._deliver(events, own_ids)


_event_id = operator.attrgetter("id")


def _is_retryable(error: BaseException) -> bool:
    if isinstance(error, HTTPStatusError):
        return is_retryable_status(error.status_code)
    if isinstance(error, (ContentTypeError, EventTooLarge, RetryExhausted)):
        return False
    return isinstance(error, (ConnectError, ReadTimeout)) or type(error) is SSEError


def _slices(timeout: Optional[float]) -> Iterator[float]:
    """Split a wait of ``timeout`` seconds (``None``: no end) into waits of at most
    ``_WAIT_SLICE``, so a waiting user thread stays responsive to ``interrupt_main()``. There
    is always at least one slice, so ``timeout=0`` still tries once."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = _WAIT_SLICE if deadline is None else deadline - time.monotonic()
        yield max(0.0, min(_WAIT_SLICE, remaining))
        if deadline is not None and time.monotonic() >= deadline:
            return


def _wait_in_slices(event: _Latch, timeout: Optional[float]) -> bool:
    """``event.wait(timeout)``, in slices."""
    return any(event.wait(piece) for piece in _slices(timeout))


def _header_value(text: str) -> Union[str, bytes]:
    # The spec sends the UTF-8 bytes; http.client would encode a str as Latin-1.
    return text if text.isascii() else text.encode("utf-8")
