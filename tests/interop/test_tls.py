"""The interop checks over HTTPS, against uvicorn (a Starlette app, _tls_app.py) and against our
own SSEServer(tls=...), with certificates from trustme: events arrive; ``verify=`` a CA file;
a client certificate (``cert=``) is presented and checked; an untrusted certificate fails at
once saying so; silence past ``read_timeout`` is noticed in time; ``close()`` while blocked in
a TLS read returns at once. The server's name is in each test id.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Iterator, Optional

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
    TLSFiles,
    make_tls_files,
    read_through_a_silence,
    start_uvicorn,
    tls_sseserver,
)

import sseclient_sync as sse
from sseclient_sync.testing import SSEServer


@dataclasses.dataclass(frozen=True)
class HTTPS:
    """An HTTPS server under test: its name, base URL and port; ``ours`` when it is our own
    SSEServer (which records the requests it gets)."""

    name: str
    url: str
    port: int
    ours: Optional[SSEServer] = None


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _uvicorn(
    tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory, require_client_cert: bool
) -> Iterator[HTTPS]:
    process = start_uvicorn(tls_files, tmp_path_factory.mktemp("uvicorn"), require_client_cert)
    try:
        yield HTTPS("uvicorn", f"https://127.0.0.1:{process.port}", process.port)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def uvicorn_https(tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HTTPS]:
    """uvicorn over HTTPS, started once for the module."""
    yield from _uvicorn(tls_files, tmp_path_factory, require_client_cert=False)


@pytest.fixture(scope="module")
def uvicorn_https_client_cert(
    tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HTTPS]:
    """uvicorn over HTTPS requiring a client certificate from the test CA."""
    yield from _uvicorn(tls_files, tmp_path_factory, require_client_cert=True)


def _https(
    request: pytest.FixtureRequest, tls_files: TLSFiles, client_cert: bool
) -> Iterator[HTTPS]:
    if request.param == "uvicorn":
        name = "uvicorn_https_client_cert" if client_cert else "uvicorn_https"
        yield request.getfixturevalue(name)
        return
    with tls_sseserver(tls_files, require_client_cert=client_cert) as server:
        yield HTTPS("SSEServer", server.url, server.port, ours=server)


@pytest.fixture(params=["uvicorn", "SSEServer"])
def https(request: pytest.FixtureRequest, tls_files: TLSFiles) -> Iterator[HTTPS]:
    """Each HTTPS server in turn."""
    yield from _https(request, tls_files, client_cert=False)


@pytest.fixture(params=["uvicorn", "SSEServer"])
def https_client_cert(request: pytest.FixtureRequest, tls_files: TLSFiles) -> Iterator[HTTPS]:
    """Each HTTPS server in turn, requiring a client certificate from the test CA."""
    yield from _https(request, tls_files, client_cert=True)


def data_of(conn: sse.Connection) -> list[str]:
    return [event.data for event in conn.events(timeout=PER_EVENT)]


# --- The checks ---------------------------------------------------------------------------


def test_events_arrive_with_verify_a_ca_file(https: HTTPS, tls_files: TLSFiles) -> None:
    with sse.create_sse_connection(
        f"{https.url}/events?n=3", verify=tls_files.ca_file, done=is_done, retry=False
    ) as conn:
        assert data_of(conn) == ["e1", "e2", "e3"]
        assert conn.last_event_id == "3"
        assert conn.status is sse.Status.COMPLETED


def test_an_untrusted_certificate_fails_at_once_saying_so(https: HTTPS) -> None:
    started = time.monotonic()
    with pytest.raises(sse.ConnectError) as caught:
        sse.create_sse_connection(f"{https.url}/events", timeout=5, retry=False)
    took = time.monotonic() - started
    message = str(caught.value)
    assert took < 1.0, f"the failure took {took:.2f}s"
    assert "certificate verify failed" in message, message
    assert https.url in message, message
    for internal in ("Pool(", "Max retries", "SSLCertVerificationError", "_ssl.c"):
        assert internal not in message, message  # the cause in plain words, not reprs
    assert caught.value.request_sent is False
    if https.ours is not None:
        assert https.ours.requests == []


@pytest.mark.parametrize("code", [401, 500])
def test_an_error_status_with_an_open_body_surfaces_at_once(
    https: HTTPS, tls_files: TLSFiles, code: int
) -> None:
    started = time.monotonic()
    with pytest.raises(sse.HTTPStatusError) as caught:
        sse.create_sse_connection(
            f"{https.url}/status?code={code}",
            verify=tls_files.ca_file,
            timeout=5,
            read_timeout=5,
            retry=False,
        )
    took = time.monotonic() - started
    assert caught.value.status_code == code
    assert json.loads(caught.value.body) == {"error": "held open", "status": code}
    assert took < 1.0, f"the error surfaced after {took:.2f}s"


def test_silence_past_read_timeout_is_noticed_and_resumed(
    https: HTTPS, tls_files: TLSFiles
) -> None:
    arrived, errors = read_through_a_silence(f"{https.url}/silent", verify=tls_files.ca_file)
    assert [data for _, data in arrived] == ["first", "second"]
    assert_silence_noticed(arrived[0][0], errors)
    if https.ours is not None:
        resumed = https.ours.requests[1]
        assert resumed.header("last-event-id") == "1"


def test_close_while_blocked_in_a_tls_read_returns_at_once(
    https: HTTPS, tls_files: TLSFiles
) -> None:
    if not os.path.exists("/proc/self/net/tcp"):
        pytest.skip("counting this process's sockets needs Linux's /proc")
    conn = sse.create_sse_connection(
        f"{https.url}/silent", verify=tls_files.ca_file, read_timeout=30, retry=FAST_RETRY
    )
    assert_close_returns_at_once(conn, https.port, PER_EVENT)
    assert wait_until(lambda: client_sockets_to(https.port) == 0, 1.0), "a socket was left"


def test_a_client_certificate_is_presented_and_checked(
    https_client_cert: HTTPS, tls_files: TLSFiles
) -> None:
    https = https_client_cert
    with sse.create_sse_connection(
        f"{https.url}/events?n=2",
        verify=tls_files.ca_file,
        cert=tls_files.client_cert_file,
        done=is_done,
        retry=False,
    ) as conn:
        assert data_of(conn) == ["e1", "e2"]
    if https.ours is not None:
        (request,) = https.ours.requests
        assert request.client_cert is not None
        assert (("commonName", "sse-interop-client"),) in request.client_cert["subject"]


@pytest.mark.parametrize("cert", [None, "stranger"], ids=["no-cert", "untrusted-cert"])
def test_without_an_accepted_client_certificate_the_stream_fails_at_once(
    https_client_cert: HTTPS, tls_files: TLSFiles, cert: Optional[str]
) -> None:
    https = https_client_cert
    started = time.monotonic()
    with pytest.raises(sse.ConnectError) as caught:
        sse.create_sse_connection(
            f"{https.url}/events",
            verify=tls_files.ca_file,
            cert=None if cert is None else tls_files.stranger_cert_file,
            timeout=5,
            read_timeout=5,
            retry=False,
        )
    took = time.monotonic() - started
    assert took < 1.0, f"the failure took {took:.2f}s"
    assert https.url in str(caught.value)
    if https.ours is not None:
        assert https.ours.requests == []


@pytest.mark.parametrize("option", ["cert", "verify"])
def test_a_missing_certificate_file_is_a_connect_error_naming_it(
    tls_files: TLSFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture, option: str
) -> None:
    """A typo in ``cert=`` or ``verify=`` is the user's to fix: a ConnectError naming the
    file, at once, not a reader thread that dies and is restarted."""
    missing = str(tmp_path / "missing.pem")
    files = {"verify": tls_files.ca_file, "cert": tls_files.client_cert_file, option: missing}
    with tls_sseserver(tls_files) as server:
        with pytest.raises(sse.ConnectError) as caught:
            sse.create_sse_connection(f"{server.url}/events", retry=False, **files)
        assert server.requests == []
    assert missing in str(caught.value)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
