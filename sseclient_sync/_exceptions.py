"""The SSEError tree. Every error names the URL it concerns and says what to do about it.

Errors from requests and urllib3 are translated into these in exactly one place,
``_http.py``; the cause is always chained (``raise ... from``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from ._models import Event

if TYPE_CHECKING:
    import requests

__all__ = [
    "CallbackError",
    "ConnectError",
    "ContentTypeError",
    "EventTooLarge",
    "HTTPStatusError",
    "InternalError",
    "ProtocolError",
    "ReadTimeout",
    "RetryExhausted",
    "SSEError",
    "ServerEventError",
]


class SSEError(Exception):
    """Base of every error this library raises. ``url`` is the stream's URL when known."""

    def __init__(self, message: str, *, url: Optional[str] = None) -> None:
        super().__init__(message)
        self.url = url


class ConnectError(SSEError):
    """The network failed: DNS, a refused or reset connection, TLS, a proxy, the connect
    ``timeout``, or a stream that broke off in the middle. ``request_sent`` is False when the
    request surely never reached the server, so sending it again cannot run it twice.
    ``final`` is True when sending it again cannot help (requests refused the URL, the proxy
    or a header): the reconnect policy gives up at once.
    """

    def __init__(
        self,
        message: str,
        *,
        url: Optional[str] = None,
        request_sent: bool = True,
        final: bool = False,
    ) -> None:
        super().__init__(message, url=url)
        self.request_sent = request_sent
        self.final = final


class HTTPStatusError(SSEError):
    """The server answered with a status other than 200 (or 204, which ends the stream).

    ``status_code``, ``headers`` and ``body`` (the first 4 KB of the response body, decoded
    as UTF-8 with replacement) are what the server said; ``retry_after`` is its
    ``Retry-After`` in seconds, if any; ``response`` is the requests ``Response`` (closed).
    """

    def __init__(
        self,
        message: str,
        *,
        url: Optional[str] = None,
        status_code: int,
        headers: Optional[Mapping[str, str]] = None,
        body: str = "",
        response: Optional[requests.Response] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, url=url)
        self.retry_after = retry_after
        self.status_code = status_code
        self.headers: Mapping[str, str] = dict(headers or {})
        self.body = body
        self.response = response


class ContentTypeError(SSEError):
    """The response was 200 but not ``text/event-stream``. ``content_type`` is what came."""

    def __init__(self, message: str, *, url: Optional[str] = None, content_type: str = "") -> None:
        super().__init__(message, url=url)
        self.content_type = content_type


class ReadTimeout(SSEError):
    """The open stream was silent (not even a comment) for longer than ``read_timeout``."""

    def __init__(self, message: str, *, url: Optional[str] = None, timeout: float = 0.0) -> None:
        super().__init__(message, url=url)
        self.timeout = timeout


class EventTooLarge(SSEError):
    """A line or an event's data grew past ``max_event_size``.

    ``events`` holds the events completed by the same ``SSEParser.feed`` call before the
    oversized one, so that raising loses nothing else. ``inherited``, when known, holds the
    positions in ``events`` of those whose block had no ``id:`` line.
    """

    def __init__(
        self,
        message: str,
        *,
        url: Optional[str] = None,
        limit: int = 0,
        events: Sequence[Event] = (),
        inherited: Optional[list[int]] = None,
    ) -> None:
        super().__init__(message, url=url)
        self.limit = limit
        self.events = list(events)
        self.inherited = inherited


class RetryExhausted(SSEError):
    """The reconnect policy gave up. The last error is chained as ``__cause__``."""

    def __init__(self, message: str, *, url: Optional[str] = None, attempts: int = 0) -> None:
        super().__init__(message, url=url)
        self.attempts = attempts


class ServerEventError(SSEError):
    """The server reported an error inside the stream: ``fail(event)`` matched ``event``
    (LLM APIs send ``event: error`` after a 200). Final unless ``Retry.should_retry`` accepts
    it; the events before it were delivered."""

    def __init__(self, message: str, *, url: Optional[str] = None, event: Event) -> None:
        super().__init__(message, url=url)
        self.event = event


class ProtocolError(SSEError, ValueError):
    """The server's answer is not what the protocol says: a polling answer that is not
    ``{"events": [...]}``, say. The details are in the message."""


class CallbackError(SSEError):
    """A hook of yours that the connection depends on (``resume=``) raised; its exception is
    chained as ``__cause__``. It counts as a failed reconnect attempt."""


class InternalError(SSEError):
    """The reader thread died of a bug in this library (the cause is chained). A manager
    restarts it, counting a reconnect; please report it."""
