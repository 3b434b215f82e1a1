"""Delivery: the queue that iteration reads, back-pressure, the end marker, the callbacks,
the subscribers and the hand-over of the backlog to a first subscriber.

This is the one place user code runs (:meth:`Dispatcher.call_user`): an exception it raises
is logged and reported to ``on_error``, never fatal to the reader. A connection with
``on_message`` or subscribers feeds the queue only once somebody iterates, so nobody
iterating never stalls it. No lock is held while user code runs.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
import time
from operator import length_hint
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Union

from ._models import Event
from ._options import Options

__all__ = [
    "Dispatcher",
    "EventQueue",
    "HandedOut",
    "Latch",
    "QueueEnd",
    "in_a_reader_thread",
    "slices",
    "this_thread",
    "wait_in_slices",
]

log = logging.getLogger(__name__)

_QUEUE_POLL = 0.1  # how often a reader waiting for room checks for close()
_WAIT_SLICE = 0.2  # longest a waiting user thread is deaf to interrupt_main()

Handler = Callable[[Event], Any]

this_thread = threading.local()  # .reading: this thread is a connection's reader (run() sets it)


def in_a_reader_thread() -> bool:
    """True in a connection's reader thread (in a callback, when user code asks)."""
    return getattr(this_thread, "reading", False)


def _reported(error: BaseException) -> bool:
    """Whether a callback's ``error`` goes to on_error instead of up the stack. Any exception
    does in a reader thread: there nobody could catch it, and it would end the reader and
    lose the events after it (a KeyboardInterrupt there was raised on purpose: Ctrl-C
    reaches only the main thread). Elsewhere (on_close from close(), a handler in
    subscribe()'s hand-over) Ctrl-C and ``sys.exit()`` go on up to the caller."""
    return isinstance(error, Exception) or in_a_reader_thread()


class Latch:
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


class QueueEnd:
    """The last item on the queue: iteration stops there, raising ``error`` if there is one."""

    __slots__ = ("error",)

    def __init__(self, error: Optional[BaseException]) -> None:
        self.error = error


QueueItem = Union[list[Event], QueueEnd]
#: A loop's hold on the queue: [the room of the batches it went through, not yet freed;
#: the item take() handed it that it has not yet made its own (None)].
Hand = list[Any]
_NOTHING_LEFT: list[Event] = []  # put_events() queued them all (never changed)
#: A batch a loop took: the events, the iterator over them, the room it holds, and the
#: order it was taken in.
_Entry = tuple[list[Event], Iterator[Event], int, int]
#: The order of what a hand-over puts back: it came off the front of the queue, before any
#: batch a loop took since.
_BEFORE_ALL = -1


