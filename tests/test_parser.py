"""SSEParser: one named test per WHATWG rule, each checked fed whole, byte by byte and split at
every offset (``check``), then property tests against an independent encoder and model.

Spec: https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
"""

from __future__ import annotations

import dataclasses
import sys
import tracemalloc
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sseclient_sync import Event, EventTooLarge, SSEParser
from sseclient_sync._parser import DEFAULT_MAX_EVENT_SIZE, Comment

BOM = "\ufeff"
TOO_LARGE = "<EventTooLarge>"  # stands for a raised EventTooLarge in an Outcome's items

Item = Union[Event, str]  # an Event, a Comment (a str) or TOO_LARGE


def E(
    data: str, event: str = "message", id: Optional[str] = None, retry: Optional[int] = None
) -> Event:
    return Event(event=event, data=data, id=id, retry=retry)


def C(text: str) -> Comment:
    return Comment(text)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Everything a parse produced: the events (and comments, fed by feed_items) in order, with
    TOO_LARGE where EventTooLarge was raised (its ``events`` come just before it), the indices
    in ``items`` of the events marked as having their own id, and the parser's final state."""

    items: Tuple[Item, ...]
    marked: Tuple[int, ...]
    last_event_id: Optional[str]
    retry: Optional[int]

    @property
    def events(self) -> List[Event]:
        return [item for item in self.items if isinstance(item, Event)]


#: How run() feeds: feed_marking_inherited, feed_items, or feed after mark_inherited(list).
MARKING, ITEMS, MARKS = "feed_marking_inherited", "feed_items", "mark_inherited"


def run(chunks: Sequence[bytes], *, mode: str = MARKING, **parser_options: object) -> Outcome:
    """Feed ``chunks`` to a new parser the way ``mode`` says, then ``b""`` until it has
    nothing left (the events after an oversized one wait for the next call). ``marked`` are
    the positions of the events with their own id: those with an id that the parser did not
    mark as inherited."""
    parser = SSEParser(**parser_options)  # type: ignore[arg-type]
    items: List[Item] = []
    marked: List[int] = []
    feed_call: Callable[[bytes], Tuple[Sequence[Item], Sequence[int]]]
    if mode == MARKS:
        marks: List[int] = []
        parser.mark_inherited(marks)

        def feed_call(chunk: bytes) -> Tuple[Sequence[Item], Sequence[int]]:
            try:
                return parser.feed(chunk), list(marks)
            finally:
                marks.clear()  # as the owner of the list must

    else:
        feed_call = parser.feed_items if mode == ITEMS else parser.feed_marking_inherited

    def record(events: Sequence[Item], inherited: Sequence[int]) -> None:
        marked.extend(
            len(items) + position
            for position, item in enumerate(events)
            if position not in inherited and type(item) is Event and item.id is not None
        )
        items.extend(events)

    def feed(chunk: bytes) -> bool:
        try:
            events, inherited = feed_call(chunk)
        except EventTooLarge as error:
            assert error.limit == parser.max_event_size
            assert error.inherited is not None  # the marks of its events
            record(error.events, error.inherited)
            items.append(TOO_LARGE)
            return True
        record(events, inherited)
        return bool(events)

    for chunk in chunks:
        feed(chunk)
    while feed(b""):
        pass
    return Outcome(tuple(items), tuple(marked), parser.last_event_id, parser.retry)


def splittings(stream: bytes) -> Iterator[Tuple[str, List[bytes]]]:
    yield "whole", [stream]
    yield "byte by byte", [stream[i : i + 1] for i in range(len(stream))]
    for offset in range(len(stream) + 1):
        yield f"split at {offset}", [stream[:offset], stream[offset:]]


def check(
    stream: Union[str, bytes],
    expected: Optional[Sequence[Item]] = None,
    *,
    comments: bool = False,
    **parser_options: object,
) -> Outcome:
    """Parse ``stream`` whole, one byte at a time and split in two at every offset, with
    feed_marking_inherited, feed_items and mark_inherited; assert that all give the same
    Outcome (events, errors, marks, last_event_id, retry), feed_items with the comments among
    the same events, and, if given, the ``expected`` items (with comments if ``comments``).
    Return the Outcome of the mode ``comments`` picks."""
    raw = stream.encode("utf-8") if isinstance(stream, str) else stream
    outcomes = {}
    for mode in (MARKING, ITEMS, MARKS):
        reference = run([raw], mode=mode, **parser_options)
        for name, chunks in splittings(raw):
            got = run(chunks, mode=mode, **parser_options)
            assert got == reference, f"fed {name}, with {mode}"
        outcomes[mode] = reference
    events_only, with_items = outcomes[MARKING], outcomes[ITEMS]
    assert outcomes[MARKS] == events_only
    assert not any(isinstance(item, Comment) for item in events_only.items)
    assert all(isinstance(item, (Event, Comment)) or item is TOO_LARGE for item in with_items.items)
    assert [item for item in with_items.items if not isinstance(item, Comment)] == list(
        events_only.items
    )
    assert (with_items.last_event_id, with_items.retry) == (
        events_only.last_event_id,
        events_only.retry,
    )
    outcome = with_items if comments else events_only
    if expected is not None:
        assert list(outcome.items) == list(expected)
        assert [type(item) for item in outcome.items] == [
            str if item is TOO_LARGE else type(item) for item in expected
        ]
    return outcome


# --- line ends ------------------------------------------------------------------------------


def test_lf_ends_lines() -> None:
    check("data: a\ndata: b\n\n", [E("a\nb")])


def test_cr_ends_lines() -> None:
    check("data: a\rdata: b\r\r", [E("a\nb")])


def test_crlf_ends_lines() -> None:
    check("data: a\r\ndata: b\r\n\r\n", [E("a\nb")])


def test_mixed_line_ends_in_one_stream() -> None:
    check("event: x\rdata: a\r\ndata: b\n\r\ndata: c\r\r", [E("a\nb", "x"), E("c")])


