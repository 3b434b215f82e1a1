"""Delivery (sseclient_sync/_dispatch.py), from one thread where it can be, with a producer
thread where back-pressure is the point."""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import Any

import pytest
from support import WAIT, wait_until

from sseclient_sync import Event
from sseclient_sync._dispatch import (
    Dispatcher,
    EventQueue,
    HandedOut,
    Latch,
    QueueEnd,
    wait_holding_the_lock,
)
from sseclient_sync._options import build_options

URL = "http://127.0.0.1:9/s"


def dispatcher(stop: Any = None, **options: Any) -> Dispatcher:
    return Dispatcher(URL, build_options(URL, options), stop or Latch())


def batch(count: int, start: int = 0, size: int = 1) -> list[Event]:
    return [Event(data=str(n) * size, id=str(n)) for n in range(start, start + count)]


def test_queue_size_counts_events_not_reads() -> None:
    waiting = EventQueue(3)
    stop = Latch()
    producer = threading.Thread(target=waiting.put_events, args=(batch(7), stop))
    producer.start()
    wait_until(lambda: waiting.qsize() == 3, "the queue to fill")
    taken: list[str] = []
    while len(taken) < 7:
        item = waiting.get(timeout=WAIT)
        assert isinstance(item, list) and len(item) <= 3
        taken += [event.data for event in item]
    producer.join(WAIT)
    assert taken == [str(n) for n in range(7)]


def test_a_waiting_producer_stops_at_close() -> None:
    waiting = EventQueue(1)
    stop = Latch()
    producer = threading.Thread(target=waiting.put_events, args=(batch(5), stop))
    producer.start()
    wait_until(lambda: waiting.qsize() == 1, "the queue to fill")
    stop.set()
    producer.join(WAIT)
    assert not producer.is_alive()


def watched(waiting: EventQueue) -> tuple[list[str], dict[str, threading.Event]]:
    """The names of ``waiting``'s conditions as they are notified, and an Event per
    condition that is set when somebody waits on it."""
    notified: list[str] = []
    entered = {"not_empty": threading.Event(), "not_full": threading.Event()}
    for name, started in entered.items():
        condition = getattr(waiting, name)

        def notify(n: int = 1, real: Any = condition.notify, name: str = name) -> None:
            notified.append(name)
            real(n)

        def wait(timeout: Any = None, real: Any = condition.wait, started: Any = started) -> Any:
            started.set()
            return real(timeout)

        condition.notify, condition.wait = notify, wait
    return notified, entered


def test_nobody_is_notified_where_nobody_can_wait() -> None:
    waiting = EventQueue(3)
    notified, _ = watched(waiting)
    waiting.put_events(batch(1), Latch())
    waiting.put_events(batch(1, start=1), Latch())  # not empty: no taker waits
    assert waiting.take(WAIT) == batch(2)  # not full: no producer waits
    assert notified == ["not_empty"]


def test_take_and_put_events_notify_when_the_other_side_can_wait() -> None:
    # Only a full queue has a producer waiting for room, and only an empty one takers.
    waiting = EventQueue(1)
    notified, entered = watched(waiting)
    waiting.put_events(batch(1), Latch())
    assert notified == ["not_empty"]  # the queue was empty
    assert waiting.take(WAIT) == batch(1)
    assert notified == ["not_empty"]  # the batch taken still holds its room
    waiting.release(1)
    assert notified == ["not_empty", "not_full"]  # and the queue was full
    notified.clear()
    # A producer waiting for room is woken by release(), not left to its next check.
    waiting.put_events(batch(1, start=1), Latch())
    producer = threading.Thread(target=waiting.put_events, args=(batch(1, start=2), Latch()))
    producer.start()
    assert entered["not_full"].wait(WAIT)
    assert waiting.take(WAIT) == batch(1, start=1)
    waiting.release(1)
    producer.join(WAIT)
    assert notified == ["not_empty", "not_full", "not_empty"]
    assert waiting.take(WAIT) == batch(1, start=2)  # empty again
    waiting.release(1)
    # A waiting take() is woken by put_events(); so is queue.Queue's own get().
    for number, take in enumerate((waiting.take, waiting.get), start=3):
        taken: list[Any] = []
        entered["not_empty"].clear()
        notified.clear()
        consumer = threading.Thread(target=lambda take=take, taken=taken: taken.append(take(WAIT)))
        consumer.start()
        assert entered["not_empty"].wait(WAIT)
        waiting.put_events(batch(1, start=number), Latch())
        consumer.join(WAIT)
        assert taken == [batch(1, start=number)]
        assert notified[0] == "not_empty"
        if take == waiting.take:
            waiting.release(1)


