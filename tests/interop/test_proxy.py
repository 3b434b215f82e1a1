"""Streams through a real HTTP proxy, proxy.py, started by the tests: over http (the proxy
forwards the request) and over https (a CONNECT tunnel to our SSEServer(tls=...), certificates
from trustme), the proxy set by ``proxies=`` and by the HTTP_PROXY / HTTPS_PROXY environment
variables. Through it: events arrive, silence past ``read_timeout`` is noticed and resumed,
``close()`` while blocked returns at once.
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterator

import pytest
from _tls_proxy import (
    Process,
    TLSFiles,
    client_sockets_to,
    make_tls_files,
    route_like_the_app,
    start_proxy,
    tls_sseserver,
    wait_until,
)

import sseclient_sync as sse
from sseclient_sync.testing import SSEServer

FAST_RETRY = sse.Retry(max_attempts=3, delay=0.05, jitter=0)
PER_EVENT = 5.0
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def is_done(event: sse.Event) -> bool:
    return event.data == "[DONE]"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """proxy.py on 127.0.0.1, started once for the module and stopped after it."""
    running = start_proxy(tmp_path_factory.mktemp("proxy"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets reaches the client, whatever the machine's environment."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(params=["http", "https"])
def origin(request: pytest.FixtureRequest, tls_files: TLSFiles) -> Iterator[SSEServer]:
    """Our own server behind the proxy, over http or https (the https one through CONNECT)."""
    if request.param == "http":
        with SSEServer() as server:
            yield route_like_the_app(server)
    else:
        with tls_sseserver(tls_files) as server:
            yield server


@pytest.fixture(params=["proxies", "env"])
def through(
    request: pytest.FixtureRequest, proxy: Process, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The options that send a stream through the proxy: ``proxies=``, or nothing but the
    HTTP_PROXY and HTTPS_PROXY environment variables (NO_PROXY empty, so that 127.0.0.1 is
    not excluded)."""
    if request.param == "proxies":
        return {"proxies": {"http": proxy.url, "https": proxy.url}}
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    return {}


def options_for(origin: SSEServer, tls_files: TLSFiles) -> dict[str, Any]:
    return {"verify": tls_files.ca_file} if origin.url.startswith("https") else {}


def assert_went_through(proxy: Process, origin: SSEServer) -> None:
    """The proxy carried the requests: over http it forwarded them (proxy.py adds a Via
    header); over https it tunnelled them (its access log has the CONNECT, and the server got
    the request untouched)."""
    if origin.url.startswith("https"):
        connect = f"CONNECT 127.0.0.1:{origin.port}"
        assert wait_until(lambda: connect in proxy.log(), 2.0), proxy.log()[-2000:]
        assert all("via" not in request.headers for request in origin.requests)
    else:
        for request in origin.requests:
            assert "proxy.py" in request.headers.get("via", ""), request.headers


def test_a_stream_through_the_proxy(
    proxy: Process, origin: SSEServer, through: dict[str, Any], tls_files: TLSFiles
) -> None:
    with sse.create_sse_connection(
        f"{origin.url}/events?n=3",
        done=is_done,
        retry=False,
        **through,
        **options_for(origin, tls_files),
    ) as conn:
        got = [event.data for event in conn.events(timeout=PER_EVENT)]
    assert got == ["e1", "e2", "e3"]
    assert len(origin.requests) == 1
    assert_went_through(proxy, origin)


def test_silence_past_read_timeout_through_the_proxy(
    proxy: Process, origin: SSEServer, through: dict[str, Any], tls_files: TLSFiles
) -> None:
    errors: list[tuple[float, BaseException]] = []
    arrived: list[tuple[float, str]] = []
    with sse.create_sse_connection(
        f"{origin.url}/silent",
        timeout=10,
        read_timeout=0.5,
        retry=FAST_RETRY,
        done=is_done,
        on_error=lambda error: errors.append((time.monotonic(), error)),
        **through,
        **options_for(origin, tls_files),
    ) as conn:
        for event in conn.events(timeout=PER_EVENT):
            arrived.append((time.monotonic(), event.data))
    assert [data for _, data in arrived] == ["first", "second"]
    assert errors, "no error reached on_error"
    noticed_at, error = errors[0]
    assert isinstance(error, sse.ReadTimeout), repr(error)
    silence = noticed_at - arrived[0][0]
    assert 0.4 <= silence <= 1.5, f"the silence was noticed after {silence:.2f}s"
    assert [r.header("last-event-id") for r in origin.requests] == [None, "1"]
    assert_went_through(proxy, origin)


def test_close_while_blocked_through_the_proxy(
    proxy: Process, origin: SSEServer, through: dict[str, Any], tls_files: TLSFiles
) -> None:
    if not os.path.exists("/proc/self/net/tcp"):
        pytest.skip("counting this process's sockets needs Linux's /proc")
    conn = sse.create_sse_connection(
        f"{origin.url}/silent",
        read_timeout=30,
        retry=FAST_RETRY,
        **through,
        **options_for(origin, tls_files),
    )
    try:
        first = next(iter(conn.events(timeout=PER_EVENT)))
        assert first.data == "first"
        time.sleep(0.1)  # the reader is blocked in its read by now
        assert client_sockets_to(proxy.port) == 1
    finally:
        started = time.monotonic()
        conn.close()
        took = time.monotonic() - started
    assert took < 0.1, f"close() took {took:.3f}s"
    assert conn.status is sse.Status.CLOSED
    assert wait_until(lambda: client_sockets_to(proxy.port) == 0, 1.0), "a socket was left"
    assert wait_until(lambda: origin.open_connections == 0, 2.0), "the proxy kept the upstream"
    assert_went_through(proxy, origin)
