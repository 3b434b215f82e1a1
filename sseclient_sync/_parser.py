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

import codecs
import sys
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
    characters (bytes, for ASCII text); ``None`` means no bound. Past it, :meth:`feed` raises
    :class:`EventTooLarge` carrying the events completed before the oversized one, and the
    parser skips the rest of that event: the next feed goes on with the event after it.
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
        # "utf-8-sig" skips exactly one leading BOM, even when it arrives split across feeds.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._after_cr = False
        self._skipping = False
        self._skip_at_line_start = False
        self._carry = ""  # text after an oversized event, parsed by the next feed
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
        text = self._normalize(self._decoder.decode(data))
        if self._carry:
            text = self._carry + text
            self._carry = ""
        if self._skipping:
            text = self._skip_oversized_event(text)
        if not text:
            return [], []
        lines = text.split("\n")
        tail = lines.pop()
        if self._line_parts and lines:
            self._line_parts.append(lines[0])
            lines[0] = "".join(self._line_parts)
            self._line_parts = []
            self._line_size = 0
        too_long = len(lines) + 1
        if len(text) + self._line_size > self._limit:  # rare: only then measure each line
            too_long = self._first_too_long(lines, tail)
        events, own_ids, after_overflow = self._interpret(lines[:too_long])
        if after_overflow is not None:  # an event over the limit ended: drop it, keep the rest
            self._carry = "\n".join([*after_overflow, tail])
            raise self._too_large("an event's data", events)
        if too_long < len(lines):  # a whole line too long: skip from it to the blank line
            self._start_skipping(at_line_start=True)
            self._carry = "\n".join([*lines[too_long + 1:], tail])
            raise self._too_large("a line", events)
        if too_long == len(lines):  # the unfinished line is already too long
            self._start_skipping(at_line_start=False)
            raise self._too_large("a line", events)
        if tail:
            self._line_parts.append(tail)
            self._line_size += len(tail)
        if self._data_size > self._limit:
            self._start_skipping(at_line_start=not tail)
            raise self._too_large("an event's data", events)
        return events, own_ids

    def _normalize(self, text: str) -> str:
        """Turn CRLF and CR line ends into LF, including a CRLF split across two chunks."""
        if self._after_cr:
            self._after_cr = False
            if text[:1] == "\n":
                text = text[1:]
        if "\r" in text:
            self._after_cr = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text

    def _first_too_long(self, lines: list[str], tail: str) -> int:
        for index, line in enumerate(lines):
            if len(line) > self._limit:
                return index
        if self._line_size + len(tail) > self._limit:
            return len(lines)
        return len(lines) + 1

    def _start_skipping(self, *, at_line_start: bool) -> None:
        self._discard_event()
        self._skipping = True
        self._skip_at_line_start = at_line_start

    def _skip_oversized_event(self, text: str) -> str:
        """Discard text up to the blank line that ends the oversized event; return the rest."""
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
            f"{what} in the event stream grew past max_event_size={self._limit}; that event "
            "was skipped. Raise max_event_size if the server really sends events this large.",
            limit=self._limit,
            events=events,
        )

    def _interpret(
        self, lines: list[str]
    ) -> tuple[list[Event], list[int], Optional[list[str]]]:
        """Apply the field rules to complete lines. Returns the events, the positions of those
        with their own id, and, if an event whose data was over the limit ended, the lines
        after it (interpretation stops there), else ``None``."""
        # The hot loop: locals instead of attributes, one branch per field name.
        events: list[Event] = []
        after_overflow: Optional[list[str]] = None
        own_ids: list[int] = []
        data = self._data
        data_size = self._data_size
        event_type = self._event_type
        id_buffer = self._id_buffer
        block_retry = self._block_retry
        block_has_id = self._block_has_id
        limit = self._limit
        remaining = iter(lines)
        for line in remaining:
            if not line:
                # Dispatch: "set the last event ID string of the event source to the value of
                # the last event ID buffer", even when there is no data to dispatch.
                self.last_event_id = id_buffer
                if data_size > limit:
                    after_overflow = list(remaining)
                    data = []
                    data_size = 0
                    event_type = ""
                    block_retry = None
                    block_has_id = False
                    break
                if data:
                    if block_has_id:
                        own_ids.append(len(events))
                    events.append(
                        Event(event_type or "message", "\n".join(data), id_buffer, block_retry)
                    )
                    data = []
                    data_size = 0
                event_type = ""
                block_retry = None
                block_has_id = False
                continue
            if line[0] == ":":
                continue
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                data.append(value)
                data_size += len(value) + 1
            elif name == "event":
                event_type = value
            elif name == "id":
                if "\0" not in value:
                    id_buffer = value
                    block_has_id = True
            elif name == "retry" and value.isdigit() and value.isascii():
                block_retry = self.retry = int(value)
        self._data = data
        self._data_size = data_size
        self._event_type = event_type
        self._id_buffer = id_buffer
        self._block_retry = block_retry
        self._block_has_id = block_has_id
        return events, own_ids, after_overflow
