"""The connection manager (API.md section 1) against the loopback server, with real sockets.

The module-level functions and ``ConnectionManager``: delegation to the default manager,
option merging (checked on what the server received), ``base_url``, the shared session,
the registry (a connection leaves it when it ends, so ``count()`` is exact), ``wait_open``,
every method called from inside callbacks, the context manager, and an interpreter that
exits promptly with a connection left open. Supervision, the polling fallback and the load
tests live in ``test_manager_supervision.py`` and ``test_manager_stress.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
import requests
import requests.adapters
from support import WAIT, empty_default_registry, wait_until

import sseclient_sync as sse
from sseclient_sync import (
    Connection,
    ConnectionManager,
    Event,
    HTTPStatusError,
    Retry,
    RetryExhausted,
    Status,
)
from sseclient_sync._manager import default_manager
from sseclient_sync.testing import Pause, RecordedRequest, Reply, Silence, SSEServer
from sseclient_sync.testing import sse as wire

#: A small reconnect policy of this module's own: three attempts, 10 ms apart, no jitter.
THREE_QUICK_TRIES = Retry(max_attempts=3, delay=0.01, jitter=0.0)


def silent_stream(*events: Event) -> Reply:
    """A stream that sends ``events`` and then stays open, sending nothing more."""
    return Reply(body=[*(wire(event) for event in events), Silence()])


def finished_stream(*events: Event) -> Reply:
    """A keep-alive chunked stream that sends ``events`` and ends (a POST completes on it)."""
    return Reply(body=[wire(event) for event in events])


default_registry = pytest.fixture(empty_default_registry, name="default_registry")


# --- The module-level functions -------------------------------------------------------------


def test_module_functions_act_on_the_default_manager(
    server: SSEServer, default_registry: None
) -> None:
    server.route("/stream", silent_stream(Event(data="hello", id="1")))
    manager = default_manager()
    assert default_manager() is manager

    first = sse.create_sse_connection(server.url_for("/stream"))
    second = sse.create_sse_connection(server.url_for("/stream"))
    assert isinstance(first, Connection)
    assert first.id != second.id
    assert first.stats().status is Status.OPEN
    assert sse.is_sse_connection_open(first)
    assert sse.get_sse_connection_count() == 2 == manager.count()
    assert {c.id for c in sse.get_all_sse_connections()} == {first.id, second.id}
    assert manager.get(first.id) is first

    sse.close_sse_connection(first)
    assert first.status is Status.CLOSED
    assert not sse.is_sse_connection_open(first)
    assert sse.get_all_sse_connections() == [second]
    assert sse.get_sse_connection_count() == 1
    assert manager.get(first.id) is None
    sse.close_sse_connection(first)  # closing twice is a no-op
    assert first.status is Status.CLOSED
    assert sse.get_sse_connection_count() == 1

    sse.close_all_sse_connections()
    assert second.status is Status.CLOSED
    assert sse.get_sse_connection_count() == 0
    assert sse.get_all_sse_connections() == []
    sse.close_all_sse_connections()  # nothing left: a no-op


def test_module_functions_leave_other_managers_alone(
    server: SSEServer, default_registry: None
) -> None:
    server.route("/stream", silent_stream())
    with ConnectionManager() as mine:
        own = mine.create(server.url_for("/stream"))
        shared = sse.create_sse_connection(server.url_for("/stream"))
        assert mine.all() == [own]
        assert sse.get_all_sse_connections() == [shared]
        sse.close_all_sse_connections()
        assert shared.status is Status.CLOSED
        assert own.is_open()
        assert mine.count() == 1


# --- ConnectionManager methods --------------------------------------------------------------


def test_manager_methods(server: SSEServer) -> None:
    server.route("/stream", silent_stream(Event(data="x", id="1")))
    with ConnectionManager() as manager:
        assert manager.count() == 0
        assert manager.all() == []
        conns = [manager.create(server.url_for("/stream")) for _ in range(3)]
        assert manager.count() == 3
        assert [c.id for c in manager.all()] == [c.id for c in conns]
        assert all(manager.is_open(c) for c in conns)
        assert manager.get(conns[1].id) is conns[1]
        assert manager.get("no-such-id") is None

        manager.close(conns[1])
        manager.close(conns[1])
        assert conns[1].status is Status.CLOSED
        assert not manager.is_open(conns[1])
        assert manager.get(conns[1].id) is None
        assert manager.count() == 2

        manager.close_all()
        assert [c.status for c in conns] == [Status.CLOSED] * 3
        assert manager.count() == 0
        assert manager.all() == []


def test_default_options_and_call_options_merge(server: SSEServer) -> None:
    server.route("/stream", finished_stream(Event(data="x")))
    default_messages: list[Event] = []
    call_messages: list[Event] = []
    with ConnectionManager(
        base_url=server.url,
        method="POST",
        headers={"X-Default": "d", "X-Both": "default"},
        params={"p": "1", "q": "default"},
        on_message=default_messages.append,
    ) as manager:
        merged = manager.create(
            "/stream",
            headers={"X-Both": "call", "X-Call": "c"},
            params={"q": "call", "r": "3"},
        )
        assert merged.wait(WAIT) is Status.COMPLETED
        inherited = manager.create("/stream", headers=None, params=None)
        assert inherited.wait(WAIT) is Status.COMPLETED
        replaced = manager.create("/stream", method="PUT", on_message=call_messages.append)
        assert replaced.wait(WAIT) is Status.COMPLETED

    first, second, third = server.wait_for_requests(3, WAIT)
    assert first.method == "POST"
    assert first.headers["X-Default"] == "d"
    assert first.headers["X-Both"] == "call"
    assert first.headers["X-Call"] == "c"
    assert first.headers["Accept"] == "text/event-stream"
    assert first.query == {"p": ["1"], "q": ["call"], "r": ["3"]}

    assert second.method == "POST"  # not given: inherited
    assert second.headers["X-Both"] == "default"
    assert "X-Call" not in second.headers  # one call's options never leak into the next
    assert second.query == {"p": ["1"], "q": ["default"]}

    assert third.method == "PUT"
    assert third.headers["X-Default"] == "d"
    assert [e.data for e in default_messages] == ["x", "x"]  # the first two connections
    assert [e.data for e in call_messages] == ["x"]


def test_a_call_never_changes_the_managers_defaults(server: SSEServer) -> None:
    server.route("/stream", finished_stream())
    headers = {"X-Default": "d"}
    with ConnectionManager(method="POST", headers=headers) as manager:
        manager.create(server.url_for("/stream"), headers={"X-Call": "c"}).wait(WAIT)
        manager.create(server.url_for("/stream")).wait(WAIT)
    assert headers == {"X-Default": "d"}
    assert "X-Call" not in server.wait_for_requests(2, WAIT)[1].headers


def test_relative_urls_join_base_url(server: SSEServer) -> None:
    server.route("/api/stream", silent_stream())
    server.route("/other", silent_stream())
    with ConnectionManager(base_url=server.url + "/api/") as manager:
        relative = manager.create("stream")
        rooted = manager.create("/other")
        absolute = manager.create(server.url_for("/api/stream?x=1"))
        assert relative.url == server.url + "/api/stream"
        assert rooted.url == server.url + "/other"
        assert absolute.url == server.url + "/api/stream?x=1"
        assert manager.count() == 3
    assert [r.target for r in server.wait_for_requests(3, WAIT)] == [
        "/api/stream",
        "/other",
        "/api/stream?x=1",
    ]


def test_a_relative_url_without_base_url_is_refused(server: SSEServer) -> None:
    with ConnectionManager() as manager:
        with pytest.raises(ValueError, match="base_url"):
            manager.create("/stream")
        assert manager.count() == 0
    assert server.requests == []


class CountingAdapter(requests.adapters.HTTPAdapter):
    """Counts the requests sent through it and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []
        self.closed = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(str(request.url))
        return super().send(request, *args, **kwargs)

    def close(self) -> None:
        self.closed += 1
        super().close()


