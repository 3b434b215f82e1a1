"""The transport's translations that loopback cannot produce (TLS, connect timeouts, DNS),
through the mocked HTTP layer of `responses`; and the content-encoded read path, on a real
socket."""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import ssl
import threading
import time
from typing import Any, Callable, Optional

import pytest
import requests
import responses
import urllib3.exceptions
from support import FAST, WAIT, wait_until

from sseclient_sync import (
    ConnectError,
    ConnectionManager,
    ContentTypeError,
    Event,
    EventTooLarge,
    HTTPStatusError,
    ReadTimeout,
    Retry,
    Status,
    create_sse_connection,
)
from sseclient_sync._http import _ENVIRONMENT_VARIABLES, new_session
from sseclient_sync.testing import (
    BodyItem,
    Drop,
    Pause,
    RecordedRequest,
    Reply,
    Silence,
    SSEServer,
    sse,
)

URL = "https://stream.example.test/events"


@pytest.fixture
def manager() -> ConnectionManager:
    return ConnectionManager(retry=0, timeout=2.0)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (
            requests.exceptions.SSLError(
                ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate")
            ),
            "TLS handshake",
        ),
        (requests.exceptions.ConnectTimeout("timed out"), "could not connect"),
        (requests.exceptions.ConnectionError(socket.gaierror(-2, "Name or service not known")),
         "could not be resolved"),
        (requests.exceptions.ProxyError(ConnectionRefusedError(111, "Connection refused")),
         "proxy for"),
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
    assert caught.value.request_sent is False  # so even a POST may be sent again
    assert "Max retries" not in message and "Pool" not in message
    assert manager.count() == 0


