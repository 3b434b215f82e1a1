"""The transport: the only module that touches requests and urllib3.

It opens a stream (one HTTP request), checks the status and media type, reads what has
arrived, and stops a blocked read from another thread. Errors from requests and urllib3 are
translated into the SSEError tree here and nowhere else.

Why ``read1``: fixed-size reads (``iter_content(n)``, ``raw.read(n)``) wait for n bytes or the
end of the body, which holds events back on responses without chunked encoding; ``read1``
returns whatever has arrived. Why ``shutdown``: ``Response.close()`` from another thread waits
for the reader's buffer lock, i.e. for the server to send something; shutting the socket down
first wakes the blocked read at once (urllib3 >= 2.3).
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import http.client
import io
import logging
import os
import re
import socket
import ssl
import sys
import threading
import time
from typing import Any, Callable, Iterator, Mapping, Optional

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.exceptions
import urllib3.response
from requests.sessions import merge_setting as _untyped_merge_setting
from requests.utils import get_environ_proxies
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import connection as urllib3_connection

from ._chunked import ChunkedDecoder, ChunkedError
from ._exceptions import (
    ConnectError,
    ContentTypeError,
    EventTooLarge,
    HTTPStatusError,
    ReadTimeout,
    SSEError,
)
from ._policy import RETRYABLE_STATUSES
from ._transport import Request, Stream, Transport

__all__ = [
    "InterruptibleAdapter",
    "Request",
    "RequestsTransport",
    "Stream",
    "Transport",
    "check_session",
    "new_session",
]

log = logging.getLogger(__name__)

#: The most one read takes. A read's events live together until they are delivered, and the
#: cyclic garbage collector runs each time 700 more objects have been made than freed: at
#: 64 KiB of small events (about 1,400) every read paid for a pass over its own events, 5% of
#: the cost of a burst. 16 KiB keeps a read's events under that count down to 24-byte events.
READ_SIZE = 16 * 1024
ERROR_BODY_LIMIT = 4096
#: How long an error reply may take to send the first bytes of its body, and then each next
#: piece, before the status is reported with what has arrived.
ERROR_BODY_WAIT = 1.0
ERROR_BODY_GAP = 0.05


# ---------------------------------------------------------------------------------------------
# Interrupting a request before its headers arrive
#
# requests gives no handle on the socket of a request in flight. An adapter whose pools note,
# per thread, the connection each request takes lets another thread shut that socket down.


class _InFlight(threading.local):
    transport: Optional[RequestsTransport] = None


_in_flight = _InFlight()


def _note_connection(connection: Any) -> None:
    transport = _in_flight.transport
    if transport is not None:
        transport.note_connection(connection)


class _NotesConnections:
    """Mixed into a urllib3 pool: tells the requesting thread's transport each connection."""

    def _get_conn(self, timeout: Optional[float] = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        _note_connection(connection)
        return connection


class _ShowsItsSocket:
    """Mixed into a urllib3 connection: while it connects (TCP, a proxy's tunnel, the TLS
    handshake) the requesting thread's transport holds a socket it can shut down. urllib3
    exposes the socket only once TCP has connected, and TLS detaches the one it wraps; a
    duplicate of it reaches the same connection for the handshake."""

    def _new_conn(self) -> socket.socket:
        transport = _in_flight.transport
        if transport is not None and urllib3_connection.create_connection is _CREATE_CONNECTION:
            sock = _connect_socket(self, transport)
        else:
            # Not ours, or the caller replaced urllib3's (to resolve names its own way):
            # theirs it is, and only a TLS handshake can be cut short.
            sock = super()._new_conn()  # type: ignore[misc]
        if transport is not None and isinstance(self, urllib3.connection.HTTPSConnection):
            transport.note_socket(sock.dup(), owned=True)
        return sock

    def connect(self) -> None:
        transport = _in_flight.transport
        try:
            super().connect()  # type: ignore[misc]
        except socket.timeout as error:
            # In a proxy's tunnel or the TLS handshake: urllib3 would call it a read timeout,
            # which says the request may have reached the server.
            raise urllib3.exceptions.ConnectTimeoutError(
                self, f"timed out while connecting (timeout={getattr(self, 'timeout', None)})"
            ) from error
        finally:
            if transport is not None:
                transport.note_socket(None)


def _connect_socket(connection: Any, transport: RequestsTransport) -> socket.socket:
    """urllib3's HTTPConnection._new_conn, with each socket shown to ``transport`` before it
    connects, and its errors."""
    try:
        sock = _open_socket(connection, transport)
    except socket.gaierror as error:
        raise urllib3.exceptions.NameResolutionError(connection.host, connection, error) from error
    except socket.timeout as error:
        raise urllib3.exceptions.ConnectTimeoutError(
            connection, f"Connection to {connection.host} timed out (timeout={connection.timeout})"
        ) from error
    except OSError as error:
        raise urllib3.exceptions.NewConnectionError(
            connection, f"Failed to establish a new connection: {error}"
        ) from error
    sys.audit("http.client.connect", connection, connection.host, connection.port)
    return sock


def _open_socket(connection: Any, transport: RequestsTransport) -> socket.socket:
    """urllib3's create_connection, with each socket shown to ``transport`` before it
    connects."""
    host: str = connection._dns_host
    host = host.strip("[]") if host.startswith("[") else host
    try:
        host.encode("idna")
    except UnicodeError:
        raise urllib3.exceptions.LocationParseError(f"'{host}', label empty or too long") from None
    timeout = connection.timeout
    failure: Optional[OSError] = None
    allowed = urllib3_connection.allowed_gai_family()  # looked up now: callers replace it
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, connection.port, allowed, socket.SOCK_STREAM
    ):
        sock = socket.socket(family, kind, proto)
        try:
            for option in connection.socket_options or ():
                sock.setsockopt(*option)
            if timeout is None or isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            if connection.source_address:
                sock.bind(connection.source_address)
            transport.note_socket(sock)
            sock.connect(address)
            return sock
        except OSError as error:
            failure = error
            sock.close()
    raise failure if failure is not None else OSError("getaddrinfo returned no address")