def serving_threads(server: SSEServer, path: str) -> list[threading.Thread]:
    """Route ``path`` to a keep-alive stream that ends, noting the server thread of each
    request: the server serves each TCP connection in its own thread, so the same thread
    means the same connection."""
    threads: list[threading.Thread] = []

    def respond(request: RecordedRequest) -> Reply:
        threads.append(threading.current_thread())
        return finished_stream(Event(data="x", id=str(len(threads))))

    server.route(path, respond)
    return threads


def test_the_managers_session_is_shared_by_its_connections(server: SSEServer) -> None:
    session = requests.Session()
    session.headers["X-Session"] = "mine"
    adapter = CountingAdapter()
    session.mount("http://", adapter)
    server.route("/stream", finished_stream(Event(data="x")))
    try:
        with ConnectionManager(base_url=server.url, session=session, method="POST") as manager:
            for _ in range(2):
                assert manager.create("/stream").wait(WAIT) is Status.COMPLETED
        assert len(adapter.sent) == 2
        assert all(r.headers["X-Session"] == "mine" for r in server.wait_for_requests(2, WAIT))
        assert adapter.closed == 0  # the caller's session is the caller's to close
        # ... and stays the manager's after shutdown(), for connections made later.
        assert manager.create("/stream").wait(WAIT) is Status.COMPLETED
        assert len(adapter.sent) == 3
        manager.shutdown()
    finally:
        session.close()


