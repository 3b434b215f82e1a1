"""The dedup window: which events an earlier stream of the connection already delivered.

A replay is an event whose own ``id:`` an earlier stream (or poll answer) delivered: a server
that starts again from an older point after a reconnect. Within one stream a repeated id is
the server's business and is delivered. Pure: no threads, no I/O.

Memory is bounded and small: the filter keeps the hashes of the latest ``window`` distinct
ids of earlier streams in a set (about 90 bytes each), and the current stream's hashes in
an array (8 bytes each) that joins the set when the next stream begins: work proportional
to the ids of the last stream, never a rebuild. The trade-off: a server that replays more
than ``window`` events after a reconnect repeats the oldest of them. A hash collision could
drop an event; with 64-bit hashes over a window of a thousand ids that is about one in
10^16 per event.
"""

from __future__ import annotations

import array
import collections
import operator
from typing import Optional, Sequence

from ._models import Event

__all__ = ["DEDUP_WINDOW", "ReplayFilter"]

#: How many of the latest distinct ids of earlier streams are remembered (under 60 KiB in
#: all): what servers replay from their buffer after a reconnect, with room to spare.
DEDUP_WINDOW = 512

_NO_EVENT_YET = "\0"  # no event id contains NUL: "this stream has had no event yet"
_event_id = operator.attrgetter("id")


class ReplayFilter:
    """Drops replayed events. Call :meth:`begin_stream` when a stream (or poll answer)
    begins, then :meth:`filter` with each batch of events it delivers."""

    __slots__ = ("_current", "_earlier", "_evicted", "_order", "_previous_id", "window")

    def __init__(self, window: int = DEDUP_WINDOW) -> None:
        self.window = window
        self._earlier: set[int] = set()  # hashes of ids earlier streams delivered
        self._order: collections.deque[int] = collections.deque()  # the same, oldest first
        self._current = array.array("q")  # hashes of ids the current stream delivered
        self._evicted = 0
        self._previous_id: Optional[str] = _NO_EVENT_YET

    def __len__(self) -> int:
        """How many ids of earlier streams are remembered."""
        return len(self._earlier)

    def begin_stream(self) -> None:
        """A new stream begins: what came before it may be replayed in it."""
        earlier, order = self._earlier, self._order
        for value in self._current[-self.window :]:
            if value not in earlier:
                earlier.add(value)
                order.append(value)
        excess = len(order) - self.window
        for _ in range(excess):
            earlier.discard(order.popleft())
        self._evicted += max(0, excess)
        if self._evicted > self.window:
            # A set keeps the slots of what it lost, and grows for them: start afresh, once
            # per window's worth of evictions.
            self._earlier, self._evicted = set(order), 0
        self._current = array.array("q")
        self._previous_id = _NO_EVENT_YET

    def filter(self, events: list[Event], own_ids: Sequence[int]) -> list[Event]:
        """The events that are not replays, in order; ``own_ids`` are the positions of the
        events whose own block carried an ``id:`` (the others inherited theirs, which is no
        identity). An empty id only resets the last event ID; an id that restates the id of
        the event just before it (a relay writing every event's id) is no replay either."""
        if not events:
            return events
        if own_ids:
            if len(own_ids) == len(events):
                ids = list(map(_event_id, events))
            else:
                ids = [events[index].id for index in own_ids]
            hashes = list(map(hash, filter(None, ids)))  # C loops: no Python code per event
            if self._earlier and not self._earlier.isdisjoint(hashes):
                events = self._without_replays(events, own_ids)
            current = self._current
            current.extend(hashes)
            if len(current) > 2 * self.window:
                del current[: -self.window]  # in bulk, rather than one eviction per event
        if events:
            self._previous_id = events[-1].id
        return events

    def _without_replays(self, events: list[Event], own_ids: Sequence[int]) -> list[Event]:
        earlier = self._earlier
        previous = self._previous_id
        own = set(own_ids)
        kept: list[Event] = []
        for index, event in enumerate(events):
            event_id = event.id
            if index in own and event_id and event_id != previous and hash(event_id) in earlier:
                previous = event_id
                continue
            previous = event_id
            kept.append(event)
        self._previous_id = previous
        return kept