@responses.activate
def test_no_headers_within_read_timeout_is_a_read_timeout_saying_so(
    manager: ConnectionManager,
) -> None:
    responses.add(responses.GET, URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(ReadTimeout) as caught:
        manager.create(URL, read_timeout=1.5)
    assert URL in str(caught.value) and "read_timeout=1.5s" in str(caught.value)
    assert "no response headers" in str(caught.value)


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
    assert sent["Cache-Control"] == "no-cache"


# urllib3 reads "identity" in a list as a coding, and misses "gzip " with the whitespace
# RFC 9112 allows after a value.
@pytest.mark.parametrize("coding", ["gzip", "gzip, identity", "identity, gzip", "gzip ", "GZIP"])
def test_a_gzip_encoded_stream_is_decoded(server: SSEServer, coding: str) -> None:
    events = [Event(data=f"event {n}", id=str(n)) for n in range(50)]
    server.route(
        "/gz",
        Reply(
            headers={"Content-Type": "text/event-stream", "Content-Encoding": coding},
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
    [
        {},
        {"no_proxy": "stream.example.test"},
        {"https": "http://explicit.example.test:1"},
        {"https": None, "http": "http://explicit.example.test:1"},  # None: drop the session's
    ],
)
@pytest.mark.parametrize(
    "session_proxies", [{}, {"https": "http://session.example.test:2", "all": "socks5://s:3"}]
)
def test_the_library_session_settles_settings_as_requests_does(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    given_proxies: dict[str, str],
    session_proxies: dict[str, str],
) -> None:
    # (Session.request always passes a dict of proxies, never None.)
    # One session across every environment, in turn: a cached answer must never outlive
    # the environment it came from.
    ours = new_session()
    ours.proxies = dict(session_proxies)
    reference = requests.Session()
    reference.proxies = dict(session_proxies)
    for environment in ENVIRONMENTS:
        # No public list of the variables the session reads: clear the module's own.
        for name in _ENVIRONMENT_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        for _ in range(2):  # the second time from the cache
            mine, theirs = dict(given_proxies), dict(given_proxies)
            expected = reference.merge_environment_settings(url, theirs, None, None, None)
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
        with pytest.raises(ConnectError, match=r"the proxy for .* failed: connection refused"):
            manager.create(server.url_for("/s"))  # through the (refusing) proxy
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        conn = manager.create(server.url_for("/s"))
        assert [event.data for event in conn.events(timeout=5.0)] == ["direct"]
        assert conn.wait(5.0) is Status.COMPLETED


def test_a_session_header_http_cannot_encode_is_a_final_connect_error(server: SSEServer) -> None:
    # Our own options refuse such a header at create(); a session's own headers reach
    # http.client unchecked, and must not kill the reader.
    server.route("/s", Reply(body=sse(Event(data="never"))))
    session = requests.Session()
    session.headers["X-Name"] = "café ☃"
    try:
        with ConnectionManager(session=session, retry=FAST) as manager, pytest.raises(
            ConnectError, match="a header cannot be encoded"
        ):
            manager.create(server.url_for("/s"))
    finally:
        session.close()
    assert server.requests == []


def test_the_callers_proxies_dict_is_left_alone(
    server: SSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/s", Reply(body=sse(Event(data="a", id="1"))))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{_a_closed_port()}")  # https only
    proxies: dict[str, Any] = {"http": None}
    with ConnectionManager(retry=0) as manager:
        conn = manager.create(server.url_for("/s"), proxies=proxies)
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a"]
    assert proxies == {"http": None}


SLOW_POLL_BODIES = [
    [Pause(0.6), '{"events": [{"data": "p"}]}'],  # the headers wait for the body
    ['{"events": [{"data": ', Pause(0.6), '"p"}]}'],  # the body stalls
]


def _poll_after_a_404(
    server: SSEServer,
    body: list[BodyItem],
    headers: Optional[dict[str, str]] = None,
    **options: Any,
) -> tuple[list[BaseException], list[str]]:
    server.route("/stream", Reply(status=404))
    headers = {"Content-Type": "application/json", **(headers or {})}
    json_reply = Reply(headers=headers, body=body, hold_headers=True)
    server.route("/poll", json_reply)
    errors: list[BaseException] = []
    got: list[str] = []
    with ConnectionManager(retry=0, wait_open=False, **options) as manager:
        manager.create(
            server.url_for("/stream"),
            poll_url=server.url_for("/poll"),
            poll_interval=5,
            on_error=errors.append,
            on_message=lambda event: got.append(event.data),
        )
        wait_until(lambda: len(errors) >= 2 or got, "the poll's answer or its error")
    return errors, got


@pytest.mark.parametrize("body", SLOW_POLL_BODIES)
def test_a_poll_waits_read_timeout_for_its_answer_not_the_connect_timeout(
    server: SSEServer, body: list[BodyItem]
) -> None:
    errors, got = _poll_after_a_404(server, body, timeout=0.2, read_timeout=WAIT)
    assert got == ["p"] and len(errors) == 1  # the stream's 404 alone


@pytest.mark.parametrize("body", SLOW_POLL_BODIES)
def test_a_silent_poll_names_the_read_timeout_it_waits_with(
    server: SSEServer, body: list[BodyItem]
) -> None:
    errors, got = _poll_after_a_404(server, body, timeout=WAIT, read_timeout=0.2)
    assert got == []
    assert isinstance(errors[1], ReadTimeout) and errors[1].timeout == 0.2
    assert "read_timeout=0.2s" in str(errors[1])


def test_a_poll_answer_past_its_bound_is_not_read_whole(
    server: SSEServer,
) -> None:
    events = [{"data": "x" * 900, "id": str(n)} for n in range(1500)]  # 1.4 MB, each < 1000
    errors, got = _poll_after_a_404(
        server, [json.dumps({"events": events})], max_event_size=1000, timeout=WAIT
    )
    assert got == []
    assert isinstance(errors[1], EventTooLarge)
    assert "passed 1052576 bytes (4 x max_event_size + 1 MiB)" in str(errors[1])


def test_a_poll_answer_in_a_coding_this_client_cannot_decode_is_refused(
    server: SSEServer,
) -> None:
    body: list[BodyItem] = ['{"events": [{"data": "p"}]}']
    errors, got = _poll_after_a_404(server, body, {"Content-Encoding": "x-custom"}, timeout=WAIT)
    assert got == []
    assert isinstance(errors[1], ContentTypeError) and "'x-custom'" in str(errors[1])


def test_a_poll_answer_that_fails_to_decompress_says_so(server: SSEServer) -> None:
    body: list[BodyItem] = [b"\x1f\x8b not gzip at all"]
    errors, _ = _poll_after_a_404(server, body, {"Content-Encoding": "gzip"}, timeout=WAIT)
    assert isinstance(errors[1], ConnectError)
    assert "could not be decoded (Content-Encoding 'gzip')" in str(errors[1])
    assert "broke off" not in str(errors[1])


def test_a_poll_answer_cut_mid_body_says_it_broke_off(server: SSEServer) -> None:
    errors, _ = _poll_after_a_404(server, ['{"events": [', Drop()], timeout=WAIT)
    assert isinstance(errors[1], ConnectError)
    message = str(errors[1])
    assert "the poll answer from" in message and "broke off" in message
    assert "before answering" not in message


def _a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- what real servers do: each of these once went wrong against Werkzeug, gunicorn or Django --


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_keep_alives_sparser_than_timeout_keep_the_stream_alive(
    server: SSEServer, framing: str
) -> None:
    # timeout bounds connecting only; the silence between keep-alives is read_timeout's.
    body = [sse(Event(data="a", id="1")), Pause(0.4), ": ping\n", Pause(0.4), sse(Event(data="b"))]
    server.route("/s", [Reply(body=body, framing=framing), Reply(status=204)])
    with ConnectionManager(retry=FAST, timeout=0.15, read_timeout=WAIT) as manager:
        conn = manager.create(server.url_for("/s"))
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a", "b"]
    assert len(server.requests) == 2  # the second only after the server ended the first


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_silence_past_read_timeout_is_noticed_whatever_the_framing(
    server: SSEServer, framing: str
) -> None:
    # http.client drops the connection's socket once a response will close the connection;
    # read_timeout must reach the socket the response reads from all the same.
    server.route("/s", Reply(body=[sse(Event(data="a")), Silence()], framing=framing))
    errors: list[BaseException] = []
    with ConnectionManager(retry=0, timeout=30.0, read_timeout=0.3) as manager:
        conn = manager.create(server.url_for("/s"), on_error=errors.append)
        started = time.monotonic()
        with pytest.raises(ReadTimeout, match=r"read_timeout=0\.3s"):
            list(conn.events(timeout=WAIT))
        assert time.monotonic() - started < 10.0  # not timeout=30
    assert [type(error) for error in errors] == [ReadTimeout]


def _slow_first_token(seconds: float, body: list[BodyItem]) -> Callable[[RecordedRequest], Reply]:
    """A WSGI server: the status line and headers go out with the first body byte."""

    def respond(request: RecordedRequest) -> Reply:
        time.sleep(seconds)
        return Reply(body=body)

    return respond


def test_a_slow_first_token_is_waited_for_under_read_timeout_and_the_post_sent_once(
    server: SSEServer,
) -> None:
    tokens = [sse(Event(data="Hel")), sse(Event(data="lo")), sse(Event(data="[DONE]"))]
    server.route("/chat", _slow_first_token(0.6, tokens))
    with ConnectionManager(retry=FAST, timeout=0.1, read_timeout=WAIT) as manager:
        conn = manager.create(
            server.url_for("/chat"),
            method="POST",
            json={"prompt": "hi"},
            done=lambda event: event.data == "[DONE]",
        )
        assert [event.data for event in conn.events(timeout=WAIT)] == ["Hel", "lo"]
        assert conn.status is Status.COMPLETED
    assert len(server.requests) == 1


def test_a_post_that_gets_no_headers_within_read_timeout_fails_instead_of_running_twice(
    server: SSEServer,
) -> None:
    server.route("/chat", _slow_first_token(1.0, [sse(Event(data="late"))]))
    with (
        ConnectionManager(retry=FAST, timeout=5.0, read_timeout=0.2) as manager,
        pytest.raises(ConnectError, match="could run it twice") as caught,
    ):
        manager.create(server.url_for("/chat"), method="POST", json={"prompt": "hi"})
    assert isinstance(caught.value.__cause__, ReadTimeout)
    assert len(server.requests) == 1


@pytest.mark.parametrize(("status", "retry"), [(401, FAST), (500, 0)])
def test_an_error_status_whose_body_stays_open_surfaces_at_once_with_the_body(
    server: SSEServer, status: int, retry: Any
) -> None:
    body = json.dumps({"error": {"message": "bad key"}})
    server.route("/s", Reply(status=status, headers={"Content-Type": "application/json"},
                             body=[body, Silence()]))
    started = time.monotonic()
    with (
        ConnectionManager(retry=retry, timeout=30.0, read_timeout=30.0) as manager,
        pytest.raises(HTTPStatusError) as caught,
    ):
        manager.create(server.url_for("/s"))
    assert time.monotonic() - started < 10.0  # not a timeout of 30
    assert caught.value.status_code == status
    assert json.loads(caught.value.body) == {"error": {"message": "bad key"}}
    assert "retried" not in str(caught.value)


@pytest.mark.parametrize("method", ["REPORT", "PROPFIND", "QUERY"])
def test_any_method_token_goes_on_the_wire(server: SSEServer, method: str) -> None:
    server.route("/s", Reply(body=sse(Event(data="a"))), methods=[method])
    with ConnectionManager(retry=0) as manager:
        conn = manager.create(server.url_for("/s"), method=method, data="<query/>")
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a"]
    assert server.requests[0].method == method
    assert server.requests[0].body == b"<query/>"


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (requests.exceptions.InvalidURL("Failed to parse: x"), "the URL is not valid"),
        (requests.exceptions.MissingSchema("No scheme supplied"), "the URL is not valid"),
        (requests.exceptions.InvalidProxyURL("malformed"), "check proxies="),
        # a location the stream's URL does not hold is the proxy's
        (requests.exceptions.InvalidURL(urllib3.exceptions.LocationParseError("bad host")),
         "the proxy URL is not valid"),
        (requests.exceptions.InvalidSchema("Missing dependencies for SOCKS support."),
         "pip install requests[socks]"),
        (requests.exceptions.InvalidSchema("No connection adapters were found"),
         "use an http:// or https:// URL"),
        (requests.exceptions.InvalidHeader("Invalid return character(s) in header value"),
         "a header is invalid"),
    ],
)
@responses.activate
def test_a_request_requests_refuses_to_send_is_final_and_says_what_to_fix(
    raised: Exception, expected: str
) -> None:
    responses.add(responses.POST, URL, body=raised)
    errors: list[BaseException] = []
    retry = Retry(max_attempts=3, delay=0.01)
    with ConnectionManager(retry=retry) as manager, pytest.raises(ConnectError) as caught:
        manager.create(URL, method="POST", on_error=errors.append)
    message = str(caught.value)
    assert URL in message and expected in message
    assert "dropped the connection" not in message
    assert caught.value.final and caught.value.request_sent is False
    assert caught.value.__cause__ is raised
    assert errors == [caught.value]  # not retried
    assert len(responses.calls) == 1


