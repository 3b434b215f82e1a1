"""sseclient_sync.testing: the scriptable loopback server, checked on the wire.

Raw sockets check the exact bytes (chunk boundaries, where a stream is cut, reset or clean
end); http.client and requests check what real clients see (keep-alive, redirects).
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from typing import Callable, Iterator, Mapping, Optional, Tuple

import pytest
import requests

from sseclient_sync import Event
from sseclient_sync.testing import (
    BodyItem,
    Drop,
    Pause,
    RecordedRequest,
    Reply,
    Silence,
    SSEServer,
    redirect,
    sse,
)

TIMEOUT = 2.0


# --- Raw HTTP helpers ---------------------------------------------------------------------


def send_request(
    server: SSEServer,
    target: str,
    *,
    method: str = "GET",
    headers: Optional[Mapping[str, str]] = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> socket.socket:
    """Open a connection, send one request and return the socket (reads time out)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    lines = [f"{method} {target} {version}", "Host: 127.0.0.1"]
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return sock


def read_to_end(sock: socket.socket, data: bytes = b"") -> Tuple[bytes, bool]:
    """Read until the server closes. Returns everything read, and True if it ended in a reset."""
    received = bytearray(data)
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            return bytes(received), True
        if not piece:
            return bytes(received), False
        received += piece


def read_until(sock: socket.socket, marker: bytes, data: bytes = b"") -> bytes:
    """Read until ``marker`` has arrived; returns everything read so far."""
    received = bytearray(data)
    while marker not in received:
        piece = sock.recv(65536)
        assert piece, f"connection closed before {marker!r}; got {bytes(received)!r}"
        received += piece
    return bytes(received)


def parse_response(raw: bytes) -> Tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and the raw body bytes of one response."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    assert separator, f"no complete head in {raw!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), headers, body


def parse_chunks(body: bytes) -> Tuple[list[bytes], bool]:
    """The chunks of a chunked body, and whether the terminating chunk arrived."""
    chunks: list[bytes] = []
    while body:
        size_line, separator, rest = body.partition(b"\r\n")
        assert separator, f"truncated chunk header {body!r}"
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n", f"bad end of chunked body {rest!r}"
            return chunks, True
        assert rest[size : size + 2] == b"\r\n", f"truncated chunk {rest!r}"
        chunks.append(rest[:size])
        body = rest[size + 2 :]
    return chunks, False


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("SSEServer")]


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
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        for _ in range(2):
            connection.request("GET", "/s")
            response = connection.getresponse()
            assert response.getheader("Content-Length") == str(len(expected))
            assert response.getheader("Transfer-Encoding") is None
            assert response.read() == expected
    finally:
        connection.close()
    assert server._accepted == 1


def test_length_framing_rejects_control_items() -> None:
    with pytest.raises(TypeError, match="length"):
        Reply(body=[b"a", Pause(1)], framing="length")


def test_length_framing_with_a_lazy_control_item_answers_500(
    server: SSEServer, caplog: pytest.LogCaptureFixture
) -> None:
    items: list[BodyItem] = [b"a", Drop()]
    server.route("/s", lambda request: Reply(body=iter(items), framing="length"))
    with caplog.at_level(logging.CRITICAL, logger="sseclient_sync.testing"):
        response = requests.get(server.url_for("/s"), timeout=TIMEOUT)
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
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        connection.request("HEAD", "/s")
        assert connection.getresponse().read() == b""
        connection.request("GET", "/s")
        assert connection.getresponse().read() == b"data: a\n\n"
    finally:
        connection.close()
    assert server._accepted == 1


# --- Timing, drops and silence ------------------------------------------------------------


def test_body_is_consumed_lazily(server: SSEServer) -> None:
    release = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"first"
        release.wait(TIMEOUT)
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
    wait_until(lambda: server.open_connections == 0)


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
    response = requests.get(server.url_for("/s"), stream=True, timeout=TIMEOUT)
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
        sock.settimeout(TIMEOUT)
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


