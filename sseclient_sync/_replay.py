"""The dedup window: which events an earlier stream of the connection already delivered.

A replay is an event whose own ``id:`` an earlier stream (or poll answer) delivered: a server
that starts again from an older point after a reconnect. Within one stream a repeated id is
the server's business and is delivered. Pure: no threads, no I/O.

Memory is bounded and small: the filter keeps the hashes of the latest ``window`` distinct
ids of earlier streams, oldest first, as the keys of a dict (about 70 bytes each: a set
takes half as much again, and a list beside it for the order), and the latest ids of the
current stream packed into a few strings (an id plus one character each). When the next
stream begins, the window is made again from the two: work proportional to the window,
never to everything seen. Packing costs a join per ``_PACK`` ids; hashing each id as it
came would cost a fifth of the parse, so only the latest window is hashed, once.

The trade-off: a server that replays more than ``window`` events after a reconnect repeats
the oldest of them. A hash collision could drop an event; with 64-bit hashes over a window
of a thousand ids that is about one in 10^16 per event.
"""

from __future__ import annotations

import operator
from typing import Optional, Sequence, cast

from ._models import Event

__all__ = ["DEDUP_WINDOW", "ReplayFilter"]

#: How many of the latest distinct ids of earlier streams are remembered (with the current
#: stream's, under 64 KiB in all): what servers replay from their buffer after a reconnect,
#: with room to spare.
DEDUP_WINDOW = 512

_NO_EVENT_YET = "\0"  # no event id contains NUL: "this stream has had no event yet"
_event_id = operator.attrgetter("id")
#: How many ids of the current stream stay strings of their own before they are packed.
_PACK = 64
#: Joins the packed ids: no id contains it (a stream's lines end there; poll answers are
#: checked for it).
_ID_SEPARATOR = "\n"


class ReplayFilter:
    """Drops replayed events. Call :meth:`begin_stream` when a stream (or poll answer)
    begins, then :meth:`filter` with each batch of events it delivers."""

    __slots__ = (
        "_current",
        "_earlier",
        "_packed",
        "_packed_counts",
        "_previous_id",
        "window",
    )

    def __init__(self, window: int = DEDUP_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"the dedup window must hold at least one id, got {window}")
        self.window = window
        # The hashes of the ids earlier streams delivered, oldest first (the values unused).
        self._earlier: dict[int, None] = {}
        # The current stream's own ids: the latest as they came (None for an event without
        # one), the older packed, with how many each packed string holds, oldest first.
        self._current: list[Optional[str]] = []
        self._packed: list[str] = []
        self._packed_counts: list[int] = []
        self._previous_id: Optional[str] = _NO_EVENT_YET

    def __len__(self) -> int:
        """How many ids of earlier streams are remembered."""
        return len(self._earlier)

    def begin_stream(self) -> None:
        """A new stream begins: what came before it may be replayed in it."""
        earlier = self._earlier
        latest = dict.fromkeys(map(hash, self._latest_ids()))  # each once, oldest first
        # An id remembered already keeps its place: the window is the latest ids delivered
        # first, which is what a server replays from.
        new = [value for value in latest if value not in earlier]
        if new:
            # Made afresh rather than updated: a dict that lost keys keeps their room.
            room = self.window - len(new)
            kept = list(earlier)[max(0, len(earlier) - room) :] if room else []
            self._earlier = dict.fromkeys([*kept, *new])
        self._current, self._packed, self._packed_counts = [], [], []
        self._previous_id = _NO_EVENT_YET

    def _latest_ids(self) -> list[str]:
        """The current stream's latest ``window`` own ids (none empty), oldest first."""
        self._pack()
        if not self._packed:
            return []
        ids = _ID_SEPARATOR.join(self._packed).split(_ID_SEPARATOR)
        return list(filter(None, ids))[-self.window :]

    def _pack(self) -> None:
        """Pack the ids kept as strings of their own; forget packs the window no longer
        needs. An empty id (no identity: it only resets the last event ID) is counted as
        one, and left out when the window is made: leaving it out here would cost a pass
        over every id."""
        ids = self._current
        self._current = []
        try:
            text = _ID_SEPARATOR.join(cast("list[str]", ids))  # every event had its own id
        except TypeError:  # events without one (None) among them
            ids = [value for value in ids if value is not None]
            text = _ID_SEPARATOR.join(cast("list[str]", ids))
        if not ids:
            return
        packed, counts = self._packed, self._packed_counts
        packed.append(text)
        counts.append(len(ids))
        held = sum(counts)
        while held - counts[0] >= self.window:
            held -= counts.pop(0)
            del packed[0]

    def filter(
        self, events: list[Event], inherited: Sequence[int], *, drop: bool = True
    ) -> list[Event]:
        """The events that are not replays, in order, remembered as delivered by the current
        stream (an earlier stream's, once the next begins); with ``drop=False`` all of them,
        only remembered. ``inherited`` are the positions of the events whose block had no
        ``id:`` line (an inherited id is no identity). An empty id only resets the last event
        ID; an id that restates the last id this stream set (a relay writing every event's
        id) is no replay either."""
        # On the usual streams (every event with its own id, or none) only C loops run per
        # event. The ids are hashed when the next stream begins, and only the latest window
        # of them is kept. One call per read: this is every read's path.
        if not events or events[-1].id is None:
            # An id never goes back to None (an event without an id: line carries the last
            # event ID in force), so none of these has one: nothing to remember or drop.
            return events
        current = self._current
        if inherited:
            skip = set(inherited)
            current.extend([e.id for index, e in enumerate(events) if index not in skip])
        elif len(events) == 1:  # a read of one event: what a server flushing each one sends
            current.append(events[0].id)
        else:
            current.extend(map(_event_id, events))
        if len(current) > _PACK:
            self._pack()
        return self.without_replays(events, inherited) if drop and self._earlier else events

    def without_replays(self, events: list[Event], inherited: Sequence[int]) -> list[Event]:
        """The events that are not replays of an earlier stream's, in order (``events``
        itself when there are none); remembers nothing."""
        earlier = self._earlier
        if not earlier or not events or events[-1].id is None:
            return events  # nothing to replay (nor is _previous_id read in this stream)
        if len(inherited) < len(events) and not earlier.keys().isdisjoint(
            map(hash, filter(None, map(_event_id, events)))
        ):
            return self._drop_replays(events, inherited)  # sets _previous_id
        if not inherited or inherited[-1] != len(events) - 1:
            self._previous_id = events[-1].id
        else:  # the last own id before the inherited tail, if this read has one
            skip = set(inherited)
            own = [e.id for index, e in enumerate(events) if index not in skip]
            self._previous_id = own[-1] if own else self._previous_id
        return events

    def _drop_replays(self, events: list[Event], inherited: Sequence[int]) -> list[Event]:
        earlier = self._earlier
        previous = self._previous_id
        skip = set(inherited)
        kept: list[Event] = []
        for index, event in enumerate(events):
            event_id = event.id
            if index in skip:
                # Its id is the last one set, maybe by an earlier stream: not this stream's
                # previous event id, which only an id: line of this stream sets.
                kept.append(event)
                continue
            if event_id and event_id != previous and hash(event_id) in earlier:
                previous = event_id
                continue
            previous = event_id
            kept.append(event)
        self._previous_id = previous
        return kept