class EventQueue(queue.Queue[QueueItem]):
    r"""A queue.Queue of event batches whose size is the number of events it holds (the end
    marker counts one), so ``queue_size`` bounds events, not reads. A batch a loop took
    keeps its room (``in_hand``) until the loop has gone through it and calls
    :meth:`release`: the bound is on every event between the reader and the consumer."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        # Reentrant: the garbage collector may finish a loop (which puts back the rest of its
        # batch, under this lock) in whichever thread allocates, the producer's too, while it
        # holds this lock in put_events().
        self.mutex = threading.RLock()  # type: ignore[assignment]
        self.not_empty = threading.Condition(self.mutex)
        self.not_full = threading.Condition(self.mutex)
        self.all_tasks_done = threading.Condition(self.mutex)

    def _init(self, maxsize: int) -> None:
        self.queue: collections.deque[QueueItem] = collections.deque()
        self.size = 0
        self.in_hand = 0
        # Rests of batches put back (by id), with the order their batches were taken in: a
        # rest goes back after those of older batches.
        self.returned: dict[int, int] = {}
        # The last loop over it ended while callbacks also take the events: a producer waiting
        # for room must not wait for a reader that may never come.
        self.abandoned = False

    def _qsize(self) -> int:
        return self.size

    def _put(self, item: QueueItem) -> None:
        self.queue.append(item)
        self.size += len(item) if isinstance(item, list) else 1

    def _get(self) -> QueueItem:
        item = self.queue.popleft()
        if self.returned:
            self.returned.pop(id(item), None)
        self.size -= len(item) if isinstance(item, list) else 1
        return item

    def put_events(self, events: list[Event], stop: Latch) -> list[Event]:
        """Queue ``events``, as many at a time as there is room for, waiting for the consumer
        (back-pressure) but never past ``stop`` or :meth:`abandon`; return those it did not
        queue. While the consumer lags they join the batch still waiting at the tail: one
        hand-off instead of one per read."""
        start, total = 0, len(events)
        # The conditions share this lock: taking it directly saves their __enter__/__exit__.
        with self.mutex:
            while start < total:
                room = self.maxsize - self.size - self.in_hand
                if room <= 0:
                    if stop.is_set() or self.abandoned:
                        return events[start:]
                    wait_holding_the_lock(self.not_full, _QUEUE_POLL)
                    continue
                piece = events if start == 0 and room >= total else events[start : start + room]
                start += len(piece)
                tail = self.queue[-1] if self.queue else None
                if isinstance(tail, list) and not (self.returned and id(tail) in self.returned):
                    tail.extend(piece)
                else:
                    self.queue.append(piece)
                self.size += len(piece)
                self.unfinished_tasks += 1
                # Only an empty queue has takers waiting (a Condition's notify() costs a tenth
                # of a wake even with nobody to wake).
                if tail is None:
                    self.not_empty.notify()
        return _NOTHING_LEFT

    def take(self, timeout: Optional[float], hand: Optional[Hand] = None) -> Optional[QueueItem]:
        """The next item; None once ``timeout`` seconds (``None``: no end) pass. A loop's
        ``hand`` holds the room of the batches it went through, released here first (one
        lock for both), and gets the item the moment it leaves the queue: a Ctrl-C can land
        between any two lines of the loop, so what it holds must be where its ``finally``
        finds it. It waits in slices of at most ``_WAIT_SLICE``: a blocking wait is deaf to
        ``interrupt_main()`` (how Jupyter and Windows deliver Ctrl-C) until something
        arrives."""
        waiting = self.queue
        with self.mutex:
            # No call between a change and its record below: CPython 3.11 and later raise a
            # Ctrl-C (and switch threads) only at calls and backward jumps. (3.9 may raise it
            # between any two lines: a Ctrl-C landing here can repeat an event there.)
            if hand is not None and hand[0]:
                was_full = 0 < self.maxsize <= self.size + self.in_hand
                self.in_hand -= hand[0]
                hand[0] = 0
                if was_full:  # only then can a producer wait for room
                    self.not_full.notify()
            if not waiting and not self._wait_for_an_item(timeout):
                return None
            item = waiting[0]  # _get(), inline: this is iteration's every hand-off
            held = len(item) if isinstance(item, list) else 0
            self.size -= held or 1
            self.in_hand += held  # its room is freed once the loop went through it
            if hand is not None:
                hand[1] = item
            waiting.popleft()
            return item

    def _wait_for_an_item(self, timeout: Optional[float]) -> bool:
        """Under the lock: wait until the queue has an item (True) or ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.queue:
            piece = _WAIT_SLICE
            if deadline is not None:
                piece = min(piece, deadline - time.monotonic())
                if piece <= 0:
                    return False
            try:  # wait_holding_the_lock(), inline: this is iteration's every wait
                self.not_empty.wait(piece)
            except BaseException:
                hold_again(self.not_empty)
                raise
        return True

    def put_back(self, rest: list[Event], held: int, order: int) -> None:
        """A loop broke off in a batch of ``held`` events it took (the ``order``-th taken):
        ``rest`` of it goes back to the front, after the rests of older batches (past the
        bound: it had its room), and the batch's room is freed."""
        with self.mutex:
            self.in_hand -= held
            if rest:
                returned, place = self.returned, 0
                for item in self.queue:
                    if returned.get(id(item), order) >= order:
                        break
                    place += 1
                self.queue.insert(place, rest)
                returned[id(rest)] = order
                self.size += len(rest)
                self.unfinished_tasks += 1
                self.not_empty.notify()
            self.not_full.notify()

    def clear(self) -> None:
        """Drop every queued item (close()); the counts start again from what loops hold."""
        with self.mutex:
            self.queue.clear()
            self.size = 0
            self.returned.clear()
            self.not_full.notify()

    def release(self, events: int) -> None:
        """A loop went through a batch of ``events`` that take() gave it: free their room."""
        with self.mutex:
            self._release(events)

    def _release(self, events: int) -> None:
        was_full = 0 < self.maxsize <= self.size + self.in_hand
        self.in_hand -= events
        if was_full:  # only then can a producer wait for room
            self.not_full.notify()

    def abandon(self) -> None:
        """Nobody iterates, and callbacks or subscribers take the events: stop a producer
        waiting for room (at its next check, within ``_QUEUE_POLL``). No lock: the garbage
        collector may call this in the producer's own thread, while it holds the queue's
        lock."""
        self.abandoned = True

    def put_end(self, end: QueueEnd) -> None:
        """Queue the end marker past the bound: it must never wait."""
        with self.mutex:
            self._put(end)
            self.unfinished_tasks += 1
            self.not_empty.notify()