def test_a_batch_taken_holds_its_room_until_it_is_released() -> None:
    waiting = EventQueue(4)
    assert waiting.put_events(batch(4), Latch()) == []
    assert waiting.take(WAIT) == batch(4)
    stop = Latch()
    stop.set()  # so the producer does not wait: it hands back what found no room
    assert waiting.put_events(batch(2, start=4), stop) == batch(2, start=4)
    waiting.release(4)
    assert waiting.put_events(batch(2, start=4), stop) == []


def test_a_ctrl_c_while_a_loop_waits_frees_the_room_of_the_batch_before_once() -> None:
    sink = dispatcher(queue_size=3)
    sink.deliver(batch(3))
    events = loop(sink)
    assert [next(events).data for _ in range(3)] == ["0", "1", "2"]
    waiting = sink._the_queue()

    def interrupted(timeout: Any = None) -> bool:
        raise KeyboardInterrupt  # where a Ctrl-C lands: the wait for the next batch

    waiting.not_empty.wait = interrupted
    with pytest.raises(KeyboardInterrupt):
        next(events)  # done with the batch: take() frees its room, then waits
    assert waiting.in_hand == 0
    stop = Latch()
    stop.set()  # so the producer does not wait: it hands back what found no room
    assert waiting.put_events(batch(5, start=3), stop) == batch(2, start=6)


class _Interrupt:
    """Wraps ``function``: runs it (unless ``before``), then raises KeyboardInterrupt once,
    as a Ctrl-C landing just before or just after that call would."""

    def __init__(self, function: Any, before: bool = False) -> None:
        self.function, self.before, self.fired = function, before, False

    def __call__(self, *args: Any) -> Any:
        if self.fired:
            return self.function(*args)
        self.fired = True
        if not self.before:
            self.function(*args)
        raise KeyboardInterrupt


def _drain(sink: Dispatcher) -> list[str]:
    sink.end(None)
    return [event.data for event in loop(sink)]


def test_a_ctrl_c_in_the_wake_of_a_freed_producer_frees_the_room_once() -> None:
    # A Ctrl-C in take()'s notify(), after it freed the loop's room: the loop's finally
    # freed it again (in_hand -3: queue_size bounded nothing).
    sink = dispatcher(queue_size=3)
    sink.deliver(batch(3))
    events = loop(sink)
    assert [next(events).data for _ in range(3)] == ["0", "1", "2"]
    waiting = sink._the_queue()
    waiting.not_full.notify = _Interrupt(waiting.not_full.notify)  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        next(events)
    assert waiting.in_hand == 0 and waiting.size == 0


def _interrupt_method(
    monkeypatch: pytest.MonkeyPatch, cls: type, name: str, before: bool = False
) -> None:
    interrupt = _Interrupt(getattr(cls, name), before)

    def method(self: Any, *args: Any) -> Any:  # a function, so that it binds self
        return interrupt(self, *args)

    monkeypatch.setattr(cls, name, method)


@pytest.mark.parametrize("before", [True, False], ids=["before it is handed out", "after"])
def test_a_ctrl_c_between_take_and_the_loop_puts_the_batch_back(
    monkeypatch: pytest.MonkeyPatch, before: bool
) -> None:
    # Between take() and the loop's own record of the batch: it was gone for good, and its
    # room held, so the producer waited for ever.
    sink = dispatcher(queue_size=3)
    sink.deliver(batch(3))
    _interrupt_method(monkeypatch, HandedOut, "add", before=before)
    events = loop(sink)
    with pytest.raises(KeyboardInterrupt):
        next(events)
    waiting = sink._the_queue()
    assert waiting.in_hand == 0 and waiting.size == 3
    assert _drain(sink) == ["0", "1", "2"]


