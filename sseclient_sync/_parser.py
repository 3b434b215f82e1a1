"""SSEParser: the WHATWG "Server-sent events" parsing rules, bytes in, events out.

This module owns the wire format and nothing else: it performs no I/O, starts no thread and
imports nothing from requests, urllib3 or socket. Feeding the same bytes in any pieces gives
the same events.

Spec: https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream

Cost is linear in the input. Each chunk is decoded once and split once; the pieces of a line
that spans many chunks are kept in a list and joined once, when its line end arrives, so a
16 MB single-line event costs no more per byte than a stream of small events.
"""

from __future__ import annotations

import sys
from codecs import utf_8_decode
from typing import Optional

from ._exceptions import EventTooLarge
from ._models import Event

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEParser"]

#: Large enough for base64 images and long LLM answers sent as one event, small enough that a
#: server which never ends its line cannot exhaust memory.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024


class SSEParser:
    """Incremental parser of a ``text/event-stream`` body.

    ``feed(data)`` takes the next bytes of the stream, in pieces of any size, and returns the
    events they complete. ``last_event_id`` is the event source's last event ID string (it
    persists across events and across :meth:`reset`); ``retry`` is the last valid
    reconnection time in milliseconds the stream sent, or ``None``.

    ``max_event_size`` bounds the unfinished line and the data buffer, counted in decoded
    characters (bytes, for ASCII text): a line longer than ``max_event_size`` characters, or
    an event whose data buffer (each ``data:`` value plus its line feed) grows past it, is too
    large. ``None`` means no bound. Past it, :meth:`feed` raises :class:`EventTooLarge`
    carrying the events completed before the oversized one, and the parser skips the rest of
    that event (up to its blank line). The skipped event dispatches nothing and does not move
    ``last_event_id``; a ``retry:`` read before the limit was passed has already taken effect,
    as the spec applies it at once. Which events and errors come out does not depend on how
    the stream is cut into chunks, only which call returns them: events that followed the
    oversized one in the same chunk come from the next call (``feed(b"")`` returns them
    without new input).
    """

    def __init__(
        self,
        *,
        last_event_id: Optional[str] = None,
        max_event_size: Optional[int] = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        if max_event_size is not None and (
            isinstance(max_event_size, bool)
            or not isinstance(max_event_size, int)
            or max_event_size <= 0
        ):
            raise ValueError(
                f"max_event_size must be a positive int or None, got {max_event_size!r}"
            )
        self.max_event_size = max_event_size
        self._limit = sys.maxsize if max_event_size is None else max_event_size
        self.last_event_id: Optional[str] = last_event_id
        self.retry: Optional[int] = None
        self.reset()

    def reset(self) -> None:
        """Start a new stream: forget any unfinished line and event, keep ``last_event_id`` and
        ``retry``. Call it when the connection is re-established; an event cut off by the drop
        is discarded, as the spec requires at the end of a stream, never glued to the next."""
        self._undecoded = b""  # an incomplete UTF-8 sequence (or BOM) at the end of a chunk
        self._at_start = True  # no text yet: "one leading U+FEFF BYTE ORDER MARK" is skipped
        self._after_cr = False  # the last chunk ended with CR: a leading LF is its CRLF's end
        self._skipping = False
        self._skip_at_line_start = False
        self._carry = ""  # text after an oversized event, skipped or parsed by the next feed
        self._discard_event()

    def _discard_event(self) -> None:
        self._line_parts: list[str] = []
        self._line_size = 0
        self._data: list[str] = []
        self._data_size = 0
        self._event_type = ""
        self._block_retry: Optional[int] = None
        self._block_has_id = False
        # Browsers carry the last event ID into a re-established stream's buffer, so a replayed
        # stream without ids does not erase the resume point at its first dispatch.
        self._id_buffer = self.last_event_id

    def feed(self, data: bytes) -> list[Event]:
        """Parse the next bytes of the stream; return the events they complete, in order."""
        return self.feed_marking_ids(data)[0]

    def feed_marking_ids(self, data: bytes) -> tuple[list[Event], list[int]]:
        """Like :meth:`feed`, and also return the positions (in the returned list) of the
        events whose own block had an ``id:`` field; the others inherited their id."""
        # Everything runs in this one method, on locals: with small chunks the cost per call
        # matters as much as the cost per line. The rare paths (a line or an event over the
        # limit) are in the helpers below.
        #
        # Decode: UTF-8 with U+FFFD for bad bytes; an incomplete sequence at the end of the
        # chunk waits for the next one instead of being replaced.
        if self._undecoded:
            data = self._undecoded + data
            self._undecoded = b""
        text, used = utf_8_decode(data, "replace", False)
        if used != len(data):
            self._undecoded = data[used:]
        if text:
            if self._at_start:
                self._at_start = False
                if text[0] == "\ufeff":
                    text = text[1:]
            elif self._after_cr:
                self._after_cr = False
                if text[0] == "\n":
                    text = text[1:]
            # "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED
            # (CRLF) character pair, a single U+000A LINE FEED (LF) character, or a single
            # U+000D CARRIAGE RETURN (CR) character": make them all LF.
            if "\r" in text:
                self._after_cr = text[-1] == "\r"
                text = text.replace("\r\n", "\n").replace("\r", "\n")
        if self._skipping:
            text = self._skip_oversized_event(self._carry + text)
        if not text:
            return [], []

        lines = text.split("\n")
        tail = lines.pop()  # the unfinished line, "" when the text ends with a line end
        limit = self._limit
        cut_off: Optional[list[str]] = None  # from the first line over the limit to the end
        tail_too_long = False
        if len(text) + self._line_size > limit:  # rare: only then measure each line
            too_long = self._find_too_long(lines, tail)
            if too_long == len(lines):
                tail_too_long = True
            elif too_long >= 0:
                cut_off = lines[too_long:]
                del lines[too_long:]
        if self._line_parts and lines:
            self._line_parts.append(lines[0])
            lines[0] = "".join(self._line_parts)
            self._line_parts = []
            self._line_size = 0

        events: list[Event] = []
        own_ids: list[int] = []
        data_lines = self._data
        data_size = self._data_size
        event_type = self._event_type
        id_buffer = self._id_buffer
        block_retry = self._block_retry
        block_has_id = self._block_has_id
        remaining = iter(lines)
        for line in remaining:
            if not line:
                # "If the line is empty (a blank line): Dispatch the event." Its first step,
                # setting the last event ID string, happens even when there is no data.
                self.last_event_id = id_buffer
                if data_lines:
                    if block_has_id:
                        own_ids.append(len(events))
                    events.append(
                        Event(
                            event_type or "message", "\n".join(data_lines), id_buffer, block_retry
                        )
                    )
                    data_lines = []
                    data_size = 0
                event_type = ""
                block_retry = None
                block_has_id = False
                continue
            if line[0] == ":":  # a comment
                continue
            # "Collect the characters on the line before the first colon, and let field be
            # that string. Collect the characters on the line after the first colon, and let
            # value be that string. If value starts with a U+0020 SPACE character, remove it
            # from value." Splitting at ": " first saves a copy of long values.
            name, space, value = line.partition(": ")
            if not space or ":" in name:
                name, _, value = line.partition(":")  # no space can follow this colon
            if name == "data":
                data_lines.append(value)
                data_size += len(value) + 1
                if data_size > limit:
                    what = "an event's data"
                    after = list(remaining)
                    if cut_off is not None:
                        after += cut_off
                    break
            elif name == "event":
                event_type = value
            elif name == "id":
                if "\0" not in value:
                    id_buffer = value
                    block_has_id = True
            elif name == "retry" and value.isdigit() and value.isascii():
                block_retry = self.retry = int(value)
        else:
            if cut_off is None and not tail_too_long:  # the common case: nothing too large
                self._data = data_lines
                self._data_size = data_size
                self._event_type = event_type
                self._id_buffer = id_buffer
                self._block_retry = block_retry
                self._block_has_id = block_has_id
                if tail:
                    self._line_parts.append(tail)
                    self._line_size += len(tail)
                return events, own_ids
            if cut_off is None:  # the unfinished line is already too long
                self._start_skipping(at_line_start=False, carry="")
                raise self._too_large("a line", events)
            what = "a line"
            after = cut_off[1:]
        # A complete line was too long, or took the data past the limit: skip from the line
        # after it to the blank line that ends the event; what follows waits for the next feed.
        self._start_skipping(at_line_start=True, carry="\n".join([*after, tail]))
        raise self._too_large(what, events)

    def _find_too_long(self, lines: list[str], tail: str) -> int:
        """The index of the first line longer than the limit, ``len(lines)`` for the unfinished
        one, or -1. The pieces of a line begun in earlier chunks count towards its length."""
        limit = self._limit
        carried = self._line_size
        for index, line in enumerate(lines):
            if carried + len(line) > limit:
                return index
            carried = 0
        return len(lines) if carried + len(tail) > limit else -1

    def _start_skipping(self, *, at_line_start: bool, carry: str) -> None:
        self._discard_event()
        self._skipping = True
        self._skip_at_line_start = at_line_start
        self._carry = carry

    def _skip_oversized_event(self, text: str) -> str:
        """Discard text up to the blank line that ends the oversized event; return the rest."""
        self._carry = ""
        if self._skip_at_line_start and text[:1] == "\n":
            end = 1
        else:
            found = text.find("\n\n")
            if found < 0:
                if text:
                    self._skip_at_line_start = text[-1] == "\n"
                return ""
            end = found + 2
        self._skipping = False
        return text[end:]

    def _too_large(self, what: str, events: list[Event]) -> EventTooLarge:
        return EventTooLarge(
            f"{what} in the event stream grew past max_event_size={self._limit} characters; "
            "that event was skipped. Raise max_event_size if the server really sends events "
            "this large.",
            limit=self._limit,
            events=events,
        )