def test_crlf_split_across_two_feeds_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r") == []
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\r") == [E("a\nb")]  # a blank line: CR alone is a line end
    assert parser.feed(b"\n") == []  # the rest of that CRLF, not a second blank line
    assert parser.feed(b"data: c\r\n\r\n") == [E("c")]


def test_cr_at_end_of_feed_then_other_character_is_a_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"data: b\r") == []
    assert parser.feed(b"\r") == [E("a\nb")]


def test_crlf_split_by_empty_feeds_is_still_one_line_end() -> None:
    # An empty read (or one that only completes part of a UTF-8 sequence) between the CR and
    # the LF must not make the LF a second line end, which would dispatch half an event.
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"") == []
    assert parser.feed(b"\ndata: b\n\n") == [E("a\nb")]


def test_cr_cr_is_two_line_ends() -> None:
    check("data: a\r\r", [E("a")])


def test_lf_cr_is_two_line_ends() -> None:
    check("data: a\n\r", [E("a")])


def test_cr_lf_lf_is_two_line_ends() -> None:
    check("data: a\r\n\n", [E("a")])


def test_other_unicode_line_breaks_are_not_line_ends() -> None:
    # str.splitlines() splits on all of these; the event stream format only on CR and LF.
    breaks = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"
    for char in breaks:
        stream = f"data: a{char}b\nevent: c{char}d\nid: e{char}f\n\n"
        check(stream, [E(f"a{char}b", f"c{char}d", f"e{char}f")])


# --- byte order mark and decoding -----------------------------------------------------------


def test_leading_bom_is_skipped() -> None:
    check(BOM + "data: a\n\n", [E("a")])


def test_leading_bom_split_across_feeds_is_skipped() -> None:
    parser = SSEParser()
    assert parser.feed(b"\xef") == []
    assert parser.feed(b"\xbb") == []
    assert parser.feed(b"\xbfdata: a\n\n") == [E("a")]


def test_empty_feed_before_the_bom_does_not_end_the_start_of_the_stream() -> None:
    parser = SSEParser()
    assert parser.feed(b"") == []
    assert parser.feed(BOM.encode() + b"data: a\n\n") == [E("a")]


def test_second_bom_is_kept() -> None:
    # Only one BOM is skipped; the second starts the field name "\ufeffdata", unknown.
    check(BOM + BOM + "data: a\n\ndata: b\n\n", [E("b")])
    check(BOM + "data: " + BOM + "a\n\n", [E(BOM + "a")])


def test_bom_after_the_start_is_data() -> None:
    check("data: a\n\n" + BOM + "data: b\n\n", [E("a")])
    check("data: " + BOM + "\n\n", [E(BOM)])
    check("\n" + BOM + "data: b\n\n", [])


def test_bom_is_skipped_again_after_reset() -> None:
    parser = SSEParser()
    assert parser.feed((BOM + "data: a\n\n").encode()) == [E("a")]
    parser.reset()
    assert parser.feed((BOM + "data: b\n\n").encode()) == [E("b")]


def test_utf8_is_decoded() -> None:
    check(
        "event: \u00e9v\u00e9nement\ndata: w\u00f6rld \u4e16\u754c \U0001f389\nid: \u00df\n\n",
        [E("w\u00f6rld \u4e16\u754c \U0001f389", "\u00e9v\u00e9nement", "\u00df")],
    )


def test_multibyte_character_split_across_feeds_stays_whole() -> None:
    parser = SSEParser()
    encoded = "data: \U0001f389\n\n".encode()
    assert parser.feed(encoded[:7]) == []  # "data: " and the first byte of four
    assert parser.feed(encoded[7:8]) == []
    assert parser.feed(encoded[8:]) == [E("\U0001f389")]


def test_invalid_utf8_becomes_replacement_character() -> None:
    check(b"data: a\xffb\n\n", [E("a\ufffdb")])
    check(b"data: \xc3\n\n", [E("\ufffd")])  # a sequence cut by a line end
    check(b"data: \xe2\x82x\n\n", [E("\ufffdx")])  # one U+FFFD per maximal subpart
    check(b"data: \xed\xa0\x80\n\n", [E("\ufffd" * 3)])  # an encoded surrogate
    check(b"data: \xc0\xaf\n\n", [E("\ufffd\ufffd")])  # an overlong form
    check(b"\xff\ndata: a\n\n", [E("a")])  # a bad byte at the start is not a BOM


def test_invalid_utf8_does_not_stop_the_stream() -> None:
    check(b"data: \xfe\n\ndata: ok\n\n", [E("\ufffd"), E("ok")])


# --- comments and fields --------------------------------------------------------------------


def test_comments_are_ignored() -> None:
    check(": hello\ndata: a\n:\n: data: no\ndata: b\n\n", [E("a\nb")])


def test_comment_only_block_dispatches_nothing() -> None:
    check(": keep-alive\n\n:\n\n", [])


def test_field_without_colon_is_the_whole_line_with_empty_value() -> None:
    check("data\n\n", [E("")])
    check("data\ndata\n\n", [E("\n")])
    check("data\ndata: x\n\n", [E("\nx")])
    check("event\ndata: x\n\n", [E("x", "message")])
    outcome = check("id: 1\ndata: a\n\nid\ndata: b\n\n", [E("a", id="1"), E("b", id="")])
    assert outcome.last_event_id == ""


def test_exactly_one_leading_space_is_removed() -> None:
    check("data: one\n\n", [E("one")])
    check("data:  two\n\n", [E(" two")])
    check("data:none\n\n", [E("none")])
    check("data:   \n\n", [E("  ")])
    check("data:\t tab\n\n", [E("\t tab")])
    check("event:  spaced\ndata\n\n", [E("", " spaced")])
    check("id:  7\ndata\n\n", [E("", id=" 7")])


def test_trailing_spaces_are_kept() -> None:
    check("data: a  \n\n", [E("a  ")])


