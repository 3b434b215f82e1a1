"""Streams through a real HTTP proxy, proxy.py, started by the tests: over http (the proxy
forwards the request) and over https (a CONNECT tunnel to our SSEServer(tls=...), certificates
from trustme), the proxy set by ``proxies=`` and by the HTTP_PROXY / HTTPS_PROXY environment
variables. Through it: events arrive, silence past ``read_timeout`` is noticed and resumed,
``close()`` while blocked returns at once.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest
from _servers import (
    assert_close_returns_at_once,
    assert_silence_noticed,
    client_sockets_to,
    is_done,
    wait_until,
)
from _tls_proxy import (
    FAST_RETRY,
    PER_EVENT,
    Process,
    TLSFiles,
    make_tls_files,
    read_through_a_silence,
    route_like_the_app,
    start_proxy,
    tls_sseserver,
)

import sseclient_sync as sse
from sseclient_sync.testing import SSEServer

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


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
    arrived, errors = read_through_a_silence(
        f"{origin.url}/silent", **through, **options_for(origin, tls_files)
    )
    assert [data for _, data in arrived] == ["first", "second"]
    assert_silence_noticed(arrived[0][0], errors)
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
    assert_close_returns_at_once(conn, proxy.port, PER_EVENT)
    assert wait_until(lambda: client_sockets_to(proxy.port) == 0, 1.0), "a socket was left"
    assert wait_until(lambda: origin.open_connections == 0, 2.0), "the proxy kept the upstream"
    assert_went_through(proxy, origin)