@pytest.mark.parametrize("whose", ["the-managers-own", "the-callers"])
def test_sequential_connections_reuse_one_tcp_connection(server: SSEServer, whose: str) -> None:
    threads = serving_threads(server, "/stream")
    session = requests.Session() if whose == "the-callers" else None
    try:
        with ConnectionManager(base_url=server.url, session=session, method="POST") as manager:
            for _ in range(3):
                assert manager.create("/stream").wait(WAIT) is Status.COMPLETED
    finally:
        if session is not None:
            session.close()
    assert len(threads) == 3
    assert threads[0] is threads[1] is threads[2], "each stream opened a new TCP connection"


def test_a_calls_own_session_replaces_the_managers(server: SSEServer) -> None:
    server.route("/stream", finished_stream())
    manager_session, call_session = requests.Session(), requests.Session()
    manager_session.headers["X-Which"] = "manager"
    call_session.headers["X-Which"] = "call"
    try:
        with ConnectionManager(session=manager_session, method="POST") as manager:
            manager.create(server.url_for("/stream"), session=call_session).wait(WAIT)
            manager.create(server.url_for("/stream")).wait(WAIT)
        assert [r.headers["X-Which"] for r in server.wait_for_requests(2, WAIT)] == [
            "call",
            "manager",
        ]
    finally:
        manager_session.close()
        call_session.close()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"tiemout": 1.0}, TypeError, "timeout"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"read_timeout": -1}, ValueError, "read_timeout"),
        ({"retry": "often"}, TypeError, "retry"),
        ({"method": "G ET"}, ValueError, "method"),
        ({"headers": [("X", "1")]}, TypeError, "headers"),
        ({"headers": {"X": "1\r\nY: 2"}}, ValueError, "headers"),
        ({"on_message": "print"}, TypeError, "on_message"),
        ({"queue_size": 0}, ValueError, "queue_size"),
        ({"poll_url": "ftp://elsewhere/poll"}, ValueError, "poll_url"),
        ({"json": {"a": 1}, "data": "a=1"}, ValueError, "json"),
        ({"wait_open": 0}, TypeError, "wait_open"),
    ],
)
def test_bad_default_options_fail_at_construction(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        ConnectionManager(**options)


def test_a_bad_session_fails_at_construction() -> None:
    with pytest.raises(TypeError, match=r"session must be a requests\.Session, got dict"):
        ConnectionManager(session={"auth": "x"})  # type: ignore[arg-type]


def test_a_bad_call_option_fails_before_anything_is_registered(server: SSEServer) -> None:
    with ConnectionManager() as manager:
        with pytest.raises(ValueError, match="queue_size"):
            manager.create(server.url_for("/stream"), queue_size=0)
        with pytest.raises(TypeError, match="unknown option"):
            manager.create(server.url_for("/stream"), on_mesage=print)
        with pytest.raises(TypeError, match="wait_open must be True or False, got 'no'"):
            manager.create(server.url_for("/stream"), wait_open="no")
        assert manager.count() == 0
    assert server.requests == []


# --- The registry: a connection leaves it when it ends ----------------------------------------


def test_a_completed_connection_leaves_the_registry(server: SSEServer) -> None:
    server.route("/stream", finished_stream(Event(data="a"), Event(data="b")))
    with ConnectionManager(method="POST") as manager:
        conn = manager.create(server.url_for("/stream"))
        assert conn.wait(WAIT) is Status.COMPLETED
        assert manager.count() == 0
        assert manager.get(conn.id) is None
        assert manager.all() == []


def test_a_closed_connection_leaves_the_registry_before_close_returns(server: SSEServer) -> None:
    server.route("/stream", silent_stream())
    with ConnectionManager() as manager:
        conn = manager.create(server.url_for("/stream"))
        conn.close()  # the connection's own close(), not the manager's
        assert manager.count() == 0
        assert manager.get(conn.id) is None


def test_a_failed_connection_leaves_the_registry(server: SSEServer) -> None:
    # The stream ends mid-event; the reconnect gets a 404, which is final.
    server.route(
        "/stream",
        [
            Reply(body=[wire(Event(data="a", id="1")), b"data: b"]),
            Reply(status=404, body="gone", framing="length"),
        ],
    )
    with ConnectionManager() as manager:
        conn = manager.create(server.url_for("/stream"), retry=THREE_QUICK_TRIES, wait_open=False)
        assert conn.wait(WAIT) is Status.FAILED
        assert isinstance(conn.error, HTTPStatusError)
        assert manager.count() == 0
        assert manager.all() == []


def forget_late(manager: ConnectionManager, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``manager`` learn of each connection's end 0.3 s late, as a busy scheduler may:
    shows whether an end is visible (wait() returns, create() raises) before the registry
    has forgotten the connection."""
    forget = manager.ended

    def slow_forget(connection: Connection) -> None:
        time.sleep(0.3)
        forget(connection)

    monkeypatch.setattr(manager, "ended", slow_forget)


def test_count_is_exact_as_soon_as_wait_returns(
    server: SSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/stream", finished_stream(Event(data="a")))
    with ConnectionManager(method="POST") as manager:
        forget_late(manager, monkeypatch)
        conn = manager.create(server.url_for("/stream"), wait_open=False)
        assert conn.wait(WAIT) is Status.COMPLETED
        assert manager.count() == 0


def test_count_is_exact_as_soon_as_create_raises(
    server: SSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/missing", Reply(status=404, body="no", framing="length"))
    with ConnectionManager() as manager:
        forget_late(manager, monkeypatch)
        with pytest.raises(HTTPStatusError):
            manager.create(server.url_for("/missing"))
        assert manager.count() == 0


def test_count_is_exact_after_many_quick_ends(server: SSEServer) -> None:
    server.route("/stream", finished_stream(Event(data="a")))
    with ConnectionManager(method="POST") as manager:
        conns = [manager.create(server.url_for("/stream"), wait_open=False) for _ in range(20)]
        assert all(c.wait(WAIT) is Status.COMPLETED for c in conns)
        assert manager.count() == 0


# --- wait_open -------------------------------------------------------------------------------


def gated(server: SSEServer, path: str, reply: Reply) -> threading.Event:
    """Route ``path`` to ``reply``, held back until the returned event is set (bounded)."""
    gate = threading.Event()

    def respond(request: RecordedRequest) -> Reply:
        gate.wait(WAIT)
        return reply

    server.route(path, respond)
    return gate


def test_create_waits_until_the_stream_is_open(server: SSEServer) -> None:
    server.route("/stream", Reply(body=[Pause(0.2), Silence()]))
    with ConnectionManager() as manager:
        conn = manager.create(server.url_for("/stream"))
        # Open as soon as the headers are accepted, before any event or byte of body.
        assert conn.status is Status.OPEN
        assert conn.is_open()
        assert conn.stats().messages_received == 0


def test_create_waits_through_reconnects_until_open(server: SSEServer) -> None:
    server.route("/stream", [Reply(status=503, body="busy", framing="length"), silent_stream()])
    errors: list[BaseException] = []
    with ConnectionManager() as manager:
        conn = manager.create(
            server.url_for("/stream"), retry=THREE_QUICK_TRIES, on_error=errors.append
        )
        assert conn.status is Status.OPEN
        assert conn.stats().reconnect_count == 1
    assert [e.status_code for e in errors if isinstance(e, HTTPStatusError)] == [503]


def test_create_raises_the_final_error_when_it_cannot_open(server: SSEServer) -> None:
    server.route("/missing", Reply(status=404, body="not here", framing="length"))
    with ConnectionManager() as manager:
        with pytest.raises(HTTPStatusError) as raised:
            manager.create(server.url_for("/missing"), retry=THREE_QUICK_TRIES)
        assert raised.value.status_code == 404
        assert server.url_for("/missing") in str(raised.value)
        assert manager.count() == 0
    assert len(server.requests) == 1  # a 404 is final, never retried


def test_create_raises_retry_exhausted_when_the_budget_is_spent(server: SSEServer) -> None:
    server.route("/busy", Reply(status=503, body="busy", framing="length"))
    with ConnectionManager() as manager:
        with pytest.raises(RetryExhausted) as raised:
            manager.create(server.url_for("/busy"), retry=Retry(max_attempts=2, delay=0.01))
        assert isinstance(raised.value.__cause__, HTTPStatusError)
        assert raised.value.__cause__.status_code == 503
        assert manager.count() == 0
    assert len(server.requests) == 3


def test_create_with_wait_open_false_returns_at_once(server: SSEServer) -> None:
    gate = gated(server, "/stream", silent_stream(Event(data="late")))
    messages: list[Event] = []
    with ConnectionManager() as manager:
        conn = manager.create(
            server.url_for("/stream"), wait_open=False, on_message=messages.append
        )
        # The server has not answered yet: create() did not wait for it.
        assert conn.status is Status.CONNECTING
        assert manager.count() == 1
        assert manager.all() == [conn]
        gate.set()
        wait_until(lambda: [e.data for e in messages] == ["late"], "the late event")
        assert conn.is_open()


def test_wait_open_false_as_a_manager_default(server: SSEServer) -> None:
    gate = gated(server, "/stream", silent_stream())
    with ConnectionManager(wait_open=False) as manager:
        conn = manager.create(server.url_for("/stream"))
        assert conn.status is Status.CONNECTING
        gate.set()
        wait_until(conn.is_open, "the stream to open")


def test_wait_open_false_failure_is_reported_not_raised(server: SSEServer) -> None:
    gate = gated(server, "/missing", Reply(status=404, body="no", framing="length"))
    with ConnectionManager() as manager:
        conn = manager.create(server.url_for("/missing"), wait_open=False)
        gate.set()
        assert conn.wait(WAIT) is Status.FAILED
        assert isinstance(conn.error, HTTPStatusError)
        assert manager.count() == 0


# --- Every method from inside callbacks ------------------------------------------------------


def test_module_functions_from_inside_on_message(server: SSEServer, default_registry: None) -> None:
    server.route("/stream", silent_stream(*(Event(data=str(i), id=str(i)) for i in range(5))))
    seen: list[tuple[str, int, list[str], bool]] = []
    opened: list[Connection] = []

    def on_message(event: Event) -> None:
        conn = opened[0]
        ids = [c.id for c in sse.get_all_sse_connections()]
        seen.append(
            (event.data, sse.get_sse_connection_count(), ids, sse.is_sse_connection_open(conn))
        )
        if event.data == "1":
            sse.close_sse_connection(conn)
            sse.close_sse_connection(conn)

    conn = sse.create_sse_connection(
        server.url_for("/stream"), on_open=opened.append, on_message=on_message
    )
    assert conn.wait(WAIT) is Status.CLOSED
    assert seen[:2] == [("0", 1, [conn.id], True), ("1", 1, [conn.id], True)]
    assert sse.get_sse_connection_count() == 0


def test_no_event_reaches_on_message_after_it_closed_the_connection(
    server: SSEServer, default_registry: None
) -> None:
    # All five events arrive in one read, so they are one batch for the reader.
    batch = b"".join(wire(Event(data=str(i), id=str(i))) for i in range(5))
    server.route("/stream", Reply(body=[batch, Silence()]))
    seen: list[str] = []

    def on_message(event: Event) -> None:
        seen.append(event.data)
        if event.data == "1":
            sse.close_sse_connection(opened[0])

    opened: list[Connection] = []
    conn = sse.create_sse_connection(
        server.url_for("/stream"), on_open=opened.append, on_message=on_message
    )
    assert conn.wait(WAIT) is Status.CLOSED
    assert seen == ["0", "1"]


def test_close_all_from_inside_on_message(server: SSEServer, default_registry: None) -> None:
    server.route("/quiet", silent_stream())
    server.route("/trigger", Reply(body=[Pause(0.1), wire(Event(data="go")), Silence()]))
    quiet = [sse.create_sse_connection(server.url_for("/quiet")) for _ in range(3)]
    returned = threading.Event()

    def on_message(event: Event) -> None:
        sse.close_all_sse_connections()
        returned.set()

    trigger = sse.create_sse_connection(server.url_for("/trigger"), on_message=on_message)
    assert returned.wait(WAIT), "close_all_sse_connections() inside on_message deadlocked"
    assert trigger.wait(WAIT) is Status.CLOSED
    assert [c.status for c in quiet] == [Status.CLOSED] * 3
    assert sse.get_sse_connection_count() == 0


def test_create_from_inside_on_message(server: SSEServer, default_registry: None) -> None:
    server.route("/first", silent_stream(Event(data="go")))
    server.route("/second", silent_stream(Event(data="second")))
    created: list[Connection] = []
    second_messages: list[str] = []

    def on_message(event: Event) -> None:
        created.append(
            sse.create_sse_connection(
                server.url_for("/second"), on_message=lambda e: second_messages.append(e.data)
            )
        )

    first = sse.create_sse_connection(server.url_for("/first"), on_message=on_message)
    # The second connection's event can arrive before create() returns inside on_message.
    wait_until(lambda: second_messages == ["second"] and created, "the second connection")
    assert created[0].is_open()
    assert sse.get_sse_connection_count() == 2
    assert {c.id for c in sse.get_all_sse_connections()} == {first.id, created[0].id}


def test_on_open_that_closes(server: SSEServer) -> None:
    server.route("/stream", silent_stream(Event(data="never")))
    messages: list[Event] = []
    with ConnectionManager() as manager:

        def on_open(conn: Connection) -> None:
            assert manager.count() == 1
            manager.close(conn)

        conn = manager.create(
            server.url_for("/stream"), on_open=on_open, on_message=messages.append
        )
        # create() returned (no deadlock waiting for an open that was closed at once).
        assert conn.wait(WAIT) is Status.CLOSED
        assert manager.count() == 0
    assert messages == []


def test_manager_methods_from_inside_every_callback(server: SSEServer) -> None:
    server.route("/stream", Reply(body=[wire(Event(data="a", id="1")), Pause(0.05)]))
    counts: dict[str, list[int]] = {}
    with ConnectionManager(method="POST") as manager:

        def note(name: str) -> None:
            counts.setdefault(name, []).append(manager.count())
            manager.all()
            for conn in manager.all():
                manager.is_open(conn)
                manager.get(conn.id)

        conn = manager.create(
            server.url_for("/stream"),
            on_open=lambda c: note("open"),
            on_message=lambda e: note("message"),
            on_status=lambda c, old, new: note("status"),
            on_complete=lambda c: note("complete"),
            on_close=lambda c: note("close"),
        )
        assert conn.wait(WAIT) is Status.COMPLETED
        assert manager.count() == 0
    assert counts["open"] == [1]
    assert counts["message"] == [1]
    assert set(counts) == {"open", "message", "status", "complete", "close"}


def test_close_all_from_on_close_of_another(server: SSEServer) -> None:
    server.route("/stream", silent_stream())
    done = threading.Event()
    with ConnectionManager() as manager:

        def on_close(conn: Connection) -> None:
            manager.close_all()
            done.set()

        first = manager.create(server.url_for("/stream"), on_close=on_close)
        others = [manager.create(server.url_for("/stream")) for _ in range(2)]
        closer = threading.Thread(target=first.close, name="test-closer", daemon=True)
        closer.start()
        closer.join(WAIT)
        assert not closer.is_alive(), "close_all() inside on_close deadlocked"
        assert done.is_set()
        assert [c.status for c in others] == [Status.CLOSED, Status.CLOSED]
        assert manager.count() == 0


# --- Context manager and interpreter exit ----------------------------------------------------


def test_a_manager_is_a_context_manager(server: SSEServer) -> None:
    server.route("/stream", silent_stream())
    with ConnectionManager() as manager:
        conns = [manager.create(server.url_for("/stream")) for _ in range(3)]
        assert manager.count() == 3
    assert [c.status for c in conns] == [Status.CLOSED] * 3
    assert manager.count() == 0


def test_leaving_with_an_exception_closes_everything(server: SSEServer) -> None:
    server.route("/stream", silent_stream())
    conns: list[Connection] = []
    with pytest.raises(KeyError), ConnectionManager() as manager:
        conns.append(manager.create(server.url_for("/stream")))
        conns.append(manager.create(server.url_for("/stream"), wait_open=False))
        raise KeyError("boom")
    assert [c.status for c in conns] == [Status.CLOSED] * 2
    assert manager.count() == 0


EXIT_SCRIPT = """
import sys
import sseclient_sync as sse
from sseclient_sync import ConnectionManager
from sseclient_sync.testing import Reply, Silence, SSEServer

server = SSEServer().start()
server.route("/stream", Reply(body=[b"data: hello\\n\\n", Silence()]))
conn = {create}
assert conn.is_open(), conn.status
print("open", flush=True)
"""


@pytest.mark.parametrize(
    "create",
    [
        'sse.create_sse_connection(server.url_for("/stream"))',
        'ConnectionManager().create(server.url_for("/stream"))',
        'ConnectionManager().create(server.url_for("/stream"), read_timeout=None)',
    ],
    ids=["default-manager", "own-manager", "no-read-timeout"],
)
def test_the_interpreter_exits_promptly_with_a_connection_left_open(create: str) -> None:
    script = textwrap.dedent(EXIT_SCRIPT).format(create=create)
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"the interpreter did not exit within 10 s: {expired.stderr!r}")
    assert done.stdout == "open\n", done.stderr
    assert done.returncode == 0, done.stderr


def test_a_relative_poll_url_default_is_joined_to_each_streams_url(server: SSEServer) -> None:
    server.route("/s", Reply(status=404))
    server.route("/poll", Reply(body='{"events": [{"id": "1", "data": "polled"}]}'))
    with ConnectionManager(server.url, poll_url="poll", retry=0, poll_interval=0.01) as manager:
        conn = manager.create("/s")
        assert next(iter(conn)).data == "polled"
    assert [r.path for r in server.requests][:2] == ["/s", "/poll"]


@pytest.mark.parametrize(
    ("base_url", "error"), [(5, TypeError), (b"http://x/", TypeError), ("127.0.0.1:80", ValueError)]
)
def test_a_bad_base_url_is_refused_where_it_is_given(base_url: Any, error: type) -> None:
    with pytest.raises(error) as caught:
        ConnectionManager(base_url)
    assert "base_url" in str(caught.value) and "give a manager a base_url" not in str(
        caught.value
    )


def test_a_url_that_is_not_a_str_is_named_with_a_base_url_too() -> None:
    with ConnectionManager("http://127.0.0.1:9/") as manager, pytest.raises(TypeError) as caught:
        manager.create(5)  # type: ignore[arg-type]
    assert "url must be a str, got int" in str(caught.value)


def test_a_poll_url_urljoin_rejects_is_named_as_the_option() -> None:
    with ConnectionManager() as manager, pytest.raises(ValueError) as caught:
        manager.create("http://127.0.0.1:9/s", poll_url="http://[::1")
    assert "poll_url is not a valid URL" in str(caught.value) and "'http://[::1'" in str(
        caught.value
    )


def test_close_all_waits_for_readers_busy_in_callbacks_together(server: SSEServer) -> None:
    # Each close() waits up to 2 s for a reader inside a callback: one after another, three
    # busy readers held close_all() (and interpreter exit) for 6 s.
    server.route("/s", Reply(body=[wire(Event(data="x")), Silence()]))
    inside = threading.Semaphore(0)
    release = threading.Event()

    def busy(_event: Event) -> None:
        inside.release()
        release.wait(WAIT)

    with ConnectionManager(retry=0) as manager:
        for _ in range(3):
            manager.create(server.url_for("/s"), on_message=busy)
        for _ in range(3):
            assert inside.acquire(timeout=WAIT)
        started = time.monotonic()
        manager.close_all()
        took = time.monotonic() - started
        release.set()
    assert took < 4.0, took
    assert manager.count() == 0
    wait_until(
        lambda: not any(t.name.startswith("sseclient-sync-") for t in threading.enumerate()),
        "the readers to end once their callbacks returned",
    )