class Dispatcher:
    """Hands events to the callbacks, the subscribers and the queue; runs every user callback.

    ``stop`` is the connection's closing latch: nothing is delivered once it is set.
    """

    __slots__ = (
        "_direct",
        "_end",
        "_flusher",
        "_flushing",
        "_handed_over",
        "_iterators",
        "_lock",
        "_open",
        "_options",
        "_queue",
        "_stop",
        "_subscribers",
        "_unclaimed",
        "url",
    )

    def __init__(self, url: str, options: Options, stop: Latch) -> None:
        self.url = url
        self._options = options
        self._stop = stop
        # Reentrant: a loop over events() dropped in a reference cycle is finished (its
        # finally, which takes this lock) by whichever thread the garbage collector runs in.
        self._lock = threading.RLock()
        # Made when first needed: a connection read by callbacks alone never needs one.
        self._queue: Optional[EventQueue] = None
        self._end: Optional[QueueEnd] = None
        self._open = HandedOut()  # the batches loops over events() are going through
        self._iterators = 0  # loops over events() under way
        self._subscribers: Mapping[str, tuple[Handler, ...]] = {}
        # A subscriber is being handed the backlog, in the thread ``_flusher``: the reader
        # waits meanwhile, so new events come after it (and back-pressure holds).
        self._flushing = False
        self._flusher: Optional[int] = None
        self._handed_over = threading.Condition(self._lock)  # notified when that is done
        # Backlog events no subscriber's type matched at the hand-over, oldest first: the
        # first subscriber of their type gets them (at most queue_size are kept).
        self._unclaimed: list[Event] = []
        # on_message while it is the only consumer (no subscribers, nobody iterating): what
        # deliver() calls without taking the lock. Set by _choose_direct(), under the lock.
        self._direct: Optional[Handler] = options.on_message

    # -- user code ---------------------------------------------------------------------------

    def call_user(self, function: Optional[Callable[..., Any]], *args: Any) -> Any:
        """Run user code: its exception is logged and reported to on_error, never fatal
        (outside a reader thread, Ctrl-C and ``sys.exit()`` go up to the caller)."""
        if function is None:
            return None
        try:
            return function(*args)
        except BaseException as error:
            if not _reported(error):
                raise
            self._report_user_error(error, function)
            return None

    def _report_user_error(self, error: BaseException, function: Callable[..., Any]) -> None:
        log.error("a callback of %s raised", self.url, exc_info=error)
        on_error = self._options.on_error
        if on_error is not None and function is not on_error:
            try:
                on_error(error)
            except BaseException as failure:
                if not _reported(failure):
                    raise
                log.exception("on_error of %s raised", self.url)

    def report(self, error: BaseException) -> None:
        """Give ``error`` to on_error (unless the connection is closing)."""
        if not self._stop.is_set():
            self.call_user(self._options.on_error, error)

    def comment(self, text: str) -> None:
        """Give a comment line to on_comment."""
        if not self._stop.is_set():
            self.call_user(self._options.on_comment, text)

    # -- delivery ----------------------------------------------------------------------------

    def deliver(self, events: list[Event]) -> None:
        """Hand events to the queue, the callbacks and the subscribers, in order."""
        on_each = self._direct  # on_message alone: no lock, no queue
        if on_each is None:
            on_each = self._deliver_to_all(events)
            if on_each is None:
                return
        stop = self._stop
        for event in events:
            if stop._is_set:  # the flag read directly: a third of the cost of is_set()
                break  # a callback closed the connection: nothing is delivered after close()
            try:
                on_each(event)
            except BaseException as error:
                if not _reported(error):
                    raise
                self._report_user_error(error, on_each)

    def _deliver_to_all(self, events: list[Event]) -> Optional[Handler]:
        """``deliver`` with an iterator or subscribers: queue the events and call the
        subscribers; returns ``on_message`` when it is still to be called for each event."""
        with self._lock:
            if self._flushing:
                self._wait_for_the_hand_over()  # these come after the backlog
            subscribers = self._subscribers
        on_message = self._options.on_message
        if self._iterators or not (on_message or subscribers):
            rest = self._the_queue().put_events(events, self._stop)
            if not (subscribers or self._iterators or on_message) and self._subscribers:
                # A first subscriber came while these were being queued: it is handed what
                # is queued (what its own hand-over left, here), then the rest of these.
                self._claim_and_flush_backlog()
                subscribers, events = self._subscribers, rest
        if not subscribers:
            return on_message
        for event in events:
            if self._stop.is_set():
                break
            self.call_user(on_message, event)
            # Read for each event: a handler that unsubscribed (a one-shot) is called no more.
            for handler in self._subscribers.get(event.event, ()):
                if self._stop.is_set():
                    break
                self.call_user(handler, event)
        return None

    # -- subscribers -------------------------------------------------------------------------

    def subscribe(self, event_type: str, handler: Handler) -> None:
        """Add ``handler`` for ``event_type``. The first consumer takes over the backlog; the
        first subscriber of a type, the backlog's events of that type nobody took."""
        with self._lock:
            if self._flushing:  # a hand-over first: its events come before this one's
                self._wait_for_the_hand_over()
            first_consumer = not (self._subscribers or self._options.on_message or self._iterators)
            handlers = self._subscribers.get(event_type, ())
            self._subscribers = {**self._subscribers, event_type: (*handlers, handler)}
            self._choose_direct()
            # Claimed with the handler added: from here the reader waits for the hand-over
            # instead of handing new events to the subscriber first.
            nested = self._flushing  # from a handler, inside this thread's own hand-over
            leftovers = [e for e in self._unclaimed if e.event == event_type]
            self._unclaimed = [e for e in self._unclaimed if e.event != event_type]
            if first_consumer:
                if self._queue is not None:
                    self._queue.abandon()  # a reader waiting for room must not wait on
                flush = nested or self._claim_backlog(leftovers)
            else:
                flush = bool(leftovers) and (nested or self._claim_backlog(leftovers))
        if not flush:
            return
        if nested:  # older than the event being handed: at once
            self._hand(leftovers)
        else:
            self._flush_backlog(leftovers, backlog=first_consumer)

    def unsubscribe(self, event_type: str, handler: Optional[Handler]) -> None:
        """Remove ``handler`` from ``event_type``, or every handler of it when ``None``."""
        with self._lock:
            handlers = self._subscribers.get(event_type, ())
            kept = () if handler is None else tuple(h for h in handlers if h != handler)
            subscribers = dict(self._subscribers)
            if kept:
                subscribers[event_type] = kept
            else:
                subscribers.pop(event_type, None)
            self._subscribers = subscribers
            self._choose_direct()
            if not (subscribers or self._options.on_message) and self._queue is not None:
                self._queue.abandoned = False  # the queue is all there is again: back-pressure

    def _choose_direct(self) -> None:
        """Under the lock: on_message takes the lock-free path when it is the only consumer."""
        alone = not (self._subscribers or self._iterators)
        self._direct = self._options.on_message if alone else None

    def _claim_and_flush_backlog(self) -> None:
        with self._lock:
            self._wait_for_the_hand_over()  # the subscriber's own, in its thread, first
            flush = self._claim_backlog()
        if flush:
            self._flush_backlog([], backlog=True)

    def _claim_backlog(self, leftovers: Optional[list[Event]] = None) -> bool:
        """Under the lock: True (and flushing, in this thread) when there is a backlog (or
        ``leftovers``) nobody hands over yet."""
        queued = self._queue is not None and not self._queue.empty()
        if self._flushing or not (leftovers or queued or self._unfinished_batch()):
            return False
        self._flushing, self._flusher = True, threading.get_ident()
        return True

    def _flush_backlog(self, leftovers: list[Event], backlog: bool) -> None:
        """Hand the subscribers, in this thread and in order, ``leftovers`` (earlier backlog
        events of a type nobody took), then with ``backlog`` the events queued before the
        first subscriber. The reader waits meanwhile, so a ``subscribe()`` right after
        ``create_sse_connection`` misses nothing."""
        end: Optional[QueueEnd] = None
        handing = iter(leftovers)  # what is being handed: its rest, should a handler raise
        try:
            if not self._hand(handing) or not backlog:
                return
            while True:
                with self._lock:
                    item = self._next_backlog_item()
                if item is None:
                    return
                if isinstance(item, QueueEnd):
                    end = item  # put back once the hand-over is over
                    continue
                handing = iter(item)
                if not self._hand(handing):
                    return
        except BaseException:  # Ctrl-C in a handler: a later loop or first subscriber gets the rest
            rest = list(handing)
            if rest and not self._stop.is_set():
                self._the_queue().put_back(rest, 0, _BEFORE_ALL)
            raise
        finally:  # also past close() or Ctrl-C: a reader waiting for the hand-over goes on
            with self._lock:
                self._flushing, self._flusher = False, None
                self._handed_over.notify_all()
            if end is not None and not self._stop.is_set():  # close() puts it back itself
                self._the_queue().put_end(end)

    def _hand(self, events: Iterable[Event]) -> bool:
        """Call each event's subscribers, keeping the events no subscriber takes for a later
        one; False once close() began."""
        for event in events:
            # Read for each event: a handler may subscribe another type meanwhile.
            listeners = self._subscribers.get(event.event, ())
            if not listeners:
                self._keep_unclaimed(event)
            for listener in listeners:
                if self._stop.is_set():
                    return False
                self.call_user(listener, event)
        return True

    def _keep_unclaimed(self, event: Event) -> None:
        unclaimed = self._unclaimed
        unclaimed.append(event)
        if len(unclaimed) > self._options.queue_size:
            del unclaimed[0]  # the bound holds here too: the oldest goes

    def wait_for_the_backlog(self) -> None:
        """Block while a subscriber is still being handed the backlog (in the thread that
        subscribed), or until close()."""
        with self._lock:
            self._wait_for_the_hand_over()

    def _wait_for_the_hand_over(self) -> None:
        """Under the lock: wait while another thread hands a subscriber the backlog."""
        if self._flusher == threading.get_ident():
            return  # from a subscriber's handler, inside the hand-over itself
        while self._flushing and not self._stop.is_set():
            wait_holding_the_lock(self._handed_over, _QUEUE_POLL)

    def _unfinished_batch(self) -> Optional[Iterator[Event]]:
        """What a loop left of a batch, if any; the room of the finished ones freed."""
        hand: Hand = [0, None]
        unfinished = self._open.unfinished(hand)
        if hand[0] and self._queue is not None:
            self._queue.release(hand[0])
        return unfinished

    def _next_backlog_item(self) -> Optional[QueueItem]:
        unfinished = self._unfinished_batch() if self._open.entries else None
        if unfinished is not None:
            return list(unfinished)  # what a loop left of its batch comes first
        if self._queue is not None:
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                pass
        return None

    # -- the end -----------------------------------------------------------------------------

    def end(self, error: Optional[BaseException]) -> None:
        """Mark the end of the events: iteration stops there (raising ``error`` if given)."""
        with self._lock:
            if self._end is not None:
                return
            self._end = end = QueueEnd(error)
            waiting = self._queue
        if waiting is not None:
            waiting.put_end(end)  # else the first to iterate finds it (_the_queue)

    def discard(self) -> None:
        """Drop what is queued and what iteration is in the middle of (close())."""
        waiting = self._queue
        if waiting is not None:
            waiting.clear()
        self._open.empty()
        self._unclaimed = []
        end = self._end
        if end is not None and waiting is not None:
            waiting.put_end(end)

    # -- iteration ---------------------------------------------------------------------------

    def queued(self) -> int:
        """How many events wait for iteration."""
        waiting = self._queue
        return 0 if waiting is None else waiting.qsize()

    def events(self, timeout: Optional[float], describe: Callable[[], str]) -> Iterator[Event]:
        """The queued events in order until the end; see ``Connection.events``."""
        # Events come out of the queued batches through C-level iterators (a chain over list
        # iterators): no Python code runs per event. discard() empties the batch being
        # iterated in place, which ends its iterator at once.
        return itertools.chain.from_iterable(self._batches(timeout, describe))

    def _batches(
        self, timeout: Optional[float], describe: Callable[[], str]
    ) -> Iterator[Iterator[Event]]:
        waiting = self._the_queue()
        with self._lock:
            self._iterators += 1
            self._choose_direct()
        hand: Hand = [0, None]  # what this loop holds (see take())
        current: Optional[_Entry] = None  # the batch it is in
        try:
            waiting.abandoned = False
            while True:
                unfinished = self._open.unfinished(hand) if self._open.entries else None
                if unfinished is not None:
                    # The rest of a batch another loop is still in (shared: each event still
                    # goes to one loop).
                    yield unfinished
                    continue
                item = waiting.take(timeout, hand)
                if item is None:
                    raise TimeoutError(
                        f"no event from {self.url} within timeout={timeout}s ({describe()})"
                    )
                if isinstance(item, QueueEnd):
                    waiting.put_end(item)  # leave it for any other iterator
                    hand[1] = None
                    if item.error is not None:
                        raise item.error
                    return
                returned = waiting.returned
                entry = self._open.add(item, returned.pop(id(item), None) if returned else None)
                hand[1] = None  # handed out: a loop finds it there, whatever happens next
                # Added before the check: discard() empties it from now on.
                if self._stop.is_set():
                    # close() began and may have drained the queue before this batch reached it:
                    # handing it out would skip the discarded events and carry on after them.
                    item.clear()
                    continue
                current = entry
                yield entry[1]
                self._open.finish(entry, hand)  # the loop asks for more only then
                current = None
        finally:
            try:
                self._open.let_go(hand, current, waiting)
            finally:
                self._loop_ended()

    def _loop_ended(self) -> None:
        # With callbacks or subscribers, nobody iterating must never stall the reader, so
        # the queue is fed no longer (unless another loop runs).
        with self._lock:
            self._iterators -= 1
            self._choose_direct()
            callbacks = self._subscribers or self._options.on_message
            if not self._iterators and callbacks and self._queue is not None:
                self._queue.abandon()

    def _the_queue(self) -> EventQueue:
        """The queue, made on first use; a connection that already ended gets its end in it."""
        made = self._queue
        if made is not None:
            return made  # every read and get after the first: no lock
        with self._lock:
            waiting = self._queue
            if waiting is None:
                waiting = self._queue = EventQueue(self._options.queue_size)
                if self._end is not None:
                    waiting.put_end(self._end)
            return waiting


