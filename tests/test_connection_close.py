"""Connection.close() on real sockets, wherever the reader thread happens to be.

Each case checks that close() returns promptly (a bound that detects a hang, not a speed
test), that the status is CLOSED, that iteration ends without raising (an error raised by the
interrupted read is a clean stop), that nothing was reported to on_error after close(), and
that no thread is left behind (conftest checks that too).
"""

from __future__ import annotations

import _thread
import contextlib
import functools
import threading
import time
from typing import Any, Callable, Iterator, List, Optional

import pytest
from support import WAIT, fast_manager, wait_until

from sseclient_sync import (
    Connection,
    ConnectionManager,
    Event,
    Retry,
    Status,
    close_sse_connection,
    create_sse_connection,
)
from sseclient_sync.testing import Drop, RecordedRequest, Reply, Silence, SSEServer, sse

#: close() must return within this; a blocked read, header wait or backoff would take seconds.
CLOSE_BOUND = 0.1

manager = pytest.fixture(fast_manager, name="manager")


class Closer:
    """Calls ``close`` on a connection, in this thread or another, and times it."""

    def __init__(self) -> None:
        self.seconds: Optional[float] = None
        self.status_after: Optional[Status] = None
        self.thread: Optional[threading.Thread] = None

    def close(
        self, conn: Connection, close: Callable[[Connection], None] = Connection.close
    ) -> None:
        started = time.monotonic()
        close(conn)
        self.seconds = time.monotonic() - started
        self.status_after = conn.status

    def close_in_thread(self, conn: Connection) -> None:
        self.thread = threading.Thread(target=self.close, args=(conn,), name="test-closer")
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join(WAIT)
            assert not self.thread.is_alive(), "close() hung"

    def check(self) -> None:
        self.join()
        assert self.seconds is not None, "close() was never called"
        assert self.seconds < CLOSE_BOUND, f"close() took {self.seconds:.3f} s"
        assert self.status_after is Status.CLOSED  # as soon as close() returned


def wait_for_thread_count(baseline: int) -> None:
    wait_until(
        lambda: threading.active_count() <= baseline,
        lambda: f"{baseline} threads; running: {[t.name for t in threading.enumerate()]}",
    )


def check_closed(conn: Connection, errors: List[BaseException], baseline: int) -> None:
    assert conn.status is Status.CLOSED
    assert conn.wait(WAIT) is Status.CLOSED
    assert list(conn.events(timeout=WAIT)) == []  # ends, without raising
    assert conn.error is None
    assert errors == []
    wait_for_thread_count(baseline)


def test_close_from_another_thread_while_the_reader_is_blocked_in_a_read(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a")), Silence()]))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    conn = manager.create(server.url_for("/s"), on_error=errors.append)
    assert next(conn.events(timeout=WAIT)).data == "a"
    time.sleep(0.05)  # the reader is back in read1(), which only close() can end now
    closer = Closer()
    closer.close_in_thread(conn)
    closer.check()
    check_closed(conn, errors, baseline)


def test_close_while_the_consumer_waits_in_iteration(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=[Silence()]))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    conn = manager.create(server.url_for("/s"), on_error=errors.append)
    consumed: list[Any] = []

    def consume() -> None:
        try:
            consumed.extend(conn.events(timeout=WAIT))
        except BaseException as error:  # handed to the test thread
            consumed.append(error)
        consumed.append("ended")

    consumer = threading.Thread(target=consume, name="test-consumer")
    consumer.start()
    time.sleep(0.05)
    closer = Closer()
    closer.close(conn)
    consumer.join(WAIT)
    assert not consumer.is_alive()
    assert consumed == ["ended"]
    closer.check()
    check_closed(conn, errors, baseline)


def test_close_from_inside_on_message(server: SSEServer, manager: ConnectionManager) -> None:
    server.route("/s", Reply(body=[sse(*(Event(data=str(n)) for n in range(10))), Silence()]))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    closer = Closer()
    seen: list[str] = []

    def on_message(event: Event) -> None:
        seen.append(event.data)
        if event.data == "3":
            closer.close(conn)

    conn = manager.create(
        server.url_for("/s"), wait_open=False, on_message=on_message, on_error=errors.append
    )
    assert conn.wait(WAIT) is Status.CLOSED
    closer.check()
    assert seen == ["0", "1", "2", "3"]  # nothing is delivered after close()
    check_closed(conn, errors, baseline)


