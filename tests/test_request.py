"""The next request (sseclient_sync/_request.py): a pure function of the options, the resume
overrides and the last event ID; and what a wrong resume return value does to a connection."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from support import WAIT

from sseclient_sync import (
    CallbackError,
    ConnectionManager,
    Event,
    InternalError,
    Retry,
    Status,
)
from sseclient_sync._options import build_options
from sseclient_sync._request import check_overrides, poll_request, stream_request
from sseclient_sync.testing import Drop, Reply, SSEServer, sse

URL = "http://127.0.0.1:9/a/stream?x=1"


def request(overrides: Any = None, last_id: Any = None, **options: Any) -> Any:
    return stream_request(
        build_options(URL, options), "POST", URL, last_id, check_overrides(overrides)
    )


def test_the_sse_headers_and_the_callers_over_them() -> None:
    sent = request(headers={"Cache-Control": "max-age=0", "X": "1"})
    assert sent.headers == {
        "Accept": "text/event-stream",
        "Cache-Control": "max-age=0",
        "X": "1",
    }
    assert request().headers["Cache-Control"] == "no-cache"


def test_last_event_id_is_sent_as_utf8_bytes_when_not_ascii() -> None:
    assert request(last_id="41").headers["Last-Event-ID"] == "41"
    assert request(last_id="é").headers["Last-Event-ID"] == "é".encode()
    assert request(last_id="").headers["Last-Event-ID"] is None  # no header: requests drops it


def lowered(headers: Any) -> dict[str, Any]:
    return {name.lower(): value for name, value in headers.items()}


def test_the_latest_id_overrides_the_callers_and_the_resume_hooks_header_overrides_it() -> None:
    # The caller's Last-Event-ID is the first request's; once an id is seen, every reconnect
    # sends the latest (API.md), unless the resume hook says otherwise. Names in any case.
    mine = {"last-event-id": "mine"}
    assert request(headers=mine).headers == {
        "Accept": "text/event-stream",
        "Cache-Control": "no-cache",
        "last-event-id": "mine",
    }
    assert lowered(request(last_id="41", headers=mine).headers)["last-event-id"] == "41"
    hook = {"headers": {"Last-Event-Id": "offset-7", "ACCEPT": "text/plain"}}
    sent = request(hook, last_id="41", headers={"Last-Event-ID": "mine"})
    assert sent.headers == {
        "ACCEPT": "text/plain",
        "Cache-Control": "no-cache",
        "Last-Event-Id": "offset-7",
    }
    # The server reset the id ("id:" alone): no header at all, the caller's neither (None:
    # requests leaves out a session's too).
    assert lowered(request(last_id="", headers=mine).headers)["last-event-id"] is None
    options = build_options(URL, {"headers": mine})
    assert poll_request(options, URL, None).headers == {**mine, "Accept": "application/json"}
    assert lowered(poll_request(options, URL, "9").headers)["last-event-id"] == "9"


def test_an_id_with_spaces_or_tabs_around_it_is_sent_without_them() -> None:
    # The spec keeps "id:  7" as " 7"; fetch() strips the header value, and requests refuses
    # a value that starts with whitespace.
    assert request(last_id=" 7").headers["Last-Event-ID"] == "7"
    assert request(last_id="\t7 \t").headers["Last-Event-ID"] == "7"
    assert request(last_id="\x0c\x1f7").headers["Last-Event-ID"] == "7"  # requests refuses them
    assert request(last_id=" é").headers["Last-Event-ID"] == "é".encode()
    assert request(last_id="  ").headers["Last-Event-ID"] is None  # nothing left: as ""
    # Only that ASCII whitespace: what follows is the id, sent as UTF-8.
    assert request(last_id="x\u3000").headers["Last-Event-ID"] == "x\u3000".encode()
    assert request(last_id="\xa0y").headers["Last-Event-ID"] == "\xa0y".encode()
    assert poll_request(build_options(URL, {}), URL, " 9").headers["Last-Event-ID"] == "9"


def test_a_stream_whose_id_starts_with_a_space_resumes_from_it(server: SSEServer) -> None:
    server.route(
        "/s",
        [
            Reply(body=[b"id:  7\ndata: a\n\n", Drop()]),
            Reply(body=sse(Event(data="b", id="8"))),
            Reply(status=204),
        ],
    )
    with ConnectionManager(retry=Retry(max_attempts=3, delay=0.001, jitter=0)) as manager:
        conn = manager.create(server.url_for("/s"))
        assert [event.data for event in conn.events(timeout=WAIT)] == ["a", "b"]
        assert conn.status is Status.COMPLETED
    assert server.requests[1].headers["last-event-id"] == "7"


@pytest.mark.parametrize("where", ["headers", "session"])
def test_after_the_server_resets_the_id_no_last_event_id_goes_not_the_callers_either(
    server: SSEServer, where: str
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[b"id: 5\ndata: a\n\nid:\ndata: b\n\n", Drop()]),
            Reply(body=sse(Event(data="c"))),
            Reply(status=204),
        ],
    )
    session = requests.Session()
    options: dict[str, Any] = {"headers": {"Last-Event-ID": "old"}}
    if where == "session":
        session.headers["Last-Event-ID"] = "old"
        options = {}
    try:
        with ConnectionManager(session=session, retry=Retry(max_attempts=3, delay=0.001)) as m:
            conn = m.create(server.url_for("/s"), last_event_id="", **options)
            assert [event.data for event in conn.events(timeout=WAIT)] == ["a", "b", "c"]
    finally:
        session.close()
    sent = [request.headers.get("last-event-id") for request in server.requests[:2]]
    assert sent == ["old", None]  # an empty last_event_id= is no id: the caller's goes first


def test_resume_overrides_merge_params_and_headers_and_replace_the_body() -> None:
    sent = request(
        {"params": {"offset": 7}, "headers": {"Authorization": "Bearer new"}, "data": "x"},
        params={"q": "1"},
        headers={"Authorization": "Bearer old"},
        json={"prompt": "hi"},
    )
    assert sent.params == {"q": "1", "offset": 7}
    assert sent.headers["Authorization"] == "Bearer new"
    assert (sent.json, sent.data) == (None, "x")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://cdn.example.test/s?sig=2", "https://cdn.example.test/s?sig=2"),
        ("/b/stream?sig=2", "http://127.0.0.1:9/b/stream?sig=2"),
        ("other?sig=3", "http://127.0.0.1:9/a/other?sig=3"),
    ],
)
def test_resume_may_return_a_fresh_url_relative_to_the_connections(
    given: str, expected: str
) -> None:
    assert request({"url": given}).url == expected


def test_credentials_travel_with_every_request() -> None:
    options = build_options(URL, {"auth": ("u", "p"), "verify": "/ca.pem", "cert": "/c.pem"})
    for sent in (
        stream_request(options, "GET", URL, None, {}),
        poll_request(options, "http://127.0.0.1:9/poll", "5"),
    ):
        assert (sent.auth, sent.verify, sent.cert) == (("u", "p"), "/ca.pem", "/c.pem")


def test_the_poll_request_asks_for_json_from_the_last_id() -> None:
    sent = poll_request(build_options(URL, {"headers": {"X": "1"}}), "http://h/poll", "9")
    assert (sent.method, sent.url) == ("GET", "http://h/poll")
    assert sent.headers == {"X": "1", "Accept": "application/json", "Last-Event-ID": "9"}


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ([1], "a list, not a dict"),
        ({"offset": 1}, "unknown keys"),
        ({"url": 5}, "not a str"),
        ({"headers": "Authorization: x"}, "headers of type str"),
        ({"params": ["a", "b"]}, "params of type list"),
        ({"headers": {"X": 5}}, "'X': 5"),
        ({"headers": {"X": "a\r\nEvil: 1"}}, "cannot be sent"),
        ({"headers": {"X": " a"}}, "cannot be sent"),
        ({"json": {"tags": {"a"}}}, "json= must hold only"),
    ],
)
def test_a_resume_hook_that_returns_the_wrong_thing_is_told_so(returned: Any, message: str) -> None:
    with pytest.raises(CallbackError, match=message) as caught:
        check_overrides(returned, URL)
    assert isinstance(caught.value, TypeError)  # as every wrong return value
    assert caught.value.url == URL and URL in str(caught.value)
    assert "return None or a dict" in str(caught.value)


def test_a_resume_hook_that_returns_a_wrong_value_fails_at_once(server: SSEServer) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a", id="1")), Drop()]))
    errors: list[BaseException] = []
    with ConnectionManager() as manager:
        conn = manager.create(
            server.url_for("/s"),
            resume=lambda conn: {"params": ["a", "b"]},
            retry=Retry(max_attempts=3, delay=0.01),
            on_error=errors.append,
        )
        assert conn.wait(WAIT) is Status.FAILED
    assert isinstance(conn.error, CallbackError) and not isinstance(conn.error, InternalError)
    assert "params of type list" in str(conn.error)
    assert errors[-1] is conn.error
    assert len(server.requests) == 1  # final: the hook would return the same again