def test_value_is_everything_after_the_first_colon() -> None:
    check("data: a: b:c\n\n", [E("a: b:c")])
    check("data:a: b\n\n", [E("a: b")])
    check("data::\n\n", [E(":")])
    check("data:: x\n\n", [E(": x")])
    check("event:a:b\ndata\n\n", [E("", "a:b")])


def test_data_lines_are_joined_by_lf_and_the_final_lf_removed() -> None:
    check("data: a\ndata: b\ndata: c\n\n", [E("a\nb\nc")])
    check("data: a\ndata:\n\n", [E("a\n")])
    check("data:\ndata: b\n\n", [E("\nb")])
    check("data:\ndata:\n\n", [E("\n")])
    check("data:\n\n", [E("")])


def test_empty_data_buffer_dispatches_nothing() -> None:
    check("event: x\n\n", [])
    check("retry: 10\n\n", [])
    check("id: 1\n\n", [])
    check("\n\n\n", [])


def test_keep_alives_after_an_id_dispatch_no_phantom_events() -> None:
    # The httpx-sse bug: once an id was seen, every blank line dispatched an empty event.
    outcome = check("id: 1\ndata: a\n\n: ping\n\n\n\n: ping\n\n", [E("a", id="1")])
    assert outcome.last_event_id == "1"


def test_event_type_is_reset_after_each_dispatch() -> None:
    check("event: a\ndata: 1\n\ndata: 2\n\n", [E("1", "a"), E("2")])


def test_event_type_is_reset_even_when_nothing_is_dispatched() -> None:
    check("event: a\n\ndata: 2\n\n", [E("2")])


def test_empty_event_type_means_message() -> None:
    check("event:\ndata: x\n\n", [E("x", "message")])
    check("event: message\ndata: x\n\n", [E("x", "message")])


def test_last_event_line_of_a_block_wins() -> None:
    check("event: a\nevent: b\ndata: x\n\n", [E("x", "b")])


# --- id ---------------------------------------------------------------------------------------


def test_id_containing_nul_is_ignored() -> None:
    outcome = check("id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", [E("a", id="1"), E("b", id="1")])
    assert outcome.last_event_id == "1"
    assert outcome.marked == (0,)


def test_id_only_block_updates_last_event_id() -> None:
    outcome = check("data: a\n\nid: 5\n\n", [E("a")])
    assert outcome.last_event_id == "5"


def test_last_event_id_persists_across_events() -> None:
    outcome = check(
        "id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\ndata: d\n\n",
        [E("a", id="1"), E("b", id="1"), E("c", id="2"), E("d", id="2")],
    )
    assert outcome.last_event_id == "2"


def test_empty_id_resets_last_event_id_to_empty_string() -> None:
    outcome = check(
        "id: 1\ndata: a\n\nid:\ndata: b\n\ndata: c\n\n",
        [E("a", id="1"), E("b", id=""), E("c", id="")],
    )
    assert outcome.last_event_id == ""


def test_last_id_line_of_a_block_wins() -> None:
    check("id: 1\nid: 2\ndata: a\n\n", [E("a", id="2")])


def test_id_takes_effect_at_dispatch_not_before() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n") == [E("a", id="1")]
    assert parser.last_event_id == "1"


def test_id_keeps_its_spaces_except_the_first() -> None:
    check("id:  x \ndata\n\n", [E("", id=" x ")])


def test_initial_last_event_id_is_inherited() -> None:
    outcome = check(
        "data: a\n\nid: 2\ndata: b\n\n", [E("a", id="x"), E("b", id="2")], last_event_id="x"
    )
    assert outcome.marked == (1,)


def test_no_id_ever_gives_none() -> None:
    outcome = check("data: a\n\n", [E("a", id=None)])
    assert outcome.last_event_id is None


# --- retry -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("5", 5),
        ("007", 7),
        ("3000", 3000),
        ("123456789012345678901234567890", 123456789012345678901234567890),
    ],
)
def test_retry_of_ascii_digits_is_accepted(value: str, expected: int) -> None:
    outcome = check(f"retry: {value}\ndata: a\n\n", [E("a", retry=expected)])
    assert outcome.retry == expected


@pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="Python 3.11 on")
def test_a_retry_longer_than_a_lowered_digit_limit_is_the_longest_it_allows() -> None:
    before = sys.get_int_max_str_digits()  # type: ignore[attr-defined]
    sys.set_int_max_str_digits(640)  # type: ignore[attr-defined]
    try:
        outcome = check(f"retry: {'1' * 1000}\ndata: a\n\ndata: b\n\n", [
            E("a", retry=int("9" * 640)), E("b")
        ])
    finally:
        sys.set_int_max_str_digits(before)  # type: ignore[attr-defined]
    assert outcome.retry == int("9" * 640)


def test_a_retry_longer_than_python_reads_is_the_longest_it_does() -> None:
    # int() refuses strings of over 4,300 digits (Python 3.11 on): the feed must not raise
    # halfway through its lines, losing the events around the field.
    longest = 10**4300 - 1
    for value in ("1" * 4301, "0" * 5000 + "7", "9" * 4300):
        expected = 7 if value.endswith("07") else longest
        stream = f"data: before\n\nretry: {value}\ndata: a\n\ndata: after\n\n"
        outcome = check(stream, [E("before"), E("a", retry=expected), E("after")])
        assert outcome.retry == expected


@pytest.mark.parametrize(
    "line",
    [
        "retry: -1",
        "retry: +5",
        "retry:  5",  # " 5" once the one leading space is removed
        "retry: 5 ",
        "retry: 5.0",
        "retry: 1e3",
        "retry: 0x10",
        "retry: abc",
        "retry: 5a",
        "retry: \uff15",  # FULLWIDTH DIGIT FIVE: str.isdigit() is True
        "retry: \u00b2",  # SUPERSCRIPT TWO: str.isdigit() is True
        "retry: \u0661",  # ARABIC-INDIC DIGIT ONE
        "retry: 1_000",
        "retry: 5\x00",
        "retry:",
        "retry",
    ],
)
def test_retry_is_ignored_unless_all_ascii_digits(line: str) -> None:
    outcome = check(f"retry: 9\n\n{line}\ndata: a\n\n", [E("a")])
    assert outcome.retry == 9


