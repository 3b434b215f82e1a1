"""Connection on real sockets: the request it sends, the responses it accepts, how it reads,
and how it delivers. Every test talks to the project's loopback SSEServer.

The close cases are in test_connection_close.py, reconnect / resume / completion in
test_connection_resume.py, and the error tree in test_connection_errors.py.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any, Iterator, List, Tuple

import pytest
import requests
from support import WAIT, fast_manager

from sseclient_sync import (
    Connection,
    ConnectionManager,
    ContentTypeError,
    Event,
    HTTPStatusError,
    ReadTimeout,
    Status,
    close_sse_connection,
    create_sse_connection,
    get_all_sse_connections,
    get_sse_connection_count,
    is_sse_connection_open,
)
from sseclient_sync.testing import Pause, Reply, Silence, SSEServer, redirect, sse

manager = pytest.fixture(fast_manager, name="manager")


def events_of(*pairs: Tuple[str, str]) -> List[Event]:
    """Events with their own ids: ``events_of(("1", "a"))`` is ``[Event(data="a", id="1")]``."""
    return [Event(data=data, id=event_id) for event_id, data in pairs]


# --- The request --------------------------------------------------------------------------


def test_sends_the_sse_headers_and_the_initial_last_event_id(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=sse(Event(data="a"))))
    with manager.create(server.url_for("/s"), method="POST", last_event_id="41") as conn:
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a"]
    request = server.requests[0]
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["cache-control"] == "no-cache"
    assert request.headers["last-event-id"] == "41"


def test_sends_no_last_event_id_before_one_is_known(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=sse(Event(data="a"))))
    with manager.create(server.url_for("/s"), method="POST") as conn:
        assert conn.wait(WAIT) is Status.COMPLETED
    assert "last-event-id" not in server.requests[0].headers


def test_non_ascii_last_event_id_is_sent_as_its_utf8_bytes(
    server: SSEServer, manager: ConnectionManager
) -> None:
    event_id = "ünï-€-😀"
    server.route("/s", Reply(body=sse(Event(data="a"))))
    with manager.create(server.url_for("/s"), method="POST", last_event_id=event_id) as conn:
        assert conn.wait(WAIT) is Status.COMPLETED
    # The server decodes header bytes as Latin-1, so this gives back the bytes on the wire.
    sent = server.requests[0].headers["last-event-id"].encode("latin-1")
    assert sent == event_id.encode("utf-8")


@pytest.mark.parametrize(
    ("method", "options", "query", "body"),
    [
        ("GET", {"params": {"q": "1", "lang": "fr"}}, {"q": ["1"], "lang": ["fr"]}, b""),
        ("POST", {"json": {"prompt": "héllo", "n": 2}}, {}, None),
        ("PUT", {"data": {"a": "1", "b": "2"}, "params": {"x": "y"}}, {"x": ["y"]}, b"a=1&b=2"),
        ("PATCH", {"data": b"raw \x00 bytes"}, {}, b"raw \x00 bytes"),
        ("DELETE", {"params": {"id": "7"}}, {"id": ["7"]}, b""),
        ("GET", {"params": {"q": "1", "unset": None}}, {"q": ["1"]}, b""),  # None: left out
    ],
)
def test_any_method_with_params_headers_json_and_data(
    server: SSEServer,
    manager: ConnectionManager,
    *,
    method: str,
    options: dict[str, Any],
    query: dict[str, list[str]],
    body: Any,
) -> None:
    server.route("/s", Reply(body=sse(Event(data="a"))))
    headers = {"X-Token": "t0k3n", "Accept-Language": "fr"}
    with manager.create(
        server.url_for("/s"), method=method, headers=headers, retry=0, **options
    ) as conn:
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a"]
    request = server.requests[0]
    assert request.method == method
    assert request.query == query
    assert request.headers["x-token"] == "t0k3n"
    assert request.headers["accept-language"] == "fr"
    assert request.headers["accept"] == "text/event-stream"  # the caller's headers add to ours
    if body is None:
        assert request.json() == options["json"]
        assert request.headers["content-type"] == "application/json"
    else:
        assert request.body == body


def test_the_callers_dicts_are_never_mutated(server: SSEServer, manager: ConnectionManager) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="a", id="1")), ": cut\n"], drop_at=20),
            Reply(body=sse(Event(data="b", id="2"))),
        ],
    )
    params = {"q": "1"}
    headers = {"X-Token": "t"}
    body = {"prompt": "p", "nested": {"k": ["v"]}}
    resume_answer = {"params": {"offset": "1"}, "headers": {"X-Resumed": "yes"}}
    snapshots = copy.deepcopy((params, headers, body, resume_answer))
    with manager.create(
        server.url_for("/s"),
        method="POST",
        params=params,
        headers=headers,
        json=body,
        resume=lambda conn: resume_answer,
    ) as conn:
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a", "b"]
    assert (params, headers, body, resume_answer) == snapshots
    first, second = server.requests
    assert "last-event-id" not in first.headers and "x-resumed" not in first.headers
    assert second.headers["last-event-id"] == "1"
    assert second.headers["x-resumed"] == "yes"
    assert second.query == {"q": ["1"], "offset": ["1"]}
    assert second.json() == body


def test_uses_the_callers_session(server: SSEServer, manager: ConnectionManager) -> None:
    server.route("/s", Reply(body=sse(Event(data="a"))))
    with requests.Session() as session:
        session.headers["X-From-Session"] = "yes"
        session.cookies.set("sid", "c00kie", domain="127.0.0.1", path="/")
        session.auth = ("user", "pass")
        with manager.create(server.url_for("/s"), method="POST", session=session) as conn:
            assert conn.wait(WAIT) is Status.COMPLETED
    request = server.requests[0]
    assert request.headers["x-from-session"] == "yes"
    assert "sid=c00kie" in request.headers["cookie"]
    assert request.headers["authorization"].startswith("Basic ")
    assert request.headers["accept"] == "text/event-stream"


def test_a_managers_session_is_shared_by_its_connections(server: SSEServer) -> None:
    server.route("/s", Reply(body=sse(Event(data="a"))))
    with requests.Session() as session:
        session.headers["X-From-Session"] = "managed"
        with ConnectionManager(session=session, method="POST", timeout=WAIT) as manager:
            for _ in range(2):
                with manager.create(server.url_for("/s")) as conn:
                    assert conn.wait(WAIT) is Status.COMPLETED
    assert [r.headers["x-from-session"] for r in server.requests] == ["managed", "managed"]


@pytest.mark.parametrize("cross_host", [False, True], ids=["same-host", "other-host"])
def test_redirects_are_followed_and_credentials_dropped_on_a_host_change(
    server: SSEServer, manager: ConnectionManager, cross_host: bool
) -> None:
    host = "localhost" if cross_host else "127.0.0.1"
    server.route("/old", redirect(f"http://{host}:{server.port}/new"))
    server.route("/new", Reply(body=sse(Event(data="moved", id="9"))))
    with manager.create(
        server.url_for("/old"),
        method="POST",
        headers={"Authorization": "Bearer s3cret"},
        last_event_id="8",
    ) as conn:
        assert [event.data for event in conn.events(timeout=WAIT)] == ["moved"]
    old, new = server.requests
    assert old.headers["authorization"] == "Bearer s3cret"
    assert new.path == "/new"
    assert new.headers["host"].split(":")[0] == host
    assert new.headers["accept"] == "text/event-stream"
    assert new.headers["last-event-id"] == "8"
    if cross_host:  # 127.0.0.1 and localhost are different hosts to requests
        assert "authorization" not in new.headers
    else:
        assert new.headers["authorization"] == "Bearer s3cret"


# --- The response -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/event-stream",
        "Text/Event-Stream",
        "TEXT/EVENT-STREAM;charset=utf-8",
        "text/event-stream; charset=ISO-8859-1",
        'text/event-stream ; charset="windows-1252"; x=y',
    ],
)
def test_accepts_the_event_stream_media_type_in_any_case_and_decodes_utf8(
    server: SSEServer, manager: ConnectionManager, content_type: str
) -> None:
    server.route("/s", Reply(headers={"Content-Type": content_type}, body="data: é€😀\n\n"))
    with manager.create(server.url_for("/s"), method="POST") as conn:
        assert [event.data for event in conn.events(timeout=WAIT)] == ["é€😀"]
        assert conn.status is Status.COMPLETED


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/html; charset=utf-8"},
        {"Content-Type": "application/json"},
        {"Content-Type": "text/plain"},
        {"Content-Type": "text/event-stream-x"},
        {},
    ],
    ids=["html", "json", "plain", "lookalike", "none"],
)
def test_a_wrong_content_type_is_a_content_type_error_and_never_parsed(
    server: SSEServer, manager: ConnectionManager, headers: dict[str, str]
) -> None:
    server.route("/s", Reply(headers=headers, body="data: not an event\n\n"))
    url = server.url_for("/s")
    with pytest.raises(ContentTypeError) as caught:
        manager.create(url)
    assert url in str(caught.value)
    assert caught.value.content_type == headers.get("Content-Type", "")
    assert len(server.requests) == 1  # not retried


def test_204_stops_without_reconnecting_and_completes(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(status=204))
    completed: list[Connection] = []
    errors: list[BaseException] = []
    conn = manager.create(
        server.url_for("/s"), on_complete=completed.append, on_error=errors.append
    )
    with conn:
        assert list(conn.events(timeout=WAIT)) == []
        assert conn.status is Status.COMPLETED
    assert completed == [conn] and errors == []
    assert len(server.requests) == 1


def test_a_500_whose_body_is_an_event_stream_is_not_parsed_as_events(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(status=500, body=sse(Event(data="from the error page", id="666"))),
            Reply(body=sse(Event(data="good", id="1"))),
            Reply(status=204),
        ],
    )
    errors: list[BaseException] = []
    with manager.create(server.url_for("/s"), on_error=errors.append) as conn:
        assert list(conn.events(timeout=WAIT)) == events_of(("1", "good"))
        assert conn.last_event_id == "1"
    assert [type(error) for error in errors] == [HTTPStatusError]
    assert "from the error page" in errors[0].body  # type: ignore[attr-defined]
    assert "last-event-id" not in server.requests[1].headers  # the 500's id was never read


# --- Reading ------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["chunked", "close"])
@pytest.mark.parametrize("hold", [Pause(2), Silence()], ids=["pause", "silence"])
def test_an_event_arrives_as_soon_as_its_last_byte_does(
    server: SSEServer, manager: ConnectionManager, framing: str, hold: object
) -> None:
    server.route(
        "/s",
        Reply(body=[sse(Event(data="now", id="1")), hold], framing=framing),  # type: ignore[list-item]
    )
    with manager.create(server.url_for("/s")) as conn:
        # Well before the pause ends, and the silence never does.
        assert next(conn.events(timeout=1.0)) == Event(data="now", id="1")


def test_an_event_cut_into_pieces_arrives_when_its_last_piece_does(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s", Reply(body=["data: one", Pause(0.05), "\r", Pause(0.05), "\n\r\n", Silence()])
    )
    with manager.create(server.url_for("/s")) as conn:
        assert next(conn.events(timeout=1.0)) == Event(data="one")


def test_comments_and_blank_lines_keep_a_stream_alive_past_read_timeout(
    server: SSEServer, manager: ConnectionManager
) -> None:
    keep_alive: list[Any] = []
    for index in range(4):
        keep_alive += [": ping\n" if index % 2 else "\n", Pause(0.2)]
    server.route("/s", Reply(body=[*keep_alive, sse(Event(data="after 0.8 s"))]))
    errors: list[BaseException] = []
    with manager.create(
        server.url_for("/s"), method="POST", read_timeout=0.5, on_error=errors.append
    ) as conn:
        assert [event.data for event in conn.events(timeout=WAIT)] == ["after 0.8 s"]
        assert conn.status is Status.COMPLETED
    assert errors == [] and len(server.requests) == 1


def test_silence_past_read_timeout_is_a_read_timeout_and_reconnects(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="a", id="1")), Silence()]),
            Reply(body=sse(Event(data="b", id="2"))),
            Reply(status=204),
        ],
    )
    errors: list[BaseException] = []
    url = server.url_for("/s")
    with manager.create(url, read_timeout=0.3, on_error=errors.append) as conn:
        assert list(conn.events(timeout=WAIT)) == events_of(("1", "a"), ("2", "b"))
    assert [type(error) for error in errors] == [ReadTimeout]
    assert url in str(errors[0]) and "read_timeout=0.3" in str(errors[0])
    assert server.requests[1].headers["last-event-id"] == "1"


def test_invalid_utf8_becomes_the_replacement_character(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        Reply(body=[b"data: a\xffb\xe2\x82\n\n", b"data: \xc3", b"\xa9 ok \xed\xa0\x80\n\n"]),
    )
    with manager.create(server.url_for("/s"), method="POST") as conn:
        data = [event.data for event in conn.events(timeout=WAIT)]
    assert data == ["a\ufffdb\ufffd", "é ok \ufffd\ufffd\ufffd"]
    assert conn.status is Status.COMPLETED


# --- Delivery -----------------------------------------------------------------------------


def test_a_slow_consumer_gets_every_event_in_order_through_a_small_queue(
    server: SSEServer, manager: ConnectionManager
) -> None:
    sent = [Event(data=f"event {n}", id=str(n)) for n in range(500)]
    server.route("/s", Reply(body=[event.encode() for event in sent]))
    received: list[Event] = []
    with manager.create(server.url_for("/s"), method="POST", queue_size=2) as conn:
        for event in conn.events(timeout=WAIT):
            received.append(event)
            if len(received) % 25 == 0:
                time.sleep(0.01)  # the reader fills the queue meanwhile and must wait
        assert conn.status is Status.COMPLETED
    assert received == sent


def test_iteration_ends_when_the_connection_ends(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=sse(Event(data="a"), Event(data="b"))))
    with manager.create(server.url_for("/s"), method="POST") as conn:
        assert [event.data for event in conn] == ["a", "b"]
        assert list(conn) == []  # a second iteration ends at once too
        assert conn.wait(WAIT) is Status.COMPLETED


def test_callbacks_see_every_event_and_the_life_of_the_connection(
    server: SSEServer, manager: ConnectionManager
) -> None:
    go = threading.Event()

    def body() -> Iterator[Any]:
        go.wait(WAIT)  # until the test has subscribed
        yield sse(Event(data="m1"), Event("tick", "t1"), Event("tock", "x"), Event(data="m2"))

    server.route("/s", Reply(body=body()))
    calls: list[Tuple[str, Any]] = []
    conn = manager.create(
        server.url_for("/s"),
        method="POST",
        on_open=lambda c: calls.append(("open", c)),
        on_message=lambda e: calls.append(("message", e.data)),
        on_complete=lambda c: calls.append(("complete", c)),
        on_close=lambda c: calls.append(("close", c)),
        on_error=lambda e: calls.append(("error", e)),
    )
    with conn:
        unsubscribe_tick = conn.subscribe("tick", lambda e: calls.append(("tick", e.data)))
        conn.subscribe("message", lambda e: calls.append(("sub-message", e.data)))
        conn.subscribe("tock", lambda e: calls.append(("tock", e.data)))
        conn.unsubscribe("tock")
        unsubscribe_tick()
        conn.subscribe("tick", lambda e: calls.append(("tick-2", e.data)))
        go.set()
        assert conn.wait(WAIT) is Status.COMPLETED
    assert calls == [
        ("open", conn),
        ("message", "m1"),
        ("sub-message", "m1"),
        ("message", "t1"),
        ("tick-2", "t1"),
        ("message", "x"),
        ("message", "m2"),
        ("sub-message", "m2"),
        ("complete", conn),
        ("close", conn),
    ]


def test_an_exception_in_user_code_is_logged_reported_and_never_kills_the_reader(
    server: SSEServer, manager: ConnectionManager, caplog: pytest.LogCaptureFixture
) -> None:
    reported: list[BaseException] = []
    seen: list[str] = []

    def on_message(event: Event) -> None:
        seen.append(event.data)
        if event.data == "1":
            raise ValueError("on_message broke")

    def on_open(conn: Connection) -> None:
        raise RuntimeError("on_open broke")

    def handler(event: Event) -> None:
        if event.data == "3":
            raise KeyError("handler broke")

    caplog.set_level(logging.ERROR, logger="sseclient_sync")
    go = threading.Event()

    def body() -> Iterator[Any]:
        go.wait(WAIT)  # until the test has subscribed
        yield sse(*(Event("tick", str(n)) for n in range(5)))

    server.route("/s", Reply(body=body()))
    with manager.create(
        server.url_for("/s"),
        method="POST",
        on_open=on_open,
        on_message=on_message,
        on_error=reported.append,
    ) as conn:
        conn.subscribe("tick", handler)
        go.set()
        assert conn.wait(WAIT) is Status.COMPLETED
    assert seen == ["0", "1", "2", "3", "4"]
    assert [str(error) for error in reported] == [
        "on_open broke",
        "on_message broke",
        "'handler broke'",
    ]
    logged = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert logged == reported


def test_a_failing_on_error_is_logged_and_the_reader_carries_on(
    server: SSEServer, manager: ConnectionManager, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("/s", Reply(body=sse(Event(data="a"), Event(data="b"))))

    seen: list[str] = []

    def on_message(event: Event) -> None:
        seen.append(event.data)
        raise ValueError(event.data)

    def on_error(error: BaseException) -> None:
        raise RuntimeError("on_error broke")

    caplog.set_level(logging.ERROR, logger="sseclient_sync")
    with manager.create(
        server.url_for("/s"), method="POST", on_message=on_message, on_error=on_error
    ) as conn:
        assert conn.wait(WAIT) is Status.COMPLETED
    assert seen == ["a", "b"]
    messages = [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    assert messages == ["a", "on_error broke", "b", "on_error broke"]


def test_callbacks_and_nobody_iterating_never_stall(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=[Event(data=str(n)).encode() for n in range(200)]))
    by_callback: list[str] = []
    by_subscriber: list[str] = []
    with manager.create(
        server.url_for("/s"),
        method="POST",
        queue_size=2,
        on_message=lambda e: by_callback.append(e.data),
    ) as conn:
        conn.subscribe("message", lambda e: by_subscriber.append(e.data))
        assert conn.wait(WAIT) is Status.COMPLETED
    assert by_callback == [str(n) for n in range(200)]
    assert by_subscriber == by_callback[len(by_callback) - len(by_subscriber) :]


def test_a_subscriber_alone_never_stalls_either(
    server: SSEServer, manager: ConnectionManager
) -> None:
    go = threading.Event()

    def body() -> Iterator[Any]:
        go.wait(WAIT)
        yield from (Event(data=str(n)).encode() for n in range(100))

    server.route("/s", Reply(body=body()))
    seen: list[str] = []
    with manager.create(server.url_for("/s"), method="POST", queue_size=2) as conn:
        conn.subscribe("message", lambda e: seen.append(e.data))
        go.set()
        assert conn.wait(WAIT) is Status.COMPLETED
    assert seen == [str(n) for n in range(100)]


# --- Status and stats ---------------------------------------------------------------------


def test_status_transitions_fire_on_status_in_order(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="a", id="1")), "data: cut"], drop_at=30),
            Reply(body=sse(Event(data="b", id="2"))),
            Reply(status=204),
        ],
    )
    changes: list[Tuple[Status, Status]] = []
    with manager.create(
        server.url_for("/s"),
        wait_open=False,
        on_status=lambda c, old, new: changes.append((old, new)),
    ) as conn:
        assert len(list(conn.events(timeout=WAIT))) == 2
    assert changes == [
        (Status.CONNECTING, Status.OPEN),
        (Status.OPEN, Status.RECONNECTING),  # the drop
        (Status.RECONNECTING, Status.OPEN),
        (Status.OPEN, Status.RECONNECTING),  # the server ended the GET stream
        (Status.RECONNECTING, Status.COMPLETED),  # 204
    ]


def test_stats_count_messages_bytes_and_reconnects(
    server: SSEServer, manager: ConnectionManager
) -> None:
    first = sse(Event(data="a", id="1"), Event(data="b", id="2"))
    second = sse(Event(data="c", id="3"))
    server.route(
        "/s",
        [Reply(body=[first, Silence()]), Reply(body=[first, second, Silence()])],
    )
    before = time.time()
    with manager.create(server.url_for("/s")) as conn:
        events = conn.events(timeout=WAIT)
        assert [next(events).data for _ in range(2)] == ["a", "b"]
        stats = conn.stats()
        assert stats.status is Status.OPEN and stats.connected
        assert stats.messages_received == 2 and stats.reconnect_count == 0
        assert stats.bytes_received == len(first)
        assert stats.last_message_time is not None and stats.last_message_time >= before
        assert stats.uptime >= 0.0
        conn.reconnect()
        assert next(events).data == "c"  # a and b come again and are dropped as duplicates
        stats = conn.stats()
        assert stats.messages_received == 3 and stats.reconnect_count == 1
        assert stats.bytes_received == 2 * len(first) + len(second)
        assert is_sse_connection_open(conn) is conn.is_open() is True
    stats = conn.stats()
    assert stats.status is Status.CLOSED and not stats.connected and stats.uptime == 0.0
    assert server.requests[1].headers["last-event-id"] == "2"


def test_module_level_functions_track_the_default_managers_connections(server: SSEServer) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a")), Silence()]))
    before = get_sse_connection_count()
    conn = create_sse_connection(server.url_for("/s"), read_timeout=WAIT, retry=0)
    try:
        assert conn in get_all_sse_connections()
        assert get_sse_connection_count() == before + 1
        assert is_sse_connection_open(conn)
        assert next(conn.events(timeout=WAIT)).data == "a"
    finally:
        close_sse_connection(conn)
        close_sse_connection(conn)  # a second close is a no-op
    assert conn.status is Status.CLOSED and not is_sse_connection_open(conn)
    assert conn not in get_all_sse_connections()
    assert get_sse_connection_count() == before


@pytest.mark.parametrize("subscribe_after", [0.0, 0.005, 0.3])
def test_subscribing_right_after_create_misses_no_event(
    server: SSEServer, subscribe_after: float
) -> None:
    # Events that arrive before the first subscriber are queued (nobody consumes yet); the
    # first subscriber takes them over in order, also when the stream has already ended.
    events = [Event(event="tick", data=str(n)) for n in range(100)]
    server.route(
        "/s", Reply(body=[sse(*events[:50]), Pause(0.01), sse(*events[50:])], framing="close")
    )
    received: list[str] = []
    conn = create_sse_connection(server.url_for("/s"), retry=0)
    try:
        time.sleep(subscribe_after)
        conn.subscribe("tick", lambda event: received.append(event.data))
        assert conn.wait(5) is Status.COMPLETED
        assert received == [str(n) for n in range(100)]
    finally:
        conn.close()
