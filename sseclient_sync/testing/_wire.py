"""The HTTP/1.1 wire reader: a request is read whole and checked against bounded limits (line
length, header count, body size) before anyone answers it. Anything not HTTP/1.x is a
:class:`BadRequest`; a client that hangs up mid-request is :class:`ClientGone`.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
from typing import Any, Callable, Optional, Tuple
from urllib.parse import parse_qs

from ._routes import Headers, RecordedRequest

MAX_LINE = 65536
MAX_HEADER_FIELDS = 100
MAX_REQUEST_BODY = 64 * 1024 * 1024
_RECV_SIZE = 65536
# What a non-blocking receive raises when nothing (or no whole TLS record) has arrived.
_NOTHING_YET = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class BadRequest(Exception):
    """The client sent something that is not HTTP/1.x; answered with 400."""


class ClientGone(ConnectionError):
    """The client closed its side in the middle of a request."""


class SocketReader:
    """The bytes of one connection (a plain or a TLS socket), read through a buffer of its own,
    so that a wait for the client hanging up keeps whatever it sent next."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._buffer = bytearray()
        self._at_end = False

    @property
    def buffered(self) -> bool:
        """True when bytes have arrived that no read has taken yet."""
        return bool(self._buffer)

    def readline(self, limit: int) -> bytes:
        """The next line with its ``\\n``, or ``limit`` bytes when no line ends within them, or
        what is left at the end of the stream (``b""`` when nothing is)."""
        searched = 0
        while True:
            end = self._buffer.find(b"\n", searched, limit)
            if end >= 0:
                return self._take(end + 1)
            if len(self._buffer) >= limit:
                return self._take(limit)
            searched = len(self._buffer)
            if not self._receive():
                return self._take(len(self._buffer))

    def read(self, size: int) -> bytes:
        """``size`` bytes, or fewer when the stream ends first."""
        while len(self._buffer) < size and self._receive():
            pass
        return self._take(min(size, len(self._buffer)))

    def peer_closed(self) -> bool:
        """Once the socket is readable: True when the client has closed or reset its side. Bytes
        that arrived instead (a pipelined request) are kept for the next read."""
        if self._at_end:
            return True
        self._conn.setblocking(False)
        try:
            data = self._conn.recv(_RECV_SIZE)
        except _NOTHING_YET:
            return False  # over TLS: a record that carries no data, or only part of one
        except OSError:
            return True
        finally:
            self._conn.setblocking(True)
        return not self._keep(data)

    def _receive(self) -> bool:
        """Wait for more bytes. False at the end of the stream."""
        return not self._at_end and self._keep(self._conn.recv(_RECV_SIZE))

    def _keep(self, data: bytes) -> bool:
        """Buffer what ``recv`` returned; False when it was the end of the stream."""
        if not data:
            self._at_end = True
            return False
        self._buffer += data
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


@dataclasses.dataclass(frozen=True)
class Incoming:
    """A request read off the wire, with what its framing of the answer depends on."""

    request: RecordedRequest
    http11: bool
    keep_alive: bool


def read_request(
    reader: SocketReader,
    send: Callable[[bytes], object],
    client_cert: Optional[dict[str, Any]] = None,
) -> Optional[Incoming]:
    """Read one request; None when the client closed the connection between requests. ``send``
    writes the interim ``100 Continue`` to the client; ``client_cert`` is recorded with it."""
    try:
        line = _read_line(reader)
        if not line:
            line = _read_line(reader)  # RFC 9112 2.2: ignore a blank line before a request
    except ClientGone:
        return None
    parts = line.decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"not an HTTP/1.x request line: {line!r}")
    method, target, version = parts
    headers = Headers(_read_fields(reader))
    http11 = version != "HTTP/1.0"
    if http11 and headers.get("expect", "").lower() == "100-continue":
        send(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = _read_body(reader, headers)
    path, _, query = target.partition("?")
    request = RecordedRequest(
        method=method,
        path=path,
        target=target,
        query=parse_qs(query, keep_blank_values=True),
        headers=headers,
        body=body,
        client_cert=client_cert,
    )
    tokens = {token.strip(" \t").lower() for token in headers.get("connection", "").split(",")}
    return Incoming(request, http11, keep_alive=http11 and "close" not in tokens)


def _read_line(reader: SocketReader) -> bytes:
    """One line without its line end. Raises ClientGone at the end of the stream."""
    line = reader.readline(MAX_LINE + 1)
    if not line.endswith(b"\n"):
        if len(line) > MAX_LINE:
            raise BadRequest(f"a line longer than {MAX_LINE} bytes")
        raise ClientGone("the client closed the connection mid-request")
    return line[:-2] if line.endswith(b"\r\n") else line[:-1]


def _read_fields(reader: SocketReader) -> list[Tuple[str, str]]:
    fields: list[Tuple[str, str]] = []
    while True:
        line = _read_line(reader)
        if not line:
            return fields
        if len(fields) >= MAX_HEADER_FIELDS:
            raise BadRequest(f"more than {MAX_HEADER_FIELDS} header fields")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(f"not a header field: {line!r}")
        fields.append((name, value.strip(" \t")))  # RFC 9110's optional whitespace alone


def _read_body(reader: SocketReader, headers: Headers) -> bytes:
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.split(",")[-1].strip().lower() != "chunked":
            raise BadRequest(f"unsupported Transfer-Encoding {coding!r}")
        return _read_chunked(reader)
    length = headers.get("content-length")
    if length is None:
        return b""
    if not (length.isascii() and length.isdigit()):
        raise BadRequest(f"bad Content-Length {length!r}")
    if int(length) > MAX_REQUEST_BODY:
        raise BadRequest(f"a body over {MAX_REQUEST_BODY} bytes")
    return _read_exactly(reader, int(length))


def _read_chunked(reader: SocketReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_field = _read_line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise BadRequest(f"bad chunk size {size_field!r}") from None
        if size < 0 or total + size > MAX_REQUEST_BODY:
            raise BadRequest(f"bad chunk size {size_field!r}")
        if size == 0:
            _read_fields(reader)  # trailer fields, ignored
            return b"".join(parts)
        total += size
        parts.append(_read_exactly(reader, size))
        if _read_line(reader):
            raise BadRequest("a chunk not followed by CRLF")


def _read_exactly(reader: SocketReader, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise ClientGone("the client closed the connection mid-body")
    return data