@pytest.mark.parametrize("resumed", ["http://127.0.0.1:99999/s", "http://[::1/s"])
def test_a_resumed_url_no_request_can_be_made_of_fails_at_once(
    server: SSEServer, resumed: str
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a", id="1")), Drop()]))
    with ConnectionManager(retry=Retry(max_attempts=3, delay=0.01)) as manager:
        conn = manager.create(server.url_for("/s"), resume=lambda conn: {"url": resumed})
        assert conn.wait(WAIT) is Status.FAILED
    # The hook's value is wrong: final, and no reader death or restart on the way
    assert isinstance(conn.error, TypeError) and "resume= hook" in str(conn.error)
    assert f"url {resumed!r} is not a valid URL" in str(conn.error)
    assert conn.stats().reconnect_count == 0
    assert len(server.requests) == 1


def test_requests_sends_every_method_upper_cased(server: SSEServer) -> None:
    # Documented in normalise_method: the connection keeps "subscribe", the wire does not.
    server.route("/s", Reply(body=sse(Event(data="a"))), methods=["SUBSCRIBE"])
    with ConnectionManager(retry=0) as manager:
        conn = manager.create(server.url_for("/s"), method="subscribe")
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a"]
    assert server.requests[0].method == "SUBSCRIBE"


def test_a_refused_connection_says_so_in_plain_words() -> None:
    url = f"http://127.0.0.1:{_a_closed_port()}/s"
    with ConnectionManager(retry=0) as manager, pytest.raises(ConnectError) as caught:
        manager.create(url)
    message = str(caught.value)
    assert "connection refused" in message and url in message
    for internal in ("Pool", "Max retries", "NewConnectionError", "object at"):
        assert internal not in message
    assert caught.value.request_sent is False


class _HalfGzipBody(http.server.BaseHTTPRequestHandler):
    """Promises a gzip body by Content-Length, sends half of it and closes cleanly (a FIN,
    not a reset): what a proxy or a crashed worker does."""

    body = gzip.compress(sse(*[Event(data=f"event {n}", id=str(n)) for n in range(200)]))

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body[: len(self.body) // 2])
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_cut_compressed_stream_says_so_in_plain_words() -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HalfGzipBody) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            with ConnectionManager(retry=0) as manager:
                conn = manager.create(f"http://127.0.0.1:{httpd.server_port}/gz")
                with pytest.raises(ConnectError) as caught:
                    list(conn.events(timeout=WAIT))
        finally:
            httpd.shutdown()
            thread.join(WAIT)
    message = str(caught.value)
    assert "broke off: the body was cut off" in message
    for internal in ("IncompleteRead", "Connection broken", "(("):
        assert internal not in message


@pytest.mark.parametrize("session", ["not a session", {"auth": "x"}, object()])
def test_session_must_be_a_requests_session(session: Any) -> None:
    with pytest.raises(TypeError) as caught:
        create_sse_connection("http://127.0.0.1:9/s", session=session, wait_open=False)
    message = str(caught.value)
    assert "session must be a requests.Session" in message
    assert type(session).__name__ in message


# --- Answers http.client reads its own way (found against raw servers) -----------------------


def test_a_body_cut_short_of_its_content_length_is_a_drop_not_an_end(server: SSEServer) -> None:
    # http.client's read1() returns b"" at the close even when the Content-Length promised more
    server.route(
        "/cut",
        Reply(
            headers={"Content-Type": "text/event-stream", "Content-Length": "500"},
            body=sse(Event(data="a"), Event(data="b")),
            framing="close",
        ),
    )
    with ConnectionManager(retry=0) as manager:
        conn = manager.create(server.url_for("/cut"), method="POST", data=b"q")
        got = []
        with pytest.raises(ConnectError) as caught:
            got.extend(event.data for event in conn.events(timeout=WAIT))
    assert got == ["a", "b"]
    assert "broke off: the body was cut off" in str(caught.value)
    assert conn.status is Status.FAILED


def test_interim_responses_before_the_answer_are_skipped(server: SSEServer) -> None:
    # RFC 9110 15.2: a client must parse 1xx responses it does not expect; http.client skips
    # only 100 Continue
    server.route("/hints", Reply(interim=(100, 102, 103, 103), body=sse(Event(data="a"))))
    with ConnectionManager(retry=0) as manager:
        conn = manager.create(server.url_for("/hints"))
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a"]
    assert conn.status is Status.COMPLETED


def test_a_head_cut_off_by_the_close_is_a_drop_not_an_empty_stream(server: SSEServer) -> None:
    server.route("/cut-head", Reply(cut_head=True))
    with ConnectionManager(retry=0) as manager, pytest.raises(ConnectError) as caught:
        manager.create(server.url_for("/cut-head"), method="POST", json={"q": 1})
    message = str(caught.value)
    assert "closed the connection in the middle of its headers" in message
    assert "sending it again could run it twice" in message  # so it was not sent again
    assert len(server.requests) == 1


class _RawAnswer:
    """A loopback server answering one connection with fixed bytes once it has read the
    request's head (never its body)."""

    def __init__(self, answer: bytes) -> None:
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/s"
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        self._held.append(conn)
        conn.settimeout(WAIT)
        received = b""
        while b"\r\n\r\n" not in received:
            piece = conn.recv(65536)
            if not piece:
                return
            received += piece
        conn.sendall(self._answer)

    def close(self) -> None:
        self._listener.close()
        self._thread.join(WAIT)
        for conn in self._held:
            conn.close()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", "a header line over 65536"),
        (
            b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 101 + b"\r\n",
            "got more than 100 headers",
        ),
        (b"FOO BAR\r\n\r\n", "does not begin with an HTTP status line: 'FOO BAR'"),
        (b"\x16\x03\x01\x00\x02\x02\x46\r\n", "does not begin with an HTTP status line"),
        (b"HTTP/2.0 200 OK\r\n\r\n", "an unknown protocol version 'HTTP/2.0'"),
    ],
    ids=["long header line", "too many headers", "no status line", "TLS bytes", "HTTP/2"],
)
def test_a_malformed_answer_is_named_so_not_a_drop(answer: bytes, expected: str) -> None:
    raw = _RawAnswer(answer)
    try:
        with pytest.raises(ConnectError) as caught:
            create_sse_connection(raw.url, retry=0, timeout=WAIT)
    finally:
        raw.close()
    message = str(caught.value)
    assert "answered with a malformed HTTP response" in message and expected in message
    assert "dropped the connection" not in message and "mid-body" not in message


