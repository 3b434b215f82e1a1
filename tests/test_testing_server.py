"""sseclient_sync.testing._server: the life cycle, connections, stop, and TLS.

Everything the server starts it ends: each test checks the threads, the port and (on Linux)
the process's open files after stop(). TLS certificates come from trustme.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple

import pytest
import requests
import trustme
from support import WAIT, wait_until
from test_testing_wire import (
    parse_chunks,
    parse_response,
    read_to_end,
    read_until,
    send_request,
    server_threads,
)

from sseclient_sync import Event
from sseclient_sync.testing import Drop, Pause, RecordedRequest, Reply, Silence, SSEServer, sse


def open_files() -> Optional[list[str]]:
    """What this process has open (Linux only; None elsewhere)."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    found = []
    for fd in fds:
        try:
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return sorted(found)


def fetch(url: str, **kwargs: Any) -> Tuple[int, str]:
    """GET ``url`` with requests; the status and the text. The response is not kept: it would
    keep its connection open (requests leaves it in the pool the response refers to)."""
    with requests.get(url, timeout=WAIT, **kwargs) as response:
        return response.status_code, response.text


def assert_gone(server: SSEServer, files_before: Optional[int]) -> None:
    """The server has left no thread, no listening port and no open file behind."""
    assert server_threads() == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=WAIT).close()
    if files_before is not None:
        assert open_files() == files_before


# --- Life cycle and connections -----------------------------------------------------------


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


def test_keep_alive_reuses_one_connection_for_chunked_and_length(server: SSEServer) -> None:
    server.route("/chunked", Reply(body=[b"data: a\n\n", b"data: b\n\n"]))
    server.route("/length", Reply(body="data: c\n\n", framing="length"))
    with requests.Session() as session:
        for path in ("/chunked", "/length", "/chunked"):
            assert session.get(server.url_for(path), timeout=WAIT).ok
        assert server.open_connections == 1
    assert server.connections_accepted == 1
    assert len(server.requests) == 3


def test_close_framing_closes_so_the_next_request_opens_a_new_connection(
    server: SSEServer,
) -> None:
    server.route("/close", Reply(body="data: a\n\n", framing="close"))
    with requests.Session() as session:
        for _ in range(2):
            assert session.get(server.url_for("/close"), timeout=WAIT).text == "data: a\n\n"
    assert server.connections_accepted == 2


def test_client_asking_to_close_gets_connection_close(server: SSEServer) -> None:
    server.route("/s", Reply(body=[b"x"]))
    with send_request(server, "/s", headers={"Connection": "close"}) as sock:
        raw, reset = read_to_end(sock)
    _, headers, body = parse_response(raw)
    assert headers["connection"] == "close"
    assert parse_chunks(body) == ([b"x"], True)
    assert not reset


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
    wait_until(lambda: server.open_connections == 0, "the connection to close")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_callable_responder_may_block_until_stop(server: SSEServer) -> None:
    entered = threading.Event()

    def respond(request: RecordedRequest) -> Reply:
        entered.set()
        server.stopping.wait(10)
        return Reply(body="late")

    server.route("/s", respond)
    with send_request(server, "/s") as sock:
        assert entered.wait(WAIT)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        read_to_end(sock)


def test_stop_with_200_silent_connections_is_prompt_and_leaves_nothing() -> None:
    files_before = open_files()
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
        for sock in clients:
            assert read_to_end(sock)[0] == b""
    finally:
        server.stop()
        for sock in clients:
            sock.close()
    assert_gone(server, files_before)


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


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def client_cert_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A client certificate and its key, in one PEM file, issued by the test CA."""
    client = ca.issue_cert("client@example.test", common_name="sse-test-client")
    path = tmp_path_factory.mktemp("tls") / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, verify_mode: ssl.VerifyMode = ssl.CERT_NONE) -> ssl.SSLContext:
    """A server-side context with a certificate for 127.0.0.1 and localhost; with
    ``verify_mode`` CERT_OPTIONAL or CERT_REQUIRED it checks client certificates against ca."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    if verify_mode != ssl.CERT_NONE:
        ca.configure_trust(context)
        context.verify_mode = verify_mode
    return context


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[SSEServer]:
    with SSEServer(tls=server_context(ca)) as started:
        yield started


def test_tls_serves_https_to_a_client_trusting_the_ca(tls_server: SSEServer, ca_file: str) -> None:
    tls_server.route("/s", Reply(body=[sse(Event(data="secret", id="1"))]))
    assert tls_server.url == f"https://127.0.0.1:{tls_server.port}"
    assert fetch(tls_server.url_for("/s"), verify=ca_file) == (200, "id: 1\ndata: secret\n\n")
    assert tls_server.requests[0].client_cert is None


def test_tls_with_an_untrusted_certificate_fails_the_client(tls_server: SSEServer) -> None:
    tls_server.route("/s", Reply(body="data: x\n\n"))
    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        requests.get(tls_server.url_for("/s"), timeout=WAIT)
    assert tls_server.requests == []


def test_tls_streams_each_item_at_once_and_keeps_the_connection(
    tls_server: SSEServer, ca_file: str
) -> None:
    release = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"data: one\n\n"
        release.wait(WAIT)
        yield b"data: two\n\n"

    tls_server.route("/s", lambda request: Reply(body=body()))
    with requests.Session() as session:
        for _ in range(2):
            with session.get(
                tls_server.url_for("/s"), verify=ca_file, stream=True, timeout=WAIT
            ) as r:
                pieces = r.iter_content(chunk_size=None)
                assert next(pieces) == b"data: one\n\n"
                release.set()
                assert b"".join(pieces) == b"data: two\n\n"
            release.clear()
    assert tls_server.connections_accepted == 1


