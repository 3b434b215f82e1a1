"""The transport while a connection is still being made: a TCP connect, a proxy's tunnel or a
TLS handshake that stalls is a connect timeout (so a POST is sent again: it never left), and
close() cuts each of them short. Raw loopback sockets play the servers and proxies that stall
or refuse, since a stall is what they must not answer."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Iterator, List

import pytest
import requests
import urllib3.util.connection
from support import WAIT, wait_until

from sseclient_sync import (
    ConnectError,
    Connection,
    Event,
    Retry,
    RetryExhausted,
    SSEError,
    Status,
    create_sse_connection,
)
from sseclient_sync.testing import Reply, SSEServer, sse

TWICE = Retry(max_attempts=2, delay=0.001, jitter=0)


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose TCP connects complete (the kernel accepts them) and that then says
    nothing: a TLS handshake, a proxy's CONNECT or a request waits there forever."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


@contextlib.contextmanager
def unconnectable_port() -> Iterator[int]:
    """A port whose accept queue is full, so a TCP connect to it stalls (loopback drops the
    SYN). Skips where the kernel refuses instead."""
    with socket.socket() as listener, contextlib.ExitStack() as fillers:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = fillers.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        time.sleep(0.1)
        with socket.socket() as probe:
            probe.settimeout(0.2)
            try:
                probe.connect(("127.0.0.1", port))
            except socket.timeout:
                pass
            except OSError:
                pytest.skip("this kernel refuses connects to a full accept queue")
            else:
                pytest.skip("this kernel completes connects to a full accept queue")
        yield port


@contextlib.contextmanager
def proxy_answering(reply: bytes) -> Iterator[tuple[str, List[bytes]]]:
    """A proxy that answers every request (a CONNECT) with ``reply``; yields its URL and the
    request lines it got."""
    seen: List[bytes] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(WAIT)

        def serve() -> None:
            with contextlib.suppress(OSError):
                while True:
                    client, _ = listener.accept()
                    with client:
                        client.settimeout(WAIT)
                        received = b""
                        while b"\r\n\r\n" not in received:
                            piece = client.recv(4096)
                            if not piece:
                                break
                            received += piece
                        seen.append(received.split(b"\r\n", 1)[0])
                        client.sendall(reply)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
        finally:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            server.join(WAIT)


def test_a_stalled_tls_handshake_is_a_connect_timeout_and_a_post_is_sent_again() -> None:
    with silent_listener() as port:
        errors: List[BaseException] = []
        with pytest.raises(RetryExhausted) as raised:
            create_sse_connection(
                f"https://127.0.0.1:{port}/s",
                method="POST",
                json={"q": 1},
                timeout=0.2,
                read_timeout=30,
                retry=TWICE,
                on_error=errors.append,
            )
    first = errors[0]
    assert isinstance(first, ConnectError) and not first.request_sent
    assert "within timeout=0.2s" in str(first) and "read_timeout" not in str(first)
    assert len(errors) == 3  # sent again (the first POST never left), then the final error
    assert errors[-1] is raised.value and raised.value.attempts == 2
    assert isinstance(raised.value.__cause__, ConnectError)


def test_a_stalled_proxy_tunnel_is_a_connect_timeout_and_a_post_is_sent_again() -> None:
    with silent_listener() as proxy_port:
        errors: List[BaseException] = []
        with pytest.raises(RetryExhausted):
            create_sse_connection(
                "https://127.0.0.1:9/s",
                method="POST",
                data="q",
                proxies={"https": f"http://127.0.0.1:{proxy_port}"},
                timeout=0.2,
                read_timeout=30,
                retry=TWICE,
                on_error=errors.append,
            )
    assert len(errors) == 3 and isinstance(errors[-1], RetryExhausted)
    assert all(isinstance(e, ConnectError) and not e.request_sent for e in errors[:2])
    assert "within timeout=0.2s" in str(errors[0])


def _closes_at_once_and_leaves_no_reader(conn: Connection) -> None:
    time.sleep(0.3)  # the reader is inside the stalled step
    assert conn.status is Status.CONNECTING
    started = time.monotonic()
    conn.close()
    assert time.monotonic() - started < 1.0  # 2 s when no interrupt reached it
    assert conn.status is Status.CLOSED
    wait_until(lambda: not _reader_alive(conn), "the reader to end", timeout=1.0)


def _reader_alive(conn: Connection) -> bool:
    return any(t.name == f"sseclient-sync-{conn.id}" for t in threading.enumerate())


def test_close_during_a_stalled_tls_handshake_returns_at_once() -> None:
    with silent_listener() as port:
        conn = create_sse_connection(
            f"https://127.0.0.1:{port}/s", wait_open=False, timeout=WAIT, retry=False
        )
        _closes_at_once_and_leaves_no_reader(conn)


def test_close_during_a_stalled_tcp_connect_returns_at_once() -> None:
    with unconnectable_port() as port:
        conn = create_sse_connection(
            f"http://127.0.0.1:{port}/s", wait_open=False, timeout=WAIT, retry=False
        )
        _closes_at_once_and_leaves_no_reader(conn)


def test_close_during_a_stalled_poll_tls_handshake_returns_at_once() -> None:
    with silent_listener() as port, contextlib.closing(socket.socket()) as refusing:
        refusing.bind(("127.0.0.1", 0))  # bound, never listening: connects are refused
        stream_url = f"http://127.0.0.1:{refusing.getsockname()[1]}/s"
        conn = create_sse_connection(
            stream_url,
            wait_open=False,
            timeout=WAIT,
            retry=0,
            poll_url=f"https://127.0.0.1:{port}/poll",
            poll_interval=0.01,
        )
        wait_until(lambda: conn.status is Status.POLLING, "polling")
        time.sleep(0.3)  # the poll is inside its handshake
        started = time.monotonic()
        conn.close()
        assert time.monotonic() - started < 1.0


def test_close_during_a_header_wait_of_the_callers_own_session_returns_at_once() -> None:
    """The caller's session gives no hold on its socket: close() returns, and the reader
    ends by itself when read_timeout passes (as the README says)."""
    with silent_listener() as port, requests.Session() as session:
        conn = create_sse_connection(
            f"http://127.0.0.1:{port}/s",
            wait_open=False,
            session=session,
            read_timeout=1.0,
            retry=False,
        )
        time.sleep(0.3)
        started = time.monotonic()
        conn.close()
        assert time.monotonic() - started < 0.5
        assert conn.status is Status.CLOSED
        wait_until(lambda: not _reader_alive(conn), "the reader to end past read_timeout")


def test_a_proxy_asking_for_credentials_is_final_and_says_what_to_give() -> None:
    reply = (
        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
        b'Proxy-Authenticate: Basic realm="p"\r\nContent-Length: 0\r\n\r\n'
    )
    with proxy_answering(reply) as (proxy, seen), pytest.raises(ConnectError) as raised:
        create_sse_connection(
            "https://127.0.0.1:9/s", proxies={"https": proxy}, timeout=2.0, retry=TWICE
        )
    assert raised.value.final and not raised.value.request_sent
    assert "407 Proxy Authentication Required" in str(raised.value)
    assert "user:password@" in str(raised.value)
    assert len(seen) == 1 and seen[0].startswith(b"CONNECT 127.0.0.1:9 HTTP/1.")  # once


def test_a_proxy_refusing_the_tunnel_names_its_answer_and_is_retried() -> None:
    reply = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
    with proxy_answering(reply) as (proxy, seen), pytest.raises(RetryExhausted) as raised:
        create_sse_connection(
            "https://127.0.0.1:9/s", proxies={"https": proxy}, timeout=2.0, retry=TWICE
        )
    cause = raised.value.__cause__
    assert isinstance(cause, SSEError)
    assert "CONNECT" in str(cause) and "502 Bad Gateway" in str(cause)
    assert "ProxyError" not in str(cause)
    assert len(seen) == 3


def test_a_proxy_that_cannot_be_reached_in_time_says_it_timed_out() -> None:
    with unconnectable_port() as proxy_port, pytest.raises(ConnectError) as raised:
        create_sse_connection(
            "https://127.0.0.1:9/s",
            proxies={"https": f"http://127.0.0.1:{proxy_port}"},
            timeout=0.2,
            retry=False,
        )
    assert "proxy" in str(raised.value) and "timed out" in str(raised.value)
    assert "ProxyError" not in str(raised.value)


def test_a_replaced_urllib3_create_connection_is_used(
    server: SSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The usual way to resolve names one's own way: the library's connections honour it.
    server.route("/s", Reply(body=[sse(Event(data="hello"))]))
    original = urllib3.util.connection.create_connection
    asked: List[Any] = []

    def resolving(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        asked.append(address)
        return original(("127.0.0.1", server.port), *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", resolving)
    conn = create_sse_connection("http://stream.invalid:1/s", retry=0)
    assert [event.data for event in conn.events(timeout=WAIT)] == ["hello"]
    assert asked == [("stream.invalid", 1)]


def test_a_host_that_is_no_valid_name_is_a_final_connect_error() -> None:
    with pytest.raises(ConnectError) as raised:
        create_sse_connection("http://a..b/s", retry=3)
    assert raised.value.final and not raised.value.request_sent
    assert "not a valid name" in str(raised.value)