def test_a_request_body_the_server_stops_reading_times_out_saying_so() -> None:
    raw = _RawAnswer(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
    try:
        with pytest.raises(ConnectError) as caught:
            create_sse_connection(raw.url, method="PUT", data=b"x" * (64 << 20), retry=0,
                                  timeout=0.3, read_timeout=WAIT)
    finally:
        raw.close()
    message = str(caught.value)
    assert "sending the request to" in message and "timed out (timeout=0.3s" in message
    assert "mid-body" not in message


def test_an_error_answers_body_is_decoded_in_the_coding_urllib3_misreads(
    server: SSEServer,
) -> None:
    server.route(
        "/down",
        Reply(
            status=503,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip "},
            body=[gzip.compress(b'{"error": "overloaded"}')],
            framing="length",
        ),
    )
    with pytest.raises(HTTPStatusError) as caught:
        create_sse_connection(server.url_for("/down"), retry=0)
    assert caught.value.body == '{"error": "overloaded"}'
    assert caught.value.headers["Content-Encoding"] == "gzip "  # what the server sent


@pytest.mark.parametrize(
    ("encoding", "advice"),
    [("x-custom", "ignored Accept-Encoding"), ("gzip, x-custom", "ignored Accept-Encoding")],
)
def test_a_content_encoding_this_client_cannot_decode_is_refused(
    server: SSEServer, encoding: str, advice: str
) -> None:
    server.route(
        "/enc",
        Reply(
            headers={"Content-Type": "text/event-stream", "Content-Encoding": encoding},
            body=sse(Event(data="a")),
        ),
    )
    with pytest.raises(ContentTypeError) as caught:
        create_sse_connection(server.url_for("/enc"), retry=0)
    message = str(caught.value)
    assert f"Content-Encoding {encoding!r}" in message and advice in message
    assert len(server.requests) == 1  # final: sending it again cannot help


def test_brotli_without_its_package_says_to_install_it(server: SSEServer) -> None:
    try:  # brotli is never a dependency: skip where it is installed
        import brotli  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("brotli is installed: urllib3 decodes br")
    server.route(
        "/br",
        Reply(headers={"Content-Type": "text/event-stream", "Content-Encoding": "br"}, body=b"x"),
    )
    with pytest.raises(ContentTypeError) as caught:
        create_sse_connection(server.url_for("/br"), retry=0)
    assert "install the brotli package" in str(caught.value)