def test_a_responder_may_stop_the_server(
    server: SSEServer, caplog: pytest.LogCaptureFixture
) -> None:
    def respond(request: RecordedRequest) -> Reply:
        server.stop()
        return Reply(body=[b"bye", Pause(5)])

    server.route("/s", respond)
    with send_request(server, "/s") as sock:
        read_to_end(sock)
    assert server.stopping.is_set()
    wait_until(lambda: server.open_connections == 0)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_silence_ends_when_the_client_leaves(server: SSEServer) -> None:
    server.route("/s", Reply(body=[Silence()]))
    with send_request(server, "/s") as sock:
        read_until(sock, b"\r\n\r\n")
        wait_until(lambda: server.open_connections == 1)
    wait_until(lambda: server.open_connections == 0)


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
    assert finished.wait(TIMEOUT)
    wait_until(lambda: server.open_connections == 0)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# --- Status, headers, routes --------------------------------------------------------------


def test_status_and_exact_headers(server: SSEServer) -> None:
    server.route("/busy", Reply(status=503, headers={"Retry-After": "3"}, body="busy"))
    server.route("/bare", Reply(headers={}, body="x", framing="length"))
    busy = requests.get(server.url_for("/busy"), timeout=TIMEOUT)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "3"
    assert "Content-Type" not in busy.headers
    assert busy.text == "busy"
    bare = requests.get(server.url_for("/bare"), timeout=TIMEOUT)
    assert set(bare.headers) == {"Content-Length"}


def test_redirect(server: SSEServer) -> None:
    server.route("/old", redirect(server.url_for("/new")))
    server.route("/moved", redirect("/new", status=307))
    server.route("/new", Reply(body=[sse(Event(data="here"))]))
    response = requests.get(server.url_for("/old"), timeout=TIMEOUT)
    assert response.text == "data: here\n\n"
    assert response.history[0].status_code == 302
    assert response.history[0].headers["Location"] == server.url_for("/new")
    moved = requests.get(server.url_for("/moved"), allow_redirects=False, timeout=TIMEOUT)
    assert (moved.status_code, moved.headers["Location"]) == (307, "/new")
    with pytest.raises(ValueError, match="3xx"):
        redirect("/new", status=200)


def test_sequence_of_replies_is_served_in_order_and_the_last_repeats(server: SSEServer) -> None:
    server.route("/s", [Reply(status=503), Reply(body="one"), Reply(body="two")])
    with requests.Session() as session:
        got = [session.get(server.url_for("/s"), timeout=TIMEOUT) for _ in range(4)]
    assert [(r.status_code, r.text) for r in got] == [
        (503, ""),
        (200, "one"),
        (200, "two"),
        (200, "two"),
    ]


def test_callable_responder_sees_the_request(server: SSEServer) -> None:
    def respond(request: RecordedRequest) -> Reply:
        return Reply(body=f"offset={request.query['offset'][0]}")

    server.route("/s", respond)
    assert requests.get(server.url_for("/s?offset=7"), timeout=TIMEOUT).text == "offset=7"


def test_callable_responder_may_block_until_stop(server: SSEServer) -> None:
    entered = threading.Event()

    def respond(request: RecordedRequest) -> Reply:
        entered.set()
        server.stopping.wait(10)
        return Reply(body="late")

    server.route("/s", respond)
    with send_request(server, "/s") as sock:
        assert entered.wait(TIMEOUT)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        read_to_end(sock)


def test_callable_responder_failing_answers_500_and_logs(
    server: SSEServer, caplog: pytest.LogCaptureFixture
) -> None:
    def respond(request: RecordedRequest) -> Reply:
        raise ValueError("boom")

    server.route("/s", respond)
    server.route("/ok", Reply(body="fine"))
    with requests.Session() as session:
        failed = session.get(server.url_for("/s"), timeout=TIMEOUT)
        assert (failed.status_code, "boom" in failed.text) == (500, True)
        assert session.get(server.url_for("/ok"), timeout=TIMEOUT).text == "fine"
    assert any("boom" in (r.exc_text or "") for r in caplog.records)
    assert server._accepted == 1


