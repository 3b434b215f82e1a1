"""The same checks against every real server of the matrix (tests/interop/_servers.py), the
server's name and framing in each test id. The apps and their routes: apps/plans.py.

Every check goes through the public API only, and reads what the server saw from the
request log the apps keep (``real_server.requests(key)``).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from http import HTTPStatus
from typing import Any, Optional

import pytest
from _servers import (
    RunningServer,
    assert_close_returns_at_once,
    assert_silence_noticed,
    client_sockets_to,
    is_done,
    wait_until,
)

import sseclient_sync as sse

#: How late an event may arrive after the server wrote it.
LAG_BOUND = 0.15
FAST_RETRY = sse.Retry(max_attempts=3, delay=0.05)
#: The most events a check reads: every route sends far fewer.
EVENT_CAP = 50


def new_key() -> str:
    """A key for the server's request log of one check."""
    return uuid.uuid4().hex


def drain(
    conn: sse.Connection, per_event: float = 5.0
) -> tuple[list[tuple[float, sse.Event]], Optional[BaseException]]:
    """The events of ``conn`` with their arrival times, and the error that ended the iteration
    (None when it ended cleanly): never raises, so that a check can report everything."""
    got: list[tuple[float, sse.Event]] = []
    try:
        for event in conn.events(timeout=per_event):
            got.append((time.time(), event))
            if len(got) >= EVENT_CAP:
                break
    except (sse.SSEError, TimeoutError) as error:
        return got, error
    return got, None


def data_of(got: list[tuple[float, sse.Event]]) -> list[str]:
    """The data of the events, in order."""
    return [event.data for _, event in got]


def test_framing_is_as_named(real_server: RunningServer) -> None:
    """The framing in the test id is what the server really sends (read off the raw bytes)."""
    framing = real_server.spec.framing
    with socket.create_connection(("127.0.0.1", real_server.port), timeout=3) as raw:
        raw.sendall(
            b"GET /clock?n=1&gap=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            b"Accept-Encoding: gzip\r\n\r\n"
        )
        head = b""
        deadline = time.monotonic() + 3
        while b"\r\n\r\n" not in head and time.monotonic() < deadline:
            part = raw.recv(4096)
            if not part:
                break
            head += part
    status_line, *lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, value in (line.split(":", 1) for line in lines if ":" in line)
    }
    assert status_line.split()[1] == "200", status_line
    assert status_line.startswith("HTTP/1.0") == framing.http10, status_line
    assert (headers.get("transfer-encoding", "").lower() == "chunked") == framing.chunked, headers
    assert "content-length" not in headers, headers
    closes = headers.get("connection", "").lower() == "close" or (
        framing.http10 and headers.get("connection", "").lower() != "keep-alive"
    )
    assert closes == framing.connection_close, headers
    assert (headers.get("content-encoding") == "gzip") == framing.gzip, headers


@pytest.mark.parametrize(
    ("code", "hold"), [(401, 0.0), (500, 2.0)], ids=["401-json", "500-json-held-open"]
)
def test_error_status_carries_its_json_body(
    real_server: RunningServer, code: int, hold: float
) -> None:
    """A 401 with the framework's JSON response, and a 500 whose JSON body the server holds
    open for 2 s: HTTPStatusError with the status and that body, within a second."""
    started = time.monotonic()
    with pytest.raises(sse.HTTPStatusError) as caught:
        sse.create_sse_connection(
            f"{real_server.url}/status?code={code}&hold={hold}",
            timeout=5,
            read_timeout=5,
            retry=False,
        )
    took = time.monotonic() - started
    assert caught.value.status_code == code
    assert json.loads(caught.value.body) == {"error": HTTPStatus(code).phrase, "status": code}
    assert took < 1.0, f"the error surfaced after {took:.2f}s"


def test_silence_past_read_timeout_reconnects(real_server: RunningServer) -> None:
    """A server silent past read_timeout=0.5 is noticed within about 0.5 s (not after
    timeout=10): a ReadTimeout reaches on_error and the reconnect sends Last-Event-ID."""
    key = new_key()
    errors: list[tuple[float, BaseException]] = []
    with sse.create_sse_connection(
        f"{real_server.url}/silent?key={key}&hold=3",
        timeout=10,
        read_timeout=0.5,
        retry=FAST_RETRY,
        done=is_done,
        on_error=lambda error: errors.append((time.time(), error)),
    ) as conn:
        got, error = drain(conn)
        stats = conn.stats()
    assert error is None, error
    assert data_of(got) == ["first", "second"]
    assert_silence_noticed(got[0][0], errors, stats)
    requests = real_server.requests(key)
    assert [entry["last_event_id"] for entry in requests] == [None, "1"], requests
    assert stats.reconnect_count == 1, stats