class HandedOut:
    """The batches handed to loops over events(), with the iterators over them, until a loop
    finds one finished. Two loops at once share one (each event still goes to one loop); the
    rest of one a loop broke off in goes back to the front of the queue."""

    __slots__ = ("_order", "entries")

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self._order = itertools.count()  # numbers the batches in the order loops take them

    def add(self, batch: list[Event], order: Optional[int]) -> _Entry:
        """Hand out ``batch`` (a rest put back keeps its ``order``)."""
        entry = (batch, iter(batch), len(batch), next(self._order) if order is None else order)
        self.entries.append(entry)
        return entry

    def finished(self, entry: _Entry) -> int:
        """A loop went through ``entry``: the room to free, unless another loop that found it
        finished already freed it."""
        try:
            self.entries.remove(entry)
        except ValueError:
            return 0
        return entry[2]

    def finish(self, entry: _Entry, hand: Hand) -> None:
        """``finished``, its room added to ``hand[0]`` with no call in between (see take())."""
        entries = self.entries
        if entry in entries:
            hand[0] += entry[2]
            try:
                entries.remove(entry)
            except ValueError:  # another loop removed it meanwhile (a thread switch, 3.9)
                hand[0] -= entry[2]

    def let_go(self, hand: Hand, current: Optional[_Entry], waiting: EventQueue) -> None:
        """A loop ended, broke off or was interrupted in ``current`` (or holding ``hand``):
        the rest of what it holds goes back to the front of the queue, and the room it went
        through is freed."""
        held = hand[1]
        if current is not None:
            self.put_back(current, waiting)  # broke off in it: the rest goes first
        elif isinstance(held, QueueEnd):
            waiting.put_end(held)
        elif held is not None:  # taken, not yet handed out
            entry = next((entry for entry in self.entries if entry[0] is held), None)
            if entry is not None:
                self.put_back(entry, waiting)
            else:
                waiting.put_back(list(held), len(held), _BEFORE_ALL)
        if hand[0]:
            waiting.release(hand[0])

    def unfinished(self, hand: Hand) -> Optional[Iterator[Event]]:
        """An iterator over a batch with events left, oldest first; the finished ones are
        forgotten on the way, their room added to ``hand[0]`` to be freed."""
        for entry in list(self.entries):
            if length_hint(entry[1]):
                return entry[1]
            self.finish(entry, hand)
        return None

    def put_back(self, entry: _Entry, waiting: EventQueue) -> None:
        """A loop broke off in this batch: its rest goes back to the front of the queue (where
        a loop waiting in take() finds it), and the batch's room with it."""
        room = self.finished(entry)
        if room:  # else another loop found it finished and freed its room
            waiting.put_back(list(entry[1]), room, entry[3])  # list(): should one share it

    def empty(self) -> None:
        """close(): end every iterator over them, in whichever thread."""
        for batch, *_ in list(self.entries):
            batch.clear()