def test_retry_sets_parser_retry_at_once_without_dispatch() -> None:
    parser = SSEParser()
    assert parser.feed(b"retry: 1500\n") == []
    assert parser.retry == 1500


def test_retry_is_on_the_event_whose_block_carried_it_only() -> None:
    outcome = check(
        "retry: 5\ndata: a\n\ndata: b\n\nretry: 6\n\ndata: c\n\n", [E("a", retry=5), E("b"), E("c")]
    )
    assert outcome.retry == 6


def test_last_retry_line_of_a_block_wins() -> None:
    check("retry: 5\nretry: 6\ndata: a\n\n", [E("a", retry=6)])


# --- other fields -----------------------------------------------------------------------------


def test_unknown_fields_are_ignored() -> None:
    check("foo: bar\ndata: a\nDATA\nx\n\nfoo\n\n", [E("a")])


def test_field_names_are_case_sensitive() -> None:
    outcome = check("Data: a\nEVENT: b\nId: 3\nRetry: 5\n\n", [])
    assert (outcome.last_event_id, outcome.retry) == (None, None)
    check("Event: b\ndata: a\n\n", [E("a")])


def test_field_name_must_match_exactly() -> None:
    check("data : a\n data: b\ndata\t: c\n\n", [])


# --- end of stream, reset ---------------------------------------------------------------------


def test_incomplete_event_at_end_of_stream_is_discarded() -> None:
    check("data: a\n\ndata: b\n", [E("a")])
    check("data: a\n\ndata: b", [E("a")])


def test_reset_discards_the_incomplete_event() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: x\ndata: a\nid: 9\nretry: 7\n") == []
    parser.reset()
    assert parser.feed(b"data: b\n\n") == [E("b")]
    assert parser.last_event_id is None


def test_reset_discards_the_unfinished_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\ndata: b") == [E("a")]
    parser.reset()
    assert parser.feed(b"\n\ndata: c\n\n") == [E("c")]


def test_reset_forgets_a_pending_cr_and_partial_character() -> None:
    parser = SSEParser()
    parser.feed(b"data: a\r")
    parser.reset()
    assert parser.feed(b"\ndata: b\n\n") == [E("b")]
    parser.feed("data: \u00e9".encode()[:-1])
    parser.reset()
    assert parser.feed(b"\xa9\ndata: c\n\n") == [E("c")]  # the lone byte is a U+FFFD line


def test_reset_keeps_last_event_id_and_retry() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: 4\nretry: 250\ndata: a\n\n") == [E("a", id="4", retry=250)]
    parser.reset()
    assert (parser.last_event_id, parser.retry) == ("4", 250)
    assert parser.feed(b"data: b\n\n") == [E("b", id="4")]


# --- feed_marking_inherited -------------------------------------------------------------------


def test_the_events_with_their_own_id_are_those_not_marked_inherited() -> None:
    stream = "id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid: \x00\ndata: d\n\nid:\ndata: e\n\n"
    outcome = check(
        stream, [E("a", id="1"), E("b", id="1"), E("c", id="2"), E("d", id="2"), E("e", id="")]
    )
    assert outcome.marked == (0, 2, 4)


def test_an_id_only_block_does_not_mark_the_next_event() -> None:
    outcome = check("id: 1\n\ndata: b\n\n", [E("b", id="1")])
    assert outcome.marked == ()


def test_feed_marking_inherited_positions_are_within_each_call() -> None:
    parser = SSEParser()
    # No id yet: nothing to inherit. Then an own id, then one inherited.
    assert parser.feed_marking_inherited(b"data: a\n\nid: 1\ndata: b\n\ndata: c\n\n") == (
        [E("a"), E("b", id="1"), E("c", id="1")],
        [2],
    )
    assert parser.feed_marking_inherited(b"data: d\n\nid: 2\ndata: e\n\n") == (
        [E("d", id="1"), E("e", id="2")],
        [0],
    )
    assert parser.feed_marking_inherited(b"") == ([], [])


def test_mark_inherited_marks_each_feed_in_the_owners_list() -> None:
    parser = SSEParser()
    marks: List[int] = []
    parser.mark_inherited(marks)
    assert parser.feed(b"id: 1\ndata: a\n\ndata: b\n\n") == [E("a", id="1"), E("b", id="1")]
    assert marks == [1]
    marks.clear()
    # The other marking feeds keep their own marks, and leave the owner's list in place.
    assert parser.feed_marking_inherited(b"data: c\n\n") == ([E("c", id="1")], [0])
    assert parser.feed_items(b":x\ndata: d\n\n") == ([C("x"), E("d", id="1")], [1])
    assert marks == []
    assert parser.feed(b"id: 2\ndata: e\n\ndata: f\n\n") == [E("e", id="2"), E("f", id="2")]
    assert marks == [1]
    marks.clear()
    parser.mark_inherited(None)
    assert parser.feed(b"data: g\n\n") == [E("g", id="2")]
    assert marks == []


def test_an_oversized_event_carries_a_copy_of_the_owners_marks() -> None:
    parser = SSEParser(max_event_size=8)
    marks: List[int] = []
    parser.mark_inherited(marks)
    with pytest.raises(EventTooLarge) as caught:
        parser.feed(b"id: 1\ndata: a\n\ndata: b\n\ndata: 123456789\n\n")
    assert caught.value.events == [E("a", id="1"), E("b", id="1")]
    assert caught.value.inherited == [1]
    marks.clear()  # the owner empties its list; the error's marks stay
    assert caught.value.inherited == [1]


def test_an_id_carried_into_a_new_stream_is_inherited() -> None:
    parser = SSEParser(last_event_id="7")
    assert parser.feed_marking_inherited(b"data: a\n\nid: 7\ndata: b\n\n") == (
        [E("a", id="7"), E("b", id="7")],
        [0],
    )
    parser.reset()
    assert parser.feed_marking_inherited(b"data: c\n\n") == ([E("c", id="7")], [0])