def test_two_callbacks_closing_every_connection_at_once_do_not_wait_for_each_other(
    server: SSEServer, manager: ConnectionManager
) -> None:
    # Each close_all() closes the other's connection, whose reader is in that very callback:
    # joining it would wait (CLOSE_JOIN_TIMEOUT, 2 s) for a reader that waits for us.
    server.route("/s", Reply(body=[sse(Event(data="x")), Silence()]))
    baseline = threading.active_count()
    both_in = threading.Barrier(2, timeout=WAIT)
    took: dict[int, float] = {}

    def on_message(index: int, event: Event) -> None:
        both_in.wait()
        started = time.monotonic()
        manager.close_all()
        took[index] = time.monotonic() - started

    conns = [
        manager.create(
            server.url_for("/s"), wait_open=False, on_message=functools.partial(on_message, index)
        )
        for index in range(2)
    ]
    for conn in conns:
        assert conn.wait(WAIT) is Status.CLOSED
    wait_until(lambda: len(took) == 2, "both close_all() calls to return")
    assert max(took.values()) < 1.0, took
    for conn in conns:
        check_closed(conn, [], baseline)


def test_close_from_inside_on_open(server: SSEServer, manager: ConnectionManager) -> None:
    server.route("/s", Reply(body=[sse(Event(data="never")), Silence()]))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    seen: list[Event] = []
    closer = Closer()
    conn = manager.create(
        server.url_for("/s"),
        on_open=closer.close,
        on_message=seen.append,
        on_error=errors.append,
    )
    assert conn.wait(WAIT) is Status.CLOSED
    closer.check()
    assert seen == []
    check_closed(conn, errors, baseline)


def test_close_from_on_status_as_the_stream_opens_calls_no_on_open_after_on_close(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="never")), Silence()]))
    calls: list[str] = []

    def on_status(conn: Connection, _old: Status, new: Status) -> None:
        calls.append(new.value)
        if new is Status.OPEN:
            conn.close()

    conn = manager.create(
        server.url_for("/s"),
        wait_open=False,
        on_status=on_status,
        on_open=lambda _c: calls.append("on_open"),
        on_close=lambda _c: calls.append("on_close"),
    )
    assert conn.wait(WAIT) is Status.CLOSED
    wait_until(lambda: not conn_reader_alive(conn), "the reader to end")
    assert calls == ["open", "closed", "on_close"]


def conn_reader_alive(conn: Connection) -> bool:
    return any(t.name == f"sseclient-sync-{conn.id}" for t in threading.enumerate())


