"""The transport's translations that loopback cannot produce (TLS, connect timeouts, DNS),
through the mocked HTTP layer of `responses`; and the content-encoded read path, on a real
socket."""

from __future__ import annotations

import gzip

import pytest
import requests
import responses

from sseclient_sync import ConnectError, ConnectionManager, Event, Status
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