# --- comments, with feed_items ----------------------------------------------------------------


def test_feed_items_gives_each_comment_verbatim_without_its_colon() -> None:
    check(
        ":Hello\n: ping\n:\n::x\n:data: y\n:  two spaces \n:\u00e9\u2028\U0001f389\n\n",
        [
            C("Hello"),
            C(" ping"),
            C(""),
            C(":x"),
            C("data: y"),
            C("  two spaces "),
            C("\u00e9\u2028\U0001f389"),
        ],
        comments=True,
    )


def test_comments_keep_their_place_among_the_events() -> None:
    # A comment inside a block comes before that block's event, which its blank line ends.
    stream = ": first\ndata: a\n: inside\n\n: between\n\ndata: b\n\n: last\n"
    check(
        stream,
        [C(" first"), C(" inside"), E("a"), C(" between"), E("b"), C(" last")],
        comments=True,
    )


def test_comment_lines_end_at_cr_lf_or_crlf() -> None:
    check(":a\r:b\n:c\r\n\r\n:d\r\r", [C("a"), C("b"), C("c"), C("d")], comments=True)


def test_a_comment_comes_out_in_the_feed_that_ends_its_line() -> None:
    parser = SSEParser()
    assert parser.feed_items(b": pi") == ([], [])
    assert parser.feed_items(b"ng") == ([], [])
    assert parser.feed_items(b"\r") == ([C(" ping")], [])  # a CR ends the line at once
    assert parser.feed_items(b"\n") == ([], [])  # the rest of that CRLF: no blank line
    assert parser.feed_items(b": two\n:three") == ([C(" two")], [])


def test_comment_only_blocks_give_comments_and_no_events() -> None:
    check(": keep-alive\n\n" * 3, [C(" keep-alive")] * 3, comments=True)


def test_feed_and_feed_marking_inherited_leave_comments_out() -> None:
    stream = b": a\ndata: x\n: b\n\n:c\n"
    assert SSEParser().feed(stream) == [E("x")]
    assert SSEParser().feed_marking_inherited(stream) == ([E("x")], [])
    assert SSEParser().feed_items(stream) == ([C(" a"), C(" b"), E("x"), C("c")], [])


def test_feed_items_marks_are_positions_in_its_items() -> None:
    stream = "id: 1\ndata: a\n\n: c\ndata: b\n\nid: 2\n: d\ndata: c\n\n"
    outcome = check(
        stream, [E("a", id="1"), C(" c"), E("b", id="1"), C(" d"), E("c", id="2")], comments=True
    )
    assert outcome.marked == (0, 4)
    assert SSEParser().feed_items(stream.encode()) == (list(outcome.items), [2])


def test_calls_of_feed_and_feed_items_may_be_mixed() -> None:
    # Each call returns what its own bytes complete; only feed_items returns comments.
    parser = SSEParser()
    assert parser.feed(b": one\nid: 1\ndata: a\n") == []
    assert parser.feed_items(b": two\n\n") == ([C(" two"), E("a", id="1")], [])
    assert parser.feed(b": three\ndata: b\n\n") == [E("b", id="1")]
    assert parser.feed_marking_inherited(b": four\ndata: c\n\n") == ([E("c", id="1")], [0])


def test_comments_before_an_oversized_line_come_out_those_after_it_are_skipped() -> None:
    big = "data: " + "x" * 40
    stream = f"data: a\n\n: before\n{big}\n: skipped\ndata: more\n\n: after\ndata: b\n\n"
    check(
        stream,
        [E("a"), C(" before"), TOO_LARGE, C(" after"), E("b")],
        comments=True,
        max_event_size=20,
    )


def test_comments_before_data_that_passes_the_limit_come_out() -> None:
    stream = (
        ": one\ndata: 1234\n: two\ndata: 1234\n: three\n" + "data: 1234\n" * 3 + ": no\n\n:yes\n"
    )
    check(
        stream,
        [C(" one"), C(" two"), C(" three"), TOO_LARGE, C("yes")],
        comments=True,
        max_event_size=20,
    )


def test_event_too_large_from_feed_items_carries_the_comments_before_it() -> None:
    parser = SSEParser(max_event_size=20)
    with pytest.raises(EventTooLarge) as caught:
        parser.feed_items(b"data: a\n\n: note\ndata: " + b"x" * 30 + b"\n\n: next\n")
    assert caught.value.events == [E("a"), C(" note")]
    assert [type(item) for item in caught.value.events] == [Event, Comment]
    assert parser.feed_items(b"") == ([C(" next")], [])


def test_a_comment_line_past_the_limit_is_too_large() -> None:
    stream = ":" + "c" * 30 + "\n: skipped\n\n: ok\ndata: b\n\n"
    check(stream, [TOO_LARGE, C(" ok"), E("b")], comments=True, max_event_size=20)


# --- the spec's own examples ------------------------------------------------------------------


def test_spec_example_stock_ticker() -> None:
    check("data: YHOO\ndata: +2\ndata: 10\n\n", [E("YHOO\n+2\n10")])


def test_spec_example_ids() -> None:
    stream = (
        ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        "data:  third event\n\n"
    )
    outcome = check(
        stream, [E("first event", id="1"), E("second event", id=""), E(" third event", id="")]
    )
    assert outcome.last_event_id == ""


def test_spec_example_empty_data() -> None:
    check("data\n\ndata\ndata\n\ndata:", [E(""), E("\n")])


def test_spec_example_space_after_colon() -> None:
    check("data:test\n\ndata: test\n\n", [E("test"), E("test")])


# --- max_event_size ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10"])
def test_max_event_size_must_be_a_positive_int_or_none(bad: object) -> None:
    with pytest.raises(ValueError, match="max_event_size"):
        SSEParser(max_event_size=bad)  # type: ignore[arg-type]


