"""Every error of API.md section 6, raised on real sockets by its real cause, with the URL in
its message: from create_sse_connection (it never opened), from iteration (it failed after
opening), and chained under RetryExhausted when the reconnect policy gives up.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import List

import pytest
from support import WAIT, fast_manager

from sseclient_sync import (
    ConnectError,
    Connection,
    ConnectionManager,
    ContentTypeError,
    Event,
    EventTooLarge,
    HTTPStatusError,
    ReadTimeout,
    Retry,
    RetryExhausted,
    SSEError,
    Status,
    create_sse_connection,
)
from sseclient_sync._options import Runtime
from sseclient_sync.testing import Drop, Pause, RecordedRequest, Reply, Silence, SSEServer, sse

manager = pytest.fixture(fast_manager, name="manager")


def unused_port() -> int:
    """A loopback port with nothing listening on it (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def iterate(conn: Connection) -> List[Event]:
    """The events before the error that iteration raises (the test expects one)."""
    received: List[Event] = []
    with pytest.raises(SSEError):
        for event in conn.events(timeout=WAIT):
            received.append(event)
    return received


# --- ConnectError -------------------------------------------------------------------------


def test_connection_refused_is_a_connect_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{unused_port()}/stream"
    with pytest.raises(ConnectError) as caught:
        create_sse_connection(url, retry=0, timeout=WAIT)
    assert url in str(caught.value)
    assert caught.value.url == url
    assert caught.value.__cause__ is not None  # the requests error it was translated from


def test_connection_refused_past_the_retry_budget_is_retry_exhausted() -> None:
    url = f"http://127.0.0.1:{unused_port()}/stream"
    errors: List[BaseException] = []
    with pytest.raises(RetryExhausted) as caught:
        create_sse_connection(
            url, retry=Retry(max_attempts=2, delay=0.001, jitter=0), on_error=errors.append
        )
    assert url in str(caught.value)
    assert caught.value.attempts == 2
    assert isinstance(caught.value.__cause__, ConnectError)
    assert [type(error) for error in errors] == [ConnectError, ConnectError, RetryExhausted]


@pytest.mark.parametrize("ending", [[Pause(0.05), Drop()], [Pause(0.05)]], ids=["reset", "fin"])
def test_a_stream_breaking_off_mid_chunk_is_a_connect_error(
    server: SSEServer, manager: ConnectionManager, ending: list[object]
) -> None:
    # Chunked framing written by hand, so that the body can stop inside a chunk: 0x20 bytes
    # announced, 8 sent, then a reset or a clean close.
    server.route(
        "/s",
        Reply(
            headers={"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"},
            framing="close",
            body=[b"b\r\ndata: one\n\n\r\n", b"20\r\ndata: tw", *ending],  # type: ignore[list-item]
        ),
    )
    url = server.url_for("/s")
    conn = manager.create(url, retry=0)
    received: List[Event] = []
    with pytest.raises(ConnectError) as caught:
        for event in conn.events(timeout=WAIT):
            received.append(event)
    assert received == [Event(data="one")]  # the half event is not delivered
    assert url in str(caught.value) and "broke off" in str(caught.value)
    assert conn.status is Status.FAILED and conn.error is caught.value


def test_a_stream_breaking_off_is_retried_and_resumed(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="a", id="1")), "data: b", Drop()]),
            Reply(body=sse(Event(data="b", id="2"))),
            Reply(status=204),
        ],
    )
    errors: List[BaseException] = []
    with manager.create(server.url_for("/s"), on_error=errors.append) as conn:
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a", "b"]
        assert conn.status is Status.COMPLETED
    assert [type(error) for error in errors] == [ConnectError]


# --- HTTPStatusError ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_a_4xx_fails_at_once_with_status_headers_and_the_json_body(
    server: SSEServer, manager: ConnectionManager, status: int
) -> None:
    error_body = {"error": {"type": "invalid_request", "message": "bad model ü"}}
    server.route(
        "/s",
        Reply(
            status=status,
            headers={"Content-Type": "application/json", "X-Request-Id": "req-42"},
            body=json.dumps(error_body),
        ),
    )
    url = server.url_for("/s")
    with pytest.raises(HTTPStatusError) as caught:
        manager.create(url, method="POST", json={"model": "x"})
    error = caught.value
    assert error.status_code == status
    assert error.headers["X-Request-Id"] == "req-42"
    assert json.loads(error.body) == error_body
    assert error.response is not None and error.response.status_code == status
    assert url in str(error) and str(status) in str(error)
    assert len(server.requests) == 1  # failed at once, not retried


def test_the_error_body_is_bounded_to_its_first_kilobytes(
    server: SSEServer, manager: ConnectionManager
) -> None:
    page = "".join(f"line {n:05d} of a long error page\n" for n in range(2_000))  # ~64 KB
    server.route("/s", Reply(status=400, headers={"Content-Type": "text/plain"}, body=page))
    with pytest.raises(HTTPStatusError) as caught:
        manager.create(server.url_for("/s"))
    assert 1024 <= len(caught.value.body) <= 4096
    assert page.startswith(caught.value.body)