_CREATE_CONNECTION = urllib3_connection.create_connection  # what _connect_socket stands for


class HeadCutOff(ConnectionError, http.client.HTTPException):
    """The connection closed in the middle of a response's head (its status line and headers
    came, the blank line that ends them did not)."""


class _LineWatch:
    """A response's file while http.client reads its head: it remembers the last line read,
    which is the blank line that ends the head, or b"" when the connection closed first."""

    __slots__ = ("_file", "last")

    def __init__(self, file: Any) -> None:
        self._file = file
        self.last = b"\n"

    def readline(self, limit: int = -1) -> bytes:
        self.last = self._file.readline(limit)
        return self.last

    def close(self) -> None:  # http.client closes it on a bad status line
        self._file.close()


class _Response(http.client.HTTPResponse):
    """http.client's response, as RFC 9110 and 9112 read an answer's head: a 1xx interim
    response before the answer (102 Processing, 103 Early Hints) is skipped, not taken for
    the answer (http.client skips only 100 Continue; 101 stays final: it switches protocols),
    and a head cut off by the close is an error, not an empty answer."""

    def begin(self) -> None:
        file: Any = self.fp
        watch: Any = _LineWatch(file)
        self.fp = watch
        try:
            super().begin()  # (at once if it has begun already: then watch reads nothing)
        finally:
            if self.fp is watch:  # else http.client closed it (None)
                self.fp = file
        if not watch.last:
            raise HeadCutOff("the server closed the connection in the middle of its headers")

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 102 <= status < 200:
                return version, status, reason
            _skip_headers(self.fp)


def _skip_headers(file: Any) -> None:
    """Read past the headers of an interim response, with http.client's limits."""
    for _ in range(_MAX_HEADERS + 1):
        line = file.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return
    raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")


class _HTTPConnection(_ShowsItsSocket, urllib3.connection.HTTPConnection):
    response_class = _Response


class _HTTPSConnection(_ShowsItsSocket, urllib3.connection.HTTPSConnection):
    response_class = _Response