def test_unknown_path_and_wrong_method_get_404(server: SSEServer) -> None:
    server.route("/only-get", Reply(body="x"), methods="GET")
    missing = requests.get(server.url_for("/missing"), timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("text/plain")
    assert "/missing" in missing.text
    wrong = requests.post(server.url_for("/only-get"), timeout=TIMEOUT)
    assert wrong.status_code == 404
    assert "POST" in wrong.text
    assert requests.get(server.url_for("/only-get"), timeout=TIMEOUT).text == "x"
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/missing"),
        ("POST", "/only-get"),
        ("GET", "/only-get"),
    ]


def test_a_later_route_replaces_the_earlier(server: SSEServer) -> None:
    server.route("/s", Reply(status=201))
    server.route("/s", Reply(status=202))
    assert requests.get(server.url_for("/s"), timeout=TIMEOUT).status_code == 202


@pytest.mark.parametrize(
    ("path", "responder", "error"),
    [
        ("s", Reply(), ValueError),
        ("/s?x=1", Reply(), ValueError),
        ("/s", [], ValueError),
        ("/s", [Reply(), 42], TypeError),
        ("/s", 42, TypeError),
    ],
)
def test_route_checks_its_arguments(
    server: SSEServer, path: str, responder: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        server.route(path, responder)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: Reply(framing="chunky"), ValueError),
        (lambda: Reply(status=42), ValueError),
        (lambda: Reply(status=True), TypeError),
        (lambda: Reply(drop_at=-1), ValueError),
        (lambda: Pause(-1), ValueError),
        (lambda: Pause(float("nan")), ValueError),
    ],
)
def test_values_are_checked_eagerly(make: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        make()


def test_sse_encodes_events_and_passes_text_through() -> None:
    assert sse(Event(data="a", id="1"), "data: b\n\n", b": c\n") == (
        b"id: 1\ndata: a\n\ndata: b\n\n: c\n"
    )
    with pytest.raises(TypeError):
        sse(42)  # type: ignore[arg-type]


# --- Recording requests -------------------------------------------------------------------


def test_records_method_path_query_headers_and_json_body(server: SSEServer) -> None:
    server.route("/chat", Reply(body="ok"), methods=["post"])
    response = requests.post(
        server.url_for("/chat?offset=3&tag=a&tag=&empty"),
        json={"text": "hi"},
        headers={"Last-Event-ID": "7"},
        timeout=TIMEOUT,
    )
    assert response.text == "ok"
    (request,) = server.wait_for_requests(1)
    assert request.method == "POST"
    assert request.path == "/chat"
    assert request.target == "/chat?offset=3&tag=a&tag=&empty"
    assert request.query == {"offset": ["3"], "tag": ["a", ""], "empty": [""]}
    assert request.headers["last-event-id"] == "7"
    assert request.headers.get("LAST-EVENT-ID") == "7"
    assert "Last-Event-Id" in request.headers
    assert request.header("last-EVENT-id") == "7"
    assert request.header("X-Missing") is None
    assert request.header("X-Missing", "none") == "none"
    assert request.json() == {"text": "hi"}
    assert request.body == b'{"text": "hi"}'


def test_records_a_chunked_request_body(server: SSEServer) -> None:
    server.route("/upload", Reply(body="ok"))
    requests.post(server.url_for("/upload"), data=iter([b"ab", b"", b"cd"]), timeout=TIMEOUT)
    (request,) = server.wait_for_requests(1)
    assert request.headers["transfer-encoding"] == "chunked"
    assert request.body == b"abcd"


def test_expect_100_continue_is_answered_before_the_body(server: SSEServer) -> None:
    server.route("/upload", Reply(body="ok", framing="length"))
    head = {"Content-Length": "5", "Expect": "100-continue", "Connection": "close"}
    with send_request(server, "/upload", method="PUT", headers=head) as sock:
        received = read_until(sock, b"\r\n\r\n")
        assert received == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        raw, _ = read_to_end(sock)
    assert parse_response(raw)[::2] == (200, b"ok")
    assert server.requests[0].body == b"hello"


def test_bad_request_gets_400_and_is_not_recorded(server: SSEServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        raw, _ = read_to_end(sock)
    assert parse_response(raw)[0] == 400
    assert server.requests == []


def test_recorded_request_made_by_hand_has_case_insensitive_headers() -> None:
    request = RecordedRequest("GET", "/", "/", {}, {"Last-Event-ID": "1"})
    assert request.headers["last-event-id"] == "1"
    assert request.body == b""


def test_wait_for_requests_times_out_with_a_clear_message(server: SSEServer) -> None:
    server.route("/s", Reply())
    requests.get(server.url_for("/s?n=1"), timeout=TIMEOUT)
    with pytest.raises(TimeoutError, match=r"2 requests.*1 arrived: GET /s\?n=1"):
        server.wait_for_requests(2, timeout=0.1)


# --- Connections --------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection_for_chunked_and_length(server: SSEServer) -> None:
    server.route("/chunked", Reply(body=[b"data: a\n\n", b"data: b\n\n"]))
    server.route("/length", Reply(body="data: c\n\n", framing="length"))
    with requests.Session() as session:
        for path in ("/chunked", "/length", "/chunked"):
            assert session.get(server.url_for(path), timeout=TIMEOUT).ok
        assert server.open_connections == 1
    assert server._accepted == 1
    assert len(server.requests) == 3


def test_close_framing_closes_so_the_next_request_opens_a_new_connection(
    server: SSEServer,
) -> None:
    server.route("/close", Reply(body="data: a\n\n", framing="close"))
    with requests.Session() as session:
        for _ in range(2):
            assert session.get(server.url_for("/close"), timeout=TIMEOUT).text == "data: a\n\n"
    assert server._accepted == 2


def test_client_asking_to_close_gets_connection_close(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"x"]))
    with send_request(server, "/s", headers={"Connection": "close"}) as sock:
        raw, reset = read_to_end(sock)
    _, headers, body = parse_response(raw)
    assert headers["connection"] == "close"
    assert parse_chunks(body) == ([b"x"], True)
    assert not reset


