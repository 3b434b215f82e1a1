"""The values the library hands out: Event, Comment, Status (with its transition table), Stats.

Everything here is plain data with no I/O, so every other layer may import it.
"""

from __future__ import annotations

import dataclasses
import enum
import json as _json
from typing import Any, Mapping, NamedTuple, Optional

__all__ = ["TRANSITIONS", "Comment", "Event", "Stats", "Status"]

_new_tuple = tuple.__new__
_tuple_eq = tuple.__eq__
_tuple_ne = tuple.__ne__
_tuple_hash = tuple.__hash__
#: Stands for "not given" in Event.replace(); typed Any so that each parameter keeps its type.
_UNCHANGED: Any = object()


class Event(NamedTuple):
    """One dispatched server-sent event: an immutable value, equal and hashed by its fields.

    ``event`` is the event type (``"message"`` when the stream named none), ``data`` the data
    buffer with its final line feed removed, ``id`` the last event ID in force when the event
    was dispatched (``None`` while the stream has never set one; an ``id:`` line persists over
    the events that follow it, as the spec defines), and ``retry`` the reconnection time in
    milliseconds if this event's own block carried a valid ``retry:`` field.

    It is a tuple underneath, as the parser makes one per event: ``Event(...)`` costs under half
    a frozen dataclass, ``tuple.__new__`` (the parser's way) a fifth. It unpacks as
    ``event, data, id, retry`` but equals only an equal ``Event``, never another tuple.
    """

    event: str = "message"
    data: str = ""
    id: Optional[str] = None
    retry: Optional[int] = None

    def replace(
        self,
        *,
        event: str = _UNCHANGED,
        data: str = _UNCHANGED,
        id: Optional[str] = _UNCHANGED,
        retry: Optional[int] = _UNCHANGED,
    ) -> Event:
        """A copy with the given fields changed (``TypeError`` names an unknown field)."""
        return _new_tuple(
            Event,
            (
                self[0] if event is _UNCHANGED else event,
                self[1] if data is _UNCHANGED else data,
                self[2] if id is _UNCHANGED else id,
                self[3] if retry is _UNCHANGED else retry,
            ),
        )

    def json(self, **loads_kwargs: Any) -> Any:
        """Parse ``data`` as JSON (``json.loads`` keyword arguments are passed through)."""
        return _json.loads(self.data, **loads_kwargs)

    def encode(self) -> bytes:
        """Write the event back in wire format, UTF-8 encoded, ending with a blank line.

        Feeding the result to :class:`SSEParser` gives this event back, with two exceptions
        the wire format imposes: it has no way to carry a carriage return inside data, so CR
        and CRLF in ``data`` are written as line breaks and parse back as ``"\\n"``; and an
        empty event type is written as a bare ``event:`` line, which the parser reads as the
        default type, so ``Event(event="")`` comes back as ``Event(event="message")``.
        Raises ``ValueError`` for an event type or id that cannot be written (a line break,
        or a NUL in the id).
        """
        lines = []
        if self.event != "message":
            _check_single_line("event type", self.event)
            lines.append("event: " + self.event if self.event else "event:")
        if self.id is not None:
            _check_single_line("id", self.id)
            if "\0" in self.id:
                raise ValueError(f"an SSE id cannot contain NUL (the spec ignores it): {self.id!r}")
            lines.append("id: " + self.id if self.id else "id:")
        if self.retry is not None:
            if isinstance(self.retry, bool) or not isinstance(self.retry, int) or self.retry < 0:
                raise ValueError(
                    f"retry must be a non-negative int of milliseconds, got {self.retry!r}"
                )
            lines.append(f"retry: {self.retry}")
        data = self.data.replace("\r\n", "\n").replace("\r", "\n")
        lines.extend("data: " + line if line else "data:" for line in data.split("\n"))
        return ("\n".join(lines) + "\n\n").encode("utf-8")

    # Equal only to an Event: a tuple's own comparison would make Event("message", "x") equal
    # to ("message", "x", None, None). Hashing stays the tuple's, consistent with ==.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Event):
            return _tuple_eq(self, other)
        return False if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Event):
            return _tuple_ne(self, other)
        return True if isinstance(other, tuple) else NotImplemented

    def __hash__(self) -> int:
        return _tuple_hash(self)


class Comment(str):
    """One comment line of a stream (a line that starts with a colon), without that colon.

    ``":ping"`` gives ``Comment("ping")`` and ``": ping"`` gives ``Comment(" ping")``: the
    text is kept verbatim, its leading space included. It is a ``str``, told apart from an
    :class:`Event` by its type where the two come in one list (``SSEParser.feed_items``).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Comment({str.__repr__(self)})"


def _check_single_line(what: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ValueError(f"an SSE {what} cannot contain a line break: {value!r}")


class Status(str, enum.Enum):
    """Where a connection is in its life. The last three are final."""

    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    POLLING = "polling"
    COMPLETED = "completed"
    CLOSED = "closed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True for COMPLETED, CLOSED and FAILED: nothing follows them."""
        return self in _FINAL

    def __str__(self) -> str:
        return self.value


_FINAL = frozenset({Status.COMPLETED, Status.CLOSED, Status.FAILED})

#: The allowed status changes. Every change of a connection's status goes through this table.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.CONNECTING: frozenset({Status.OPEN, Status.RECONNECTING, Status.POLLING}) | _FINAL,
    Status.OPEN: frozenset({Status.RECONNECTING, Status.POLLING}) | _FINAL,
    Status.RECONNECTING: frozenset({Status.OPEN, Status.POLLING}) | _FINAL,
    Status.POLLING: _FINAL,
    Status.COMPLETED: frozenset(),
    Status.CLOSED: frozenset(),
    Status.FAILED: frozenset(),
}


@dataclasses.dataclass(frozen=True)
class Stats:
    """A snapshot of a connection's counters, taken by ``Connection.stats()``.

    ``connected`` is true while a stream is open; ``reconnect_count`` counts every new request
    after the first (and every restart of a dead reader thread); ``messages_received`` counts
    the events received for the consumer, whether or not it took them yet (queued ones too;
    duplicates dropped by ``dedup`` and the ``done`` marker are not counted), so a ``resume``
    hook can ask for what follows them; ``bytes_received`` counts body bytes read from the network;
    ``last_message_time`` is the wall-clock time (``time.time()``) of the last delivered event,
    or ``None``; ``uptime`` is how many seconds the current stream has been open (0.0 while
    not connected).
    """

    status: Status
    connected: bool
    reconnect_count: int
    messages_received: int
    bytes_received: int
    last_message_time: Optional[float]
    uptime: float
