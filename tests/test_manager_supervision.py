"""The manager's supervision of reader threads, and the polling fallback, with real sockets.

A reader thread is killed on purpose by making its parser raise: the manager must restart it
from the resume state (a reconnect with Last-Event-ID, every event exactly once), and give up
with RetryExhausted when it keeps dying. The polling fallback runs against JSON routes of the
loopback server.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Optional

import pytest
import requests
from support import WAIT, wait_until

from sseclient_sync import (
    ConnectError,
    Connection,
    ConnectionManager,
    Event,
    EventTooLarge,
    HTTPStatusError,
    Retry,
    RetryExhausted,
    SSEError,
    Status,
)
from sseclient_sync.testing import Pause, RecordedRequest, Reply, Silence, SSEServer
from sseclient_sync.testing import sse as wire

#: A small reconnect policy of this module's own: three attempts, 10 ms apart, no jitter.
THREE_QUICK_TRIES = Retry(max_attempts=3, delay=0.01, jitter=0.0)


# --- Supervision: a reader thread that dies is restarted --------------------------------------


def replaying(server: SSEServer, path: str, total: int, *, end: bool) -> None:
    """Route ``path`` to events 1..total, one chunk each with a short pause between, starting
    after the request's Last-Event-ID (a server that resumes); the stream then ends or stays
    open."""

    def respond(request: RecordedRequest) -> Reply:
        after = int(request.headers.get("Last-Event-ID", "0"))
        body: list[Any] = []
        for n in range(after + 1, total + 1):
            body += [wire(Event(data=f"e{n}", id=str(n))), Pause(0.01)]
        if not end:
            body.append(Silence())
        return Reply(body=body)

    server.route(path, respond)


def kill_reader(conn: Connection, after_ids: Optional[list[str]]) -> list[Optional[str]]:
    """Make ``conn``'s parser raise RuntimeError, killing the reader thread: once for each id
    of ``after_ids``, on the first read after that event (None: on every read). Returns the
    list of the last event IDs at each kill."""
    parser = conn._reader.parser  # no public seam: a bug is what kills a reader
    real_feed = parser.feed
    kills: list[Optional[str]] = []

    def feed(data: bytes) -> Any:
        if after_ids is None or (
            len(kills) < len(after_ids) and conn.last_event_id == after_ids[len(kills)]
        ):
            kills.append(conn.last_event_id)
            raise RuntimeError("injected: the reader thread dies")
        return real_feed(data)

    parser.feed = feed  # type: ignore[method-assign]
    return kills


def test_a_dead_reader_is_restarted_from_the_resume_state(server: SSEServer) -> None:
    replaying(server, "/stream", 5, end=True)
    messages: list[Event] = []
    errors: list[BaseException] = []
    kills: list[list[Optional[str]]] = []

    def on_open(conn: Connection) -> None:
        if not kills:  # on the first open only: die once event 1 has been delivered
            kills.append(kill_reader(conn, ["1"]))

    with ConnectionManager(method="POST") as manager:
        conn = manager.create(
            server.url_for("/stream"),
            retry=THREE_QUICK_TRIES,
            on_open=on_open,
            on_message=messages.append,
            on_error=errors.append,
        )
        assert conn.wait(WAIT) is Status.COMPLETED
        assert manager.count() == 0

    assert kills == [["1"]]
    assert [(e.data, e.id) for e in messages] == [(f"e{n}", str(n)) for n in range(1, 6)]
    assert conn.stats().reconnect_count == 1
    assert conn.stats().messages_received == 5
    first, second = server.wait_for_requests(2, WAIT)
    assert "Last-Event-ID" not in first.headers
    assert second.headers["Last-Event-ID"] == "1"
    assert len(server.requests) == 2
    # The death is reported, with its cause.
    assert len(errors) == 1
    assert isinstance(errors[0], SSEError)
    assert isinstance(errors[0].__cause__, RuntimeError)


def test_a_restart_of_an_open_get_stream_loses_and_repeats_nothing(server: SSEServer) -> None:
    replaying(server, "/stream", 6, end=False)
    messages: list[str] = []
    kills: list[list[Optional[str]]] = []

    def on_open(conn: Connection) -> None:
        if not kills:  # die twice, after events 2 and 4
            kills.append(kill_reader(conn, ["2", "4"]))

    with ConnectionManager() as manager:
        conn = manager.create(
            server.url_for("/stream"),
            retry=Retry(max_attempts=1, delay=0.01),
            on_open=on_open,
            on_message=lambda e: messages.append(e.data),
        )
        wait_until(lambda: len(messages) >= 6, "six events")
        wait_until(conn.is_open, "the stream to open again")
        assert manager.count() == 1
        # Each restart delivered an event first, so each is within a budget of one attempt.
        assert conn.stats().reconnect_count == 2
    assert kills == [["2", "4"]]
    assert messages == [f"e{n}" for n in range(1, 7)]
    assert [r.headers.get("Last-Event-ID") for r in server.requests] == [None, "2", "4"]
    assert conn.status is Status.CLOSED


def test_a_reader_that_keeps_dying_fails_with_retry_exhausted(server: SSEServer) -> None:
    replaying(server, "/stream", 3, end=False)
    errors: list[BaseException] = []
    with ConnectionManager() as manager:
        conn = manager.create(
            server.url_for("/stream"),
            retry=Retry(max_attempts=2, delay=0.01, jitter=0.0),
            on_open=lambda c: kill_reader(c, None),
            on_error=errors.append,
        )
        assert conn.wait(WAIT) is Status.FAILED
        assert manager.count() == 0
    assert isinstance(conn.error, RetryExhausted)
    assert isinstance(conn.error.__cause__, SSEError)
    assert isinstance(conn.error.__cause__.__cause__, RuntimeError)
    assert conn.stats().reconnect_count == 2
    assert conn.stats().messages_received == 0
    assert len(server.requests) == 3  # the first request and two reconnects
    assert errors[-1] is conn.error


def test_a_reader_killed_after_close_is_not_restarted(server: SSEServer) -> None:
    replaying(server, "/stream", 1, end=False)
    with ConnectionManager() as manager:
        conn = manager.create(server.url_for("/stream"), retry=THREE_QUICK_TRIES)
        conn.close()
        assert conn.status is Status.CLOSED
        conn.restart_reader(RuntimeError("late"))  # what supervision calls: a no-op now
        assert conn.status is Status.CLOSED
        assert manager.count() == 0
    assert len(server.requests) == 1


# --- The polling fallback ----------------------------------------------------------------------


def poll_reply(*events: dict[str, Any], status: int = 200) -> Reply:
    return json_reply(json.dumps({"events": list(events)}), status=status)


def json_reply(body: str, status: int = 200) -> Reply:
    return Reply(
        status=status, headers={"Content-Type": "application/json"}, body=body, framing="length"
    )


def refused_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/stream"


def poll_requests(server: SSEServer) -> list[RecordedRequest]:
    return [r for r in server.requests if r.path == "/poll"]


@pytest.mark.parametrize("stream", ["503", "refused"])
def test_polling_fallback_delivers_in_order_without_duplicates(
    server: SSEServer, stream: str
) -> None:
    server.route("/stream", Reply(status=503, body="down", framing="length"))
    server.route(
        "/poll",
        [
            poll_reply({"id": "1", "event": "message", "data": "a"}, {"id": "2", "data": "b"}),
            poll_reply({"id": "2", "data": "b"}, {"id": "3", "data": "c"}),  # 2 replayed
            json_reply("{not json"),
            json_reply('{"items": []}'),
            json_reply("server trouble", status=500),
            poll_reply({"id": "4", "event": "tick", "data": "d"}),
            poll_reply(),
        ],
    )
    url = server.url_for("/stream") if stream == "503" else refused_url()
    messages: list[Event] = []
    errors: list[BaseException] = []
    statuses: list[Status] = []
    with ConnectionManager() as manager:
        conn = manager.create(
            url,
            retry=0,
            poll_url=server.url_for("/poll"),
            poll_interval=0.05,
            on_message=messages.append,
            on_error=errors.append,
            on_status=lambda c, old, new: statuses.append(new),
        )
        # create() returns once polling began: the connection is live, not open.
        assert conn.stats().status is Status.POLLING
        assert not conn.is_open()
        assert manager.count() == 1
        wait_until(lambda: len(poll_requests(server)) >= 7, "seven polls")
        assert conn.stats().status is Status.POLLING

        started = time.monotonic()
        conn.close()
        closing_took = time.monotonic() - started
        assert conn.status is Status.CLOSED
        assert manager.count() == 0
    assert closing_took < 0.1, f"close() took {closing_took:.3f}s to stop polling"
    assert statuses == [Status.POLLING, Status.CLOSED]

    assert [(e.event, e.data, e.id) for e in messages] == [
        ("message", "a", "1"),
        ("message", "b", "2"),
        ("message", "c", "3"),
        ("tick", "d", "4"),
    ]
    assert conn.stats().messages_received == 4
    assert conn.last_event_id == "4"

    polls = poll_requests(server)
    assert [p.headers.get("Last-Event-ID") for p in polls[:7]] == [
        None,
        "2",
        "3",
        "3",
        "3",
        "3",
        "4",
    ]
    assert all(p.method == "GET" for p in polls)
    # The stream's failure, the non-JSON body, the wrong shape, the 500: each reported once.
    assert len(errors) == 4
    if stream == "503":
        assert isinstance(errors[0], HTTPStatusError) and errors[0].status_code == 503
    else:
        assert isinstance(errors[0], ConnectError)
    assert isinstance(errors[1], ValueError) and "not JSON" in str(errors[1])
    assert isinstance(errors[2], ValueError) and "events" in str(errors[2])
    assert isinstance(errors[3], HTTPStatusError) and errors[3].status_code == 500

    # Closing stopped the polls for good.
    settled = len(poll_requests(server))
    time.sleep(0.2)
    assert len(poll_requests(server)) == settled


def test_polling_follows_the_last_event_id_of_the_stream(server: SSEServer) -> None:
    # The stream delivers up to id 2 and then fails for good: polling resumes after it.
    server.route(
        "/stream",
        [
            Reply(body=[wire(Event(data="s1", id="1")), wire(Event(data="s2", id="2"))]),
            Reply(status=503, body="down", framing="length"),
        ],
    )
    server.route(
        "/poll",
        [poll_reply({"id": "2", "data": "s2"}, {"id": "3", "data": "p3"}), poll_reply()],
    )
    messages: list[str] = []
    with ConnectionManager() as manager:
        conn = manager.create(
            server.url_for("/stream"),
            retry=Retry(max_attempts=1, delay=0.01),
            poll_url=server.url_for("/poll"),
            poll_interval=0.05,
            on_message=lambda e: messages.append(e.data),
        )
        wait_until(lambda: len(poll_requests(server)) >= 2, "two polls")
        assert conn.stats().status is Status.POLLING
    assert conn.status is Status.CLOSED
    assert messages == ["s1", "s2", "p3"]
    assert [p.headers.get("Last-Event-ID") for p in poll_requests(server)[:2]] == ["2", "3"]


def polling(manager: ConnectionManager, server: SSEServer, **options: Any) -> Connection:
    """A connection whose stream is gone (a 404), polling /poll from the start."""
    server.route("/stream", Reply(status=404, body="gone", framing="length"))
    given = {"retry": 0, "poll_interval": 0.02, **options}
    return manager.create(server.url_for("/stream"), poll_url=server.url_for("/poll"), **given)


def test_fail_during_polling_is_resumed_when_should_retry_accepts_it(server: SSEServer) -> None:
    # As on a stream: the in-stream error goes to on_error and the next poll comes.
    server.route("/stream", Reply(status=404, body="gone", framing="length"))
    server.route(
        "/poll",
        [
            poll_reply({"id": "1", "event": "error", "data": "transient"}),
            poll_reply({"id": "2", "data": "ok"}),
            poll_reply(),
        ],
    )
    messages: list[str] = []
    errors: list[BaseException] = []
    accept = Retry(max_attempts=3, delay=0.01, should_retry=lambda e: True)
    with ConnectionManager() as manager:
        conn = manager.create(
            server.url_for("/stream"),
            retry=accept,
            fail=lambda event: event.event == "error",
            poll_url=server.url_for("/poll"),
            poll_interval=0.02,
            on_message=lambda event: messages.append(event.data),
            on_error=errors.append,
        )
        wait_until(lambda: messages == ["ok"], "the answer after the error")
        assert conn.status is Status.POLLING
    assert [type(error).__name__ for error in errors][-1] == "ServerEventError"


def test_polling_counts_the_bytes_of_its_answers(server: SSEServer) -> None:
    answer = json.dumps({"events": [{"id": "1", "data": "a"}]})
    server.route("/poll", [json_reply(answer), poll_reply(), poll_reply(), poll_reply()])
    with ConnectionManager() as manager:
        conn = polling(manager, server, on_message=lambda event: None)
        wait_until(lambda: len(poll_requests(server)) >= 2, "two polls")
        assert conn.stats().messages_received == 1
        assert conn.stats().bytes_received >= len(answer)


def test_reconnect_during_a_poll_reports_nothing_and_polls_again(server: SSEServer) -> None:
    held = Reply(
        headers={"Content-Type": "application/json"},
        body=[Pause(WAIT), '{"events": []}'],
        hold_headers=True,
    )
    server.route("/poll", [held, poll_reply({"id": "1", "data": "a"}), poll_reply()])
    errors: list[BaseException] = []
    messages: list[str] = []
    with ConnectionManager() as manager:
        conn = polling(
            manager,
            server,
            poll_interval=WAIT,
            on_message=lambda event: messages.append(event.data),
            on_error=errors.append,
        )
        wait_until(lambda: len(poll_requests(server)) >= 1, "the first poll")
        reported = len(errors)  # the stream's own 404
        conn.reconnect()
        wait_until(lambda: messages == ["a"], "the next poll, at once")
        assert errors[reported:] == []


def test_a_relative_poll_url_is_relative_to_the_streams(server: SSEServer) -> None:
    server.route("/api/stream", Reply(status=404, body="gone", framing="length"))
    server.route("/api/poll", [poll_reply({"id": "1", "data": "a"}), poll_reply()])
    messages: list[str] = []
    with ConnectionManager(base_url=server.url_for("/api/")) as manager:
        conn = manager.create(
            "stream",
            retry=0,
            poll_url="poll",
            poll_interval=0.02,
            on_message=lambda event: messages.append(event.data),
        )
        wait_until(lambda: messages == ["a"], "the poll's event")
        assert conn.status is Status.POLLING


def test_a_poll_answer_with_an_event_past_max_event_size_fails_after_the_events_before_it(
    server: SSEServer,
) -> None:
    big = {"id": "2", "data": "x" * 5000}
    server.route("/poll", [poll_reply({"id": "1", "data": "a"}, big, {"id": "3", "data": "c"})])
    messages: list[str] = []
    with ConnectionManager() as manager:
        conn = polling(
            manager, server, max_event_size=1000, on_message=lambda e: messages.append(e.data)
        )
        assert conn.wait(WAIT) is Status.FAILED
    assert messages == ["a"]
    assert isinstance(conn.error, EventTooLarge)
    assert "max_event_size=1000" in str(conn.error) and server.url_for("/poll") in str(conn.error)
    assert conn.last_event_id == "1"


def test_a_poll_whose_session_header_cannot_be_encoded_is_reported_not_a_dead_reader(
    server: SSEServer,
) -> None:
    server.route("/stream", Reply(status=404, body="gone", framing="length"))
    server.route("/poll", poll_reply())
    session = requests.Session()
    errors: list[BaseException] = []
    try:
        with ConnectionManager(session=session) as manager:
            conn = manager.create(
                server.url_for("/stream"),
                retry=0,
                poll_url=server.url_for("/poll"),
                poll_interval=0.02,
                on_error=errors.append,
            )
            session.headers["X-Name"] = "café ☃"  # after the stream: the polls carry it
            wait_until(lambda: len(errors) >= 4, "a few polls")
            assert conn.status is Status.POLLING
            assert conn.stats().reconnect_count == 0  # no reader died
    finally:
        session.close()
    assert all(isinstance(error, (ConnectError, HTTPStatusError)) for error in errors)


def test_a_failing_poll_after_reconnect_is_reported(server: SSEServer) -> None:
    server.route("/poll", [poll_reply({"id": "1", "data": "a"}), json_reply("oops", status=500)])
    errors: list[BaseException] = []
    with ConnectionManager() as manager:
        conn = polling(
            manager, server, poll_interval=WAIT, on_message=lambda e: None, on_error=errors.append
        )
        wait_until(lambda: conn.stats().messages_received == 1, "the first poll's event")
        reported = len(errors)
        conn.reconnect()  # between two polls: the next one comes at once, and fails
        wait_until(lambda: len(errors) > reported, "the failed poll to be reported")
        assert isinstance(errors[-1], HTTPStatusError)


def test_create_returns_once_polling_began_even_if_the_first_poll_ends_it(
    server: SSEServer,
) -> None:
    # The first poll can fail the connection before create() looks: it returns all the same,
    # as it does for a stream that opened and then failed.
    server.route("/poll", poll_reply({"id": "1", "data": "x" * 50}))
    with ConnectionManager() as manager:
        for _ in range(20):
            conn = polling(manager, server, max_event_size=10)
            assert conn.wait(WAIT) is Status.FAILED
            assert isinstance(conn.error, EventTooLarge)


def test_closing_the_manager_stops_polling(server: SSEServer) -> None:
    server.route("/stream", Reply(status=503, body="down", framing="length"))
    server.route("/poll", poll_reply())
    with ConnectionManager(retry=0, poll_interval=0.05) as manager:
        conns = [
            manager.create(server.url_for("/stream"), poll_url=server.url_for("/poll"))
            for _ in range(3)
        ]
        assert [c.status for c in conns] == [Status.POLLING] * 3
        assert manager.count() == 3
    assert [c.status for c in conns] == [Status.CLOSED] * 3
    assert manager.count() == 0


def test_close_stops_a_poll_that_is_waiting_for_its_answer(server: SSEServer) -> None:
    server.route("/stream", Reply(status=503, body="down", framing="length"))
    polled = threading.Event()

    def slow_poll(request: RecordedRequest) -> Reply:
        polled.set()
        server.stopping.wait(3.0)  # a slow poll endpoint, released when the server stops
        return poll_reply()

    server.route("/poll", slow_poll)
    with ConnectionManager() as manager:
        conn = manager.create(
            server.url_for("/stream"),
            retry=0,
            poll_url=server.url_for("/poll"),
            poll_interval=0.05,
        )
        assert polled.wait(WAIT)
        started = time.monotonic()
        conn.close()
        closing_took = time.monotonic() - started
        assert conn.status is Status.CLOSED
    assert closing_took < 0.5, f"close() took {closing_took:.3f}s while a poll was in flight"
