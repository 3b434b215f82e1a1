"""Connection's own API (the facade, sseclient_sync/_connection.py) over the fake transport
and runtime of tests/fakes.py: is_open and close, reconnect() and wait() after the end,
subscribe, iteration, the with statement, the manager's create over the same fakes, and the
latch that close() and wait() rely on.

What the reader loop does behind it (reconnects, resume, dedup, statuses, polling) is in
test_reader.py; the same API on real sockets in test_connection*.py.
"""

from __future__ import annotations

import threading
from typing import Optional

import pytest
from fakes import (
    CLOSED,
    FAILED,
    OPEN,
    SILENCE,
    URL,
    FakeStream,
    FakeTransport,
    Gate,
    Harness,
    Recorder,
    drop,
    ended,
    harness_recorder,
    is_done,
    new_harness,
    status_error,
    status_of,
)
from support import WAIT, wait_until

from sseclient_sync import (
    ConnectError,
    Connection,
    Event,
    HTTPStatusError,
    Status,
)
from sseclient_sync._dispatch import Latch

harness = pytest.fixture(new_harness, name="harness")
rec = pytest.fixture(harness_recorder, name="rec")


# --- is_open and close -----------------------------------------------------------------------


def test_is_open_while_a_stream_is_open(harness: Harness, rec: Recorder) -> None:
    transport = FakeTransport(FakeStream(b"data: a\n\n", SILENCE))
    conn = harness.connection(transport)
    rec.wait_messages(1)
    assert conn.is_open()
    assert conn.status is Status.OPEN
    conn.close()
    assert not conn.is_open()
    assert status_of(conn) is CLOSED
    assert rec.statuses[-1] == (OPEN, CLOSED)
    assert rec.of("close") == [conn]


def test_close_inside_on_message_stops_delivery(harness: Harness) -> None:
    delivered: list[str] = []
    holder: list[Connection] = []

    def on_message(event: Event) -> None:
        delivered.append(event.data)
        holder[0].close()

    transport = FakeTransport(FakeStream(b"data: a\n\ndata: b\n\ndata: c\n\n", SILENCE))
    conn = harness.connection(transport, start=False, record=False, on_message=on_message)
    holder.append(conn)
    conn.start()
    assert ended(conn) is Status.CLOSED
    assert delivered == ["a"]


# --- reconnect() and wait() ------------------------------------------------------------------


def test_reconnect_after_the_end_does_nothing(harness: Harness) -> None:
    transport = FakeTransport(None)
    conn = harness.connection(transport)
    ended(conn)
    conn.reconnect()
    assert conn.status is Status.COMPLETED
    assert conn.wait(0.05) is Status.COMPLETED
    assert len(transport.requests) == 1
    assert conn.stats().reconnect_count == 0


def test_wait_returns_the_final_status(harness: Harness) -> None:
    failed = harness.connection(FakeTransport(status_error(404)))
    completed = harness.connection(FakeTransport(None))
    assert failed.wait(WAIT) is Status.FAILED
    assert completed.wait(WAIT) is Status.COMPLETED


def test_wait_with_a_timeout_returns_the_current_status(harness: Harness, rec: Recorder) -> None:
    conn = harness.connection(FakeTransport(FakeStream(SILENCE)))
    rec.wait_status(OPEN)
    assert conn.wait(0.05) is Status.OPEN
    conn.close()
    assert conn.wait(0) is Status.CLOSED


# --- subscribe -------------------------------------------------------------------------------


def test_subscribe_to_message_and_to_a_named_type(harness: Harness, rec: Recorder) -> None:
    messages: list[str] = []
    pings: list[str] = []
    transport = FakeTransport(
        FakeStream(b"data: a\n\nevent: ping\ndata: p\n\nevent: other\ndata: o\n\ndata: b\n\n"),
        None,
    )
    conn = harness.connection(transport, start=False)
    conn.subscribe("message", lambda event: messages.append(event.data))
    conn.subscribe("ping", lambda event: pings.append(event.data))
    conn.start()
    ended(conn)
    assert messages == ["a", "b"]
    assert pings == ["p"]
    assert rec.data == ["a", "p", "o", "b"]  # on_message sees every type


