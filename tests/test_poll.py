"""parse_poll_body (sseclient_sync/_poll.py): the polling fallback's JSON wire format, pure.

The poll loop itself (headers, dedup, errors reported and polling going on) is tested with a
fake transport in test_reader.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sseclient_sync import Event
from sseclient_sync._poll import first_too_large, parse_poll_body

URL = "http://127.0.0.1:8000/poll"


def body(document: Any) -> bytes:
    return json.dumps(document).encode("utf-8")


def parse(document: Any, last_event_id: Any = None) -> tuple[list[Event], list[int]]:
    return parse_poll_body(body(document), URL, last_event_id)


def test_events_come_in_order_with_their_fields() -> None:
    events, inherited = parse(
        {
            "events": [
                {"id": "1", "event": "token", "data": "Hel"},
                {"id": "2", "event": "token", "data": "lo"},
                {"id": "3", "event": "end", "data": ""},
            ]
        }
    )
    assert events == [
        Event("token", "Hel", "1"),
        Event("token", "lo", "2"),
        Event("end", "", "3"),
    ]
    assert inherited == []


def test_an_empty_list_gives_nothing() -> None:
    assert parse({"events": []}) == ([], [])


def test_extra_keys_are_ignored() -> None:
    events, _ = parse({"events": [{"data": "x", "extra": 1}], "cursor": "abc"})
    assert events == [Event("message", "x", None)]


def test_missing_type_and_data_default_to_message_and_empty() -> None:
    events, _ = parse({"events": [{"id": "1"}, {"id": "2", "event": ""}]})
    assert events == [Event("message", "", "1"), Event("message", "", "2")]


def test_an_event_without_an_id_inherits_the_last_event_id() -> None:
    events, inherited = parse({"events": [{"data": "a"}, {"data": "b"}]}, last_event_id="7")
    assert [event.id for event in events] == ["7", "7"]
    assert inherited == [0, 1]


def test_an_event_without_an_id_inherits_from_the_event_before_it() -> None:
    events, inherited = parse(
        {"events": [{"data": "a"}, {"id": "8", "data": "b"}, {"data": "c"}, {"id": None}]},
        last_event_id="7",
    )
    assert [event.id for event in events] == ["7", "8", "8", "8"]
    assert inherited == [0, 2, 3]


def test_without_any_id_events_have_none() -> None:
    events, inherited = parse({"events": [{"data": "a"}]})
    assert events[0].id is None
    assert inherited == []  # no id to inherit


def test_an_empty_own_id_is_an_own_id() -> None:
    events, inherited = parse({"events": [{"id": "", "data": "a"}, {"data": "b"}]}, "7")
    assert [event.id for event in events] == ["", ""]
    assert inherited == [1]


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"text": "hi", "n": 1}, '{"text": "hi", "n": 1}'),
        ([1, 2], "[1, 2]"),
        (5, "5"),
        (2.5, "2.5"),
        (True, "true"),
    ],
)
def test_data_that_is_not_a_string_travels_as_its_json_text(data: Any, text: str) -> None:
    events, _ = parse({"events": [{"data": data}]})
    assert events[0].data == text
    assert json.loads(events[0].data) == data


def test_string_data_is_kept_exactly() -> None:
    events, _ = parse({"events": [{"data": 'line 1\nline 2 "quoted" caf\u00e9'}]})
    assert events[0].data == 'line 1\nline 2 "quoted" caf\u00e9'


def test_utf8_body_is_decoded() -> None:
    raw = '{"events": [{"data": "caf\u00e9 \u2603"}]}'.encode()
    events, _ = parse_poll_body(raw, URL, None)
    assert events[0].data == "caf\u00e9 \u2603"


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"{", b"<html>503</html>", b"\xff\xfe{}", b'{"events": [}'],
    ids=["empty", "text", "truncated", "html", "not-utf8", "broken"],
)
def test_a_body_that_is_not_json_is_a_value_error_naming_the_url(raw: bytes) -> None:
    with pytest.raises(ValueError) as caught:
        parse_poll_body(raw, URL, None)
    assert URL in str(caught.value)
    assert "JSON" in str(caught.value)


def test_a_body_that_is_not_json_shows_how_it_begins_and_what_to_check() -> None:
    with pytest.raises(ValueError) as caught:
        parse_poll_body(b"<html><body>Sign in</body></html>" + b"x" * 1000, URL, None)
    message = str(caught.value)
    assert "it begins b'<html><body>Sign in</body></html>xxx" in message
    assert "x" * 100 not in message  # only the beginning
    assert "check that poll_url answers" in message and "login" in message


@pytest.mark.parametrize(
    "raw", [b"[" * 100_000, b'{"events": [{"data": ' + b"[" * 100_000 + b"]}]}"]
)
def test_json_nested_too_deeply_is_a_value_error_naming_the_url(raw: bytes) -> None:
    with pytest.raises(ValueError, match=URL):
        parse_poll_body(raw, URL, None)


@pytest.mark.parametrize(
    "document",
    [
        [],
        [{"data": "a"}],
        None,
        "events",
        5,
        {},
        {"Events": []},
        {"events": None},
        {"events": {"data": "a"}},
        {"events": "a"},
    ],
)
def test_a_body_of_the_wrong_shape_is_a_value_error_naming_the_url(document: Any) -> None:
    with pytest.raises(ValueError) as caught:
        parse(document)
    message = str(caught.value)
    assert URL in message
    assert '{"events": [...]}' in message


def test_the_wrong_shape_error_shows_the_keys_that_came() -> None:
    with pytest.raises(ValueError, match="items"):
        parse({"items": []})


@pytest.mark.parametrize(
    "item",
    [
        "just a string",
        5,
        None,
        ["id", "data"],
        {"id": 5, "data": "a"},
        {"id": ["1"], "data": "a"},
        {"event": 5, "data": "a"},
        {"event": {"type": "x"}, "data": "a"},
        {"event": False, "data": "a"},
        {"event": 0, "data": "a"},
        {"id": "1\n2", "data": "a"},
        {"id": "1\r", "data": "a"},
    ],
)
def test_a_bad_item_is_a_value_error_naming_the_url_and_the_position(item: Any) -> None:
    with pytest.raises(ValueError) as caught:
        parse({"events": [{"data": "fine"}, item]})
    message = str(caught.value)
    assert URL in message
    assert "event 1" in message


def test_nothing_is_returned_when_one_item_is_bad() -> None:
    # All or nothing: a bad body must not deliver half of itself and move the resume point.
    with pytest.raises(ValueError):
        parse({"events": [{"id": "1", "data": "a"}, 5]})


def test_the_first_event_past_max_event_size_is_an_error_carrying_those_before_it() -> None:
    events = [Event(data="a"), Event(data="x" * 11), Event(data="y" * 20)]
    error = first_too_large(events, "http://h/poll", 10)
    assert error is not None and error.events == events[:1] and error.limit == 10
    assert "event 1 of the poll answer from http://h/poll" in str(error)
    assert first_too_large(events, "http://h/poll", 20) is None  # 20 characters: not past
    assert first_too_large(events, "http://h/poll", None) is None