def test_close_from_the_resume_hook_counts_no_reconnect(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a", id="1")), Drop()]))
    conn = manager.create(server.url_for("/s"), resume=lambda c: c.close())
    assert conn.wait(WAIT) is Status.CLOSED
    wait_until(lambda: not conn_reader_alive(conn), "the reader to end")
    assert len(server.requests) == 1
    assert conn.stats().reconnect_count == 0


@pytest.mark.parametrize("callback", ["on_complete", "on_close"])
def test_a_final_callback_raising_systemexit_still_ends_the_connection(
    server: SSEServer, manager: ConnectionManager, callback: str
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a"), Event(data="END"))]))
    closed: list[Connection] = []

    def exits(_conn: Connection) -> None:
        raise SystemExit(0)

    callbacks: dict[str, Any] = {"on_close": closed.append, callback: exits}
    conn = manager.create(server.url_for("/s"), done=lambda e: e.data == "END", **callbacks)
    assert [event.data for event in conn.events(timeout=WAIT)] == ["a"]
    assert conn.wait(WAIT) is Status.COMPLETED
    assert manager.count() == 0
    assert closed == ([] if callback == "on_close" else [conn])


def _busy_connection(
    server: SSEServer, manager: ConnectionManager, closed: list[Connection]
) -> tuple[Connection, threading.Event]:
    """A connection whose reader is inside on_message until the event returned is set."""
    server.route("/s", Reply(body=[sse(Event(data="a")), Silence()]))
    in_callback, release = threading.Event(), threading.Event()

    def slow(_event: Event) -> None:
        in_callback.set()
        release.wait(WAIT)

    conn = manager.create(server.url_for("/s"), on_message=slow, on_close=closed.append)
    assert in_callback.wait(WAIT)
    return conn, release


@contextlib.contextmanager
def _ctrl_c_once_closing(conn: Connection, release: threading.Event) -> Iterator[None]:
    """Expect a KeyboardInterrupt from the block: one lands once ``conn``'s close began
    (while it waits for the busy callback); then the callback is let go."""

    def interrupt_once_closing() -> None:
        wait_until(conn._life.stop.is_set, "close() to begin")  # no public sign of it
        _thread.interrupt_main()

    interrupter = threading.Thread(target=interrupt_once_closing, name="test-interrupter")
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        interrupter.join(WAIT)
        release.set()


def test_a_ctrl_c_while_close_waits_for_a_callback_still_closes_the_connection(
    server: SSEServer, manager: ConnectionManager
) -> None:
    closed: list[Connection] = []
    conn, release = _busy_connection(server, manager, closed)
    with _ctrl_c_once_closing(conn, release):
        conn.close()  # waits for the callback: the interrupt lands in that wait
    assert conn.status is Status.CLOSED
    assert conn.wait(WAIT) is Status.CLOSED
    assert closed == [conn]
    assert manager.count() == 0
    conn.close()
    assert closed == [conn]
    wait_until(lambda: not conn_reader_alive(conn), "the reader to end")


def test_a_ctrl_c_in_close_all_still_closes_every_connection(
    server: SSEServer, manager: ConnectionManager
) -> None:
    closed: list[Connection] = []
    busy, release = _busy_connection(server, manager, closed)
    others = [manager.create(server.url_for("/s"), on_close=closed.append) for _ in range(3)]
    with _ctrl_c_once_closing(busy, release):
        manager.close_all()  # waits for the busy callback: the interrupt lands there
    for conn in [busy, *others]:
        assert conn.wait(WAIT) is Status.CLOSED
    assert sorted(map(id, closed)) == sorted(map(id, [busy, *others]))
    assert manager.count() == 0


def test_close_while_waiting_for_the_response_headers(
    server: SSEServer, manager: ConnectionManager
) -> None:
    release = threading.Event()

    def slow(request: RecordedRequest) -> Reply:
        release.wait(WAIT)  # never answers until the test lets it
        return Reply(body=sse(Event(data="too late")))

    server.route("/s", slow)
    baseline = threading.active_count()
    errors: list[BaseException] = []
    try:
        conn = manager.create(server.url_for("/s"), wait_open=False, on_error=errors.append)
        server.wait_for_requests(1, timeout=WAIT)
        time.sleep(0.05)  # the reader is waiting in getresponse()
        assert conn.status is Status.CONNECTING
        closer = Closer()
        closer.close(conn)
        closer.check()
    finally:
        release.set()
    check_closed(conn, errors, baseline)
    assert len(server.requests) == 1


def test_close_right_after_start_never_leaves_a_request_waiting(
    server: SSEServer, manager: ConnectionManager
) -> None:
    # close() racing the reader's first steps (before or while it sends the request) must
    # still interrupt it; the server holds every request until the end of the test.
    release = threading.Event()

    def slow(request: RecordedRequest) -> Reply:
        release.wait(WAIT)
        return Reply(status=204)

    server.route("/s", slow)
    baseline = threading.active_count()
    try:
        for attempt in range(40):
            conn = manager.create(server.url_for("/s"), wait_open=False)
            time.sleep((attempt % 8) * 0.0005)
            closer = Closer()
            closer.close(conn)
            closer.check()
            assert conn.status is Status.CLOSED
    finally:
        release.set()
    wait_for_thread_count(baseline)


def test_close_during_a_backoff_wait(server: SSEServer, manager: ConnectionManager) -> None:
    # framing="close": a kept-alive connection would rightly stay in the session's pool, and
    # its server thread would stay too, hiding whether close() left anything behind.
    server.route("/s", Reply(status=503, body="try later", framing="close"))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    conn = manager.create(
        server.url_for("/s"),
        wait_open=False,
        retry=Retry(max_attempts=3, delay=30.0, jitter=0),
        on_error=errors.append,
    )
    server.wait_for_requests(1, timeout=WAIT)
    wait_until(lambda: conn.status is Status.RECONNECTING, "the reconnect after the 503")
    time.sleep(0.05)  # inside the 30 s wait
    assert len(errors) == 1  # the 503
    errors.clear()
    closer = Closer()
    closer.close_in_thread(conn)
    closer.check()
    check_closed(conn, errors, baseline)
    assert len(server.requests) == 1


BURST_EVENTS = 50_000


@functools.cache
def prepared_burst() -> tuple[bytes, ...]:
    """BURST_EVENTS id'd events, encoded before the test starts, 100 to a body item.

    Encoding them while sending would keep the in-process server's thread running Python,
    and once the client drains the socket as fast as the server fills it, that thread would
    hold the GIL nearly all the time: close() would measure how the GIL schedules the
    test's own server rather than the library."""
    return tuple(
        sse(*(Event(data=f"event {n}", id=str(n)) for n in range(start, start + 100)))
        for start in range(0, BURST_EVENTS, 100)
    )


def test_close_from_another_thread_mid_burst(server: SSEServer, manager: ConnectionManager) -> None:
    server.route("/s", Reply(body=list(prepared_burst())))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    conn = manager.create(server.url_for("/s"), queue_size=8, on_error=errors.append)
    closer = Closer()
    received = 0
    for event in conn.events(timeout=WAIT):
        assert event.id == str(received)  # in order, up to the close
        received += 1
        if received == 2_000:
            closer.close_in_thread(conn)
    closer.check()
    assert 2_000 <= received < BURST_EVENTS
    check_closed(conn, errors, baseline)


def test_close_mid_burst_with_callbacks_only(server: SSEServer, manager: ConnectionManager) -> None:
    server.route("/s", Reply(body=list(prepared_burst())))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    count = [0]
    many = threading.Event()

    def on_message(event: Event) -> None:
        count[0] += 1
        if count[0] == 3_000:
            many.set()

    conn = manager.create(server.url_for("/s"), on_message=on_message, on_error=errors.append)
    assert many.wait(WAIT)
    closer = Closer()
    closer.close_in_thread(conn)
    closer.check()
    stopped_at = count[0]
    time.sleep(0.05)
    assert count[0] == stopped_at  # no callback after close() returned
    check_closed(conn, errors, baseline)


def test_close_with_the_module_level_function_and_twice(server: SSEServer) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a")), Silence()]))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    conn = create_sse_connection(
        server.url_for("/s"), read_timeout=WAIT, retry=0, on_error=errors.append
    )
    assert next(conn.events(timeout=WAIT)).data == "a"
    for _ in range(2):
        closer = Closer()
        closer.close(conn, close_sse_connection)
        closer.check()
    check_closed(conn, errors, baseline)


def test_close_as_a_context_manager_and_from_many_threads_at_once(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a")), Silence()]))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    with manager.create(server.url_for("/s"), on_error=errors.append) as conn:
        assert next(conn.events(timeout=WAIT)).data == "a"
        closers = [Closer() for _ in range(8)]
        for closer in closers:
            closer.close_in_thread(conn)
        for closer in closers:
            closer.check()
    check_closed(conn, errors, baseline)


def test_after_close_nothing_reconnects(server: SSEServer, manager: ConnectionManager) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a")), Silence()]))
    baseline = threading.active_count()
    errors: list[BaseException] = []
    conn = manager.create(server.url_for("/s"), on_error=errors.append)
    conn.close()
    conn.reconnect()  # does nothing once closed
    time.sleep(0.1)
    assert len(server.requests) == 1
    check_closed(conn, errors, baseline)