def test_stop_with_200_silent_connections_is_prompt_and_leaves_nothing() -> None:
    server = SSEServer().start()
    server.route("/quiet", Reply(body=[b"hi", Silence()]))
    clients = []
    try:
        clients = [send_request(server, "/quiet") for _ in range(200)]
        for sock in clients:
            read_until(sock, b"2\r\nhi\r\n")
        assert server.open_connections == 200
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        assert server.open_connections == 0
        assert server_threads() == []
        for sock in clients:
            assert read_to_end(sock)[0] == b""
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT).close()
    finally:
        server.stop()
        for sock in clients:
            sock.close()


def _file_limit() -> int:
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@pytest.mark.skipif(_file_limit() < 1500, reason="needs about 1100 open files")
def test_500_simultaneous_streams(server: SSEServer) -> None:
    count = 500
    server.route("/s", Reply(body=[b"data: open\n\n", Silence()]))
    clients = []
    try:
        # Connect them all before reading any, so all 500 wait in the backlog together.
        clients = [send_request(server, "/s") for _ in range(count)]
        for sock in clients:
            read_until(sock, b"data: open")
        assert server.open_connections == count
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
    finally:
        for sock in clients:
            sock.close()


def test_lifecycle_and_addresses() -> None:
    server = SSEServer()
    with pytest.raises(RuntimeError, match="not started"):
        server.url  # noqa: B018
    server.stop()  # never started: nothing to do
    server = SSEServer()
    with server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.url_for("/a/b") == server.url + "/a/b"
        assert server.url_for("a") == server.url + "/a"
        with pytest.raises(RuntimeError, match="once"):
            server.start()
    assert server.stopping.is_set()
    server.stop()  # idempotent
    with pytest.raises(RuntimeError, match="once"):
        server.start()
    assert server_threads() == []
