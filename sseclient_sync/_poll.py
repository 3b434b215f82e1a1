"""The polling fallback's wire format, ``{"events": [{"id", "event", "data"}]}``: a body in,
events out, or a ProtocolError saying what is wrong with it; and the first event past
``max_event_size``. Pure.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ._exceptions import EventTooLarge, ProtocolError
from ._models import Event

__all__ = ["POLL_SLACK", "first_too_large", "parse_poll_body"]

#: A poll answer is read whole before it is parsed: it may have 4 x max_event_size bytes plus
#: this many, so that a small answer with one oversized event still delivers those before it.
POLL_SLACK = 1 << 20


def parse_poll_body(
    body: bytes, url: str, last_event_id: Optional[str]
) -> tuple[list[Event], list[int]]:
    """Return the events of a poll response and the positions of those that inherited their id.

    An event without an ``id`` carries the last event ID in force, as on a stream. Raises
    ``ProtocolError`` (a ValueError) naming the URL and the problem for a body of any other shape.
    """
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # nested too deeply
        message = (
            f"the poll response from {url} is not JSON ({error}; it begins {body[:60]!r}): "
            'check that poll_url answers {"events": [...]} (an HTML page usually means a '
            "login or error page)"
        )
        raise ProtocolError(message, url=url) from error
    items = document.get("events") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ProtocolError(
            f'the poll response from {url} must be an object {{"events": [...]}}, '
            f"got {_shape(document)}",
            url=url,
        )
    events: list[Event] = []
    inherited: list[int] = []
    for index, item in enumerate(items):
        event = _event_from(item, index, url, last_event_id)
        if event.id is not None and item.get("id") is None:  # _event_from checked it is a dict
            inherited.append(len(events))
        last_event_id = event.id
        events.append(event)
    return events, inherited


def first_too_large(
    events: list[Event], url: str, limit: Optional[int]
) -> Optional[EventTooLarge]:
    """The error for the first event whose data is past ``limit`` (``max_event_size``),
    carrying the events before it; None when there is none."""
    if limit is None:
        return None
    for index, event in enumerate(events):
        if len(event.data) > limit:
            return EventTooLarge(
                f"event {index} of the poll answer from {url} has {len(event.data)} characters "
                f"of data, past max_event_size={limit}; raise max_event_size if the server "
                "really sends events this large",
                url=url,
                limit=limit,
                events=events[:index],
            )
    return None


def _event_from(item: Any, index: int, url: str, last_event_id: Optional[str]) -> Event:
    where = f"event {index} of the poll response from {url}"
    if not isinstance(item, dict):
        raise ProtocolError(f"{where} is not an object", url=url)
    event_type = item.get("event")
    data = item.get("data", "")
    event_id = item.get("id")
    if event_type is not None and not isinstance(event_type, str):
        raise ProtocolError(f"{where} needs a string 'event'", url=url)
    if event_id is not None and not isinstance(event_id, str):
        raise ProtocolError(f"{where} needs a string 'id'", url=url)
    if event_id is not None and ("\n" in event_id or "\r" in event_id):
        # No stream can send such an id, nor can a Last-Event-ID header carry it.
        raise ProtocolError(f"{where} has an 'id' with a line break: {event_id!r}", url=url)
    if not isinstance(data, str):  # a structured payload travels as its JSON text, as on a stream
        try:
            data = json.dumps(data)
        except RecursionError:
            raise ProtocolError(f"{where} nests too deeply", url=url) from None
    return Event(event_type or "message", data, last_event_id if event_id is None else event_id)


def _shape(document: Any) -> str:
    if isinstance(document, dict):
        return f"an object with keys {sorted(document)[:5]}"
    return type(document).__name__
