"""The reader thread: open a stream, read it, parse it, hand the events over, ask the policy
what follows, and do it; in a loop, until the connection ends.

Only this thread reads the socket, parses and runs the callbacks (so a slow callback slows
reading: back-pressure, not loss). Every status change goes through :class:`Lifecycle`,
which enforces the transition table; the reader never recurses, it loops over the policy's
decisions. An exception that escapes the loop is a bug of ours: it is handed to the
supervisor (the manager restarts the reader) instead of dying silently.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Mapping, Optional, Protocol, Union

from ._dispatch import Dispatcher, Latch, in_a_reader_thread
from ._dispatch import this_thread as _this_thread
from ._exceptions import CallbackError, EventTooLarge, InternalError, ServerEventError, SSEError
from ._models import TRANSITIONS, Comment, Event, Stats, Status
from ._options import Options, Runtime
from ._parser import SSEParser
from ._policy import AttemptState, Complete, Decision, Ended, Ending, Fail, Poll, Reconnect
from ._policy import decide as decide_next
from ._poll import POLL_SLACK, first_too_large, parse_poll_body
from ._replay import ReplayFilter
from ._request import BadResumeValue, check_overrides, poll_request, stream_request
from ._transport import Stream, Transport

__all__ = ["Lifecycle", "Reader", "Supervisor", "in_a_reader_thread"]

log = logging.getLogger(__name__)

class Supervisor(Protocol):
    """Who watches a connection (its manager): told when it ends and when its reader died."""

    def ended(self, connection: Any) -> None:
        """The connection ended (completed, closed or failed)."""

    def reader_died(self, connection: Any, error: BaseException) -> None:
        """The reader thread died of an internal error."""


class Lifecycle:
    """The status, the latches that signal it, and the counters of one connection.

    ``set_status`` is the one place a status changes: an illegal transition is a bug and
    raises, except that nothing moves a connection out of a final status (a reader that
    finishes its step after close() is simply too late). ``finish`` ends the connection once.
    """

    # Slots here and on Reader: a manager may hold thousands of connections.
    __slots__ = (
        "_finished",
        "bytes",
        "connection",
        "dispatcher",
        "ended",
        "error",
        "last_message_time",
        "lock",
        "messages",
        "on_status",
        "opened",
        "opened_at",
        "reconnect_count",
        "runtime",
        "status",
        "stop",
        "supervisor",
        "was_open",
    )

    def __init__(
        self,
        stop: Latch,
        dispatcher: Dispatcher,
        runtime: Runtime,
        *,
        connection: Any = None,
        supervisor: Optional[Supervisor] = None,
        on_status: Optional[Callable[[Any, Status, Status], Any]] = None,
    ) -> None:
        self.lock = threading.Lock()
        self.status = Status.CONNECTING
        self.stop = stop  # close() began: every loop and wait checks it
        self.opened = Latch()  # first OPEN, or the end
        self.ended = Latch()
        # A stream was open once, or polling began: then wait_open() never raises (and the
        # policy, which polling never asks again, words a drop as a broken-off stream).
        self.was_open = False
        self.error: Optional[BaseException] = None
        self.runtime = runtime
        self.reconnect_count = 0
        self.messages = 0
        self.bytes = 0
        self.last_message_time: Optional[float] = None
        self.opened_at: Optional[float] = None
        self.dispatcher = dispatcher
        self.on_status = on_status
        self.connection = connection  # what callbacks and the supervisor are given
        self.supervisor = supervisor
        self._finished = False

    def set_status(self, new: Status) -> None:
        with self.lock:
            old = self.status
            if new is old or old.is_final:
                return
            if new not in TRANSITIONS[old]:
                raise AssertionError(f"illegal status change {old.value} -> {new.value}")
            self.status = new
        log.debug("%s: %s -> %s", self.dispatcher.url, old.value, new.value)
        self.dispatcher.call_user(self.on_status, self.connection, old, new)

    def finish(self, status: Status, error: Optional[BaseException], options: Options) -> None:
        """End the connection once: status, callbacks, the end of the events, the manager."""
        with self.lock:
            if self._finished:
                return
            self._finished = True
            self.error = error
        call = self.dispatcher.call_user
        # Each step in a finally: past a callback's BaseException (SystemExit, say) on_close
        # still runs and the end is still signalled, or the connection would never end.
        try:
            self.set_status(status)
            if error is not None:
                call(options.on_error, error)
            if status is Status.COMPLETED:
                call(options.on_complete, self.connection)
        finally:
            try:
                call(options.on_close, self.connection)
            finally:
                if self.supervisor is not None:
                    self.supervisor.ended(self.connection)  # first: count() exact after wait()
                self.opened.set()
                self.ended.set()
                self.dispatcher.end(error if status is Status.FAILED else None)

    def stats(self) -> Stats:
        with self.lock:
            status, opened_at = self.status, self.opened_at
            connected = status is Status.OPEN and opened_at is not None
            uptime = self.runtime.monotonic() - opened_at if connected and opened_at else 0.0
            return Stats(
                status=status,
                connected=connected,
                reconnect_count=self.reconnect_count,
                messages_received=self.messages,
                bytes_received=self.bytes,
                last_message_time=self.last_message_time,
                uptime=uptime,
            )


_Step = Union[Ending, None, bool]  # an ending to decide on, None: open a stream, True: done


class Reader:
    """Runs one connection's streams in its thread; see the module docstring."""

    __slots__ = (
        "attempts",
        "dispatcher",
        "force_reconnect",
        "life",
        "method",
        "options",
        "overrides",
        "parser",
        "replays",
        "stream",
        "thread",
        "transport",
        "url",
        "wake",
        "watches_for_ends",
    )

    def __init__(
        self,
        url: str,
        *,
        method: str,
        options: Options,
        transport: Transport,
        lifecycle: Lifecycle,
        parser: SSEParser,
    ) -> None:
        self.url = url
        self.method = method
        self.options = options
        self.transport = transport
        self.life = lifecycle
        self.dispatcher = lifecycle.dispatcher
        self.parser = parser
        self.replays = ReplayFilter()
        self.watches_for_ends = options.done is not None or options.fail is not None
        self.attempts = 0
        self.force_reconnect = False
        self.wake = threading.Event()  # cuts a backoff or poll wait short (close, reconnect)
        self.stream: Optional[Stream] = None
        self.overrides: Mapping[str, Any] = {}
        self.thread: Optional[threading.Thread] = None

    # -- the thread ---------------------------------------------------------------------------

    def start(self, name: str, initial_failure: Optional[SSEError] = None) -> None:
        thread = threading.Thread(
            target=self.run, args=(initial_failure,), name=name, daemon=True
        )
        with self.life.lock:
            self.thread = thread
            thread.start()

    def run(self, initial_failure: Optional[SSEError]) -> None:
        life = self.life
        _this_thread.reading = True
        try:
            if life.status is Status.POLLING and initial_failure is not None:
                _Polling(self).resume(initial_failure)
            else:
                self._loop(initial_failure)
        except BaseException as error:  # a bug of ours: hand it over instead of dying silently
            if life.stop.is_set() or life.status.is_final:
                return
            log.error("the reader thread of %s died", self.url, exc_info=True)
            if life.supervisor is not None:
                life.supervisor.reader_died(life.connection, error)
            else:
                self.finish(Status.FAILED, self.death(error))
        finally:
            if life.status.is_final and self.thread is threading.current_thread():
                self.transport.close()

    def death(self, cause: BaseException) -> InternalError:
        error = InternalError(f"the reader thread of {self.url} died: {cause!r}", url=self.url)
        error.__cause__ = cause
        return error

    def _loop(self, step: _Step) -> None:
        while step is not True:
            if self.life.stop.is_set():
                return
            if step is None:
                step = self._stream_once()
            assert not isinstance(step, bool)
            step = self._carry_out(decide_next(step, self._attempt_state(), self._allows))

    def _attempt_state(self) -> AttemptState:
        options = self.options
        return AttemptState(
            url=self.url,
            retry=options.retry,
            method=self.method,
            attempts=self.attempts,
            server_retry=self.parser.retry,
            has_event_id=bool(self.parser.last_event_id),
            has_resume=options.resume is not None,
            has_done=options.done is not None,
            reconnect_on_end=options.reconnect_on_end,
            has_poll_url=options.poll_url is not None,
            was_open=self.life.was_open,
            random=self.life.runtime.random(),
        )

    def _allows(self, error: BaseException) -> bool:
        return bool(self.dispatcher.call_user(self.options.retry.allows, error))

    def finish(self, status: Status, error: Optional[BaseException]) -> None:
        self.life.finish(status, error, self.options)

    # -- one decision -------------------------------------------------------------------------

    def _carry_out(self, decision: Decision) -> _Step:
        if isinstance(decision, Reconnect):
            return self._reconnect(decision)
        if isinstance(decision, Complete):
            self.finish(Status.COMPLETED, None)
        elif isinstance(decision, Fail):
            self.finish(Status.FAILED, decision.error)
        elif isinstance(decision, Poll):
            self.dispatcher.report(decision.error)
            _Polling(self).until_closed()
        return True  # Stop: close() finishes the connection itself

    def _reconnect(self, decision: Reconnect) -> _Step:
        if decision.report is not None:
            self.dispatcher.report(decision.report)
        if decision.counts:
            self.attempts += 1
        self.life.set_status(Status.RECONNECTING)
        log.debug("reconnecting to %s in %.3fs", self.url, decision.delay)
        delay, stop = decision.delay, self.life.stop
        if delay > 0 and self.life.runtime.wait(self.wake, delay) and stop.is_set():
            return True
        self.wake.clear()
        self.force_reconnect = False  # a reconnect() during the wait asked for this very one
        if stop.is_set():
            return True
        failure = self._apply_resume()
        if failure is not None:
            return failure
        self.wake.clear()
        self.force_reconnect = False  # so did one during the resume hook
        if stop.is_set():  # closed from the hook: no request, so no reconnect to count
            return True
        with self.life.lock:
            self.life.reconnect_count += 1
        return None

    def _apply_resume(self) -> _Step:
        """Call ``resume(conn)`` for the next request. A hook that raises is a failed attempt
        (a CallbackError, decided on like any other); a wrong return value is a final
        BadResumeValue for the policy (it fails, or falls back to polling)."""
        resume = self.options.resume
        if resume is None:
            return None
        # API.md: only after every event received before the drop went to the subscribers.
        self.dispatcher.wait_for_the_backlog()
        if self.life.stop.is_set():
            return True  # closed meanwhile: no hook, no request
        try:
            returned = resume(self.life.connection)
        except BaseException as error:  # in the reader thread, as any callback's (_dispatch)
            log.exception("resume= hook of %s raised", self.url)
            failure = CallbackError(
                f"the resume= hook for {self.url} raised {error!r}", url=self.url
            )
            failure.__cause__ = error
            return failure
        try:
            self.overrides = check_overrides(returned, self.url)
        except BadResumeValue as error:
            return error  # final: the policy fails the connection, or falls back to polling
        return None

    # -- one stream ---------------------------------------------------------------------------

    def _stream_once(self) -> Ending:
        """Open one stream and read it to its end; return how it ended."""
        self.parser.reset()  # a cut-off event is discarded, never glued to the next stream
        self.replays.begin_stream()
        options = self.options
        request = stream_request(
            options, self.method, self.url, self.parser.last_event_id, self.overrides
        )
        try:
            stream = self.transport.open(request, options.timeout, options.read_timeout)
            if stream is None:
                return Ended.NO_CONTENT
            return self._read_open(stream)
        except SSEError as error:
            return self._interrupted() or error

    def _interrupted(self) -> Optional[Ended]:
        if self.life.stop.is_set():
            return Ended.CLOSE
        if self.force_reconnect:
            return Ended.RECONNECT
        return None

    def _read_open(self, stream: Stream) -> Ending:
        life = self.life
        with life.lock:
            self.stream = stream
            life.opened_at = life.runtime.monotonic()
        try:
            interrupted = self._interrupted()
            if interrupted is not None:
                return interrupted
            life.set_status(Status.OPEN)
            life.was_open = True
            if life.stop.is_set():  # closed from on_status: on_close has run, on_open must not
                return Ended.CLOSE
            self.dispatcher.call_user(self.options.on_open, life.connection)
            life.opened.set()
            ending = self._read(stream)
            return self._interrupted() or ending
        finally:
            with life.lock:
                self.stream = None
                life.opened_at = None
            stream.abort()

    def _read(self, stream: Stream) -> Ending:
        life = self.life
        parser = self.parser
        # Comments are collected only when somebody listens: the plain feed pays nothing.
        with_comments = self.options.on_comment is not None
        hand_over: Callable[[list[Any], list[int]], Optional[Ending]] = (
            self._hand_over_items if with_comments else self.hand_over
        )
        # The plain feed marks the events that inherited their id here, without a call's
        # set-up per read (feed_items returns its own marks); emptied after each read.
        marks: list[int] = []
        parser.mark_inherited(marks)
        try:
            while True:
                chunk = stream.read()
                if not chunk:
                    return Ended.SERVER_END
                life.bytes += len(chunk)
                events: list[Any]
                try:
                    if with_comments:
                        events, inherited = parser.feed_items(chunk)
                    else:
                        events, inherited = parser.feed(chunk), marks
                except EventTooLarge as error:
                    marks.clear()
                    return self._too_large(error, hand_over)
                if events:
                    ending = hand_over(events, inherited)
                    if ending is not None:
                        return ending
                    if marks:
                        marks.clear()
        finally:
            parser.mark_inherited(None)

    def _too_large(
        self,
        error: EventTooLarge,
        hand_over: Callable[[list[Any], list[int]], Optional[Ending]],
    ) -> Ending:
        """Deliver what came before the oversized event; the error, naming the URL."""
        ending = hand_over(list(error.events), error.inherited or [])
        if ending is not None:
            return ending
        # The parser knows no URL; the message must name it.
        too_large = EventTooLarge(
            f"the stream from {self.url}: {error}",
            url=self.url,
            limit=error.limit,
            # from feed_items, the comments before the oversized event are among them
            events=[item for item in error.events if type(item) is Event],
        )
        too_large.__cause__ = error
        return too_large

    def _hand_over_items(self, items: list[Any], inherited: list[int]) -> Optional[Ending]:
        """``hand_over`` for events with comments among them: each comment goes to
        ``on_comment`` in its place, between the runs of events around it."""
        marked = set(inherited)
        events: list[Event] = []
        events_inherited: list[int] = []
        for index, item in enumerate(items):
            if type(item) is Comment:
                ending = self.hand_over(events, events_inherited) if events else None
                if ending is not None:
                    return ending
                events, events_inherited = [], []
                self.dispatcher.comment(str(item))
                continue
            if index in marked:
                events_inherited.append(len(events))
            events.append(item)
        return self.hand_over(events, events_inherited) if events else None

    def hand_over(self, events: list[Event], inherited: list[int]) -> Optional[Ending]:
        """Drop replays, stop at ``fail`` or ``done``, count, and deliver. Returns how the
        stream ends when ``fail`` or ``done`` matched."""
        ending: Optional[Ending] = None
        if self.watches_for_ends:
            events, ending = self._until_the_end_marker(events, inherited)
        elif self.options.dedup:
            events = self.replays.filter(events, inherited)
        life = self.life
        if not events or life.stop._is_set:
            return ending
        self.attempts = 0
        # Only this thread writes the counts: stats() may read them between these two lines.
        life.messages += len(events)
        life.last_message_time = life.runtime.wall_clock()
        self.dispatcher.deliver(events)
        return ending

    def _until_the_end_marker(
        self, events: list[Event], inherited: list[int]
    ) -> tuple[list[Event], Optional[Ending]]:
        """The events that are not replays, up to the first that ``fail`` or ``done``
        matches, and how that ends the stream. The stream ends at that event: the events
        after it in this read were never delivered, so neither the dedup window nor the last
        event ID (the resume point) may count them."""
        dedup = self.options.dedup
        kept = self.replays.without_replays(events, inherited) if dedup else events
        call, done, fail = self.dispatcher.call_user, self.options.done, self.options.fail
        stop = self.life.stop
        for index, event in enumerate(kept):
            if stop.is_set():
                break  # closed from a predicate: nothing is asked (or delivered) after close()
            ending: Optional[Ending] = None
            if fail is not None and call(fail, event):
                ending = ServerEventError(
                    f"{self.url} reported an error in the stream: event {event.event!r}, "
                    f"data {event.data[:200]!r}",
                    url=self.url,
                    event=event,
                )
            elif done is not None and not stop.is_set() and call(done, event):
                ending = Ended.DONE
            if ending is not None:
                seen = next(i for i, each in enumerate(events) if each is event) + 1
                if dedup:
                    marks = [i for i in inherited if i < seen]
                    self.replays.filter(events[:seen], marks, drop=False)
                self.parser.last_event_id = event.id
                return kept[:index], ending
        if dedup:
            self.replays.filter(events, inherited, drop=False)
        return kept, None

    def interrupt(self) -> bool:
        """From any thread: cut the current request or read short. False when a request is
        in flight that no interrupt reaches (see Transport.abort)."""
        with self.life.lock:
            stream = self.stream
        reached = self.transport.abort()
        if stream is not None:
            stream.abort()
        return reached