class _NotingHTTPPool(_NotesConnections, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _NotingHTTPSPool(_NotesConnections, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_NOTING_POOLS = {"http": _NotingHTTPPool, "https": _NotingHTTPSPool}


class InterruptibleAdapter(requests.adapters.HTTPAdapter):
    """An HTTPAdapter that never retries (ours is the only retry layer) and whose requests can
    be interrupted from another thread while they wait for the response headers."""

    def __init__(self, pool_maxsize: int = 100) -> None:
        super().__init__(pool_connections=10, pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _NOTING_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _NOTING_POOLS
        return manager


#: The environment variables a request's proxies and CA bundle come from (requests also
#: reads ``<scheme>_proxy`` for other schemes, which http and https requests never use).
_ENVIRONMENT_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)
_ENVIRONMENT_CACHE_LIMIT = 256
merge_setting: Callable[[Any, Any], Any] = _untyped_merge_setting


class _Session(requests.Session):
    """The Session the library makes for itself when the caller gives none.

    requests works out the proxies for every request from the environment, scanning every
    environment variable twice: a quarter of its CPU time per request, which a manager
    opening hundreds of streams pays each time. This Session remembers the answer per
    host for as long as the environment variables it depends on keep their values.

    requests 2.34 also turns each pair of dicts it merges into lists after an ``isinstance``
    check against a runtime Protocol, which costs more than the rest of the merge on Python
    3.11 and older. This Session has no params of its own (None: requests then takes the
    request's as they are), and it merges the proxies itself.
    """

    def __init__(self) -> None:
        super().__init__()
        self.params = None  # type: ignore[assignment]  # requests types it as a dict
        self._proxy_cache: dict[tuple[Any, ...], dict[str, str]] = {}
        self._proxy_cache_lock = threading.Lock()

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:  # requests' own type differs across versions of its stubs
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        # What requests.Session.merge_environment_settings does, with the proxies cached.
        environment = tuple(map(os.environ.get, _ENVIRONMENT_VARIABLES))
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        if proxies is not None:
            for key, value in self._environment_proxies(url, no_proxy, environment).items():
                proxies.setdefault(key, value)
        if verify is True or verify is None:
            verify = environment[-2] or environment[-1] or verify
        return {
            "proxies": _merge_proxies(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }

    def _environment_proxies(
        self, url: str, no_proxy: Optional[str], environment: tuple[Optional[str], ...]
    ) -> dict[str, str]:
        origin = "/".join(str(url).split("/", 3)[:3])  # scheme://host:port
        key = (origin, no_proxy, environment)
        with self._proxy_cache_lock:
            found = self._proxy_cache.get(key)
        if found is None:
            found = get_environ_proxies(url, no_proxy=no_proxy)
            with self._proxy_cache_lock:
                if len(self._proxy_cache) >= _ENVIRONMENT_CACHE_LIMIT:
                    self._proxy_cache.clear()
                self._proxy_cache[key] = found
        return found


def _unencodable(what: str, url: str, error: UnicodeEncodeError, *, final: bool) -> ConnectError:
    return ConnectError(
        f"could not send {what} to {url}: a header cannot be encoded ({error.reason}); pass "
        "non-Latin-1 header values as bytes",
        url=url,
        request_sent=False,
        final=final,
    )


def _merge_proxies(given: Optional[Mapping[str, Any]], own: Optional[Mapping[str, Any]]) -> Any:
    """requests' merge_setting for two dicts of proxies: the given ones over the session's,
    without the keys whose value is None."""
    if own is None:
        return given
    if given is None:
        return own
    merged = {**own, **given}
    return {key: value for key, value in merged.items() if value is not None}


def new_session(pool_maxsize: int = 100) -> requests.Session:
    """A requests Session with :class:`InterruptibleAdapter` mounted for http and https, that
    reads proxy settings from the environment once per host (see :class:`_Session`)."""
    session = _Session()
    adapter = InterruptibleAdapter(pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _shutdown_socket(sock: Optional[socket.socket]) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------------------------------------


def check_session(session: object) -> None:
    """``session=`` must be None or a requests.Session: a TypeError naming it otherwise."""
    if session is not None and not isinstance(session, requests.Session):
        raise TypeError(f"session must be a requests.Session, got {type(session).__name__}")


class RequestsTransport:
    """Opens streams with requests: the caller's session, or one of its own."""

    def __init__(self, session: Optional[requests.Session] = None) -> None:
        check_session(session)
        self._owns_session = session is None
        self.session = session if session is not None else new_session()
        self._lock = threading.Lock()
        self._opening: Any = None  # the urllib3 connection of a request waiting for headers
        self._connecting: Optional[socket.socket] = None  # its socket while it connects
        self._owns_connecting = False  # a duplicate to close once connected
        self._sending_to: Optional[str] = None  # the URL of the request in flight
        self._aborted = False

    def open(
        self, request: Request, timeout: float, read_timeout: Optional[float]
    ) -> Optional[Stream]:
        with self._lock:
            self._aborted = False
            self._sending_to = request.url
        _in_flight.transport = self
        try:
            response = self._send(request, timeout, read_timeout)
        finally:
            _in_flight.transport = None
            with self._lock:
                self._opening = self._sending_to = None
                aborted = self._aborted
        if aborted:
            response.close()
            raise ConnectError(
                f"the request to {request.url} was interrupted (close or reconnect)",
                url=request.url,
            )
        return _accept(response, request.url, read_timeout)

    def _send(
        self, request: Request, timeout: float, read_timeout: Optional[float]
    ) -> requests.Response:
        kwargs: dict[str, Any] = {
            "params": request.params,
            "headers": request.headers,
            "json": request.json,
            "data": request.data,
            "auth": request.auth,
            "cert": request.cert,
            "proxies": dict(request.proxies) if request.proxies else None,  # requests fills it in
            # `timeout` bounds connecting (TCP, TLS, a proxy tunnel); the wait for the headers
            # is silence like any other: WSGI servers send them with the first body byte.
            "timeout": (timeout, read_timeout),
            "stream": True,
        }
        if request.verify is not None:
            kwargs["verify"] = request.verify
        try:
            return self.session.request(request.method, request.url, **kwargs)
        except requests.exceptions.RequestException as error:
            with self._lock:
                aborted = self._aborted
            if aborted:
                raise ConnectError(
                    f"the request to {request.url} was interrupted (close or reconnect)",
                    url=request.url,
                ) from error
            raise translate_request_error(error, request.url, timeout, read_timeout) from error
        except UnicodeEncodeError as error:  # a header of the session's own, past Latin-1
            raise _unencodable("the request", request.url, error, final=True) from error
        except urllib3.exceptions.LocationValueError as error:  # requests lets it through
            raise ConnectError(
                f"could not send the request to {request.url}: its host is not a valid name "
                f"({error}); check the URL",
                url=request.url,
                request_sent=False,
                final=True,
            ) from error
        except OSError as error:  # requests checks verify= and cert= files before sending
            raise ConnectError(
                f"could not send the request to {request.url}: {error}; check the paths given "
                "as verify= and cert=",
                url=request.url,
                request_sent=False,
            ) from error

    def note_connection(self, connection: Any) -> None:
        """Called in the requesting thread with each urllib3 connection the request takes."""
        with self._lock:
            self._opening = connection
            aborted = self._aborted
        if aborted:
            _shutdown_socket(getattr(connection, "sock", None))

    def note_socket(self, sock: Optional[socket.socket], owned: bool = False) -> None:
        """Called in the requesting thread with the socket of a connection being made (None
        once it is made). An ``owned`` socket is a duplicate, closed when the next is noted."""
        with self._lock:
            if self._owns_connecting and self._connecting is not None:
                self._connecting.close()
            self._connecting, self._owns_connecting = sock, owned
            if self._aborted:
                _shutdown_socket(sock)

    def abort(self) -> bool:
        with self._lock:
            self._aborted = True
            connection = self._opening
            _shutdown_socket(self._connecting)
            sending_to = self._sending_to
        if connection is not None:
            _shutdown_socket(getattr(connection, "sock", None))
        return sending_to is None or self._reaches(sending_to)

    def _reaches(self, url: str) -> bool:
        """Whether the session's adapter for ``url`` lets abort() cut its requests short (a
        session of the caller's own has adapters of its own)."""
        try:
            return isinstance(self.session.get_adapter(url), InterruptibleAdapter)
        except requests.exceptions.InvalidSchema:
            return True

    def poll(
        self, request: Request, timeout: float, read_timeout: Optional[float], limit: Optional[int]
    ) -> bytes:
        url = request.url
        with self._lock:
            self._aborted = False
            self._sending_to = url
        # Registered for the whole exchange, body included, so abort() can cut it short.
        _in_flight.transport = self
        answered = False
        try:
            response = self.session.request(
                request.method,
                url,
                headers=request.headers,
                auth=request.auth,
                cert=request.cert,
                proxies=dict(request.proxies) if request.proxies else None,
                timeout=(timeout, read_timeout),
                stream=True,
                **({} if request.verify is None else {"verify": request.verify}),
            )
            if response.status_code != 200:
                raise _status_error(response, url)
            answered = True
            try:
                check_codings(response, url)
                return _poll_body(response, url, limit)
            finally:
                response.close()
        except UnicodeEncodeError as error:
            raise _unencodable("the poll", url, error, final=False) from error
        except requests.exceptions.RequestException as error:
            if self._aborted:
                raise ConnectError(f"the poll of {url} was interrupted", url=url) from error
            silent = (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError)
            if any(isinstance(cause, silent) for cause in _causes(error)):  # headers or body
                raise ReadTimeout(
                    f"the poll of {url} was silent for longer than read_timeout={read_timeout}s "
                    "(a poll waits that long for its answer and each piece of its body); raise "
                    "read_timeout if the server is slow to answer",
                    url=url,
                    timeout=read_timeout or 0.0,
                ) from error
            if answered and isinstance(error, requests.exceptions.ContentDecodingError):
                raise ConnectError(
                    f"the poll answer from {url} could not be decoded (Content-Encoding "
                    f"{response.headers.get('Content-Encoding')!r}): check the server or a "
                    "proxy in between",
                    url=url,
                ) from error
            if answered:
                raise ConnectError(
                    f"the poll answer from {url} broke off: {describe_error(error)}", url=url
                ) from error
            raise translate_request_error(error, url, timeout, read_timeout) from error
        finally:
            _in_flight.transport = None
            with self._lock:
                self._opening = self._sending_to = None

    def close(self) -> None:
        if self._owns_session:
            self.session.close()


def _poll_body(response: requests.Response, url: str, limit: Optional[int]) -> bytes:
    """A poll answer's body, decoded, refused once it passes ``limit`` bytes: it is read
    whole before it is parsed, so it must not grow without bound."""
    pieces: list[bytes] = []
    size = 0
    for piece in response.iter_content(READ_SIZE):
        size += len(piece)
        if limit is not None and size > limit:
            raise EventTooLarge(
                f"the poll answer from {url} passed {limit} bytes (4 x max_event_size + 1 MiB) "
                "and was not read further; raise max_event_size if the server really answers "
                "polls this large",
                url=url,
                limit=limit,
            )
        pieces.append(piece)
    return b"".join(pieces)


def _accept(
    response: requests.Response, url: str, read_timeout: Optional[float]
) -> Optional[Stream]:
    """Check status and media type; turn an accepted response into a stream."""
    status = response.status_code
    if status == 204:
        response.close()
        return None
    if status != 200:
        raise _status_error(response, url)
    content_type = response.headers.get("Content-Type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "text/event-stream":
        response.close()
        raise ContentTypeError(
            f"{url} answered 200 with Content-Type {content_type or '(none)'!r}, not "
            "text/event-stream: check the URL, and that the server streams Server-Sent Events "
            "(an HTML page usually means a login or error page)",
            url=url,
            content_type=content_type,
        )
    check_codings(response, url)
    return _open_stream(response, url, read_timeout)


def check_codings(response: requests.Response, url: str) -> None:
    """Refuse a Content-Encoding urllib3 cannot undo, and hand it the one it can in the form
    it reads: urllib3 takes ``identity`` in a list for a coding and misses ``gzip `` with the
    whitespace RFC 9112 allows."""
    encoding = response.headers.get("Content-Encoding")
    unreadable = [coding for coding in _normalise_codings(response) if coding not in _DECODABLE]
    if unreadable:
        response.close()
        missing = {"br": "brotli", "zstd": "zstandard"}.get(unreadable[0])
        raise ContentTypeError(
            f"{url} answered 200 with Content-Encoding {encoding!r}, which this client cannot "
            "decode: "
            + (
                f"install the {missing} package (urllib3 decodes {unreadable[0]} with it)"
                if missing
                else "check the server, or a proxy in between, which ignored Accept-Encoding"
            ),
            url=url,
            content_type=response.headers.get("Content-Type", ""),
        )


def _normalise_codings(response: requests.Response) -> list[str]:
    """The response's content codings, as urllib3 reads them: lower case, stripped, without
    identity; written back to urllib3's headers (it reads them at the first read of the
    body), while ``response.headers`` keeps what the server sent."""
    encoding = response.headers.get("Content-Encoding")
    if encoding is None:
        return []
    codings = [part.strip().lower() for part in encoding.split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    raw_headers = getattr(response.raw, "headers", None)  # a mocked response may have none
    if raw_headers is None:
        return codings
    if codings:
        raw_headers["Content-Encoding"] = ", ".join(codings)
    elif "Content-Encoding" in raw_headers:
        del raw_headers["Content-Encoding"]
    return codings


#: The content codings urllib3 undoes here (br and zstd only with their packages installed).
_DECODABLE = frozenset(urllib3.response.HTTPResponse.CONTENT_DECODERS)


def response_socket(raw: urllib3.HTTPResponse) -> Optional[socket.socket]:
    """The socket a response's body is read from.

    http.client drops the connection's reference to its socket as soon as a response will
    close the connection (``Connection: close``, HTTP/1.0, a body that ends with the close),
    so ``raw.connection.sock`` is None exactly for the servers that answer that way (Werkzeug,
    gunicorn's sync workers, Django's runserver); the response's own file still holds it.
    """
    inner = getattr(raw, "_fp", None)
    sock = getattr(getattr(getattr(inner, "fp", None), "raw", None), "_sock", None)
    if sock is None:
        sock = getattr(raw.connection, "sock", None)
    return sock if hasattr(sock, "settimeout") else None


def _status_error(response: requests.Response, url: str) -> HTTPStatusError:
    status = response.status_code
    try:
        _normalise_codings(response)
        body = _arrived_body(response.raw)
    finally:
        response.close()
    text = body.decode("utf-8", "replace")
    advice = (
        "the server failed or is overloaded; check its logs"
        if status in RETRYABLE_STATUSES
        else "check the URL, method, headers and credentials"
    )
    snippet = f": {text[:200]!r}" if text.strip() else ""
    return HTTPStatusError(
        f"{url} answered {status} {response.reason or ''}".rstrip() + f"{snippet} ({advice})",
        url=url,
        status_code=status,
        headers=dict(response.headers),
        body=text,
        response=response,
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


def _arrived_body(raw: urllib3.HTTPResponse) -> bytes:
    """What has arrived of an error body, up to ERROR_BODY_LIMIT bytes: the first bytes within
    ERROR_BODY_WAIT seconds, then only what follows at once. A server may keep an error body
    open (a streaming 500); the status must not wait for its end."""
    sock = response_socket(raw)
    pieces: list[bytes] = []
    size = 0
    wait = ERROR_BODY_WAIT
    try:
        while size < ERROR_BODY_LIMIT:
            if sock is not None:
                sock.settimeout(wait)
            piece = raw.read1(ERROR_BODY_LIMIT - size, decode_content=True)
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
            wait = ERROR_BODY_GAP
    except Exception:  # the body is a courtesy; the status is the error
        log.debug("stopped reading an error body", exc_info=True)
    return b"".join(pieces)


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # asctime and "-0000" dates: HTTP dates are always GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def translate_request_error(
    error: requests.exceptions.RequestException,
    url: str,
    timeout: float,
    read_timeout: Optional[float],
) -> SSEError:
    """The one translation of a failed request (before any response) into the SSEError tree,
    saying in plain words what happened and whether the request can have reached the server."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return ConnectError(
            f"could not connect to {url} within timeout={timeout}s (TCP connect, TLS "
            "handshake or proxy tunnel); check that the host is reachable, or raise timeout",
            url=url,
            request_sent=False,
        )
    if isinstance(error, requests.exceptions.Timeout):
        return ReadTimeout(
            f"{url} accepted the request but sent no response headers for read_timeout="
            f"{read_timeout}s; the server may be slow to start its answer (WSGI servers send "
            "the headers with the first event): raise read_timeout",
            url=url,
            timeout=read_timeout or 0.0,
        )
    reason = describe_error(error)
    if isinstance(error, requests.exceptions.SSLError):
        return ConnectError(
            f"the TLS handshake with {url} failed: {reason}; check verify= (a CA bundle for a "
            "private certificate authority) and cert=",
            url=url,
            request_sent=False,
        )
    if isinstance(error, requests.exceptions.ProxyError):
        if _tunnel_refusal(error).startswith("407"):  # no retry brings credentials
            return ConnectError(
                f"the proxy for {url} asks for credentials (407 Proxy Authentication "
                "Required); give them in the proxy URL: http://user:password@host:port",
                url=url,
                request_sent=False,
                final=True,
            )
        return ConnectError(
            f"the proxy for {url} failed: {reason}; check proxies= and the HTTP(S)_PROXY "
            "environment variables",
            url=url,
            request_sent=False,
        )
    if isinstance(error, requests.exceptions.TooManyRedirects):
        return ConnectError(
            f"{url} redirected more than {_MAX_REDIRECTS} times (a redirect loop): check the "
            "URL, and whether the server expects a login or a cookie first",
            url=url,
            final=True,
        )
    if isinstance(error, _REFUSED_REQUESTS):
        return ConnectError(
            f"could not send the request to {url}: {_refusal(error, url)}",
            url=url,
            request_sent=False,
            final=True,
        )
    malformed = _malformed_head(error)
    if malformed:
        return ConnectError(
            f"{url} answered with a malformed HTTP response ({malformed}); check that the URL "
            "and its port are those of an HTTP server (an https:// server answers http:// "
            "with bytes like these)",
            url=url,
        )
    if _timed_out_sending(error):
        return ConnectError(
            f"sending the request to {url} timed out (timeout={timeout}s, which also bounds "
            "each write of the request body): the server stopped reading it. Raise timeout "
            "for a large body and a slow server",
            url=url,
        )
    sent = not _never_connected(error)
    if sent:
        return ConnectError(
            f"{url} dropped the connection before answering ({reason})", url=url
        )
    return ConnectError(
        f"could not connect to {url}: {reason}; check that the server is up and the URL is "
        "right",
        url=url,
        request_sent=False,
    )


_MAX_REDIRECTS = requests.models.DEFAULT_REDIRECT_LIMIT

#: What requests raises, before sending anything, for a request it cannot make.
_REFUSED_REQUESTS = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,  # InvalidProxyURL too
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)


def _refusal(error: requests.exceptions.RequestException, url: str) -> str:
    """Why requests refused to send a request to ``url``, and what to do, in plain words."""
    text = str(error)
    if isinstance(error, requests.exceptions.InvalidHeader):
        return (
            f"a header is invalid ({text}); remove line breaks, NUL and leading whitespace "
            "from header names and values"
        )
    if "SOCKS" in text:
        return "a socks:// proxy needs the PySocks package: pip install requests[socks]"
    bad_proxy = (requests.exceptions.InvalidProxyURL, urllib3.exceptions.ProxySchemeUnknown)
    if any(
        isinstance(cause, bad_proxy)
        # a location that is not in the URL is the proxy's (create() checked the URL)
        or (isinstance(cause, urllib3.exceptions.LocationParseError) and cause.location not in url)
        for cause in _causes(error)
    ):
        return (
            f"the proxy URL is not valid ({text}); check proxies= and the HTTP(S)_PROXY "
            "environment variables"
        )
    if isinstance(error, requests.exceptions.InvalidSchema):
        return f"requests cannot send it ({text}); use an http:// or https:// URL"
    return f"the URL is not valid ({text}); check its host and its port (1 to 65535)"


def _tunnel_refusal(error: BaseException) -> str:
    """The status a proxy answered a CONNECT with ("407 Proxy Authentication Required"), or
    "" (http.client says it only in an OSError's text)."""
    for cause in _causes(error):
        text = str(cause)
        if isinstance(cause, OSError) and text.startswith(_TUNNEL_FAILED):
            return text[len(_TUNNEL_FAILED) :].strip()
    return ""


_TUNNEL_FAILED = "Tunnel connection failed:"


def _malformed_head(error: BaseException) -> str:
    """What was wrong with the head of an answer http.client could not read, or ""."""
    for cause in _causes(error):
        if isinstance(cause, http.client.LineTooLong):
            line = "status line" if "status" in str(cause) else "header line"
            return f"a {line} over {_MAX_LINE} bytes"
        if isinstance(cause, http.client.RemoteDisconnected):
            return ""  # a BadStatusLine by class, but nothing came: a drop
        if isinstance(cause, http.client.BadStatusLine):
            return f"it does not begin with an HTTP status line: {str(cause).strip()[:80]!r}"
        if type(cause) is http.client.HTTPException and "headers" in str(cause):
            return str(cause)  # "got more than 100 headers"
        if isinstance(cause, http.client.UnknownProtocol):
            return f"an unknown protocol version {str(cause)[:40]!r}"
    return ""


_MAX_LINE: int = http.client._MAXLINE  # type: ignore[attr-defined]
_MAX_HEADERS: int = http.client._MAXHEADERS  # type: ignore[attr-defined]


def _timed_out_sending(error: BaseException) -> bool:
    """True when writing the request timed out: urllib3 reports a timed-out send as a
    broken connection, before any response."""
    causes = list(_causes(error))
    return any(isinstance(c, urllib3.exceptions.ProtocolError) for c in causes) and any(
        isinstance(c, socket.timeout) for c in causes
    )


def _never_connected(error: BaseException) -> bool:
    """True when no connection was opened at all: the name did not resolve, or the
    connection was refused or unreachable."""
    return any(
        isinstance(cause, (urllib3.exceptions.NewConnectionError, socket.gaierror))
        for cause in _causes(error)
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything nested in it (causes, contexts, exception arguments, urllib3's
    ``reason``), breadth first, each once."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += [c for c in nested if isinstance(c, BaseException)]
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]


def _without_source_location(text: str) -> str:
    """OpenSSL messages end with where in CPython they were raised: " (_ssl.c:2427)"."""
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)


def describe_error(error: BaseException) -> str:
    """The cause of a network failure in plain words: "connection refused", "certificate
    verify failed: self-signed certificate", never the repr of urllib3's nesting."""
    causes = list(_causes(error))
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
            return f"certificate verify failed: {detail}" if detail else "certificate verify failed"
    for cause in causes:
        if isinstance(cause, (urllib3.exceptions.NameResolutionError, socket.gaierror)):
            return "the host name could not be resolved"
    for cause in causes:
        if isinstance(cause, ssl.SSLEOFError):
            return (
                "the server ended the TLS handshake (it may require a client certificate: "
                "cert=)"
            )
        if isinstance(cause, ssl.SSLError):
            detail = getattr(cause, "reason", None) or cause.strerror or "the handshake failed"
            return f"TLS error: {_without_source_location(str(detail))}"
        if isinstance(cause, http.client.IncompleteRead):
            return "the body was cut off"
        if isinstance(cause, HeadCutOff):
            return str(cause)
        if isinstance(cause, http.client.RemoteDisconnected):
            return "the server closed the connection without a response"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
    for cause in causes:
        if isinstance(cause, ChunkedError):
            return f"malformed chunked framing ({cause})"
        if isinstance(cause, urllib3.exceptions.DecodeError):
            return "the compressed body could not be decoded"
        if isinstance(cause, urllib3.exceptions.ProtocolError):
            return "the connection was broken mid-body"
        if isinstance(cause, (urllib3.exceptions.ConnectTimeoutError, socket.timeout)):
            return "timed out"
    refusal = _tunnel_refusal(error)
    if refusal:
        return f"it answered the tunnel request (CONNECT) with {refusal}"
    return type(error).__name__


def _open_stream(
    response: requests.Response, url: str, read_timeout: Optional[float]
) -> _RequestsStream:
    """The fastest stream for the response. urllib3's read1 costs about as much as parsing a
    small event; without a content encoding to undo it only forwards to http.client's read1,
    so read that directly, or, on a chunked body, decode the framing of everything that
    arrived at once."""
    raw_headers = getattr(response.raw, "headers", None) or response.headers
    encoding = raw_headers.get("Content-Encoding", "")  # as _accept left it
    inner = getattr(response.raw, "_fp", None)
    if (
        encoding in ("", "identity")
        and isinstance(inner, http.client.HTTPResponse)
        and isinstance(inner.fp, io.BufferedReader)
    ):
        if inner.chunked:
            return _ChunkedStream(response, url, read_timeout, inner, inner.fp)
        return _PlainStream(response, url, read_timeout, inner, inner.fp)
    return _RequestsStream(response, url, read_timeout)


class _RequestsStream:
    """An accepted response, read through urllib3 (which undoes a content encoding, and
    hands the connection back to its pool when it reads the end of the body itself)."""

    __slots__ = ("_aborted", "_raw", "_read_timeout", "_reader_ident", "response", "url")

    def __init__(
        self, response: requests.Response, url: str, read_timeout: Optional[float]
    ) -> None:
        self.response = response
        self.url = url
        self._raw: urllib3.HTTPResponse = response.raw
        self._read_timeout = read_timeout
        # Set from any thread by abort(), read by the reader: a bool (an Event costs 1.2 KB
        # per stream, and a call on every read).
        self._aborted = False
        self._reader_ident = threading.get_ident()  # the thread that opened it reads it
        sock = response_socket(self._raw)
        if sock is not None:
            # requests already set read_timeout for the wait for the headers; set it again on
            # the socket the body is read from, whatever a session's adapter did meanwhile.
            sock.settimeout(read_timeout)

    def read(self) -> bytes:
        if self._aborted:
            return b""  # not the bytes still buffered: in a burst, megabytes could be waiting
        try:
            data = self._raw.read1(READ_SIZE, decode_content=True)
        except Exception as error:
            return self._failed(error)
        return data or self._ended()

    def _failed(self, error: Exception) -> bytes:
        """A read raised ``error``: b"" if abort() interrupted it (a clean stop, not a
        failure), else raise it translated."""
        if self._aborted:
            return b""
        raise self._translate(error) from error

    def _ended(self) -> bytes:
        """The body ended: release its connection (unless aborted); b""."""
        if not self._aborted:
            self._release_after_the_end()
        return b""

    def _release_after_the_end(self) -> None:
        """Hand a keep-alive connection back to the pool once its body was read to the end
        (urllib3 has done it here)."""

    def _translate(self, error: Exception) -> SSEError:
        if isinstance(error, (urllib3.exceptions.ReadTimeoutError, socket.timeout, TimeoutError)):
            return ReadTimeout(
                f"{self.url} sent nothing (not even a comment) for read_timeout="
                f"{self._read_timeout}s; the stream is treated as dead. Raise read_timeout if "
                "the server's keep-alives are sparser",
                url=self.url,
                timeout=self._read_timeout or 0.0,
            )
        return ConnectError(
            f"the stream from {self.url} broke off: {describe_error(error)}", url=self.url
        )

    def abort(self) -> None:
        self._aborted = True
        try:
            self._raw.shutdown()
        except (ValueError, RuntimeError, OSError, AttributeError):
            pass  # already released or closed: nothing is blocked on it
        if threading.get_ident() != self._reader_ident:
            # From another thread (close(), reconnect()) only wake the reader: it releases
            # the connection itself when its read returns (the connection calls abort() again
            # from the reading thread). Closing the response or the connection from here races
            # the reader: it can take the closed body for a clean end and hand the half-shut
            # connection back to the pool, with its socket left open; or take that connection
            # from the pool for its next request while this thread is still closing it, which
            # orphans the new socket and hangs the new request.
            return
        try:
            self.response.close()
        except Exception:
            log.debug("closing %s after abort failed", self.url, exc_info=True)


class _DirectStream(_RequestsStream):
    """Reads http.client's response without urllib3, one ``read`` per wake of the reading
    thread (often one per event), with nothing between it and the socket's BufferedReader.

    It waits in ``peek()``: ``read1(n)`` on an empty BufferedReader allocates n bytes before
    it blocks, so every idle stream would hold READ_SIZE (16 KiB) for as long as its server
    is quiet, while ``peek()`` fills the BufferedReader's own small buffer. Only while a
    burst keeps that buffer full (``_busy``: more is waiting) does a read go big at once.
    """

    __slots__ = ("_busy", "_inner", "_peek")

    def __init__(
        self,
        response: requests.Response,
        url: str,
        read_timeout: Optional[float],
        inner: http.client.HTTPResponse,
        wire: io.BufferedReader,
    ) -> None:
        super().__init__(response, url, read_timeout)
        self._inner = inner
        self._peek = wire.peek
        self._busy = False

    def _release_after_the_end(self) -> None:
        """urllib3 did not read the end, so it must be told (unless the connection closes)."""
        if not self._inner.will_close:
            self._raw.release_conn()


class _PlainStream(_DirectStream):
    """http.client's read1 (it keeps count of a Content-Length)."""

    __slots__ = ("_inner_read1",)

    def __init__(
        self,
        response: requests.Response,
        url: str,
        read_timeout: Optional[float],
        inner: http.client.HTTPResponse,
        wire: io.BufferedReader,
    ) -> None:
        super().__init__(response, url, read_timeout, inner, wire)
        self._inner_read1 = inner.read1

    def read(self) -> bytes:
        if self._aborted:
            return b""  # as in _RequestsStream.read
        try:
            # A finished body must not wait for bytes that never come.
            if not self._busy and self._inner.length != 0:
                self._peek(1)
            data = self._inner_read1(READ_SIZE)
            if not data and self._inner.length:
                # read1() returns b"" at the close even when a Content-Length said more was
                # coming (read() would raise): the body was cut off, not ended.
                raise http.client.IncompleteRead(b"", self._inner.length)
        except Exception as error:
            return self._failed(error)
        self._busy = len(data) >= io.DEFAULT_BUFFER_SIZE
        return data or self._ended()


class _ChunkedStream(_DirectStream):
    """http.client's read1 returns one chunk per call: one parse and one hand-off per event
    when a server flushes each event as a chunk. Read what arrived, decode it whole."""

    __slots__ = ("_decoder", "_feed", "_read_wire")

    def __init__(
        self,
        response: requests.Response,
        url: str,
        read_timeout: Optional[float],
        inner: http.client.HTTPResponse,
        wire: io.BufferedReader,
    ) -> None:
        super().__init__(response, url, read_timeout, inner, wire)
        self._decoder = ChunkedDecoder()
        self._feed = self._decoder.feed
        self._read_wire = wire.read1

    def read(self) -> bytes:
        if self._aborted:
            return b""  # as in _RequestsStream.read
        decoder = self._decoder
        try:
            if decoder.error is not None:
                raise decoder.error  # found after the body the previous read returned
            while not decoder.done:  # each pass consumes wire bytes: bounded by the body
                if not self._busy:
                    self._peek(1)
                data = self._read_wire(READ_SIZE)
                self._busy = len(data) >= io.DEFAULT_BUFFER_SIZE
                if not data:
                    raise http.client.IncompleteRead(b"")
                body = self._feed(data)
                if body:
                    return body
        except Exception as error:
            return self._failed(error)
        return self._ended()

    def _release_after_the_end(self) -> None:
        if self._inner.will_close or self._decoder.surplus:
            return  # closing, or bytes came past the end of the body: not fit for reuse
        self._inner.close()  # what http.client does once it has read a chunked body's end
        self._raw.release_conn()
