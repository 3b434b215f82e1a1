"""SSEParser: the WHATWG "Server-sent events" parsing rules, bytes in, events out.

This module owns the wire format and nothing else: it performs no I/O, starts no thread and
imports nothing from requests, urllib3 or socket. Feeding the same bytes in any pieces gives
the same events (and comments).

Spec: https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream

The interface:

- ``feed(data) -> list[Event]``: the events the bytes complete, in stream order.
- ``feed_marking_inherited(data) -> (events, inherited)``: the same events, and the
  positions in ``events`` of those whose id was inherited: their own block had no ``id:``
  line, and an earlier one set the last event ID. The rest carry their own id or none.
  Marking the exceptions costs nothing on the usual streams (an id on every event, or none).
- ``mark_inherited(marks)``: every later ``feed`` appends those positions to ``marks``,
  which its owner empties between calls; the same marks without a call's set-up.
- ``feed_items(data) -> (items, inherited)``: the events and the comments, in stream order,
  as one list of :class:`Event` and :class:`Comment` items; positions are in ``items``.
  A comment is the text after the line's colon, verbatim (``":ping"`` gives ``"ping"``,
  ``": ping"`` gives ``" ping"``), and comes out in the call that completes its line, in
  its place among the events. Only this method collects comments, so ``feed`` and
  ``feed_marking_inherited`` pay nothing for them. Calls of the three may be mixed on one parser;
  each returns what the bytes it was given complete.

An event or line over ``max_event_size`` raises :class:`EventTooLarge`; see
:class:`SSEParser`. Comments before the line that passed the limit come out (from
``feed_items``, in ``EventTooLarge.events`` with the events); the comments in the rest of the
oversized event are skipped with it.

Cost is linear in the input. Each chunk is decoded once and split once; the pieces of a line
that spans many chunks are kept in a list and joined once, when its line end arrives (a long
``data:`` line straight into its value, without a copy of the whole line), so a 16 MB
single-line event costs no more per byte than a stream of small events. Sizes are counted
line by line only near ``max_event_size``; elsewhere a room of characters left, which each
chunk only shrinks, proves that no line or event can pass it.
"""

from __future__ import annotations

import sys
from codecs import utf_8_decode
from typing import Any, List, Optional, Tuple, Union

from ._exceptions import EventTooLarge
from ._models import Comment, Event

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "Comment", "Item", "SSEParser"]

#: Large enough for base64 images and long LLM answers sent as one event, small enough that a
#: server which never ends its line cannot exhaust memory.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

#: What :meth:`SSEParser.feed_items` returns, in stream order.
Item = Union[Event, Comment]

def _milliseconds(digits: str) -> int:
    """A ``retry:`` field's value, exactly, up to the largest number of as many digits as
    Python reads from a string (3.11 on: 4,300 unless set otherwise); a longer wait than that
    is as long, since ``Retry.max_delay`` caps every wait."""
    significant = digits.lstrip("0") or "0"
    most = getattr(sys, "get_int_max_str_digits", lambda: 0)()  # 0: no limit
    if most and len(significant) > most:
        significant = "9" * most
    return int(significant)

# The event being read: data lines, type, id buffer, own retry, whether it had an id: line.
_Block = Tuple[List[str], str, Optional[str], Optional[int], bool]

# Event's own constructor is a Python function; building the tuple directly is twice as fast.
_new_tuple = tuple.__new__
_join_lines = "\n".join