def test_a_ctrl_c_as_a_loop_finishes_a_batch_frees_its_room_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = dispatcher(queue_size=3)
    sink.deliver(batch(3))
    events = loop(sink)
    assert [next(events).data for _ in range(3)] == ["0", "1", "2"]
    _interrupt_method(monkeypatch, HandedOut, "finish")
    with pytest.raises(KeyboardInterrupt):
        next(events)
    waiting = sink._the_queue()
    assert waiting.in_hand == 0 and not sink._open.entries
    sink.deliver(batch(2, start=3))
    assert _drain(sink) == ["3", "4"]


def test_a_ctrl_c_in_a_condition_wait_after_it_let_go_of_the_lock_stays_a_ctrl_c() -> None:
    # Condition.wait can be interrupted just after it released its lock: the with block's
    # exit then raised RuntimeError('cannot release un-acquired lock') instead.
    condition = threading.Condition(threading.RLock())

    def interrupted(timeout: Any = None) -> bool:
        condition.release()
        raise KeyboardInterrupt

    condition.wait = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt), condition:
        wait_holding_the_lock(condition, 0.01)
    assert condition.acquire(blocking=False)  # released by the with block, once
    condition.release()


def test_a_ctrl_c_in_a_loops_wait_after_it_let_go_of_the_lock_stays_a_ctrl_c() -> None:
    sink = dispatcher(queue_size=3)
    events = loop(sink)
    waiting = sink._the_queue()

    def interrupted(timeout: Any = None) -> bool:
        waiting.mutex.release()  # as Condition.wait does before its try
        raise KeyboardInterrupt

    waiting.not_empty.wait = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        next(events)
    assert waiting.mutex.acquire(blocking=False)  # nobody holds it
    waiting.mutex.release()
    assert waiting.in_hand == 0


def test_close_empties_the_queue_whatever_its_counts_say() -> None:
    sink = dispatcher(queue_size=5)
    sink.deliver(batch(3))
    waiting = sink._the_queue()
    waiting.size += 2  # a count a Ctrl-C on Python 3.9 can leave wrong
    sink.discard()  # get_nowait() went by the count: IndexError('pop from an empty deque')
    assert waiting.size == 0 and not waiting.queue


def test_the_end_marker_never_waits_for_room() -> None:
    waiting = EventQueue(2)
    waiting.put_events(batch(2), Latch())
    waiting.put_end(QueueEnd(None))
    assert waiting.qsize() == 3


def test_a_stalled_consumer_holds_queue_size_events_and_no_more() -> None:
    # queue_size=100 with reads of 64 events: what waits for the consumer is 100 events in
    # all, the rest of the batch it took included (the producer holds the rest of one read),
    # not 100 reads' worth, nor 100 queued beside a batch of 64 in the consumer's hands.
    stop = Latch()
    sink = dispatcher(stop, queue_size=100)
    reads = [batch(64, start=64 * n) for n in range(40)]
    iterator = sink.events(timeout=WAIT, describe=lambda: "test")
    started: list[int] = []  # the reads the producer began to deliver

    def produce() -> None:
        for read in reads:
            started.append(len(read))
            sink.deliver(read)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        assert next(iterator).data == "0"  # the consumer takes one event, then stalls
        wait_until(lambda: len(started) >= 2 and sink.queued() == 0, "the batch to be taken")
        time.sleep(0.2)  # time for the producer to go on, were there room
        assert producer.is_alive()  # waiting for room: back-pressure
        # The first read and 36 of the second are buffered (the consumer holds them, merged
        # into one batch); the producer waits inside the second.
        assert len(started) == 2
    finally:
        stop.set()
        producer.join(WAIT)


def test_a_raising_callback_is_reported_and_delivery_goes_on() -> None:
    errors: list[BaseException] = []
    seen: list[str] = []

    def on_message(event: Event) -> None:
        seen.append(event.data)
        if event.data == "1":
            raise ValueError("boom")

    sink = dispatcher(on_message=on_message, on_error=errors.append)
    sink.deliver(batch(3))
    assert seen == ["0", "1", "2"]
    assert [str(error) for error in errors] == ["boom"]


def test_closing_from_another_thread_ends_on_message_within_the_batch() -> None:
    # What close() does: set the latch, then discard(). The reader gets no further event of
    # the batch it is delivering once that returns.
    stop = Latch()
    seen: list[str] = []
    halfway, closed = threading.Event(), threading.Event()

    def on_message(event: Event) -> None:
        seen.append(event.data)
        if event.data == "2":
            halfway.set()
            assert closed.wait(WAIT)

    sink = dispatcher(stop, on_message=on_message)
    reader = threading.Thread(target=sink.deliver, args=(batch(5),))
    reader.start()
    assert halfway.wait(WAIT)
    stop.set()
    sink.discard()
    closed.set()
    reader.join(WAIT)
    assert seen == ["0", "1", "2"]
    sink.deliver(batch(2, start=5))  # after close(): nothing
    assert seen == ["0", "1", "2"]