def test_default_max_event_size_is_16_mib() -> None:
    assert DEFAULT_MAX_EVENT_SIZE == 16 * 1024 * 1024
    assert SSEParser().max_event_size == DEFAULT_MAX_EVENT_SIZE


def test_line_longer_than_the_limit_raises() -> None:
    line = b"data: " + b"x" * 100 + b"\n\n"
    with pytest.raises(EventTooLarge) as caught:
        SSEParser(max_event_size=50).feed(line)
    assert caught.value.limit == 50
    assert caught.value.events == []
    assert "max_event_size=50" in str(caught.value)


def test_line_longer_than_the_limit_raises_fed_in_small_chunks() -> None:
    parser = SSEParser(max_event_size=50)
    stream = b"data: " + b"x" * 100
    with pytest.raises(EventTooLarge):
        for start in range(0, len(stream), 7):
            parser.feed(stream[start : start + 7])
    assert start < 56  # raised as soon as the unfinished line passed the limit


def test_line_of_exactly_the_limit_is_accepted() -> None:
    check("data: " + "x" * 14 + "\n\n", [E("x" * 14)], max_event_size=20)
    check("data: " + "x" * 15 + "\n\n", [TOO_LARGE], max_event_size=20)


def test_any_kind_of_line_past_the_limit_raises() -> None:
    for line in (": " + "c" * 30, "event: " + "e" * 30, "id: " + "i" * 30, "x" * 30):
        check(f"{line}\ndata: a\n\ndata: b\n\n", [TOO_LARGE, E("b")], max_event_size=20)


def test_line_that_crosses_the_limit_in_the_feed_that_ends_it_raises() -> None:
    # The pieces of the line from earlier feeds count: 9 + 3 characters > 10.
    parser = SSEParser(max_event_size=10)
    assert parser.feed(b"event: 12") == []
    with pytest.raises(EventTooLarge):
        parser.feed(b"345\n\n")


def test_data_of_many_short_lines_past_the_limit_raises() -> None:
    # Each data line adds its value and a line feed: 10 lines of "123" are 40 > 30.
    check("data: 123\n" * 10 + "\ndata: b\n\n", [TOO_LARGE, E("b")], max_event_size=30)
    check(
        "data: 123\n" * 7 + "data: 1\n\ndata: b\n\n",
        [E("\n".join(["123"] * 7 + ["1"])), E("b")],
        max_event_size=30,
    )


def test_data_past_the_limit_raises_fed_in_chunks_before_the_event_ends() -> None:
    parser = SSEParser(max_event_size=1000)
    with pytest.raises(EventTooLarge):
        for _ in range(200):
            parser.feed(b"data: 123456789\n")


def test_events_before_the_oversized_one_are_in_the_error() -> None:
    parser = SSEParser(max_event_size=20)
    with pytest.raises(EventTooLarge) as caught:
        parser.feed(b"id: 1\ndata: a\n\ndata: b\n\ndata: " + b"x" * 30 + b"\n\ndata: c\n\n")
    assert caught.value.events == [E("a", id="1"), E("b", id="1")]
    assert parser.last_event_id == "1"
    assert parser.feed(b"") == [E("c", id="1")]


def test_parsing_goes_on_after_the_oversized_event() -> None:
    big = "event: big\ndata: " + "x" * 40 + "\ndata: more\nid: 7\n\n"
    stream = "data: a\n\n" + big + "event: e\ndata: c\n\n"
    outcome = check(stream, [E("a"), TOO_LARGE, E("c", "e")], max_event_size=20)
    assert outcome.last_event_id is None  # the skipped event's id is not applied


def test_parsing_goes_on_when_the_oversized_event_ends_in_later_feeds() -> None:
    parser = SSEParser(max_event_size=100)
    with pytest.raises(EventTooLarge):
        parser.feed(b"data: " + b"x" * 200)
    assert parser.feed(b"x" * 500) == []
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\ndata: still the big event\n") == []
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\ndata: next\n\n") == [E("next")]


def test_oversized_event_data_is_dropped_with_its_type_and_id() -> None:
    outcome = check(
        "id: 1\ndata: a\n\nevent: t\nid: 2\n" + "data: 1234\n" * 5 + "\ndata: b\n\n",
        [E("a", id="1"), TOO_LARGE, E("b", id="1")],
        max_event_size=20,
    )
    assert outcome.last_event_id == "1"


def test_retry_before_the_limit_was_passed_still_applies() -> None:
    outcome = check(
        "retry: 5\ndata: " + "x" * 40 + "\nretry: 6\n\ndata: b\n\n",
        [TOO_LARGE, E("b")],
        max_event_size=20,
    )
    assert outcome.retry == 5


def test_two_oversized_events_in_one_feed_raise_twice() -> None:
    big = "data: " + "x" * 40 + "\n\n"
    check(
        f"data: a\n\n{big}data: b\n\n{big}data: c\n\n",
        [E("a"), TOO_LARGE, E("b"), TOO_LARGE, E("c")],
        max_event_size=20,
    )


def test_oversized_event_at_end_of_stream() -> None:
    check("data: a\n\ndata: " + "x" * 40, [E("a"), TOO_LARGE], max_event_size=20)


def test_events_at_exactly_the_limit_pass_however_many_came_before() -> None:
    # Sizes are counted only near the limit; whatever came before, an event or a line of
    # exactly the limit passes and one character more does not, fed in pieces of any size.
    limit = 50
    fits = "id: 1\ndata: " + "a" * 24 + "\ndata: " + "b" * 24 + "\n\n"  # data: 25 + 25
    long_line = "data: " + "c" * 44 + "\n\n"  # a line of 50
    data_over = "data: " + "a" * 24 + "\ndata: " + "b" * 25 + "\n\n"  # data: 25 + 26
    line_over = "data: " + "c" * 45 + "\n\n"
    stream = ((fits + ": c\n" + long_line) * 40 + data_over + fits + line_over + fits).encode()
    fitting, line = E("a" * 24 + "\n" + "b" * 24, id="1"), E("c" * 44, id="1")
    expected = [fitting, line] * 40 + [TOO_LARGE, fitting, TOO_LARGE, fitting]
    for size in (1, 2, 7, 13, 49, 50, 51, 64, 333, 4096, len(stream)):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert list(run(chunks, max_event_size=limit).items) == expected, f"pieces of {size}"