class _Polling:
    """A reader's polling fallback: ``poll_url`` every ``poll_interval`` until closed, each
    answer handed over as a stream's reads are; failures go to on_error."""

    __slots__ = ("reader",)

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def until_closed(self) -> None:
        """Poll until closed, or until ``done`` or ``fail`` ends the connection."""
        reader = self.reader
        options, life = reader.options, reader.life
        assert options.poll_url is not None
        life.set_status(Status.POLLING)
        life.was_open = True  # create() returns once polling began, whatever the first poll
        life.opened.set()
        while not life.stop.is_set():
            ending = self._once(options.poll_url)
            if isinstance(ending, SSEError):  # fail matched, or an event too large
                resumed = isinstance(ending, ServerEventError) and (
                    options.retry.should_retry is not None and reader._allows(ending)
                )
                if not resumed:
                    reader.finish(Status.FAILED, ending)  # final, as on a stream
                    return
                reader.dispatcher.report(ending)  # resumed like a drop: the next poll
                ending = None
            if ending is not None:  # done matched
                reader.finish(Status.COMPLETED, None)
                return
            if self._wait():
                break

    def resume(self, death: SSEError) -> None:
        """A restarted reader of a polling connection: report how the last one died, count a
        reconnect, and go on polling after ``poll_interval``."""
        life = self.reader.life
        self.reader.dispatcher.report(death)
        with life.lock:
            life.reconnect_count += 1
        if not self._wait():
            self.until_closed()

    def _wait(self) -> bool:
        """Wait ``poll_interval`` (cut short by reconnect() or close()); True when closing."""
        reader = self.reader
        stop = reader.life.stop
        closing = reader.life.runtime.wait(reader.wake, reader.options.poll_interval)
        reader.wake.clear()
        reader.force_reconnect = False  # a reconnect() during the wait asked for this next poll
        return closing and stop.is_set()

    def _once(self, url: str) -> Optional[Ending]:
        """Poll once; how the answer ended the connection (``done`` or ``fail`` matched, or an
        event too large)."""
        reader = self.reader
        options, parser = reader.options, reader.parser
        last_id = parser.last_event_id
        size = options.max_event_size
        limit = None if size is None else 4 * size + POLL_SLACK  # JSON escapes lengthen data
        request = poll_request(options, url, last_id)
        try:
            body = reader.transport.poll(request, options.timeout, options.read_timeout, limit)
            reader.life.bytes += len(body)
            events, inherited = parse_poll_body(body, url, last_id)
        except EventTooLarge as error:
            return error  # fails as on a stream
        except SSEError as error:
            if not reader._interrupted():  # reconnect() cut the poll short: no failure
                reader.dispatcher.report(error)
            reader.force_reconnect = False
            return None
        too_large = first_too_large(events, url, options.max_event_size)
        if too_large is not None:  # deliver what comes before it, then fail as a stream does
            events = events[: len(too_large.events)]
            inherited = [index for index in inherited if index < len(events)]
        if events:
            parser.last_event_id = events[-1].id
            reader.replays.begin_stream()  # each poll answer may replay what came before it
            ending = reader.hand_over(events, inherited)
            if ending is not None:
                return ending
        return too_large