def test_a_first_subscriber_takes_over_the_backlog_in_order() -> None:
    sink = dispatcher()
    sink.deliver(batch(3))
    got: list[str] = []
    sink.subscribe("message", lambda event: got.append(event.data))
    sink.deliver(batch(2, start=3))
    assert got == ["0", "1", "2", "3", "4"]


def test_on_message_shares_events_with_subscribers_and_iteration_as_they_come_and_go() -> None:
    # on_message alone takes the lock-free path; a subscriber, and then iteration, must each
    # get every event delivered from the moment they start.
    seen: list[str] = []
    got: list[str] = []

    def handler(event: Event) -> None:
        got.append(event.data)

    sink = dispatcher(on_message=lambda event: seen.append(event.data))
    sink.deliver(batch(1))
    sink.subscribe("message", handler)
    sink.deliver(batch(1, start=1))
    sink.unsubscribe("message", handler)
    sink.deliver(batch(1, start=2))
    # Iteration begins at the first next(): deliver until the waiting iterator gets one.
    iterator = sink.events(timeout=WAIT, describe=lambda: "test")
    taken: list[str] = []
    taker = threading.Thread(target=lambda: taken.append(next(iterator).data))
    taker.start()
    sent = 3
    while taker.is_alive() and sent < 300:
        sink.deliver(batch(1, start=sent))
        sent += 1
        taker.join(0.01)
    assert taken and int(taken[0]) < sent
    sink.deliver(batch(1, start=sent))
    assert next(iterator).data == str(int(taken[0]) + 1)  # queued from then on, in order
    assert seen == [str(n) for n in range(sent + 1)]
    assert got == ["1"]


def test_a_loop_that_breaks_off_never_stalls_on_message() -> None:
    seen: list[str] = []
    sink = dispatcher(on_message=lambda event: seen.append(event.data), queue_size=2)
    loop = [sink.events(timeout=WAIT, describe=lambda: "test")]
    taker = threading.Thread(target=lambda: next(loop[0]))
    taker.start()
    sent = 0
    while taker.is_alive() and sent < 300:  # until the loop has begun and taken one
        sink.deliver(batch(1, start=sent))
        sent += 1
        taker.join(0.01)
    producer = threading.Thread(target=sink.deliver, args=(batch(10, start=sent),))
    producer.start()
    # Full: one event queued, and one in the batch the loop took.
    wait_until(lambda: sink.queued() >= 1, "a full queue")
    assert producer.is_alive()  # back-pressure from the loop
    loop.clear()  # the loop breaks off: on_message must not wait for it
    producer.join(WAIT)
    assert not producer.is_alive()
    sink.deliver(batch(5, start=sent + 10))
    assert seen == [str(n) for n in range(sent + 15)]
    assert sink.queued() <= 2  # nothing more is queued for nobody


def loop(sink: Dispatcher) -> Any:
    return sink.events(timeout=WAIT, describe=lambda: "test")


def test_two_loops_at_once_get_every_event_once_in_order_when_one_breaks_off() -> None:
    sink = dispatcher()
    sink.deliver(batch(3))
    a = loop(sink)
    got_a = [next(a).data for _ in range(3)]  # a's batch, all of it
    b = loop(sink)
    sink.deliver(batch(3, start=3))
    got_b = [next(b).data]  # b's own batch: "3", with "4" and "5" left in it
    sink.deliver(batch(3, start=6))
    got_a.append(next(a).data)
    del b  # b breaks off: what is left of its batch is not lost
    sink.end(None)
    got_a += [event.data for event in a]
    assert sorted(got_a + got_b, key=int) == [str(n) for n in range(9)]
    assert got_a == sorted(got_a, key=int) and got_b == ["3"]