def test_close_while_blocked_returns_at_once(real_server: RunningServer) -> None:
    """close() while the reader waits on a silent server returns in < 100 ms and leaves no
    socket to the server (the autouse fixture checks the threads)."""
    if not os.path.exists("/proc/self/net/tcp"):
        pytest.skip("counting this process's sockets needs Linux's /proc")
    assert client_sockets_to(real_server.port) == 0
    conn = sse.create_sse_connection(
        f"{real_server.url}/silent?key={new_key()}&hold=3",
        timeout=5,
        read_timeout=30,
        retry=FAST_RETRY,
    )
    assert_close_returns_at_once(conn, real_server.port, 3)
    left = wait_until(lambda: client_sockets_to(real_server.port) == 0, 1.0)
    assert left, f"{client_sockets_to(real_server.port)} sockets to the server left after close()"


def test_abort_mid_event_resumes_exactly_once(real_server: RunningServer) -> None:
    """The server kills the connection in the middle of event 4: the unfinished event is
    dropped, the reconnect sends Last-Event-ID 3, and each event arrives once (dedup off, so
    that a wrong Last-Event-ID would show as a duplicate or a gap)."""
    key = new_key()
    errors: list[BaseException] = []
    with sse.create_sse_connection(
        f"{real_server.url}/abort?key={key}",
        timeout=5,
        read_timeout=5,
        retry=FAST_RETRY,
        done=is_done,
        dedup=False,
        on_error=errors.append,
    ) as conn:
        got, error = drain(conn)
        stats = conn.stats()
    assert error is None, error
    assert data_of(got) == [f"e{i}" for i in range(1, 7)], errors
    requests = real_server.requests(key)
    assert [entry["last_event_id"] for entry in requests] == [None, "3"], requests
    assert stats.reconnect_count == 1, stats


def test_events_arrive_as_written(real_server: RunningServer) -> None:
    """Each event reaches the iterator, and on_message, within LAG_BOUND of the server
    writing it: nothing holds an event back until more bytes come."""
    url = f"{real_server.url}/clock?n=3&gap=0.4"
    by_callback: list[tuple[float, sse.Event]] = []
    options: dict[str, Any] = {"timeout": 5, "read_timeout": 5, "retry": False, "done": is_done}
    # Two streams at once: with on_message and nobody iterating, events go to the callback only.
    called = sse.create_sse_connection(
        url, on_message=lambda event: by_callback.append((time.time(), event)), **options
    )
    with called, sse.create_sse_connection(url, **options) as iterated:
        by_iteration, error = drain(iterated)
        assert called.wait(5) is sse.Status.COMPLETED, called.stats()
    assert error is None, error
    for name, got in (("iteration", by_iteration), ("on_message", by_callback)):
        assert [json.loads(data)["i"] for data in data_of(got)] == [1, 2, 3], (name, got)
        lags = [round(arrived - json.loads(event.data)["t"], 3) for arrived, event in got]
        assert max(lags) < LAG_BOUND, f"{name}: events arrived {lags}s after they were written"


def test_sparse_keepalive_comments_keep_the_stream(real_server: RunningServer) -> None:
    """Comments 0.5 s apart for 1.1 s, sparser than timeout=0.25, keep the stream alive: no
    reconnect, and the event after them arrives. read_timeout=0.8 is shorter than the whole
    wait: without the comments counting as life the stream would time out and reconnect."""
    errors: list[BaseException] = []
    with sse.create_sse_connection(
        f"{real_server.url}/keepalive?every=0.5&total=1.1",
        timeout=0.25,
        read_timeout=0.8,
        retry=FAST_RETRY,
        done=is_done,
        on_error=errors.append,
    ) as conn:
        got, error = drain(conn)
        stats = conn.stats()
    assert error is None, error
    assert errors == []
    assert data_of(got) == ["alive"]
    assert stats.reconnect_count == 0, stats


def test_post_chat_with_slow_first_token_is_sent_once(real_server: RunningServer) -> None:
    """A POST whose first token comes after 0.6 s, longer than timeout=0.3 (a WSGI server
    sends no headers before it): the server gets it exactly once, and the client reads every
    token once and stops at [DONE]."""
    key = new_key()
    errors: list[BaseException] = []
    conn = sse.create_sse_connection(
        f"{real_server.url}/chat?key={key}&first=0.6",
        method="POST",
        json={"prompt": "hello"},
        timeout=0.3,
        read_timeout=5,
        retry=FAST_RETRY,
        done=is_done,
        on_error=errors.append,
        wait_open=False,
    )
    with conn:
        got, error = drain(conn)
        status = conn.wait(1)
    time.sleep(0.1)  # a re-sent request would be in the log by now
    requests = real_server.requests(key)
    assert len(requests) == 1, (
        f"the server got {len(requests)} requests: {requests}; errors: {errors}"
    )
    assert requests[0]["method"] == "POST"
    assert json.loads(requests[0]["body"]) == {"prompt": "hello"}
    if real_server.spec.framing.gzip:  # the client did ask for it: the gzip row streams gzip
        assert "gzip" in (requests[0]["accept_encoding"] or ""), requests[0]
    assert error is None, error
    assert [json.loads(data)["token"] for data in data_of(got)] == [f"tok{i}" for i in range(5)]
    assert status is sse.Status.COMPLETED
