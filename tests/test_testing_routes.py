"""sseclient_sync.testing._routes: every responder becomes one callable, every request is
recorded. The table is checked on its own first, then through the server with requests."""

from __future__ import annotations

import threading
from typing import Optional

import pytest
import requests
from support import WAIT

from sseclient_sync import Event
from sseclient_sync.testing import RecordedRequest, Reply, SSEServer, redirect, sse
from sseclient_sync.testing._routes import Headers, Routes, as_respond


def request_for(path: str, method: str = "GET", query: Optional[str] = None) -> RecordedRequest:
    target = path if query is None else f"{path}?{query}"
    return RecordedRequest(method, path, target, {}, {})


# --- The table on its own -----------------------------------------------------------------


def test_every_responder_shape_becomes_one_callable() -> None:
    one, two = Reply(status=201), Reply(status=202)
    assert as_respond(one)(request_for("/")) is one
    in_order = as_respond([one, two])
    assert [in_order(request_for("/")) for _ in range(3)] == [one, two, two]

    def echo(request: RecordedRequest) -> Reply:
        return Reply(body=request.path)

    assert as_respond(echo) is echo


def test_a_sequence_is_served_in_order_from_many_threads() -> None:
    replies = [Reply(status=200 + n) for n in range(50)]
    respond = as_respond(replies)
    served: list[int] = []
    lock = threading.Lock()

    def serve() -> None:
        for _ in range(10):
            status = respond(request_for("/")).status
            with lock:
                served.append(status)

    threads = [threading.Thread(target=serve) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert sorted(served) == [reply.status for reply in replies]


def test_unknown_paths_and_methods_get_a_404_saying_so() -> None:
    routes = Routes()
    routes.add("/only-get", Reply(status=201), methods="get")
    routes.add("/any", Reply(status=202), methods=None)
    assert routes.reply_for(request_for("/only-get")).status == 201
    assert routes.reply_for(request_for("/any", method="PROPFIND")).status == 202
    missing = routes.reply_for(request_for("/missing"))
    assert (missing.status, missing.body) == (404, ("no route for /missing\n",))
    wrong = routes.reply_for(request_for("/only-get", method="POST"))
    assert (wrong.status, wrong.body) == (404, ("/only-get does not accept POST (only GET)\n",))


def test_a_404_does_not_use_up_a_sequence() -> None:
    routes = Routes()
    routes.add("/s", [Reply(status=201), Reply(status=202)], methods=["GET"])
    assert routes.reply_for(request_for("/s", method="POST")).status == 404
    assert routes.reply_for(request_for("/s")).status == 201


def test_a_callable_returning_something_else_is_a_type_error() -> None:
    routes = Routes()
    routes.add("/s", lambda request: "not a reply", methods=None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="returned 'not a reply', not a Reply"):
        routes.reply_for(request_for("/s"))


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


def test_recorded_request_made_by_hand_has_case_insensitive_headers() -> None:
    request = RecordedRequest("GET", "/", "/", {}, {"Last-Event-ID": "1"})
    assert request.headers["last-event-id"] == "1"
    assert request.body == b""
    assert request.client_cert is None


def test_repeated_header_fields_are_joined() -> None:
    headers = Headers([("Accept", "a"), ("X-Other", "o"), ("accept", "b")])
    assert headers["ACCEPT"] == "a, b"
    assert list(headers) == ["Accept", "X-Other"]
    assert len(headers) == 2
    assert RecordedRequest("GET", "/", "/", {}, headers).header("accept") == "a, b"


# --- Through the server -------------------------------------------------------------------


def test_redirect(server: SSEServer) -> None:
    server.route("/old", redirect(server.url_for("/new")))
    server.route("/moved", redirect("/new", status=307))
    server.route("/new", Reply(body=[sse(Event(data="here"))]))
    response = requests.get(server.url_for("/old"), timeout=WAIT)
    assert response.text == "data: here\n\n"
    assert response.history[0].status_code == 302
    assert response.history[0].headers["Location"] == server.url_for("/new")
    moved = requests.get(server.url_for("/moved"), allow_redirects=False, timeout=WAIT)
    assert (moved.status_code, moved.headers["Location"]) == (307, "/new")


def test_sequence_of_replies_is_served_in_order_and_the_last_repeats(server: SSEServer) -> None:
    server.route("/s", [Reply(status=503), Reply(body="one"), Reply(body="two")])
    with requests.Session() as session:
        got = [session.get(server.url_for("/s"), timeout=WAIT) for _ in range(4)]
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
    assert requests.get(server.url_for("/s?offset=7"), timeout=WAIT).text == "offset=7"


def test_callable_responder_failing_answers_500_and_logs(
    server: SSEServer, caplog: pytest.LogCaptureFixture
) -> None:
    def respond(request: RecordedRequest) -> Reply:
        raise ValueError("boom")

    server.route("/s", respond)
    server.route("/ok", Reply(body="fine"))
    with requests.Session() as session:
        failed = session.get(server.url_for("/s"), timeout=WAIT)
        assert (failed.status_code, "boom" in failed.text) == (500, True)
        assert session.get(server.url_for("/ok"), timeout=WAIT).text == "fine"
    assert any("boom" in (r.exc_text or "") for r in caplog.records)
    assert server.connections_accepted == 1


def test_unknown_path_and_wrong_method_get_404(server: SSEServer) -> None:
    server.route("/only-get", Reply(body="x"), methods="GET")
    missing = requests.get(server.url_for("/missing"), timeout=WAIT)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("text/plain")
    assert "/missing" in missing.text
    wrong = requests.post(server.url_for("/only-get"), timeout=WAIT)
    assert wrong.status_code == 404
    assert "POST" in wrong.text
    assert requests.get(server.url_for("/only-get"), timeout=WAIT).text == "x"
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/missing"),
        ("POST", "/only-get"),
        ("GET", "/only-get"),
    ]


def test_a_later_route_replaces_the_earlier(server: SSEServer) -> None:
    server.route("/s", Reply(status=201))
    server.route("/s", Reply(status=202))
    assert requests.get(server.url_for("/s"), timeout=WAIT).status_code == 202


def test_records_method_path_query_headers_and_json_body(server: SSEServer) -> None:
    server.route("/chat", Reply(body="ok"), methods=["post"])
    response = requests.post(
        server.url_for("/chat?offset=3&tag=a&tag=&empty"),
        json={"text": "hi"},
        headers={"Last-Event-ID": "7"},
        timeout=WAIT,
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
    assert request.client_cert is None


def test_wait_for_requests_times_out_with_a_clear_message(server: SSEServer) -> None:
    server.route("/s", Reply())
    requests.get(server.url_for("/s?n=1"), timeout=WAIT)
    with pytest.raises(TimeoutError, match=r"2 requests.*1 arrived: GET /s\?n=1"):
        server.wait_for_requests(2, timeout=0.1)