def test_a_data_line_spanning_many_feeds_keeps_its_value() -> None:
    value = "".join(chr(0x41 + i % 26) for i in range(100_000))
    heads = {"data: ": "", "data:": "", "data:  ": " ", "data:: ": ": "}
    for head, kept in heads.items():
        raw = (head + value + "\n\n").encode()
        want = kept + value
        for first in (1, 3, 5, 6, 7, 1000):  # the first piece ends inside or after "data: "
            chunks = [raw[:first]] + [raw[i : i + 1000] for i in range(first, len(raw), 1000)]
            assert run(chunks).items == (E(want),), f"{head!r}, first piece of {first}"


def test_other_lines_spanning_many_feeds_keep_their_value() -> None:
    value = "v" * 50_000
    raw = f"event: {value}\nid: {value}\n:{value}\ndata{value}\ndata: x\n\n".encode()
    chunks = [raw[i : i + 999] for i in range(0, len(raw), 999)]
    assert run(chunks, mode=ITEMS).items == (C(value), E("x", value, value))


def test_no_limit_with_none() -> None:
    parser = SSEParser(max_event_size=None)
    line = "data: " + "x" * (2 * 1024 * 1024)
    assert parser.feed(line.encode()) == []
    assert parser.feed(b"\n\n") == [E(line[6:])]


def test_limit_counts_characters_not_bytes() -> None:
    check("data: " + "\u00e9" * 14 + "\n\n", [E("\u00e9" * 14)], max_event_size=20)


def test_memory_stays_bounded_for_an_endless_line() -> None:
    # 64 MB of one line in 64 KiB chunks with a 1 MiB limit: the parser must drop what it
    # skips instead of buffering it. A deterministic bound on allocations, not a timing.
    chunk = b"x" * 65536
    parser = SSEParser(max_event_size=1024 * 1024)
    raised = 0
    tracemalloc.start()
    try:
        parser.feed(b"data: ")
        for _ in range(1024):
            try:
                parser.feed(chunk)
            except EventTooLarge:
                raised += 1
        events = parser.feed(b"\n\ndata: after\n\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised == 1
    assert events == [E("after")]
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"


# --- properties -------------------------------------------------------------------------------

# Text without CR and LF (the only line ends), but with everything else: empty strings,
# U+2028 and friends, astral characters, NUL.
line_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_characters="\r\n"),
        st.sampled_from(
            ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", " ", ":", "\U0001f389", "\ufeff"]
        ),
    ),
    max_size=12,
)
event_types = st.one_of(st.sampled_from(["", "message", "update", " spaced"]), line_text)
ids = st.one_of(st.none(), st.just(""), line_text.filter(lambda text: "\0" not in text))
retries = st.one_of(st.none(), st.integers(min_value=0, max_value=10**12))
data_values = st.lists(line_text, min_size=1, max_size=4).map("\n".join)


@st.composite
def event_lists(draw: st.DrawFn) -> List[Tuple[str, str, Optional[str], Optional[int]]]:
    return draw(st.lists(st.tuples(event_types, data_values, ids, retries), max_size=8))


def write_field(draw: st.DrawFn, name: str, value: str) -> str:
    """One field line in one of the ways the spec reads the same."""
    if not value and draw(st.booleans()):
        return name  # no colon at all
    if value.startswith(" ") or draw(st.booleans()):
        return f"{name}: {value}"
    return f"{name}:{value}"


@st.composite
def encoded_by_hand(
    draw: st.DrawFn, events: List[Tuple[str, str, Optional[str], Optional[int]]]
) -> List[str]:
    """The lines of a stream for ``events``, written independently of Event.encode: fields in
    random order (data lines keep theirs), optional comments and empty blocks between."""
    lines: List[str] = []
    for event_type, data, own_id, retry in events:
        block = [write_field(draw, "data", value) for value in data.split("\n")]
        others = []
        if event_type or draw(st.booleans()):
            others.append(write_field(draw, "event", event_type))
        if own_id is not None:
            others.append(write_field(draw, "id", own_id))
        if retry is not None:
            others.append(f"retry: {retry}" if draw(st.booleans()) else f"retry:{retry}")
        if draw(st.booleans()):
            others.append(": " + draw(line_text))
        for line in others:
            block.insert(draw(st.integers(0, len(block))), line)
        if draw(st.booleans()):
            lines.extend([":keep-alive", ""])
        lines.extend([*block, ""])
    return lines


def encoded_by_event(events: List[Tuple[str, str, Optional[str], Optional[int]]]) -> List[str]:
    text = "".join(Event(t or "message", d, i, r).encode().decode() for t, d, i, r in events)
    return text.split("\n")[:-1]  # encode() ends each block with "\n\n"


@st.composite
def with_line_ends(draw: st.DrawFn, lines: List[str]) -> str:
    """Join lines with LF, CR or CRLF chosen per line. A CR followed by an empty line ended by
    LF would read as one CRLF, so such an empty line gets a CR or CRLF instead."""
    out = []
    previous = ""
    for line in lines:
        end = draw(st.sampled_from(["\n", "\r", "\r\n"]))
        if previous == "\r" and not line and end == "\n":
            end = draw(st.sampled_from(["\r", "\r\n"]))
        out.append(line + end)
        previous = end
    return "".join(out)


def cut(data: st.DataObject, raw: bytes) -> List[bytes]:
    """``raw`` cut at random places into feeds, some of them empty."""
    points = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    return [raw[start:end] for start, end in zip([0, *points], [*points, len(raw)])]


