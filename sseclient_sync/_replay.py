"""The dedup window: which events an earlier stream of the connection already delivered.

A replay is an event whose own ``id:`` an earlier stream (or poll answer) delivered: a server
that starts again from an older point after a reconnect. Within one stream a repeated id is
the server's business and is delivered. Pure: no threads, no I/O.

Memory is bounded and small: the filter keeps the hashes of the latest ``window`` distinct
ids of earlier streams in a set (about 90 bytes each), and the latest ids of the current
stream in a list that joins the set when the next stream begins: work proportional to the
window, never a rebuild of everything seen. The trade-off: a server that replays more
than ``window`` events after a reconnect repeats the oldest of them. A hash collision could
drop an event; with 64-bit hashes over a window of a thousand ids that is about one in
10^16 per event.
"""

from __future__ import annotations

import operator
from typing import Optional, Sequence

from ._models import Event

__all__ = ["DEDUP_WINDOW", "ReplayFilter"]

#: How many of the latest distinct ids of earlier streams are remembered (under 60 KiB in
#: all): what servers replay from their buffer after a reconnect, with room to spare.
DEDUP_WINDOW = 512

_NO_EVENT_YET = "\0"  # no event id contains NUL: "this stream has had no event yet"
_event_id = operator.attrgetter("id")
_TRIM_SLACK = 256  # how far the current stream's ids may outgrow the window before a trim


class ReplayFilter:
    """Drops replayed events. Call :meth:`begin_stream` when a stream (or poll answer)
    begins, then :meth:`filter` with each batch of events it delivers."""

    __slots__ = ("_current", "_earlier", "_evicted", "_order", "_previous_id", "window")

    def __init__(self, window: int = DEDUP_WINDOW) -> None:
        self.window = window
        self._earlier: set[int] = set()  # hashes of ids earlier streams delivered
        self._order: list[int] = []  # the same, oldest first
        self._current: list[Optional[str]] = []  # the latest own ids of the current stream
        self._evicted = 0
        self._previous_id: Optional[str] = _NO_EVENT_YET

    def __len__(self) -> int:
        """How many ids of earlier streams are remembered."""
        return len(self._earlier)

    def begin_stream(self) -> None:
        """A new stream begins: what came before it may be replayed in it."""
        earlier, order = self._earlier, self._order
        for value in map(hash, filter(None, self._current[-self.window :])):
            if value not in earlier:
                earlier.add(value)
                order.append(value)
        excess = len(order) - self.window
        if excess > 0:
            earlier.difference_update(order[:excess])
            del order[:excess]  # a list, not a deque: an idle connection holds 56 bytes, not 600
            self._evicted += excess
        if self._evicted > self.window:
            # A set keeps the slots of what it lost, and grows for them: start afresh, once
            # per window's worth of evictions.
            self._earlier, self._evicted = set(order), 0
        self._current = []
        self._previous_id = _NO_EVENT_YET

    def filter(self, events: list[Event], inherited: Sequence[int]) -> list[Event]:
        """The events that are not replays, in order; ``inherited`` are the positions of the
        events whose block had no ``id:`` line (an inherited id is no identity). An empty id
        only resets the last event ID; an id that restates the id of the event just before it
        (a relay writing every event's id) is no replay either."""
        # On the usual streams (every event with its own id, or none) only C loops run per
        # event. The ids are hashed when the next stream begins, and only the latest window
        # of them is kept.
        current = self._current
        if inherited:
            skip = set(inherited)
            current.extend([e.id for index, e in enumerate(events) if index not in skip])
        else:
            current.extend(map(_event_id, events))
        if len(current) > self.window + _TRIM_SLACK:
            del current[: -self.window]  # in bulk, rather than one eviction per event
        earlier = self._earlier
        if not earlier:
            return events  # nothing to replay (nor is _previous_id read in this stream)
        if len(inherited) < len(events) and not earlier.isdisjoint(
            map(hash, filter(None, map(_event_id, events)))
        ):
            events = self._without_replays(events, inherited)
        if events:
            self._previous_id = events[-1].id
        return events

    def _without_replays(self, events: list[Event], inherited: Sequence[int]) -> list[Event]:
        earlier = self._earlier
        previous = self._previous_id
        skip = set(inherited)
        kept: list[Event] = []
        for index, event in enumerate(events):
            event_id = event.id
            if (
                index not in skip
                and event_id
                and event_id != previous
                and hash(event_id) in earlier
            ):
                previous = event_id
                continue
            previous = event_id
            kept.append(event)
        self._previous_id = previous
        return kept
