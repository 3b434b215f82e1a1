"""HTTP/1.1 chunked transfer coding, decoded sans I/O: wire bytes in, body bytes out.

http.client's ``read1`` returns at most one chunk per call, and servers flush each event as a
chunk: a burst of a hundred events in one socket read would cost a hundred reads, parses and
hand-offs. Fed whatever the socket had, this decoder returns the body of every chunk in it.

Spec: RFC 9112 section 7.1. Like http.client, it accepts chunk extensions (ignored), trailer
fields (discarded) and a bare LF as a line end.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["ChunkedDecoder", "ChunkedError"]

#: Longest chunk-size or trailer line; http.client's limit too.
MAX_LINE = 65536
#: Largest chunk size taken seriously: 16 hex digits.
_MAX_CHUNK_SIZE = 2**64 - 1

# Where the decoder is: what the next bytes of the wire are.
_SIZE = 0  # a chunk-size line
_DATA = 1  # chunk data (``_remaining`` bytes of it still to come)
_DATA_END = 2  # the line end after a chunk's data
_TRAILER = 3  # trailer lines, up to an empty one
_DONE = 4  # past the end of the body


class ChunkedError(ValueError):
    """The bytes are not valid chunked framing."""


class ChunkedDecoder:
    """Incremental decoder of a chunked message body.

    ``feed(data)`` takes the next wire bytes, in pieces of any size, and returns the body
    bytes they hold (possibly ``b""``: framing only). ``done`` turns true once the last chunk
    and the trailer section have been read; bytes after that are not part of this message and
    make ``surplus`` true (the connection must then not be reused).

    Malformed framing loses nothing before it: the ``feed`` that meets it returns the body
    decoded up to it and sets ``error``, and every later ``feed`` raises that error (a feed
    with no body before the error raises it at once).
    """

    def __init__(self) -> None:
        self._state = _SIZE
        self._remaining = 0
        self._line = b""  # an unfinished line, kept until its line feed arrives
        self.done = False  # an attribute, not a property: it is read on every wake
        self.surplus = False
        self.error: Optional[ChunkedError] = None

    def feed(self, data: bytes) -> bytes:
        """The body bytes within ``data``. Raises :class:`ChunkedError` on malformed framing."""
        if self.error is not None:
            raise self.error
        if self._state == _SIZE and not self._line:
            # The usual read, when a server flushes each event: exactly one whole chunk.
            line_end = data.find(b"\n")
            if line_end > 0 and data.endswith(b"\r\n"):
                try:
                    size = int(data[:line_end], 16)
                except ValueError:
                    size = 0  # extensions, or not a size at all: the general path decides
                if size > 0 and line_end + size + 3 == len(data):
                    return data[line_end + 1 : -2]
        pieces: list[bytes] = []
        try:
            self._decode(data, pieces)
        except ChunkedError as error:
            self.error = error
            if not pieces:
                raise
        if len(pieces) == 1:
            return pieces[0]
        return b"".join(pieces)

    def _decode(self, data: bytes, pieces: list[bytes]) -> None:
        state = self._state
        remaining = self._remaining
        position = 0
        end = len(data)
        find = data.find
        while position < end:
            if state == _SIZE and not self._line:
                # The common case first: a whole chunk (size line, data, CRLF) in view.
                line_end = find(b"\n", position)
                if line_end < 0:
                    self._keep_partial_line(data[position:])
                    break
                remaining = _chunk_size(data[position:line_end])
                start = line_end + 1
                stop = start + remaining
                if remaining and data[stop : stop + 2] == b"\r\n":
                    pieces.append(data[start:stop])
                    position = stop + 2
                    continue
                position = start
                state = _DATA if remaining else _TRAILER
                continue
            if state == _DATA:
                stop = position + remaining
                if stop > end:
                    pieces.append(data[position:] if position else data)
                    remaining -= end - position
                    break
                pieces.append(data[position:stop])
                position = stop
                state = _DATA_END
                continue
            if state == _DONE:
                self.surplus = True
                break
            line_end = find(b"\n", position)
            if line_end < 0:
                self._keep_partial_line(data[position:])
                break
            line = self._line + data[position:line_end]
            self._line = b""
            position = line_end + 1
            if line[-1:] == b"\r":
                line = line[:-1]
            if state == _SIZE:
                remaining = _chunk_size(line)
                state = _DATA if remaining else _TRAILER
            elif state == _DATA_END:
                if line:
                    raise ChunkedError(f"expected a line end after the chunk data, got {line!r}")
                state = _SIZE
            elif not line:  # _TRAILER: the empty line ends the body
                state = _DONE
                self.done = True
        self._state = state
        self._remaining = remaining

    def _keep_partial_line(self, tail: bytes) -> None:
        line = self._line + tail
        if len(line) > MAX_LINE:
            raise ChunkedError(f"a chunk-size or trailer line is longer than {MAX_LINE} bytes")
        self._line = line


def _chunk_size(line: bytes) -> int:
    """The size in a chunk-size line (a trailing CR allowed), extensions ignored. As lenient
    as http.client about the digits (``int(..., 16)``), but never negative."""
    try:
        size = int(line, 16)
    except ValueError:
        size = _size_with_extensions(line)
    if size < 0 or size > _MAX_CHUNK_SIZE:
        raise ChunkedError(f"invalid chunk size line {line[:40]!r}")
    return size


def _size_with_extensions(line: bytes) -> int:
    try:
        return int(line.split(b";", 1)[0], 16)
    except ValueError:
        raise ChunkedError(f"invalid chunk size line {line[:40]!r}") from None