def test_tls_drop_is_a_broken_stream(tls_server: SSEServer, ca_file: str) -> None:
    tls_server.route("/s", Reply(body=[b"data: a\n\n", Drop()]))
    received = b""
    response = requests.get(tls_server.url_for("/s"), verify=ca_file, stream=True, timeout=WAIT)
    with response, pytest.raises(requests.exceptions.ChunkedEncodingError):
        for piece in response.iter_content(chunk_size=None):
            received += piece
    assert received == b"data: a\n\n"


def test_tls_pause_ends_when_the_client_leaves(tls_server: SSEServer, ca_file: str) -> None:
    tls_server.route("/s", Reply(body=[b"data: a\n\n", Pause(30)]))
    with requests.get(tls_server.url_for("/s"), verify=ca_file, stream=True, timeout=WAIT) as r:
        pieces = r.iter_content(chunk_size=None)  # dropping it would close the connection
        assert next(pieces) == b"data: a\n\n"
        assert tls_server.open_connections == 1
    wait_until(lambda: tls_server.open_connections == 0, "the server to see the client go")


def test_tls_handshake_happens_in_the_connection_thread(ca: trustme.CA, ca_file: str) -> None:
    files_before = open_files()
    server = SSEServer(tls=server_context(ca)).start()
    idle = []
    try:
        server.route("/s", Reply(body="data: a\n\n", framing="length"))
        # Clients that connect and never say hello must hold up nobody.
        idle = [
            socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) for _ in range(3)
        ]
        started = time.monotonic()
        assert fetch(server.url_for("/s"), verify=ca_file) == (200, "data: a\n\n")
        assert time.monotonic() - started < 1.0
        wait_until(lambda: server.open_connections == 3, "the idle clients alone to be open")
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        for sock in idle:
            assert read_to_end(sock)[0] == b""
    finally:
        server.stop()
        for sock in idle:
            sock.close()
    assert_gone(server, files_before)


def test_tls_handshake_timeout_disconnects_a_silent_client(ca: trustme.CA) -> None:
    with SSEServer(tls=server_context(ca), handshake_timeout=0.2) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
            started = time.monotonic()
            assert read_to_end(sock)[0] == b""
            assert 0.1 < time.monotonic() - started < 1.0
        wait_until(lambda: server.open_connections == 0, "the server to drop the client")


def test_tls_a_client_speaking_plain_http_is_dropped_quietly(
    tls_server: SSEServer, ca_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    tls_server.route("/s", Reply(body="data: a\n\n", framing="length"))
    plain = tls_server.url_for("/s").replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain, timeout=WAIT)
    assert fetch(tls_server.url_for("/s"), verify=ca_file) == (200, "data: a\n\n")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_tls_silence_ends_at_stop(tls_server: SSEServer, ca_file: str) -> None:
    tls_server.route("/s", Reply(body=[b"data: a\n\n", Silence()]))
    with requests.get(tls_server.url_for("/s"), verify=ca_file, stream=True, timeout=WAIT) as r:
        pieces = r.iter_content(chunk_size=None)
        assert next(pieces) == b"data: a\n\n"
        started = time.monotonic()
        tls_server.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            b"".join(pieces)


def test_tls_client_certificate_is_required_checked_and_recorded(
    ca: trustme.CA, ca_file: str, client_cert_file: str
) -> None:
    with SSEServer(tls=server_context(ca, ssl.CERT_REQUIRED)) as server:
        server.route("/s", Reply(body="data: a\n\n", framing="length"))
        assert fetch(server.url_for("/s"), verify=ca_file, cert=client_cert_file) == (
            200,
            "data: a\n\n",
        )
        (request,) = server.requests
        assert request.client_cert is not None
        assert (("commonName", "sse-test-client"),) in request.client_cert["subject"]
        assert ("email", "client@example.test") in request.client_cert["subjectAltName"]
        # Without a certificate the server refuses the connection: nothing is recorded.
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(server.url_for("/s"), verify=ca_file, timeout=WAIT)
        assert len(server.requests) == 1


def test_tls_client_certificate_untrusted_by_the_server_is_refused(
    ca: trustme.CA, ca_file: str, tmp_path: Path
) -> None:
    stranger = trustme.CA().issue_cert("stranger@example.test")
    stranger_file = tmp_path / "stranger.pem"
    stranger.private_key_and_cert_chain_pem.write_to_path(str(stranger_file))
    with SSEServer(tls=server_context(ca, ssl.CERT_REQUIRED)) as server:
        server.route("/s", Reply(body="data: a\n\n", framing="length"))
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(
                server.url_for("/s"), verify=ca_file, cert=str(stranger_file), timeout=WAIT
            )
        assert server.requests == []


def test_tls_optional_client_certificate(
    ca: trustme.CA, ca_file: str, client_cert_file: str
) -> None:
    with SSEServer(tls=server_context(ca, ssl.CERT_OPTIONAL)) as server:
        server.route("/s", Reply(body="ok", framing="length"))
        fetch(server.url_for("/s"), verify=ca_file)
        fetch(server.url_for("/s"), verify=ca_file, cert=client_cert_file)
        without, with_cert = server.wait_for_requests(2)
    assert without.client_cert is None
    assert with_cert.client_cert is not None


def test_tls_arguments_are_checked_eagerly() -> None:
    with pytest.raises(TypeError, match="SSLContext"):
        SSEServer(tls="cert.pem")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="server-side"):
        SSEServer(tls=ssl.create_default_context())
    for bad in (0, -1, float("inf"), True):
        with pytest.raises(ValueError, match="handshake_timeout"):
            SSEServer(handshake_timeout=bad)
