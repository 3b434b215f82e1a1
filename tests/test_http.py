"""The transport's translations that loopback cannot produce (TLS, connect timeouts, DNS),
through the mocked HTTP layer of `responses`; and the content-encoded read path, on a real
socket."""

from __future__ import annotations

import gzip
import socket

import pytest
import requests
import responses

from sseclient_sync import ConnectError, ConnectionManager, Event, Status
from sseclient_sync._http import _ENVIRONMENT_VARIABLES, new_session
from sseclient_sync.testing import Reply, SSEServer, sse

URL = "https://stream.example.test/events"


@pytest.fixture
def manager() -> ConnectionManager:
    return ConnectionManager(retry=0, timeout=2.0)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (requests.exceptions.SSLError("certificate verify failed"), "certificate verify failed"),
        (requests.exceptions.ConnectTimeout("timed out"), "no response headers"),
        (requests.exceptions.ConnectionError("Name or service not known"), "could not connect"),
        (requests.exceptions.ProxyError("proxy refused"), "proxy refused"),
    ],
)
@responses.activate
def test_network_failures_before_the_headers_are_connect_errors_naming_the_url(
    manager: ConnectionManager, raised: Exception, expected: str
) -> None:
    responses.add(responses.GET, URL, body=raised)
    with pytest.raises(ConnectError) as caught:
        manager.create(URL)
    message = str(caught.value)
    assert URL in message
    assert expected in message
    assert caught.value.__cause__ is raised
    assert manager.count() == 0


@responses.activate
def test_a_mocked_stream_is_read_through_urllib3_when_it_has_no_socket(
    manager: ConnectionManager,
) -> None:
    body = sse(Event(data="a", id="1"), Event(event="x", data="b\nc"))
    responses.add(
        responses.GET,
        URL,
        body=body,
        headers={"Content-Type": "text/event-stream; charset=utf-8"},
    )
    conn = manager.create(URL, method="GET")
    assert [(e.event, e.data, e.id) for e in conn.events(timeout=5)] == [
        ("message", "a", "1"),
        ("x", "b\nc", "1"),
    ]
    assert conn.status is Status.COMPLETED
    sent = responses.calls[0].request.headers
    assert sent["Accept"] == "text/event-stream"
    assert sent["Cache-Control"] == "no-store"


def test_a_gzip_encoded_stream_is_decoded(server: SSEServer) -> None:
    events = [Event(data=f"event {n}", id=str(n)) for n in range(50)]
    server.route(
        "/gz",
        Reply(
            headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip"},
            body=[gzip.compress(sse(*events))],
            framing="close",
        ),
    )
    with ConnectionManager(retry=0) as manager:
        conn = manager.create(server.url_for("/gz"))
        assert list(conn.events(timeout=5)) == events
        assert conn.status is Status.COMPLETED



# --- the library's own Session: proxies from the environment, looked up once per host --------


ENVIRONMENTS = [
    {},
    {"HTTPS_PROXY": "http://proxy.example.test:3128"},
    {"https_proxy": "http://lower.example.test:1", "NO_PROXY": "stream.example.test"},
    {"ALL_PROXY": "socks5://all.example.test:1080", "no_proxy": "other.example.test"},
    {"HTTP_PROXY": "http://plain.example.test:8080", "REQUESTS_CA_BUNDLE": "/tmp/ca.pem"},
    {"CURL_CA_BUNDLE": "/tmp/curl.pem"},
]


@pytest.mark.parametrize("url", [URL, "http://stream.example.test:8080/events?x=1"])
@pytest.mark.parametrize(
    "given_proxies",
    [{}, {"no_proxy": "stream.example.test"}, {"https": "http://explicit.example.test:1"}],
)
def test_the_library_session_settles_settings_as_requests_does(
    monkeypatch: pytest.MonkeyPatch, url: str, given_proxies: dict[str, str]
) -> None:
    # (Session.request always passes a dict of proxies, never None.)
    # One session across every environment, in turn: a cached answer must never outlive
    # the environment it came from.
    ours = new_session()
    for environment in ENVIRONMENTS:
        for name in _ENVIRONMENT_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        for _ in range(2):  # the second time from the cache
            mine, theirs = dict(given_proxies), dict(given_proxies)
            expected = requests.Session().merge_environment_settings(url, theirs, None, None, None)
            assert ours.merge_environment_settings(url, mine, None, None, None) == expected
            assert mine == theirs  # the caller's proxies get the environment's, as requests does


def test_the_library_session_uses_the_environments_proxy_and_its_no_proxy(
    server: SSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/s", Reply(body=sse(Event(data="direct"))))
    closed_port = _a_closed_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("NO_PROXY", "example.test")
    with ConnectionManager(retry=0, timeout=2.0) as manager:
        with pytest.raises(ConnectError, match="could not connect"):
            manager.create(server.url_for("/s"))  # through the (refusing) proxy
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        conn = manager.create(server.url_for("/s"))
        assert [event.data for event in conn.events(timeout=5.0)] == ["direct"]
        assert conn.wait(5.0) is Status.COMPLETED


def _a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
