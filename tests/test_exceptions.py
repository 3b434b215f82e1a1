"""The SSEError tree: every error is an SSEError, carries its data, and says what happened."""

from __future__ import annotations

import pytest

import sseclient_sync
from sseclient_sync import (
    ConnectError,
    ContentTypeError,
    Event,
    EventTooLarge,
    HTTPStatusError,
    ReadTimeout,
    RetryExhausted,
    SSEError,
)

LEAVES = [
    ConnectError,
    ContentTypeError,
    EventTooLarge,
    HTTPStatusError,
    ReadTimeout,
    RetryExhausted,
]
URL = "https://example.org/stream"


def test_sse_error_is_an_exception() -> None:
    assert issubclass(SSEError, Exception)
    assert not issubclass(SSEError, (OSError, ValueError))  # one tree, not mixed into others


@pytest.mark.parametrize("cls", LEAVES)
def test_every_error_is_an_sse_error_and_exported(cls: type[SSEError]) -> None:
    assert issubclass(cls, SSEError)
    assert getattr(sseclient_sync, cls.__name__) is cls
    assert cls.__name__ in sseclient_sync.__all__


def test_the_leaves_are_direct_children_of_sse_error() -> None:
    assert {cls.__base__ for cls in LEAVES} == {SSEError}


def test_sse_error_message_and_url() -> None:
    error = SSEError("it broke", url=URL)
    assert str(error) == "it broke"
    assert error.args == ("it broke",)
    assert error.url == URL
    assert SSEError("no url").url is None


def test_url_can_be_set_later() -> None:
    # The parser raises EventTooLarge without knowing the URL; the connection fills it in.
    error = EventTooLarge("too big")
    error.url = URL
    assert error.url == URL


def test_connect_error() -> None:
    error = ConnectError("connection refused", url=URL)
    assert (str(error), error.url) == ("connection refused", URL)


def test_http_status_error_attributes() -> None:
    headers = {"Content-Type": "text/html", "Retry-After": "5"}
    error = HTTPStatusError(
        "server said 503", url=URL, status_code=503, headers=headers, body="<h1>busy</h1>"
    )
    assert str(error) == "server said 503"
    assert (error.url, error.status_code, error.body) == (URL, 503, "<h1>busy</h1>")
    assert error.headers == headers
    assert error.response is None


def test_http_status_error_copies_the_headers() -> None:
    headers = {"X": "1"}
    error = HTTPStatusError("500", status_code=500, headers=headers)
    headers["X"] = "2"
    assert error.headers == {"X": "1"}


def test_http_status_error_defaults() -> None:
    error = HTTPStatusError("404", status_code=404)
    assert (error.url, error.headers, error.body, error.response) == (None, {}, "", None)


def test_http_status_error_keeps_the_response() -> None:
    response = object()
    error = HTTPStatusError("500", status_code=500, response=response)  # type: ignore[arg-type]
    assert error.response is response


def test_http_status_error_needs_a_status_code() -> None:
    with pytest.raises(TypeError):
        HTTPStatusError("no status")  # type: ignore[call-arg]


def test_content_type_error() -> None:
    error = ContentTypeError("not an event stream", url=URL, content_type="text/html")
    assert (str(error), error.url, error.content_type) == ("not an event stream", URL, "text/html")
    assert ContentTypeError("x").content_type == ""


def test_read_timeout() -> None:
    error = ReadTimeout("silent for 30 s", url=URL, timeout=30.0)
    assert (str(error), error.url, error.timeout) == ("silent for 30 s", URL, 30.0)
    assert ReadTimeout("x").timeout == 0.0


def test_event_too_large() -> None:
    events = (Event(data="a"), Event(data="b"))
    error = EventTooLarge("too big", url=URL, limit=1024, events=events)
    assert (str(error), error.url, error.limit) == ("too big", URL, 1024)
    assert error.events == [Event(data="a"), Event(data="b")]
    assert isinstance(error.events, list)


def test_event_too_large_defaults() -> None:
    error = EventTooLarge("too big")
    assert (error.url, error.limit, error.events) == (None, 0, [])


def test_event_too_large_from_the_parser_says_what_to_do() -> None:
    parser = sseclient_sync.SSEParser(max_event_size=10)
    with pytest.raises(EventTooLarge) as caught:
        parser.feed(b"data: a\n\ndata: 0123456789\n\n")
    assert caught.value.limit == 10
    assert caught.value.events == [Event(data="a")]
    assert "max_event_size=10" in str(caught.value)


def test_retry_exhausted_chains_the_last_error() -> None:
    cause = ConnectError("refused", url=URL)
    with pytest.raises(RetryExhausted) as caught:
        try:
            raise cause
        except ConnectError as error:
            raise RetryExhausted("gave up after 5 attempts", url=URL, attempts=5) from error
    assert (str(caught.value), caught.value.url, caught.value.attempts) == (
        "gave up after 5 attempts",
        URL,
        5,
    )
    assert caught.value.__cause__ is cause
    assert RetryExhausted("x").attempts == 0


@pytest.mark.parametrize("cls", LEAVES)
def test_every_error_is_caught_as_sse_error(cls: type[SSEError]) -> None:
    kwargs = {"status_code": 500} if cls is HTTPStatusError else {}
    with pytest.raises(SSEError, match="boom"):
        raise cls("boom", url=URL, **kwargs)