def test_a_4xx_after_a_reconnect_ends_the_stream_with_that_error(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [Reply(body=[sse(Event(data="a", id="1")), Drop()]), Reply(status=401, body="expired")],
    )
    url = server.url_for("/s")
    conn = manager.create(url)
    received: List[Event] = []
    with pytest.raises(HTTPStatusError) as caught:
        for event in conn.events(timeout=WAIT):
            received.append(event)
    assert [event.data for event in received] == ["a"]
    assert caught.value.status_code == 401 and caught.value.body == "expired"
    assert conn.status is Status.FAILED
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_5xx_408_and_429_go_through_the_reconnect_policy(
    server: SSEServer, manager: ConnectionManager, status: int
) -> None:
    server.route(
        "/s",
        [
            Reply(status=status, body="busy"),
            Reply(body=sse(Event(data="ok", id="1"))),
            Reply(status=204),
        ],
    )
    errors: List[BaseException] = []
    with manager.create(server.url_for("/s"), on_error=errors.append) as conn:
        assert [event.data for event in conn.events(timeout=WAIT)] == ["ok"]
    assert len(errors) == 1 and isinstance(errors[0], HTTPStatusError)
    assert errors[0].status_code == status and errors[0].body == "busy"


def test_503_is_retried_then_succeeds(server: SSEServer, manager: ConnectionManager) -> None:
    server.route(
        "/s",
        [
            Reply(status=503),
            Reply(status=503),
            Reply(body=sse(Event(data="up"))),
            Reply(status=204),
        ],
    )
    with manager.create(server.url_for("/s")) as conn:  # create waits through the retries
        assert conn.stats().reconnect_count == 2
        assert [event.data for event in conn.events(timeout=WAIT)] == ["up"]
    assert len(server.requests) == 4


def test_retry_after_on_429_is_honoured(server: SSEServer, manager: ConnectionManager) -> None:
    replies = [
        Reply(status=429, headers={"Retry-After": "1"}, body="slow down"),
        Reply(body=sse(Event(data="ok"))),
        Reply(status=204),
    ]
    arrivals: List[float] = []

    def respond(request: RecordedRequest) -> Reply:
        arrivals.append(time.monotonic())
        return replies[min(len(arrivals), len(replies)) - 1]

    server.route("/s", respond)
    with manager.create(server.url_for("/s"), retry=Retry(max_attempts=3, delay=0.001)) as conn:
        assert [event.data for event in conn.events(timeout=WAIT)] == ["ok"]
    # The policy alone would wait a millisecond; the server asked for a second.
    assert arrivals[1] - arrivals[0] >= 0.9


def test_retry_after_replaces_the_backoff_in_seconds_or_as_a_date(
    server: SSEServer, manager: ConnectionManager
) -> None:
    waits: List[float] = []

    def wait(stop: threading.Event, seconds: float) -> bool:
        waits.append(seconds)
        return stop.is_set()

    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 20))
    server.route(
        "/s",
        [
            Reply(status=429, headers={"Retry-After": "7"}),
            Reply(status=503, headers={"Retry-After": later}),
            Reply(status=503, headers={"Retry-After": "3600"}),
            Reply(status=204),
        ],
    )
    with ConnectionManager(_runtime=Runtime(wait=wait), timeout=WAIT) as timed:
        conn = timed.create(
            server.url_for("/s"),
            retry=Retry(max_attempts=5, delay=0.5, max_delay=60.0, jitter=0),
        )
        assert conn.wait(WAIT) is Status.COMPLETED
    assert waits[0] == 7.0
    assert 15.0 <= waits[1] <= 20.0  # an HTTP date, counted from now
    assert waits[2] == 60.0  # capped at max_delay


