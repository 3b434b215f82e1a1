"""The dedup window (sseclient_sync/_replay.py): pure, one stream at a time."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from sseclient_sync import Event
from sseclient_sync._replay import DEDUP_WINDOW, ReplayFilter


def events(*ids: str) -> list[Event]:
    return [Event(data=f"d{event_id}", id=event_id) for event_id in ids]


def datas(kept: list[Event]) -> list[str]:
    return [event.data for event in kept]


def fed(replays: ReplayFilter, *ids: str) -> list[str]:
    batch = events(*ids)
    return datas(replays.filter(batch, []))  # every id its own


def test_a_repeated_id_within_one_stream_is_delivered() -> None:
    replays = ReplayFilter()
    replays.begin_stream()
    assert fed(replays, "1", "2", "1") == ["d1", "d2", "d1"]


def test_an_id_an_earlier_stream_delivered_is_a_replay() -> None:
    replays = ReplayFilter()
    replays.begin_stream()
    assert fed(replays, "1", "2") == ["d1", "d2"]
    replays.begin_stream()
    assert fed(replays, "1", "2", "3") == ["d3"]


def test_inherited_ids_are_no_identity() -> None:
    replays = ReplayFilter()
    replays.begin_stream()
    assert fed(replays, "1") == ["d1"]
    replays.begin_stream()
    batch = [Event(data="replayed", id="1"), Event(data="inherits", id="1")]
    assert datas(replays.filter(batch, [1])) == ["inherits"]
    replays.begin_stream()
    assert datas(replays.filter([Event(data="inherits again", id="1")], [0])) == [
        "inherits again"
    ]


def test_an_empty_id_and_a_restated_id_are_never_replays() -> None:
    replays = ReplayFilter()
    replays.begin_stream()
    assert fed(replays, "7") == ["d7"]
    replays.begin_stream()
    assert fed(replays, "") == ["d"]
    # A relay that writes every event's id restates the id of the event before it.
    batch = [Event(data="new", id="8"), Event(data="restated", id="8")]
    assert datas(replays.filter(batch, [])) == ["new", "restated"]


def test_the_window_keeps_the_latest_ids_and_forgets_older_ones() -> None:
    replays = ReplayFilter(window=4)
    replays.begin_stream()
    assert fed(replays, *map(str, range(10))) == [f"d{n}" for n in range(10)]
    replays.begin_stream()
    assert len(replays) == 4
    assert fed(replays, "6", "7", "8", "9") == []  # the latest four: dropped
    assert fed(replays, "0") == ["d0"]  # long forgotten: delivered again


def test_the_latest_window_of_a_long_stream_is_remembered_across_packs() -> None:
    # Many reads of a few events each: the ids are packed as they go, and the latest
    # window of them is what the next stream meets. An event before the stream's first id
    # has none, and one without an id: line after it inherits the last: neither takes a
    # place in the window.
    replays = ReplayFilter(window=100)
    replays.begin_stream()
    for first in range(0, 1000, 7):
        read = events(*map(str, range(first, min(first + 7, 1000))))
        if first == 0:
            read.insert(0, Event(data="no id"))
        read.append(Event(data="inherits", id=read[-1].id))
        replays.filter(read, [len(read) - 1])
    replays.begin_stream()
    assert len(replays) == 100
    assert fed(replays, *map(str, range(895, 1000))) == [f"d{n}" for n in range(895, 900)]


def test_an_id_keeps_its_place_in_the_window_when_it_is_replayed() -> None:
    # The window is the latest ids by first delivery, what a server replays from: "a"
    # replayed in the second stream does not push out the newer "b".
    replays = ReplayFilter(window=3)
    replays.begin_stream()
    fed(replays, "a", "b", "c")
    replays.begin_stream()
    assert fed(replays, "a", "d") == ["dd"]
    replays.begin_stream()
    assert fed(replays, "b", "c", "d", "e") == ["de"]


def test_an_id_restating_a_dropped_replay_is_delivered_however_the_reads_split() -> None:
    for reads in ([["1", "3", "3"]], [["1", "3"], ["3"]]):
        replays = ReplayFilter()
        replays.begin_stream()
        fed(replays, "3")
        replays.begin_stream()
        delivered = [data for read in reads for data in fed(replays, *read)]
        assert delivered == ["d1", "d3"], reads  # the replay dropped, its restatement kept


def test_empty_ids_are_never_remembered_however_a_read_is_made_up() -> None:
    # An empty id counts as a place in the current stream's window, whether or not an event
    # without an id (one before the stream's first id) is packed with the ids, and is never
    # itself remembered.
    outcomes = []
    for with_an_id_less_event in (False, True):
        replays = ReplayFilter(window=4)
        replays.begin_stream()
        first = events(*(f"f{n}" for n in range(62)), "a", "b", "c")
        if with_an_id_less_event:
            first.insert(0, Event(data="no id"))
        replays.filter(first, [])
        replays.filter(events("", "d", "", ""), [])
        replays.begin_stream()
        outcomes.append((len(replays), fed(replays, "", "a", "b", "c", "d")))
    assert outcomes[0] == outcomes[1] == (1, ["d", "da", "db", "dc"])  # "d" alone is kept


def test_a_stream_without_ids_is_handed_back_as_it_is() -> None:
    # Its events have no identity: nothing is remembered, nothing dropped, nothing copied.
    replays = ReplayFilter()
    for _ in range(2):
        replays.begin_stream()
        for read in ([Event(data="a")], [Event(data="b"), Event(data="c")]):
            assert replays.filter(read, []) is read
    assert len(replays) == 0


def test_dropping_replays_remembers_nothing_and_remembering_drops_nothing() -> None:
    # without_replays() and filter(drop=False): for a reader that cuts a read short at a marker.
    replays = ReplayFilter()
    replays.begin_stream()
    fed(replays, "1")
    replays.begin_stream()
    assert datas(replays.without_replays(events("1", "2"), [])) == ["d2"]
    replays.filter(events("3"), [], drop=False)
    replays.begin_stream()
    assert len(replays) == 2  # "1", and "3"; "2" was never remembered
    assert fed(replays, "1", "2", "3") == ["d2"]


def test_a_window_must_hold_an_id() -> None:
    with pytest.raises(ValueError, match="at least one id"):
        ReplayFilter(window=0)


def test_memory_stays_small_over_many_long_streams() -> None:
    # As a reader uses it: each read's events made, filtered and dropped, so that what the
    # filter keeps of them (never their id strings) is all that stays on the heap.
    replays = ReplayFilter()
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        most = beginning = 0
        for stream in range(20):
            tracemalloc.reset_peak()
            replays.begin_stream()
            beginning = max(beginning, tracemalloc.get_traced_memory()[1] - start)
            for first in range(0, 3 * DEDUP_WINDOW, 50):
                read = events(*(f"{stream}-{n}" for n in range(first, first + 50)))
                replays.filter(read, [])
                del read
                most = max(most, tracemalloc.get_traced_memory()[0] - start)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert len(replays) == DEDUP_WINDOW
    assert held < 64 * 1024, f"the dedup window holds {held} bytes"
    assert most < 64 * 1024, f"the dedup window held {most} bytes at most"
    # Making the window afresh takes more for a moment: the ids unpacked, the new dict.
    assert beginning < 160 * 1024, f"making the window took {beginning} bytes"


def test_a_replay_after_an_event_that_inherited_an_earlier_streams_id_is_dropped() -> None:
    # The new stream greets without an id: line (the greeting carries the earlier stream's
    # last id, which this stream never set), then replays from the resume point inclusive.
    for reads in ([[0, 1, 2]], [[0], [1, 2]], [[0, 1], [2]]):
        replays = ReplayFilter()
        replays.begin_stream()
        fed(replays, "1", "2", "3")
        replays.begin_stream()
        stream = [Event(data="hello", id="3"), Event(data="d3", id="3"), Event(data="d4", id="4")]
        delivered = []
        for read in reads:
            batch = [stream[index] for index in read]
            delivered += datas(replays.filter(batch, [0] if read[0] == 0 else []))
        assert delivered == ["hello", "d4"], reads


def test_an_id_this_stream_set_is_restated_past_an_event_that_inherited_it() -> None:
    replays = ReplayFilter()
    replays.begin_stream()
    fed(replays, "9")
    replays.begin_stream()
    batch = [Event(data=data, id="9") for data in ("replay", "inherits", "again")]
    assert datas(replays.filter(batch, [1])) == ["inherits", "again"]
