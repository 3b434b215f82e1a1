"""Event, Comment, Status and its transition table, Stats: plain values, tested without any I/O."""

from __future__ import annotations

import copy
import dataclasses
import decimal
import json
import pickle
from collections import deque, namedtuple
from typing import Optional
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sseclient_sync import Event, SSEParser, Stats, Status
from sseclient_sync._models import TRANSITIONS, Comment

# --- Event -------------------------------------------------------------------------------------


def test_event_defaults() -> None:
    event = Event()
    assert (event.event, event.data, event.id, event.retry) == ("message", "", None, None)


def test_event_fields_in_order() -> None:
    assert Event._fields == ("event", "data", "id", "retry")
    assert Event("update", "x", "1", 5) == Event(event="update", data="x", id="1", retry=5)
    assert Event("update", data="x") == Event(event="update", data="x", id=None, retry=None)


def test_event_constructor_rejects_unknown_and_extra_arguments() -> None:
    with pytest.raises(TypeError, match="dta"):
        Event(dta="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Event("a", "b", "c", 1, 2)  # type: ignore[call-arg]


def test_event_repr_names_every_field() -> None:
    assert repr(Event(data="x")) == "Event(event='message', data='x', id=None, retry=None)"
    assert repr(Event("t", "a\nb", "7", 30)) == "Event(event='t', data='a\\nb', id='7', retry=30)"


def test_event_is_immutable() -> None:
    event = Event(data="x")
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(event, "__dict__")
    assert event == Event(data="x")


def test_event_equality_and_hash_are_by_value() -> None:
    event = Event(data="x", id="1")
    assert event == Event(data="x", id="1")
    assert not event != Event(data="x", id="1")  # noqa: SIM202 - __ne__ is its own method
    assert event != Event(data="x", id="2")
    assert hash(event) == hash(Event(data="x", id="1"))
    assert len({event, Event(data="x", id="1"), Event(data="y")}) == 2


def test_event_is_never_equal_to_a_plain_tuple() -> None:
    # An Event is a tuple underneath; it must still compare as an Event, both ways round.
    event = Event(data="x")
    fields = ("message", "x", None, None)
    assert tuple(event) == fields
    assert event != fields
    assert fields != event
    assert not event == fields  # noqa: SIM201 - __eq__ is its own method
    assert not fields == event  # noqa: SIM201
    assert event not in [fields]
    assert event != namedtuple("Other", "event data id retry")(*fields)


def test_event_compares_equal_to_what_claims_equality() -> None:
    # Anything else gets its say (NotImplemented), as with mock.ANY.
    assert Event(data="x") == mock.ANY
    assert Event(data="x") != "x"


def test_event_unpacks_as_its_fields() -> None:
    event_type, data, event_id, retry = Event("t", "d", "1", 5)
    assert (event_type, data, event_id, retry) == ("t", "d", "1", 5)


def test_event_pickles_and_copies() -> None:
    event = Event("t", "d\n\u00e9", "1", 5)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        restored = pickle.loads(pickle.dumps(event, protocol))
        assert restored == event
        assert type(restored) is Event
    assert copy.copy(event) == event
    assert copy.deepcopy(event) == event
    assert type(copy.deepcopy(event)) is Event


def test_replace_changes_only_the_given_fields() -> None:
    event = Event("t", "d", "1", 5)
    assert event.replace(data="new") == Event("t", "new", "1", 5)
    assert event.replace(event="u", id=None, retry=None) == Event("u", "d", None, None)
    assert event.replace() == event
    assert event == Event("t", "d", "1", 5)  # the original is untouched
    assert type(event.replace(data="x")) is Event


def test_replace_can_set_a_field_to_none() -> None:
    assert Event(data="x", id="1", retry=5).replace(id=None, retry=None) == Event(data="x")


def test_replace_rejects_an_unknown_field_by_name() -> None:
    with pytest.raises(TypeError, match="dta"):
        Event(data="x").replace(dta="y")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Event(data="x").replace("y")  # type: ignore[misc]


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


def test_event_encode_writes_an_empty_type_that_parses_back_as_message() -> None:
    # Documented: the parser reads an empty event type as the default one.
    assert Event(event="", data="x").encode() == b"event:\ndata: x\n\n"
    assert SSEParser().feed(Event(event="", data="x").encode()) == [Event(data="x")]


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
    expected = event.replace(data=data.replace("\r\n", "\n").replace("\r", "\n"))
    assert SSEParser().feed(wire) == [expected]
    parser = SSEParser()  # and fed one byte at a time
    assert [got for i in range(len(wire)) for got in parser.feed(wire[i : i + 1])] == [expected]


# --- Comment -----------------------------------------------------------------------------------


def test_comment_is_its_text() -> None:
    comment = Comment(" ping")
    assert isinstance(comment, str)
    assert comment == " ping"
    assert comment.startswith(" ")
    assert str(comment) == " ping"


def test_comment_repr_says_what_it_is() -> None:
    assert repr(Comment(" ping")) == "Comment(' ping')"
    assert repr(Comment("")) == "Comment('')"


def test_comment_is_told_apart_from_an_event_by_type() -> None:
    assert not isinstance(Comment("x"), Event)
    assert not hasattr(Comment("x"), "__dict__")


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