@pytest.mark.parametrize(
    "form", ["%a %b %d %H:%M:%S %Y", "%a, %d %b %Y %H:%M:%S -0000"], ids=["asctime", "-0000"]
)
def test_a_retry_after_date_without_a_zone_is_gmt_whatever_the_local_zone(
    server: SSEServer, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    waits: List[float] = []

    def wait(stop: threading.Event, seconds: float) -> bool:
        waits.append(seconds)
        return stop.is_set()

    later = time.strftime(form, time.gmtime(time.time() + 20))
    server.route("/s", [Reply(status=503, headers={"Retry-After": later}), Reply(status=204)])
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # nine hours east of GMT
    time.tzset()
    try:
        with ConnectionManager(_runtime=Runtime(wait=wait), timeout=WAIT) as timed:
            conn = timed.create(
                server.url_for("/s"), retry=Retry(delay=0.5, max_delay=60.0, jitter=0)
            )
            assert conn.wait(WAIT) is Status.COMPLETED
    finally:
        monkeypatch.undo()
        time.tzset()
    assert 15.0 <= waits[0] <= 20.0, waits


def test_a_redirect_loop_is_final_and_says_so(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/loop", Reply(status=302, headers={"Location": "/loop"}))
    with pytest.raises(ConnectError) as caught:
        manager.create(server.url_for("/loop"))
    assert caught.value.final
    assert "redirected more than 30 times" in str(caught.value)
    assert "TooManyRedirects" not in str(caught.value)
    assert len(server.requests) == 31  # one request and its 30 redirects, not retried


# --- ContentTypeError ---------------------------------------------------------------------


def test_a_wrong_content_type_is_a_content_type_error_without_retrying(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(headers={"Content-Type": "text/html"}, body="<html>login</html>"))
    url = server.url_for("/s")
    with pytest.raises(ContentTypeError) as caught:
        manager.create(url)
    assert url in str(caught.value) and "text/html" in str(caught.value)
    assert caught.value.content_type == "text/html"
    assert len(server.requests) == 1


# --- ReadTimeout --------------------------------------------------------------------------


def test_read_timeout_with_retry_0_fails_with_read_timeout(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a")), Silence()]))
    url = server.url_for("/s")
    conn = manager.create(url, read_timeout=0.2, retry=0)
    received: List[Event] = []
    with pytest.raises(ReadTimeout) as caught:
        for event in conn.events(timeout=WAIT):
            received.append(event)
    assert [event.data for event in received] == ["a"]
    assert url in str(caught.value) and caught.value.timeout == 0.2
    assert conn.status is Status.FAILED
    assert len(server.requests) == 1


def test_read_timeout_past_the_retry_budget_is_the_cause_of_retry_exhausted(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s", [Reply(body=[sse(Event(data="a", id="1")), Silence()]), Reply(body=[Silence()])]
    )
    url = server.url_for("/s")
    conn = manager.create(url, read_timeout=0.2, retry=Retry(max_attempts=1, delay=0.001))
    received: List[Event] = []
    with pytest.raises(RetryExhausted) as caught:
        for event in conn.events(timeout=WAIT):
            received.append(event)
    assert [event.data for event in received] == ["a"]
    assert url in str(caught.value)
    assert isinstance(caught.value.__cause__, ReadTimeout)
    assert server.requests[1].headers["last-event-id"] == "1"


# --- EventTooLarge ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "big",
    [
        b"data: " + b"x" * 500 + b"\n\n",  # one long line
        b"".join(b"data: " + b"y" * 40 + b"\n" for _ in range(10)) + b"\n",  # many data lines
        b"data: " + b"z" * 500,  # a line that never ends
    ],
    ids=["long-line", "long-data", "endless-line"],
)
def test_an_event_past_max_event_size_fails_the_connection_after_the_earlier_events(
    server: SSEServer, manager: ConnectionManager, big: bytes
) -> None:
    server.route(
        "/s",
        Reply(
            body=[
                sse(Event(data="small 1", id="1"), Event(data="small 2", id="2")) + big,
                Silence(),
            ]
        ),
    )
    url = server.url_for("/s")
    errors: List[BaseException] = []
    conn = manager.create(url, max_event_size=100, on_error=errors.append)
    received: List[Event] = []
    with pytest.raises(EventTooLarge) as caught:
        for event in conn.events(timeout=WAIT):
            received.append(event)
    assert [event.data for event in received] == ["small 1", "small 2"]
    assert url in str(caught.value) and "max_event_size=100" in str(caught.value)
    assert caught.value.url == url and caught.value.limit == 100
    assert conn.status is Status.FAILED and conn.error is caught.value
    assert errors == [caught.value]
    assert len(server.requests) == 1  # not retried: the next attempt would be as large


# --- RetryExhausted -----------------------------------------------------------------------


def test_retry_exhausted_chains_the_last_error_and_create_raises_it(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(status=503, body="down for maintenance"))
    url = server.url_for("/s")
    with pytest.raises(RetryExhausted) as caught:
        manager.create(url, retry=Retry(max_attempts=2, delay=0.001, jitter=0))
    assert url in str(caught.value)
    assert caught.value.attempts == 2
    cause = caught.value.__cause__
    assert isinstance(cause, HTTPStatusError) and cause.status_code == 503
    assert cause.body == "down for maintenance"
    assert len(server.requests) == 3  # the first attempt and two reconnects


def test_should_retry_can_veto_a_reconnect(server: SSEServer, manager: ConnectionManager) -> None:
    server.route("/s", Reply(status=503))
    vetoed: List[BaseException] = []

    def should_retry(error: BaseException) -> bool:
        vetoed.append(error)
        return False

    with pytest.raises(HTTPStatusError):
        manager.create(server.url_for("/s"), retry=Retry(should_retry=should_retry))
    assert len(vetoed) == 1 and len(server.requests) == 1


# --- create() raises only when the stream never opened --------------------------------------


def test_wait_open_returns_a_connection_that_opened_before_it_failed(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a")), Drop()]))
    conn = manager.create(server.url_for("/s"), wait_open=False, retry=0)
    assert conn.wait(WAIT) is Status.FAILED
    assert conn.wait_open() is conn  # it did open: the events are there, then the error
    assert [event.data for event in iterate(conn)] == ["a"]


def test_wait_open_raises_for_a_connection_that_never_opened(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(status=404))
    conn = manager.create(server.url_for("/s"), wait_open=False)
    assert conn.wait(WAIT) is Status.FAILED
    with pytest.raises(HTTPStatusError):
        conn.wait_open()