def test_the_returned_unsubscribe_stops_only_that_handler(harness: Harness) -> None:
    first: list[str] = []
    second: list[str] = []
    gate = Gate()
    transport = FakeTransport(FakeStream(b"data: a\n\n", gate, b"data: b\n\n"), None)
    conn = harness.connection(transport, start=False, record=False)
    unsubscribe_first = conn.subscribe("message", lambda event: first.append(event.data))
    conn.subscribe("message", lambda event: second.append(event.data))
    conn.start()
    gate.wait_reached()
    unsubscribe_first()
    gate.release()
    ended(conn)
    assert first == ["a"]
    assert second == ["a", "b"]


def test_unsubscribe_a_type_without_a_handler_removes_all_of_them(harness: Harness) -> None:
    got: list[str] = []
    gate = Gate()
    transport = FakeTransport(FakeStream(b"data: a\n\n", gate, b"data: b\n\n"), None)
    conn = harness.connection(transport, start=False, record=False)
    conn.subscribe("message", lambda event: got.append("1:" + event.data))
    conn.subscribe("message", lambda event: got.append("2:" + event.data))
    conn.start()
    gate.wait_reached()
    conn.unsubscribe("message")
    gate.release()
    ended(conn)
    assert got == ["1:a", "2:a"]


def test_an_exception_in_a_subscriber_goes_to_on_error(harness: Harness, rec: Recorder) -> None:
    boom = KeyError("handler bug")
    after: list[str] = []

    def handler(event: Event) -> None:
        raise boom

    transport = FakeTransport(FakeStream(b"data: a\n\n"), None)
    conn = harness.connection(transport, start=False)
    conn.subscribe("message", handler)
    conn.subscribe("message", lambda event: after.append(event.data))
    conn.start()
    ended(conn)
    assert rec.errors == [boom]
    assert after == ["a"]


def test_subscribe_rejects_a_handler_that_is_not_callable(harness: Harness) -> None:
    conn = harness.connection(FakeTransport(), start=False)
    with pytest.raises(TypeError, match="handler"):
        conn.subscribe("message", "print")  # type: ignore[arg-type]


# --- iteration -------------------------------------------------------------------------------


def collect(conn: Connection) -> tuple[list[Event], Optional[BaseException]]:
    events: list[Event] = []
    try:
        for event in conn.events(timeout=WAIT):
            events.append(event)
    except Exception as error:
        return events, error
    return events, None


def test_iteration_yields_the_events_then_raises_the_final_error(harness: Harness) -> None:
    broke = drop()
    transport = FakeTransport(FakeStream(b"data: a\n\n", b"data: b\n\n", broke))
    conn = harness.connection(transport, record=False, retry=0)
    events, error = collect(conn)
    assert [event.data for event in events] == ["a", "b"]
    assert error is broke
    assert conn.status is Status.FAILED


def test_iteration_ends_quietly_when_the_connection_completes(harness: Harness) -> None:
    transport = FakeTransport(FakeStream(b"data: a\n\n"), FakeStream(b"data: [DONE]\n\n"))
    conn = harness.connection(transport, record=False, done=is_done)
    events, error = collect(conn)
    assert [event.data for event in events] == ["a"]
    assert error is None
    # A second iteration finds the end again instead of blocking.
    assert collect(conn) == ([], None)


def test_iteration_with_a_tiny_queue_loses_nothing(harness: Harness) -> None:
    chunks = [b"id: %d\ndata: %d\n\n" % (n, n) for n in range(50)]
    transport = FakeTransport(FakeStream(*chunks), None)
    conn = harness.connection(transport, record=False, queue_size=1)
    events, error = collect(conn)
    assert [event.data for event in events] == [str(n) for n in range(50)]
    assert error is None


def ten_in_one_read() -> FakeTransport:
    return FakeTransport(
        FakeStream(b"".join(b"id: %d\ndata: %d\n\n" % (n, n) for n in range(10)), SILENCE)
    )


def test_a_loop_that_breaks_off_leaves_the_rest_of_the_batch_to_the_next(
    harness: Harness,
) -> None:
    conn = harness.connection(ten_in_one_read(), record=False)
    first = []
    for event in conn.events(timeout=WAIT):
        first.append(event.data)
        if len(first) == 3:
            break
    second = []
    for event in conn.events(timeout=WAIT):
        second.append(event.data)
        if event.data == "9":
            break
    assert (first, second) == (["0", "1", "2"], [str(n) for n in range(3, 10)])