def wait_holding_the_lock(condition: threading.Condition, timeout: float) -> None:
    """``condition.wait(timeout)``, which holds the lock again when it raises. A Ctrl-C that
    lands inside Condition.wait just after it let go of the lock leaves it released, and the
    ``with`` block's exit would then raise RuntimeError instead of the KeyboardInterrupt."""
    try:
        condition.wait(timeout)
    except BaseException:
        hold_again(condition)
        raise


def hold_again(condition: threading.Condition) -> None:
    """Take the condition's lock again if an interrupted wait left it released."""
    if not condition._is_owned():  # type: ignore[attr-defined]
        condition.acquire()


def slices(timeout: Optional[float]) -> Iterator[float]:
    """Split a wait of ``timeout`` seconds (``None``: no end) into waits of at most
    ``_WAIT_SLICE``, so a waiting user thread stays responsive to ``interrupt_main()``. There
    is always at least one slice, so ``timeout=0`` still tries once."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = _WAIT_SLICE if deadline is None else deadline - time.monotonic()
        yield max(0.0, min(_WAIT_SLICE, remaining))
        if deadline is not None and time.monotonic() >= deadline:
            return


def wait_in_slices(latch: Latch, timeout: Optional[float]) -> bool:
    """``latch.wait(timeout)``, in slices."""
    return any(latch.wait(piece) for piece in slices(timeout))