class SSEParser:
    """Incremental parser of a ``text/event-stream`` body.

    ``feed(data)`` takes the next bytes of the stream, in pieces of any size, and returns the
    events they complete; ``feed_marking_inherited`` and ``feed_items`` (the module's docstring
    lists the three) return more about the same bytes. ``last_event_id`` is the event
    source's last event ID string (it persists across events and across :meth:`reset`);
    ``retry`` is the last valid reconnection time in milliseconds the stream sent, or
    ``None``.

    ``max_event_size`` bounds the unfinished line and the data buffer, counted in decoded
    characters (bytes, for ASCII text): a line longer than ``max_event_size`` characters, or
    an event whose data buffer (each ``data:`` value plus its line feed) grows past it, is too
    large. ``None`` means no bound. Past it, the feed raises :class:`EventTooLarge` carrying
    the events (and, from ``feed_items``, the comments) completed before the oversized one,
    and the parser skips the rest of that event (up to its blank line), comments included.
    The skipped event dispatches nothing and does not move ``last_event_id``; a ``retry:``
    read before the limit was passed has already taken effect, as the spec applies it at
    once. Which events and errors come out does not depend on how the stream is cut into
    chunks, only which call returns them: events that followed the oversized one in the same
    chunk come from the next call (``feed(b"")`` returns them without new input).
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
        # What the call being made wants besides the events: the list for the positions of
        # the events that inherited their id (feed_marking_inherited, feed_items, or the list
        # given to mark_inherited), comments (feed_items).
        self._inherited: Optional[list[int]] = None
        self._keep_comments = False
        self.reset()

    def reset(self) -> None:
        """Start a new stream: forget any unfinished line and event, keep ``last_event_id`` and
        ``retry``. Call it when the connection is re-established; an event cut off by the drop
        is discarded, as the spec requires at the end of a stream, never glued to the next."""
        self._undecoded = b""  # an incomplete UTF-8 sequence (or BOM) at the end of a chunk
        # A character to drop if the next text starts with it: "one leading U+FEFF BYTE ORDER
        # MARK" at the start of the stream, or the LF of a CRLF whose CR ended the last chunk.
        self._expect = "\ufeff"
        self._skipping = False
        self._skip_at_line_start = False
        self._carry = ""  # text after an oversized event, skipped or parsed by the next feed
        self._discard_event()

    def _discard_event(self) -> None:
        self._line_parts: list[str] = []
        # The event being read, saved and restored once per feed: its data lines, its type,
        # the id buffer, its own retry and whether its block had an id: line. Browsers carry
        # the last event ID into a re-established stream's buffer, so a replayed stream without
        # ids does not erase the resume point at its first dispatch.
        self._event: _Block = ([], "", self.last_event_id, None, False)
        # Sizes, counted only near the limit. ``_room`` is at most the limit minus the data
        # buffer's size (each value plus its line feed) and the unfinished line's length: a
        # chunk no longer than it cannot take either past the limit. A chunk that counted
        # sizes line by line leaves it at -1, and its counts in ``_data_size`` and
        # ``_line_size``; other chunks only shrink it, leaving those two stale.
        self._room = self._limit
        self._data_size = 0
        self._line_size = 0

    def feed_marking_inherited(self, data: bytes) -> tuple[list[Event], list[int]]:
        """Like :meth:`feed`, and also return the positions (in the returned list) of the
        events whose block had no ``id:`` line but whose id is set: they inherited it. An
        :class:`EventTooLarge` raised here carries the positions of its ``events``."""
        inherited: list[int] = []
        kept, self._inherited = self._inherited, inherited
        try:
            events = self.feed(data)
        finally:
            self._inherited = kept
        return events, inherited

    def mark_inherited(self, marks: Optional[list[int]]) -> None:
        """Have every later :meth:`feed` append to ``marks`` what
        :meth:`feed_marking_inherited` returns beside the events (``None`` stops it); the
        caller empties ``marks`` between calls. It saves the set-up of a call, for a reader
        that feeds one small read at a time."""
        self._inherited = marks

    def feed_items(self, data: bytes) -> tuple[list[Item], list[int]]:
        """Like :meth:`feed_marking_inherited`, with the comments among the events, in stream
        order; the positions are in ``items``. :class:`EventTooLarge` raised here carries in
        ``events`` the events and comments before the oversized event, in stream order.
        """
        inherited: list[int] = []
        kept, self._inherited = self._inherited, inherited
        self._keep_comments = True
        try:
            items: list[Any] = self.feed(data)
        finally:
            self._inherited = kept
            self._keep_comments = False
        return items, inherited

    def feed(self, data: bytes) -> list[Event]:
        """Parse the next bytes of the stream; return the events they complete, in order."""
        # Everything runs in this one method, on locals: with small chunks the cost per call
        # matters as much as the cost per line. The rare paths (skipping an oversized event,
        # counting sizes near the limit, a line or an event over it) are in the helpers below.
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
            expect = self._expect
            if expect:
                self._expect = ""
                if text[0] == expect:
                    text = text[1:]
            # "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED
            # (CRLF) character pair, a single U+000A LINE FEED (LF) character, or a single
            # U+000D CARRIAGE RETURN (CR) character": make them all LF.
            if "\r" in text:
                if text[-1] == "\r":
                    self._expect = "\n"
                text = text.replace("\r\n", "\n").replace("\r", "\n")
        room = self._room - used  # no more characters than bytes
        # Count sizes line by line (data_size, carried) only when this chunk may take the
        # event past the limit; only then are those two set and read.
        exact = False
        if room < 0:
            if self._skipping:
                text = self._skip_oversized_event(self._carry + text)
            data_size, carried, room = self._count_sizes(len(text))
            exact = room < self._limit >> 1
        if not text:
            return []

        lines = text.split("\n")
        tail = lines.pop()  # the unfinished line, "" when the text ends with a line end
        if exact:  # (cut_off and tail_too_long are read only when exact)
            cut_off: Optional[list[str]] = None  # from the first line over the limit to the end
            tail_too_long = False
            too_long = self._find_too_long(lines, tail, carried)
            if too_long == len(lines):
                tail_too_long = True
            elif too_long >= 0:
                cut_off = lines[too_long:]
                del lines[too_long:]
        parts = self._line_parts
        if parts and lines:
            # A line in three pieces or more is long enough for the copy saved to pay.
            if len(parts) > 2 and not exact and self._join_data_line(lines[0]):
                del lines[0]  # it is in the data buffer already
            else:
                parts.append(lines[0])
                lines[0] = "".join(parts)
            self._line_parts = []
            carried = 0

        events: list[Any] = []  # Events, and Comments when feed_items asks for them
        data_lines, event_type, id_buffer, block_retry, block_has_id = self._event
        last_id = self.last_event_id  # a local while the loop runs, stored once at its end
        new_tuple, event_class, join_lines = _new_tuple, Event, _join_lines  # locals: faster
        # Only a chunk that counts sizes can stop early; it needs the rest of its lines then.
        remaining = iter(lines) if exact else lines
        for line in remaining:
            if not line:
                # "If the line is empty (a blank line): Dispatch the event." Its first step,
                # setting the last event ID string, happens even when there is no data.
                last_id = id_buffer
                if data_lines:
                    if not block_has_id and id_buffer is not None:
                        inherited = self._inherited
                        if inherited is not None:
                            inherited.append(len(events))
                    fields = (
                        event_type or "message", join_lines(data_lines), id_buffer, block_retry
                    )
                    events.append(new_tuple(event_class, fields))
                    data_lines = []
                    data_size = 0
                event_type = ""
                block_retry = None
                block_has_id = False
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
                if exact:
                    data_size += len(value) + 1
                    if data_size > self._limit:
                        what = "an event's data"
                        after = list(remaining)
                        if cut_off is not None:
                            after += cut_off
                        break
            elif name == "id":
                if "\0" not in value:
                    id_buffer = value
                    block_has_id = True
            elif name == "event":
                event_type = value
            elif name == "retry":
                if value.isdigit() and value.isascii():
                    block_retry = self.retry = _milliseconds(value)
            elif not name and self._keep_comments:  # "starts with a U+003A COLON"
                events.append(Comment(line[1:]))
        else:
            self.last_event_id = last_id
            if not exact or (cut_off is None and not tail_too_long):  # nothing too large
                self._event = (data_lines, event_type, id_buffer, block_retry, block_has_id)
                if tail:
                    self._line_parts.append(tail)
                if exact:
                    self._room = -1
                    self._data_size = data_size
                    self._line_size = carried + len(tail)
                else:
                    self._room = room
                return events
            if cut_off is None:  # the unfinished line is already too long
                self._start_skipping(at_line_start=False, carry="")
                raise self._too_large("a line", events)
            what = "a line"
            after = cut_off[1:]
        # A complete line was too long, or took the data past the limit: skip from the line
        # after it to the blank line that ends the event; what follows waits for the next feed.
        self.last_event_id = last_id
        self._start_skipping(at_line_start=True, carry="\n".join([*after, tail]))
        raise self._too_large(what, events)

    def _count_sizes(self, coming: int) -> tuple[int, int, int]:
        """The data buffer's size, the unfinished line's length, and the room left once
        ``coming`` more characters are parsed. Counted again only when a room of at least
        half the limit has run out since the last count, which keeps the cost linear."""
        if self._room < 0:  # the last chunk counted them (or nothing is buffered)
            data_size, carried = self._data_size, self._line_size
        else:
            data_lines = self._event[0]
            data_size = sum(map(len, data_lines)) + len(data_lines)
            carried = sum(map(len, self._line_parts))
        return data_size, carried, self._limit - data_size - carried - coming

    def _join_data_line(self, last_piece: str) -> bool:
        """Append the line in ``_line_parts`` plus ``last_piece`` to the data buffer if it is
        a ``data:`` line whose colon and optional space came in its first piece: joining the
        value straight from the pieces saves a copy of the whole line."""
        first = self._line_parts[0]
        if not first.startswith("data:") or len(first) < 6:
            return False
        head = first[6:] if first[5] == " " else first[5:]
        self._event[0].append("".join([head, *self._line_parts[1:], last_piece]))
        return True

    def _find_too_long(self, lines: list[str], tail: str, carried: int) -> int:
        """The index of the first line longer than the limit, ``len(lines)`` for the unfinished
        one, or -1. The pieces of a line begun in earlier chunks (``carried`` characters)
        count towards its length."""
        limit = self._limit
        for index, line in enumerate(lines):
            if carried + len(line) > limit:
                return index
            carried = 0
        return len(lines) if carried + len(tail) > limit else -1

    def _start_skipping(self, *, at_line_start: bool, carry: str) -> None:
        self._discard_event()
        self._room = -1  # the next feed starts by skipping
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

    def _too_large(self, what: str, events: list[Any]) -> EventTooLarge:
        return EventTooLarge(
            f"{what} in the event stream grew past max_event_size={self._limit} characters; "
            "that event was skipped. Raise max_event_size if the server really sends events "
            "this large.",
            limit=self._limit,
            events=events,
            # the marks of its events, from the marking feeds (a copy: mark_inherited's list
            # is emptied by its owner)
            inherited=None if self._inherited is None else list(self._inherited),
        )
