"""sseclient_sync.testing._wire: how the server reads requests off the wire.

Raw sockets send exactly the bytes under test; the raw-HTTP helpers at the top are shared by
the other test_testing_* modules that must see the exact bytes of a response.
"""

from __future__ import annotations

import socket
import threading
from typing import Iterator, Mapping, Optional, Tuple

import pytest
import requests
from support import WAIT

from sseclient_sync.testing import Pause, Reply, Silence, SSEServer
from sseclient_sync.testing._wire import MAX_HEADER_FIELDS, MAX_LINE, SocketReader

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
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
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


def server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("SSEServer")]


# --- The reader on its own ----------------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[Tuple[socket.socket, SocketReader]]:
    """A connected socket pair: the client end, and a reader on the server end."""
    client, served = socket.socketpair()
    client.settimeout(WAIT)
    served.settimeout(WAIT)
    yield client, SocketReader(served)
    client.close()
    served.close()


def test_reader_gives_lines_whatever_the_segments(pair: Tuple[socket.socket, SocketReader]) -> None:
    client, reader = pair
    client.sendall(b"GET / HT")
    sender = threading.Timer(0.05, client.sendall, args=(b"TP/1.1\r\nHost: x\r\n\r\nbody",))
    sender.start()
    try:
        assert reader.readline(100) == b"GET / HTTP/1.1\r\n"
    finally:
        sender.join(WAIT)
    assert reader.readline(100) == b"Host: x\r\n"
    assert reader.readline(100) == b"\r\n"
    assert reader.read(2) == b"bo"
    client.shutdown(socket.SHUT_WR)
    assert reader.read(10) == b"dy"
    assert reader.readline(100) == b""


def test_reader_stops_a_line_at_its_limit(pair: Tuple[socket.socket, SocketReader]) -> None:
    client, reader = pair
    client.sendall(b"abcdefgh\n")
    assert reader.readline(4) == b"abcd"
    assert reader.readline(100) == b"efgh\n"


def test_reader_tells_a_hang_up_from_more_bytes(pair: Tuple[socket.socket, SocketReader]) -> None:
    client, reader = pair
    client.sendall(b"GET /next HTTP/1.1\r\n")
    assert not reader.peer_closed()
    assert reader.buffered
    assert reader.readline(100) == b"GET /next HTTP/1.1\r\n"
    assert not reader.buffered
    client.close()
    assert reader.peer_closed()


# --- Requests on the wire -----------------------------------------------------------------


def test_records_a_chunked_request_body(server: SSEServer) -> None:
    server.route("/upload", Reply(body="ok"))
    requests.post(server.url_for("/upload"), data=iter([b"ab", b"", b"cd"]), timeout=WAIT)
    (request,) = server.wait_for_requests(1)
    assert request.headers["transfer-encoding"] == "chunked"
    assert request.body == b"abcd"


def test_a_header_value_keeps_every_byte_but_the_spaces_and_tabs_around_it(
    server: SSEServer,
) -> None:
    # Latin-1 text: str.strip() would also take U+0085, U+00A0 and U+001C..U+001F, the last
    # byte of UTF-8 "à" (C3 A0) among them.
    server.route("/s", Reply(body="ok", framing="length"))
    value = " \t" + "voilà".encode().decode("latin-1") + "\x85\x1f \t"
    with send_request(server, "/s", headers={"Last-Event-ID": value, "Connection": "close"}):
        (request,) = server.wait_for_requests(1)
    assert request.headers["last-event-id"].encode("latin-1") == "voilà".encode() + b"\x85\x1f"


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


def test_a_blank_line_before_the_request_line_is_ignored(server: SSEServer) -> None:
    server.route("/s", Reply(body="ok", framing="length"))
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(b"\r\nGET /s HTTP/1.1\r\nConnection: close\r\n\r\n")
        raw, _ = read_to_end(sock)
    assert parse_response(raw)[::2] == (200, b"ok")


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        pytest.param(b"NONSENSE\r\n\r\n", b"request line", id="not-a-request-line"),
        pytest.param(b"GET / HTTP/2\r\n\r\n", b"request line", id="http2"),
        pytest.param(b"GET / HTTP/1.1\r\nno colon\r\n\r\n", b"header field", id="bad-field"),
        pytest.param(
            b"GET / HTTP/1.1\r\n" + b"x" * (MAX_LINE + 1) + b"\r\n\r\n",
            b"longer than",
            id="line-too-long",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_HEADER_FIELDS + 1) + b"\r\n",
            b"header fields",
            id="too-many-fields",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"Content-Length", id="bad-length"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"chunk size",
            id="bad-chunk-size",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"Transfer-Encoding",
            id="unknown-coding",
        ),
    ],
)
def test_bad_request_gets_400_saying_why_and_is_not_recorded(
    server: SSEServer, wire: bytes, reason: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(wire)
        raw, _ = read_to_end(sock)
    status, _, body = parse_response(raw)
    assert status == 400
    assert reason in body
    assert server.requests == []


def test_a_request_pipelined_during_a_pause_is_kept_and_answered_after_it(
    server: SSEServer,
) -> None:
    server.route("/first", Reply(body=[b"one", Pause(0.3), b"two"]))
    server.route("/second", Reply(body="second", framing="length"))
    with send_request(server, "/first") as sock:
        received = read_until(sock, b"one")
        sock.sendall(b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw, _ = read_to_end(sock, received)
    first, separator, second = raw.partition(b"0\r\n\r\n")
    assert separator
    assert parse_chunks(parse_response(first)[2]) == ([b"one", b"two"], False)
    assert parse_response(second)[::2] == (200, b"second")
    assert server.connections_accepted == 1


def test_a_request_pipelined_during_a_silence_does_not_end_it(server: SSEServer) -> None:
    server.route("/first", Reply(body=[b"one", Silence()]))
    with send_request(server, "/first") as sock:
        read_until(sock, b"one")
        sock.sendall(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(100)
        assert server.open_connections == 1
    assert [r.path for r in server.requests] == ["/first"]
