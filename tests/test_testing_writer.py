"""sseclient_sync.testing._writer: how a Reply goes on the wire, checked byte by byte.

Raw sockets check the exact bytes (chunk boundaries, where a stream is cut, reset or clean
end, when the head leaves); http.client and requests check what real clients see.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from typing import Iterator

import pytest
import requests
from support import WAIT, wait_until
from test_testing_wire import parse_chunks, parse_response, read_to_end, read_until, send_request

from sseclient_sync import Event
from sseclient_sync.testing import BodyItem, Drop, Pause, Reply, Silence, SSEServer, sse

# --- Framing ------------------------------------------------------------------------------


def test_chunked_framing_sends_each_item_as_one_chunk(server: SSEServer) -> None:
    event = sse(Event(data="three", id="3"))
    server.route("/s", Reply(body=[b"data: one\n\n", "data: d\u00e9j\u00e0\n\n", b"", event]))
    with send_request(server, "/s", headers={"Connection": "close"}) as sock:
        raw, reset = read_to_end(sock)
    status, headers, body = parse_response(raw)
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    chunks, terminated = parse_chunks(body)
    assert chunks == [b"data: one\n\n", "data: d\u00e9j\u00e0\n\n".encode(), event]
    assert terminated
    assert not reset


def test_close_framing_has_no_length_and_ends_by_closing(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"data: a\n\n", "data: b\n\n"], framing="close"))
    with send_request(server, "/s") as sock:
        raw, reset = read_to_end(sock)
    status, headers, body = parse_response(raw)
    assert status == 200
    assert "content-length" not in headers
    assert "transfer-encoding" not in headers
    assert headers["connection"] == "close"
    assert body == b"data: a\n\ndata: b\n\n"
    assert not reset


def test_length_framing_sends_content_length_and_keeps_the_connection(
    server: SSEServer,
) -> None:
    server.route("/s", Reply(body=[b"data: a\n\n", "data: \u00e9\n\n"], framing="length"))
    expected = "data: a\n\ndata: \u00e9\n\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        for _ in range(2):
            connection.request("GET", "/s")
            response = connection.getresponse()
            assert response.getheader("Content-Length") == str(len(expected))
            assert response.getheader("Transfer-Encoding") is None
            assert response.read() == expected
    finally:
        connection.close()
    assert server.connections_accepted == 1


def test_length_framing_with_a_lazy_control_item_answers_500(
    server: SSEServer, caplog: pytest.LogCaptureFixture
) -> None:
    items: list[BodyItem] = [b"a", Drop()]
    server.route("/s", lambda request: Reply(body=iter(items), framing="length"))
    with caplog.at_level(logging.CRITICAL, logger="sseclient_sync.testing"):
        response = requests.get(server.url_for("/s"), timeout=WAIT)
    assert response.status_code == 500
    assert "length" in response.text


def test_http10_client_gets_close_framing_instead_of_chunked(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"data: a\n\n", b"data: b\n\n"]))
    with send_request(server, "/s", version="HTTP/1.0") as sock:
        raw, reset = read_to_end(sock)
    _, headers, body = parse_response(raw)
    assert "transfer-encoding" not in headers
    assert headers["connection"] == "close"
    assert body == b"data: a\n\ndata: b\n\n"
    assert not reset


def test_head_request_gets_no_body_and_the_connection_stays_usable(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"data: a\n\n"]))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        connection.request("HEAD", "/s")
        assert connection.getresponse().read() == b""
        connection.request("GET", "/s")
        assert connection.getresponse().read() == b"data: a\n\n"
    finally:
        connection.close()
    assert server.connections_accepted == 1


def test_status_and_exact_headers(server: SSEServer) -> None:
    server.route("/busy", Reply(status=503, headers={"Retry-After": "3"}, body="busy"))
    server.route("/bare", Reply(headers={}, body="x", framing="length"))
    busy = requests.get(server.url_for("/busy"), timeout=WAIT)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "3"
    assert "Content-Type" not in busy.headers
    assert busy.text == "busy"
    bare = requests.get(server.url_for("/bare"), timeout=WAIT)
    assert set(bare.headers) == {"Content-Length"}


# --- keep_alive=False: Connection: close whatever the framing -----------------------------


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_keep_alive_false_sends_connection_close_and_closes_after_the_body(
    server: SSEServer, framing: str
) -> None:
    server.route(
        "/s", Reply(body=[b"data: a\n\n", b"data: b\n\n"], framing=framing, keep_alive=False)
    )
    with send_request(server, "/s") as sock:  # the client would keep the connection
        raw, reset = read_to_end(sock)
    _, headers, body = parse_response(raw)
    assert headers["connection"] == "close"
    if framing == "chunked":
        assert headers["transfer-encoding"] == "chunked"
        assert parse_chunks(body) == ([b"data: a\n\n", b"data: b\n\n"], True)
    else:
        assert headers["content-length"] == str(len(body))
        assert body == b"data: a\n\ndata: b\n\n"
    assert not reset


def test_keep_alive_false_makes_each_request_a_new_connection(server: SSEServer) -> None:
    server.route("/werkzeug", Reply(body=[b"data: a\n\n"], keep_alive=False))
    with requests.Session() as session:
        for _ in range(3):
            response = session.get(server.url_for("/werkzeug"), timeout=WAIT)
            assert (response.text, response.headers["Connection"]) == ("data: a\n\n", "close")
    assert server.connections_accepted == 3


def test_chunked_replies_keep_the_connection_by_default(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"data: a\n\n"]))
    with send_request(server, "/s") as sock:
        received = read_until(sock, b"0\r\n\r\n")
        assert "connection" not in parse_response(received)[1]
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(100)  # still open, waiting for the next request


# --- hold_headers=True: the head leaves with the first body bytes, as WSGI servers do ------


def test_hold_headers_sends_nothing_before_the_first_body_bytes(server: SSEServer) -> None:
    server.route(
        "/s", Reply(body=[Pause(0.4), b"data: first\n\n", b"data: next\n\n"], hold_headers=True)
    )
    sent = time.monotonic()  # before the request: the pause cannot begin earlier
    with send_request(server, "/s", headers={"Connection": "close"}) as sock:
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(100)  # not even the status line during the pause
        sock.settimeout(WAIT)
        first = sock.recv(65536)
        waited = time.monotonic() - sent
        raw, reset = read_to_end(sock, first)
    assert waited >= 0.35, f"the first byte came {waited:.2f}s after the request"
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    _, headers, body = parse_response(raw)
    assert headers["transfer-encoding"] == "chunked"
    assert parse_chunks(body) == ([b"data: first\n\n", b"data: next\n\n"], True)
    assert not reset


def test_without_hold_headers_the_head_leaves_before_a_leading_pause(server: SSEServer) -> None:
    server.route("/s", Reply(body=[Pause(5), b"data: late\n\n"]))
    with send_request(server, "/s") as sock:
        started = time.monotonic()
        head = read_until(sock, b"\r\n\r\n")
        assert time.monotonic() - started < 1.0
    assert parse_response(head)[0] == 200


def test_hold_headers_with_a_slow_first_byte_times_out_a_client_waiting_for_headers(
    server: SSEServer,
) -> None:
    server.route("/slow", Reply(body=[Pause(2), b"data: token\n\n"], hold_headers=True))
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(server.url_for("/slow"), stream=True, timeout=(WAIT, 0.3))


def test_hold_headers_before_silence_never_sends_the_head(server: SSEServer) -> None:
    server.route("/s", Reply(status=200, body=[Silence()], hold_headers=True))
    with send_request(server, "/s") as sock:
        server.wait_for_requests(1)
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(100)
        sock.settimeout(WAIT)
        server.stop()
        assert read_to_end(sock) == (b"", False)


def test_hold_headers_before_drop_resets_with_no_response_at_all(server: SSEServer) -> None:
    server.route("/s", Reply(body=[Pause(0.05), Drop(), b"never"], hold_headers=True))
    with send_request(server, "/s") as sock:
        assert read_to_end(sock) == (b"", True)


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_hold_headers_with_no_body_bytes_sends_the_head_at_the_end(
    server: SSEServer, framing: str
) -> None:
    server.route("/s", Reply(body=[Pause(0.3)], framing=framing, hold_headers=True))
    started = time.monotonic()  # before the request: the pause cannot begin earlier
    with send_request(server, "/s", headers={"Connection": "close"}) as sock:
        raw, reset = read_to_end(sock)
        waited = time.monotonic() - started
    status, _, body = parse_response(raw)
    assert waited >= 0.2
    assert status == 200
    assert body == (b"0\r\n\r\n" if framing == "chunked" else b"")
    assert not reset


def test_hold_headers_and_drop_at_zero_send_nothing(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"data: a\n\n"], hold_headers=True, drop_at=0))
    with send_request(server, "/s") as sock:
        assert read_to_end(sock) == (b"", True)


def test_hold_headers_and_drop_at_send_the_head_with_the_bytes_before_the_cut(
    server: SSEServer,
) -> None:
    server.route("/s", Reply(body=[Pause(0.1), b"data: abc\n\n"], hold_headers=True, drop_at=7))
    with send_request(server, "/s") as sock:
        raw, reset = read_to_end(sock)
    assert parse_chunks(parse_response(raw)[2]) == ([b"data: a"], False)
    assert reset


# --- Error replies whose body stays open --------------------------------------------------


ERROR_JSON = b'{"error": {"type": "overloaded_error", "message": "try later"}}'


@pytest.mark.parametrize("status", [401, 500])
def test_an_error_status_with_an_open_body_sends_what_it_has_at_once(
    server: SSEServer, status: int
) -> None:
    server.route(
        "/s",
        Reply(
            status=status,
            headers={"Content-Type": "application/json"},
            body=[ERROR_JSON, Silence()],
        ),
    )
    with send_request(server, "/s") as sock:
        started = time.monotonic()
        received = read_until(sock, ERROR_JSON)
        assert time.monotonic() - started < 1.0
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(100)  # the body stays open: no terminating chunk, no close
    code, headers, body = parse_response(received)
    assert (code, headers["content-type"]) == (status, "application/json")
    assert parse_chunks(body) == ([ERROR_JSON], False)


@pytest.mark.parametrize("status", [401, 500])
def test_an_error_status_with_an_open_body_reaches_requests_at_once(
    server: SSEServer, status: int
) -> None:
    server.route(
        "/s",
        Reply(
            status=status,
            headers={"Content-Type": "application/json"},
            body=[ERROR_JSON, Silence()],
        ),
    )
    started = time.monotonic()
    with requests.get(server.url_for("/s"), stream=True, timeout=WAIT) as response:
        first = next(response.iter_content(chunk_size=None))
    assert time.monotonic() - started < 1.0
    assert (response.status_code, first) == (status, ERROR_JSON)


# --- Timing, drops and silence ------------------------------------------------------------


def test_body_is_consumed_lazily(server: SSEServer) -> None:
    release = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"first"
        release.wait(WAIT)
        yield b"second"

    server.route("/s", lambda request: Reply(body=body()))
    with send_request(server, "/s", headers={"Connection": "close"}) as sock:
        received = read_until(sock, b"5\r\nfirst\r\n")
        assert b"second" not in received
        release.set()
        raw, _ = read_to_end(sock, received)
    assert parse_chunks(parse_response(raw)[2]) == ([b"first", b"second"], True)


def test_pause_delays_the_next_item(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"one", Pause(0.3), b"two"]))
    with send_request(server, "/s", headers={"Connection": "close"}) as sock:
        received = read_until(sock, b"3\r\none\r\n")
        first_seen = time.monotonic()
        raw, _ = read_to_end(sock, received)
        waited = time.monotonic() - first_seen
    assert parse_chunks(parse_response(raw)[2]) == ([b"one", b"two"], True)
    assert waited >= 0.15


def test_pause_ends_early_when_the_client_leaves(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"one", Pause(30), b"two"]))
    with send_request(server, "/s") as sock:
        read_until(sock, b"one")
        assert server.open_connections == 1
    wait_until(lambda: server.open_connections == 0, "the server to see the client go")


def test_drop_resets_the_connection_without_an_ending(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"abc", Drop(), b"never"]))
    with send_request(server, "/s") as sock:
        raw, reset = read_to_end(sock)
    assert parse_chunks(parse_response(raw)[2]) == ([b"abc"], False)
    assert reset


def test_drop_in_close_framing_is_a_reset_not_an_end(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"abc", Drop()], framing="close"))
    with send_request(server, "/s") as sock:
        raw, reset = read_to_end(sock)
    assert parse_response(raw)[2] == b"abc"
    assert reset


DROP_ITEMS = [b"data: caf\xc3\xa9\r\n", b"\ndata: two\n\n"]
DROP_BODY = b"".join(DROP_ITEMS)


@pytest.mark.parametrize("framing", ["chunked", "close", "length"])
@pytest.mark.parametrize(
    "drop_at",
    [
        pytest.param(0, id="after-headers"),
        pytest.param(10, id="inside-utf8"),
        pytest.param(12, id="between-cr-lf"),
        pytest.param(13, id="between-items"),
        pytest.param(16, id="mid-second-item"),
        pytest.param(len(DROP_BODY), id="at-the-end"),
        pytest.param(len(DROP_BODY) + 5, id="past-the-end"),
    ],
)
def test_drop_at_cuts_at_exactly_that_byte(server: SSEServer, framing: str, drop_at: int) -> None:
    server.route("/s", Reply(body=DROP_ITEMS, framing=framing, drop_at=drop_at))
    with send_request(server, "/s") as sock:
        raw, reset = read_to_end(sock)
    _, headers, body = parse_response(raw)
    if framing == "chunked":
        chunks, terminated = parse_chunks(body)
        assert not terminated
        body = b"".join(chunks)
    if framing == "length":
        assert headers["content-length"] == str(len(DROP_BODY))
    assert body == DROP_BODY[:drop_at]
    assert reset


def test_drop_at_with_requests_delivers_the_bytes_then_fails(server: SSEServer) -> None:
    server.route("/s", Reply(body=DROP_ITEMS, drop_at=12))
    received = b""
    response = requests.get(server.url_for("/s"), stream=True, timeout=WAIT)
    with response, pytest.raises(requests.exceptions.ChunkedEncodingError):
        for piece in response.iter_content(chunk_size=None):
            received += piece
    assert received == DROP_BODY[:12]


def test_silence_holds_the_connection_until_stop(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"hello", Silence(), b"never"]))
    with send_request(server, "/s") as sock:
        received = read_until(sock, b"hello")
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(100)
        sock.settimeout(WAIT)
        server.stop()
        raw, _ = read_to_end(sock, received)
    assert parse_chunks(parse_response(raw)[2]) == ([b"hello"], False)


def test_pause_ends_at_stop(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"hello", Pause(30), b"never"]))
    with send_request(server, "/s") as sock:
        received = read_until(sock, b"hello")
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        raw, _ = read_to_end(sock, received)
    assert parse_chunks(parse_response(raw)[2]) == ([b"hello"], False)


def test_silence_ends_when_the_client_leaves(server: SSEServer) -> None:
    server.route("/s", Reply(body=[Silence()]))
    with send_request(server, "/s") as sock:
        read_until(sock, b"\r\n\r\n")
        wait_until(lambda: server.open_connections == 1, "the connection to be served")
    wait_until(lambda: server.open_connections == 0, "the server to see the client go")


def test_client_leaving_mid_stream_ends_the_response_quietly(
    server: SSEServer, caplog: pytest.LogCaptureFixture
) -> None:
    finished = threading.Event()

    def endless() -> Iterator[BodyItem]:
        try:
            while True:
                yield b"data: tick\n\n"
                yield Pause(0.01)
        finally:
            finished.set()

    server.route("/s", lambda request: Reply(body=endless()))
    with send_request(server, "/s") as sock:
        read_until(sock, b"tick")
    assert finished.wait(WAIT)
    wait_until(lambda: server.open_connections == 0, "the server to see the client go")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