def test_close_inside_the_loop_ends_it_in_the_middle_of_a_batch(harness: Harness) -> None:
    conn = harness.connection(ten_in_one_read(), record=False)
    seen = []
    for event in conn.events(timeout=WAIT):
        seen.append(event.data)
        if event.data == "3":
            conn.close()
    assert seen == ["0", "1", "2", "3"]
    assert conn.status is Status.CLOSED


def test_close_from_another_thread_stops_a_loop_in_the_middle_of_a_batch(
    harness: Harness,
) -> None:
    conn = harness.connection(ten_in_one_read(), record=False)
    seen = []
    for event in conn.events(timeout=WAIT):
        seen.append(event.data)
        if event.data == "3":
            closer = threading.Thread(target=conn.close)
            closer.start()
            closer.join(WAIT)
    assert seen == ["0", "1", "2", "3"]


def test_events_timeout_raises_timeout_error_when_nothing_comes(harness: Harness) -> None:
    conn = harness.connection(FakeTransport(FakeStream(SILENCE)), record=False)
    with pytest.raises(TimeoutError, match=URL):
        next(conn.events(timeout=0.05))
    assert conn.status in (Status.CONNECTING, Status.OPEN)


def test_with_statement_closes(harness: Harness) -> None:
    transport = FakeTransport(FakeStream(SILENCE))
    with harness.connection(transport) as conn:
        transport.wait_requests(1)
    assert conn.status is Status.CLOSED
    assert transport.closed >= 1


def test_iterating_a_connection_read_by_callbacks_after_it_failed_raises_its_error(
    harness: Harness, rec: Recorder
) -> None:
    # A connection with on_message makes no queue until somebody iterates; the first
    # iteration after the end still finds the end, and the error.
    transport = FakeTransport(FakeStream(b"data: a\n\n", drop()))
    conn = harness.connection(transport, retry=0)
    assert ended(conn) is FAILED
    assert rec.data == ["a"]
    events, error = collect(conn)
    assert events == [] and isinstance(error, ConnectError)


# --- the manager over the fakes --------------------------------------------------------------


def test_the_manager_passes_its_defaults_and_the_call_options(harness: Harness) -> None:
    transport = FakeTransport(None)
    manager = harness.manager(transport, headers={"Authorization": "t"})
    conn = manager.create(URL, headers={"X-Call": "1"}, wait_open=False)
    assert ended(conn) is Status.COMPLETED
    assert transport.header(0, "Authorization") == "t"
    assert transport.header(0, "X-Call") == "1"
    wait_until(lambda: manager.count() == 0, "the manager to forget the connection")


def test_create_waits_for_the_open_stream(harness: Harness) -> None:
    transport = FakeTransport(FakeStream(b"data: a\n\n", SILENCE))
    manager = harness.manager(transport)
    conn = manager.create(URL)
    assert conn.status is Status.OPEN
    assert manager.all() == [conn]
    assert next(conn.events(timeout=WAIT)).data == "a"
    conn.close()


def test_create_raises_the_final_error_when_it_cannot_open(harness: Harness) -> None:
    not_found = status_error(404)
    manager = harness.manager(FakeTransport(not_found))
    with pytest.raises(HTTPStatusError) as caught:
        manager.create(URL)
    assert caught.value is not_found
    wait_until(lambda: manager.count() == 0, "the manager to forget the connection")


# --- internals that carry the guarantees above -----------------------------------------------


def test_a_latch_releases_every_waiter_once_set_and_stays_set() -> None:
    latch = Latch()
    assert not latch.wait(0.01) and not latch.is_set()
    released: list[bool] = []
    waiters = [threading.Thread(target=lambda: released.append(latch.wait(WAIT))) for _ in range(5)]
    for waiter in waiters:
        waiter.start()
    setters = [threading.Thread(target=latch.set) for _ in range(3)]  # set() is once-only
    for setter in setters:
        setter.start()
    for thread in waiters + setters:
        thread.join(WAIT)
    assert released == [True] * 5
    assert latch.is_set() and latch.wait(0) and latch.wait(None)