def test_close_ends_every_loop_in_the_middle_of_its_batch() -> None:
    stop = Latch()
    sink = dispatcher(stop)
    sink.deliver(batch(3))
    a = loop(sink)
    assert [next(a).data for _ in range(3)] == ["0", "1", "2"]
    b = loop(sink)
    sink.deliver(batch(3, start=3))
    assert next(b).data == "3"
    sink.deliver(batch(3, start=6))
    next(a)  # each loop is now in the middle of a batch
    stop.set()
    sink.discard()
    sink.end(None)
    assert list(a) == [] and list(b) == []


def test_a_first_subscriber_takes_up_the_rest_of_a_batch_a_loop_broke_off_in() -> None:
    sink = dispatcher()
    sink.deliver(batch(5))
    broken = loop(sink)
    assert next(broken).data == "0"
    del broken
    got: list[str] = []
    sink.subscribe("message", lambda event: got.append(event.data))
    sink.deliver(batch(1, start=5))
    assert got == ["1", "2", "3", "4", "5"]


def test_a_ctrl_c_in_a_first_subscriber_ends_its_hand_over() -> None:
    # The reader waits for the hand-over before resume=: it must not wait for ever.
    sink = dispatcher()
    sink.deliver(batch(3))

    def interrupted(event: Event) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sink.subscribe("message", interrupted)
    waiter = threading.Thread(target=sink.wait_for_the_backlog)
    waiter.start()
    waiter.join(WAIT)
    assert not waiter.is_alive()


@pytest.mark.parametrize("later", ["loop", "first subscriber"])
def test_a_ctrl_c_in_a_first_subscriber_puts_the_rest_of_the_backlog_back_first(
    later: str,
) -> None:
    sink = dispatcher()
    sink.deliver(batch(5))
    sink.end(None)
    got: list[str] = []

    def interrupted(event: Event) -> None:
        got.append(event.data)
        if event.data == "1":
            raise KeyboardInterrupt  # a Ctrl-C in the handler, in the subscribing thread

    with pytest.raises(KeyboardInterrupt):
        sink.subscribe("message", interrupted)
    assert got == ["0", "1"]
    sink.unsubscribe("message", interrupted)
    if later == "loop":
        assert [event.data for event in loop(sink)] == ["2", "3", "4"]
    else:
        sink.subscribe("message", lambda event: got.append(event.data))
        assert got == ["0", "1", "2", "3", "4"]


def test_a_first_subscriber_gets_every_event_while_the_reader_delivers_during_its_hand_over() -> (
    None
):
    # The hand-over's last step (nothing left) and its end are one locked step: a batch the
    # reader parks between the two would never be handed over.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(200):
            sink = dispatcher()
            sink.deliver(batch(1))
            got: list[str] = []
            producer = threading.Thread(
                target=lambda sink=sink: [sink.deliver(batch(1, start=n)) for n in range(1, 40)]
            )
            producer.start()
            sink.subscribe("message", lambda event, got=got: got.append(event.data))
            producer.join(WAIT)
            assert got == [str(n) for n in range(40)]
    finally:
        sys.setswitchinterval(before)


def test_a_first_subscriber_while_the_reader_waits_for_room_gets_every_event() -> None:
    # The reader waits for room in a full queue (one read of 100, queue_size=10): the first
    # subscriber must get all 100, not the queued ten with the reader waiting on for ever.
    for delay in (0.0, 0.05):
        sink = dispatcher(queue_size=10)
        producer = threading.Thread(target=sink.deliver, args=(batch(100),))
        producer.start()
        wait_until(lambda sink=sink: sink.queued() == 10, "a full queue")
        time.sleep(delay)
        got: list[str] = []
        sink.subscribe("message", lambda event, got=got: got.append(event.data))
        producer.join(WAIT)
        assert not producer.is_alive()
        assert got == [str(n) for n in range(100)]
        assert sink.queued() == 0


def test_each_types_first_subscriber_gets_the_backlog_of_its_type() -> None:
    sink = dispatcher()
    sink.deliver(
        [
            Event(event=kind, data=data)
            for kind, data in [("progress", "p1"), ("log", "l1"), ("progress", "p2"), ("log", "l2")]
        ]
    )
    progress: list[str] = []
    logs: list[str] = []
    later: list[str] = []
    sink.subscribe("progress", lambda event: progress.append(event.data))
    sink.deliver([Event(event="log", data="l3")])  # nobody's yet: delivered to nobody
    sink.subscribe("log", lambda event: logs.append(event.data))
    sink.subscribe("log", lambda event: later.append(event.data))  # the type had one
    sink.deliver([Event(event="log", data="l4"), Event(event="progress", data="p3")])
    assert progress == ["p1", "p2", "p3"]
    assert logs == ["l1", "l2", "l4"]
    assert later == ["l4"]