def expected_events(
    events: List[Tuple[str, str, Optional[str], Optional[int]]], initial_id: Optional[str]
) -> Tuple[List[Event], Optional[str], Optional[int]]:
    """An event without its own id carries the last one in force."""
    result = []
    current, last_retry = initial_id, None
    for event_type, data, own_id, retry in events:
        if own_id is not None:
            current = own_id
        if retry is not None:
            last_retry = retry
        result.append(Event(event_type or "message", data, current, retry))
    return result, current, last_retry


PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(st.data(), event_lists(), st.booleans(), st.booleans(), st.one_of(st.none(), line_text))
def test_random_streams_parse_back_to_their_events(
    data: st.DataObject,
    events: List[Tuple[str, str, Optional[str], Optional[int]]],
    by_hand: bool,
    bom: bool,
    initial_id: Optional[str],
) -> None:
    lines = data.draw(encoded_by_hand(events)) if by_hand else encoded_by_event(events)
    text = (BOM if bom else "") + data.draw(with_line_ends(lines))
    raw = text.encode("utf-8")
    want, last_id, last_retry = expected_events(events, initial_id)
    outcome = run(cut(data, raw), last_event_id=initial_id)
    assert list(outcome.items) == want
    # An id never goes back to None (the replay filter relies on it).
    ids = [event.id for event in outcome.items]
    assert ids[: ids.count(None)] == [None] * ids.count(None)
    assert (outcome.last_event_id, outcome.retry) == (last_id, last_retry)
    assert outcome.marked == tuple(i for i, event in enumerate(events) if event[2] is not None)
    assert run([raw], last_event_id=initial_id) == outcome


def items_by_model(
    lines: List[str], events: List[Event], own_ids: List[bool]
) -> Tuple[List[Item], Tuple[int, ...]]:
    """What feed_items gives for ``lines`` (from encoded_by_hand, where a comment is a line
    that starts with a colon and a block dispatches if it has a data line): the comments in
    place among ``events``, and the positions of those with ``own_ids``."""
    items: List[Item] = []
    marked: List[int] = []
    pending = iter(zip(events, own_ids))
    has_data = False
    for line in lines:
        if line.startswith(":"):
            items.append(Comment(line[1:]))
        elif not line:
            if has_data:
                event, own = next(pending)
                if own:
                    marked.append(len(items))
                items.append(event)
            has_data = False
        elif line.startswith("data"):
            has_data = True
    return items, tuple(marked)


@PROPERTY_SETTINGS
@given(st.data(), event_lists(), st.booleans(), st.one_of(st.none(), line_text))
def test_random_streams_with_comments_parse_back_to_their_items(
    data: st.DataObject,
    events: List[Tuple[str, str, Optional[str], Optional[int]]],
    bom: bool,
    initial_id: Optional[str],
) -> None:
    lines = data.draw(encoded_by_hand(events))
    raw = ((BOM if bom else "") + data.draw(with_line_ends(lines))).encode("utf-8")
    want, last_id, last_retry = expected_events(events, initial_id)
    items, marked = items_by_model(lines, want, [event[2] is not None for event in events])
    outcome = run(cut(data, raw), mode=ITEMS, last_event_id=initial_id)
    assert list(outcome.items) == items
    assert outcome.marked == marked
    assert (outcome.last_event_id, outcome.retry) == (last_id, last_retry)
    assert run([raw], mode=ITEMS, last_event_id=initial_id) == outcome


# A model of max_event_size, block by block: a block goes over the limit at its first line
# longer than the limit, or at the data line that takes the data past it; everything from
# there to the block's blank line is skipped, a retry read before still applies, its id not.
LIMIT_LINES = st.sampled_from(
    [
        "data: 12",
        "data: 123456",
        "data:",
        "data: 1234567890123",
        "event: t",
        "id: 1",
        "id: 22",
        "retry: 7",
        "retry: 8",
        ": comment",
        ": a long comment line",
        "x" * 25,
        "data: " + "y" * 19,
    ]
)


def model_with_limit(
    blocks: List[List[str]], limit: int, comments: bool = False
) -> Tuple[List[Item], Optional[str], Optional[int]]:
    items: List[Item] = []
    last_id: Optional[str] = None
    retry: Optional[int] = None
    for block in blocks:
        data: List[str] = []
        size = 0
        event_type, block_id, block_retry, over = "", last_id, None, False
        for line in block:
            if len(line) > limit:
                over = True
                break
            if line.startswith(":"):
                if comments:
                    items.append(Comment(line[1:]))
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
                size += len(value) + 1
                if size > limit:
                    over = True
                    break
            elif name == "event":
                event_type = value
            elif name == "id":
                block_id = value
            elif name == "retry":
                block_retry = retry = int(value)
        if over:
            items.append(TOO_LARGE)
            continue
        last_id = block_id
        if data:
            items.append(Event(event_type or "message", "\n".join(data), block_id, block_retry))
    return items, last_id, retry


@PROPERTY_SETTINGS
@given(
    st.data(),
    st.lists(st.lists(LIMIT_LINES, max_size=6), max_size=8),
    st.integers(min_value=8, max_value=40),
)
def test_limit_gives_the_same_outcome_however_the_stream_is_cut(
    data: st.DataObject, blocks: List[List[str]], limit: int
) -> None:
    lines = [line for block in blocks for line in [*block, ""]]
    raw = data.draw(with_line_ends(lines)).encode("utf-8")
    items, last_id, retry = model_with_limit(blocks, limit)
    whole = run([raw], max_event_size=limit)
    assert (list(whole.items), whole.last_event_id, whole.retry) == (items, last_id, retry)
    assert run(cut(data, raw), max_event_size=limit) == whole
    assert run(cut(data, raw), mode=MARKS, max_event_size=limit) == whole
    bytewise = run([raw[i : i + 1] for i in range(len(raw))], max_event_size=limit)
    assert bytewise == whole
    items, _, _ = model_with_limit(blocks, limit, comments=True)
    with_comments = run(cut(data, raw), mode=ITEMS, max_event_size=limit)
    assert list(with_comments.items) == items
    assert (with_comments.last_event_id, with_comments.retry) == (last_id, retry)
