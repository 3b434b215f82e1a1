"""Event, Status and its transition table, Stats: plain values, tested without any I/O."""

from __future__ import annotations

import dataclasses
import decimal
import json
from collections import deque
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sseclient_sync import Event, SSEParser, Stats, Status
from sseclient_sync._models import TRANSITIONS

# --- Event -------------------------------------------------------------------------------------


def test_event_defaults() -> None:
    event = Event()
    assert (event.event, event.data, event.id, event.retry) == ("message", "", None, None)


def test_event_fields_in_order() -> None:
    assert [field.name for field in dataclasses.fields(Event)] == ["event", "data", "id", "retry"]
    assert Event("update", "x", "1", 5) == Event(event="update", data="x", id="1", retry=5)


def test_event_is_frozen_and_hashable() -> None:
    event = Event(data="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = "y"  # type: ignore[misc]
    assert hash(event) == hash(Event(data="x"))
    assert len({event, Event(data="x"), Event(data="y")}) == 2


def test_event_json_parses_data() -> None:
    assert Event(data='{"a": [1, 2.5, null]}').json() == {"a": [1, 2.5, None]}


def test_event_json_passes_loads_keyword_arguments() -> None:
    assert Event(data='{"price": 1.10}').json(parse_float=decimal.Decimal) == {
        "price": decimal.Decimal("1.10")
    }


def test_event_json_raises_for_invalid_json() -> None:
    with pytest.raises(json.JSONDecodeError):
        Event(data="not json").json()


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (Event(data="hi"), b"data: hi\n\n"),
        (Event(data=""), b"data:\n\n"),
        (Event(data="a\nb"), b"data: a\ndata: b\n\n"),
        (Event(data="a\n"), b"data: a\ndata:\n\n"),
        (Event(data=" lead"), b"data:  lead\n\n"),
        (Event("update", "x", "7", 3000), b"event: update\nid: 7\nretry: 3000\ndata: x\n\n"),
        (Event(data="x", id=""), b"id:\ndata: x\n\n"),
        (Event(data="x", retry=0), b"retry: 0\ndata: x\n\n"),
        (Event(data="w\u00f6rld \U0001f389"), "data: w\u00f6rld \U0001f389\n\n".encode()),
        (Event(data="a\r\nb\rc"), b"data: a\ndata: b\ndata: c\n\n"),
        (Event(data="a\u2028b"), "data: a\u2028b\n\n".encode()),
    ],
)
def test_event_encode_exact_bytes(event: Event, wire: bytes) -> None:
    assert event.encode() == wire


def test_event_encode_writes_cr_and_crlf_in_data_as_line_feeds() -> None:
    # Documented: the wire format cannot carry a CR inside data.
    assert SSEParser().feed(Event(data="a\r\nb\rc\n").encode()) == [Event(data="a\nb\nc\n")]


@pytest.mark.parametrize(
    "event",
    [
        Event(event="a\nb"),
        Event(event="a\rb"),
        Event(id="1\n2"),
        Event(id="1\r"),
        Event(id="1\x002"),
        Event(retry=-1),
        Event(retry=True),
        Event(retry=1.5),  # type: ignore[arg-type]
        Event(retry="5"),  # type: ignore[arg-type]
    ],
)
def test_event_encode_rejects_what_cannot_be_written(event: Event) -> None:
    with pytest.raises(ValueError, match=r"event type|id|retry"):
        event.encode()


any_text = st.text(st.characters(codec="utf-8"), max_size=30)
single_line = any_text.map(lambda text: text.replace("\r", "").replace("\n", ""))


@settings(max_examples=200, deadline=None)
@given(
    event_type=st.one_of(st.just("message"), single_line.filter(bool)),
    data=st.one_of(
        any_text,
        st.lists(
            st.sampled_from(["", " ", "x", "\r", "\r\n", "\n", "\u2028", "\U0001f389"]), max_size=8
        ).map("".join),
    ),
    event_id=st.one_of(st.none(), single_line.map(lambda text: text.replace("\0", ""))),
    retry=st.one_of(st.none(), st.integers(min_value=0, max_value=10**15)),
)
def test_event_encode_round_trips_through_the_parser(
    event_type: str, data: str, event_id: Optional[str], retry: Optional[int]
) -> None:
    event = Event(event_type, data, event_id, retry)
    wire = event.encode()
    expected = dataclasses.replace(event, data=data.replace("\r\n", "\n").replace("\r", "\n"))
    assert SSEParser().feed(wire) == [expected]
    parser = SSEParser()  # and fed one byte at a time
    assert [got for i in range(len(wire)) for got in parser.feed(wire[i : i + 1])] == [expected]


# --- Status ------------------------------------------------------------------------------------

FINAL = {Status.COMPLETED, Status.CLOSED, Status.FAILED}


def test_status_is_a_str_enum_with_lower_case_values() -> None:
    for status in Status:
        assert isinstance(status, str)
        assert status.value == status.name.lower()
        assert status == status.value
        assert Status(status.value) is status
        assert str(status) == status.value
        assert f"{status}" == status.value


def test_status_members() -> None:
    assert [status.value for status in Status] == [
        "connecting",
        "open",
        "reconnecting",
        "polling",
        "completed",
        "closed",
        "failed",
    ]


def test_is_final_only_for_completed_closed_and_failed() -> None:
    assert {status for status in Status if status.is_final} == FINAL


def test_transitions_cover_every_status() -> None:
    assert set(TRANSITIONS) == set(Status)
    for targets in TRANSITIONS.values():
        assert isinstance(targets, frozenset)
        assert targets <= set(Status)


def test_final_statuses_have_no_way_out() -> None:
    for status in FINAL:
        assert TRANSITIONS[status] == frozenset()


def test_no_status_moves_to_itself() -> None:
    for status, targets in TRANSITIONS.items():
        assert status not in targets


def test_every_status_is_reachable_from_connecting() -> None:
    seen = {Status.CONNECTING}
    todo = deque([Status.CONNECTING])
    while todo:
        for target in TRANSITIONS[todo.popleft()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert seen == set(Status)


def test_every_live_status_can_be_closed_or_fail() -> None:
    # close() must work whatever the connection is doing, and so must giving up.
    for status in set(Status) - FINAL:
        assert {Status.CLOSED, Status.FAILED} <= TRANSITIONS[status]


# --- Stats -------------------------------------------------------------------------------------


def test_stats_fields() -> None:
    assert [field.name for field in dataclasses.fields(Stats)] == [
        "status",
        "connected",
        "reconnect_count",
        "messages_received",
        "bytes_received",
        "last_message_time",
        "uptime",
    ]


def test_stats_is_a_frozen_value() -> None:
    stats = Stats(Status.OPEN, True, 2, 10, 1234, 1.5e9, 3.25)
    assert stats == Stats(Status.OPEN, True, 2, 10, 1234, 1.5e9, 3.25)
    assert stats.status is Status.OPEN and stats.last_message_time == 1.5e9
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.uptime = 0.0  # type: ignore[misc]