def test_the_reader_waits_for_a_first_subscribers_hand_over() -> None:
    # Back-pressure holds during the hand-over: the reader does not read the stream into
    # memory behind a slow subscriber, and subscribe() returns once the backlog is handed
    # over, the rest going to the subscriber in the reader's thread.
    sink = dispatcher(queue_size=10)
    sink.deliver(batch(10))
    delivered: list[int] = []

    def produce() -> None:
        for n in range(10, 40):
            sink.deliver(batch(1, start=n))
            delivered.append(n)

    producer = threading.Thread(target=produce)
    threads: list[str] = []
    got: list[str] = []

    def slow(event: Event) -> None:
        if event.data == "0":
            producer.start()
            time.sleep(0.2)  # the reader would deliver all 30 meanwhile, were it not held
            assert delivered == []
        threads.append(threading.current_thread().name)
        got.append(event.data)

    sink.subscribe("message", slow)
    assert got == [str(n) for n in range(10)]  # the backlog, in this thread
    producer.join(WAIT)
    assert got == [str(n) for n in range(40)]
    assert set(threads[10:]) == {producer.name}


def test_a_loop_waiting_gets_what_another_broke_off_in_first() -> None:
    # The batch a loop broke off in held its room: put back in front, it reaches a loop
    # already waiting in take(), before what the reader delivers next.
    sink = dispatcher(queue_size=3)
    got: list[str] = []
    waiting = threading.Thread(target=lambda: got.extend(e.data for e in loop(sink)))
    waiting.start()
    time.sleep(0.1)  # it waits in take()
    before = sys.getswitchinterval()
    sys.setswitchinterval(5.0)  # this thread keeps the GIL until it blocks: it takes the batch
    try:
        breaking = loop(sink)
        sink.deliver(batch(3))
        assert next(breaking).data == "0"
        del breaking  # breaks off with 1 and 2 left
    finally:
        sys.setswitchinterval(before)
    producer = threading.Thread(target=sink.deliver, args=(batch(2, start=3),))
    producer.start()
    producer.join(WAIT)
    assert not producer.is_alive()  # the room came back
    sink.end(None)
    waiting.join(WAIT)
    assert got == ["1", "2", "3", "4"]


@pytest.mark.parametrize("older_first", [True, False])
def test_two_loops_breaking_off_put_their_rests_back_oldest_first(older_first: bool) -> None:
    # Each loop in a batch of its own (both waited in take()), then both break off.
    sink = dispatcher()
    firsts: dict[str, threading.Event] = {}

    def consumer() -> None:
        events = loop(sink)
        event = next(events)
        release = firsts[event.data] = threading.Event()
        release.wait(WAIT)  # returning drops the loop: it breaks off mid-batch

    threads = [threading.Thread(target=consumer) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)  # both wait in take()
    sink.deliver(batch(3))
    wait_until(lambda: "0" in firsts, "one loop to take 0-2")
    sink.deliver(batch(3, start=3))
    wait_until(lambda: "3" in firsts, "the other to take 3-5")
    for data in ("0", "3") if older_first else ("3", "0"):
        firsts[data].set()
        time.sleep(0.05)
    for thread in threads:
        thread.join(WAIT)
    sink.end(None)
    assert [event.data for event in loop(sink)] == ["1", "2", "4", "5"]


def test_a_loop_finished_by_the_garbage_collector_inside_the_reader_does_not_deadlock(
) -> None:
    # The collector runs a loop's finally (which puts back the rest of its batch, under the
    # queue's lock) in whichever thread allocates: here the reader, inside put_events().
    class Holder:
        loop: Any
        me: Any

    class Read(list):  # type: ignore[type-arg]
        """A read whose slice (put_events' allocation under its lock) collects."""

        def __getitem__(self, key: Any) -> Any:
            if isinstance(key, slice):
                gc.collect()
            return list.__getitem__(self, key)

    gc.collect()
    gc.disable()
    try:
        sink = dispatcher(queue_size=4)
        sink.deliver(batch(3))
        holder = Holder()
        holder.loop, holder.me = loop(sink), holder  # a cycle: only the collector ends it
        first = next(holder.loop).data
        del holder
        producer = threading.Thread(target=sink.deliver, args=(Read(batch(5, start=3)),))
        producer.start()
        producer.join(0.5)
        events = loop(sink)
        got = [first] + [next(events).data for _ in range(7)]
        producer.join(WAIT)
        assert not producer.is_alive()
        assert got == [str(n) for n in range(8)]
    finally:
        gc.enable()


def test_a_handler_swapping_its_type_inside_the_first_hand_over_gets_the_kept_events(
) -> None:
    sink = dispatcher()
    sink.deliver([Event(event="b", data="b0"), Event(event="a", data="a1"),
                  Event(event="b", data="b1")])
    b_events: list[str] = []

    def on_a(_event: Event) -> None:
        sink.unsubscribe("a", on_a)
        sink.subscribe("b", lambda event: b_events.append(event.data))

    sink.subscribe("a", on_a)
    sink.deliver([Event(event="b", data="b2")])
    assert b_events == ["b0", "b1", "b2"]


def test_a_handler_that_unsubscribes_itself_is_called_no_more_within_the_read() -> None:
    sink = dispatcher()
    calls: list[str] = []

    def once(event: Event) -> None:
        calls.append(event.data)
        sink.unsubscribe("message", once)

    sink.subscribe("message", lambda _event: None)
    sink.subscribe("message", once)
    sink.deliver(batch(5))
    assert calls == ["0"]


def test_unsubscribing_every_handler_restores_back_pressure() -> None:
    sink = dispatcher(queue_size=3)
    sink.deliver(batch(1))
    sink.subscribe("message", lambda _event: None)
    sink.unsubscribe("message", None)
    producer = threading.Thread(target=sink.deliver, args=(batch(10, start=1),))
    producer.start()
    wait_until(lambda: sink.queued() == 3, "a full queue")
    assert producer.is_alive()  # waiting for room, not dropping events
    events = loop(sink)
    got = [next(events).data for _ in range(10)]
    producer.join(WAIT)
    assert got == [str(n) for n in range(1, 11)]


def test_a_handler_subscribing_another_type_gets_the_rest_of_the_hand_over() -> None:
    sink = dispatcher()
    sink.deliver([Event(event="a", data="a1"), Event(event="b", data="b1"),
                  Event(event="b", data="b2")])
    b_events: list[str] = []

    def on_a(_event: Event) -> None:
        sink.subscribe("b", lambda event: b_events.append(event.data))

    sink.subscribe("a", on_a)
    sink.deliver([Event(event="b", data="b3")])
    assert b_events == ["b1", "b2", "b3"]


def test_a_first_subscriber_again_gets_its_types_events_nobody_took() -> None:
    sink = dispatcher()
    sink.deliver([Event(event="x", data="x1")])
    sink.subscribe("a", lambda _event: None)  # x1 is kept for a subscriber of x
    sink.unsubscribe("a", None)
    sink.deliver([Event(event="x", data="x2")])
    got: list[str] = []
    sink.subscribe("x", lambda event: got.append(event.data))
    assert got == ["x1", "x2"]


def test_comments_go_to_on_comment_and_nowhere_once_closing() -> None:
    comments: list[str] = []
    stop = Latch()
    sink = dispatcher(stop, on_comment=comments.append)
    sink.comment(" ping")
    stop.set()
    sink.comment("late")
    assert comments == [" ping"]


def test_iteration_raises_the_error_after_the_last_event() -> None:
    sink = dispatcher()
    sink.deliver(batch(2))
    sink.end(RuntimeError("it failed"))
    iterator = sink.events(timeout=WAIT, describe=lambda: "test")
    assert [next(iterator).data, next(iterator).data] == ["0", "1"]
    with pytest.raises(RuntimeError, match="it failed"):
        next(iterator)


def test_iteration_times_out_naming_the_url_and_a_new_loop_goes_on() -> None:
    sink = dispatcher()
    timed_out = sink.events(timeout=0.05, describe=lambda: "status: open")
    with pytest.raises(TimeoutError, match=URL):
        next(timed_out)
    sink.deliver(batch(2))
    assert list(timed_out) == []  # the TimeoutError ended that loop
    sink.end(None)
    assert [event.data for event in loop(sink)] == ["0", "1"]
