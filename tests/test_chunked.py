"""The chunked-body decoder (sans I/O), and the transport reading chunked streams through it."""

from __future__ import annotations

import threading
from typing import Iterator, List, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import WAIT

from sseclient_sync import ConnectError, ConnectionManager, Event, Status
from sseclient_sync._chunked import MAX_LINE, ChunkedDecoder, ChunkedError
from sseclient_sync._http import RequestsTransport
from sseclient_sync._transport import Request
from sseclient_sync.testing import Pause, RecordedRequest, Reply, SSEServer, sse


def chunk(data: bytes, extension: bytes = b"", line_end: bytes = b"\r\n") -> bytes:
    return b"%x%s%s%s%s" % (len(data), extension, line_end, data, line_end)


def decode(pieces: Sequence[bytes]) -> tuple[bytes, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    body = b"".join(decoder.feed(piece) for piece in pieces)
    return body, decoder


def every_split(wire: bytes) -> List[List[bytes]]:
    """The wire whole, byte by byte, and cut in two at every offset."""
    cuts = [[wire], [wire[i : i + 1] for i in range(len(wire))]]
    cuts += [[wire[:i], wire[i:]] for i in range(1, len(wire))]
    return cuts


# --- the decoder ----------------------------------------------------------------------------


WELL_FORMED = {
    "plain": (
        chunk(b"data: a\n\n") + chunk(b"data: b\n\n") + b"0\r\n\r\n",
        b"data: a\n\ndata: b\n\n",
    ),
    "extensions": (
        chunk(b"hello", b";name=value") + chunk(b" world", b' ; q="x;y"') + b"0;last\r\n\r\n",
        b"hello world",
    ),
    "trailers": (chunk(b"body") + b"0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n", b"body"),
    "bare LF line ends": (chunk(b"a", line_end=b"\n") + chunk(b"b") + b"0\n\n", b"ab"),
    "upper-case and padded sizes": (b"000A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    "a chunk holding CR and LF": (chunk(b"x\r\n\r\ny") + b"0\r\n\r\n", b"x\r\n\r\ny"),
    "empty body": (b"0\r\n\r\n", b""),
}


@pytest.mark.parametrize("name", WELL_FORMED)
def test_well_formed_bodies_decode_the_same_however_they_are_cut(name: str) -> None:
    wire, expected = WELL_FORMED[name]
    for pieces in every_split(wire):
        body, decoder = decode(pieces)
        assert body == expected, pieces
        assert decoder.done and not decoder.surplus


def test_everything_that_arrived_comes_out_of_one_feed() -> None:
    events = [b"data: %d\n\n" % n for n in range(100)]
    decoder = ChunkedDecoder()
    assert decoder.feed(b"".join(map(chunk, events))) == b"".join(events)
    assert not decoder.done


def test_one_whole_chunk_per_feed_decodes_as_the_whole_body_does() -> None:
    # How servers that flush each event are read: every feed one chunk, nothing around it.
    chunks = [
        chunk(b"data: a\n\n"),
        chunk(b"ends in CRLF\r\n"),
        chunk(b"\r\n"),
        chunk(b"x", b";ext=1"),
        b"000A\r\n0123456789\r\n",
        b"0x3\r\nabc\r\n",  # int(..., 16) takes the prefix, as http.client does
        chunk(b"bare LF", line_end=b"\n"),
        b"0\r\n\r\n",
    ]
    decoder = ChunkedDecoder()
    bodies = [decoder.feed(piece) for piece in chunks]
    assert bodies == [
        b"data: a\n\n",
        b"ends in CRLF\r\n",
        b"\r\n",
        b"x",
        b"0123456789",
        b"abc",
        b"bare LF",
        b"",
    ]
    assert decoder.done and b"".join(bodies) == decode([b"".join(chunks)])[0]


def test_a_piece_that_only_looks_like_one_chunk_is_decoded_by_its_framing() -> None:
    decoder = ChunkedDecoder()
    # Size 3, then "ab\r\n" is not the rest of it: the data runs on into the next feed.
    assert decoder.feed(b"5\r\nab\r\n") == b"ab\r\n"
    assert decoder.feed(b"c\r\n") == b"c"
    assert decoder.feed(b"2\r\nab\r\n0\r\n\r\n") == b"ab" and decoder.done


def test_chunk_data_is_returned_before_the_chunk_is_complete() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"10\r\ndata: ab") == b"data: ab"
    assert decoder.feed(b"cdefghij") == b"cdefghij"
    assert decoder.feed(b"\r\n") == b""
    assert decoder.feed(b"0\r\n\r\n") == b"" and decoder.done


def test_not_done_until_the_trailer_section_ends() -> None:
    decoder = ChunkedDecoder()
    decoder.feed(chunk(b"a") + b"0\r\n")
    assert not decoder.done
    decoder.feed(b"X-Trailer: 1\r\n")
    assert not decoder.done
    decoder.feed(b"\r\n")
    assert decoder.done


def test_bytes_after_the_end_are_surplus_not_body() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(chunk(b"a") + b"0\r\n\r\nHTTP/1.1 200 OK\r\n") == b"a"
    assert decoder.done and decoder.surplus


@pytest.mark.parametrize(
    "wire",
    [
        b"zz\r\ndata\r\n",
        b"-5\r\nhello\r\n",
        b"\r\n",
        b";ext\r\n",
        b"5 5\r\nhello\r\n",
        b"1" * 20 + b"\r\n",
    ],
    ids=["not hex", "negative", "empty", "extension only", "two numbers", "too large"],
)
def test_a_bad_chunk_size_line_is_an_error_naming_it(wire: bytes) -> None:
    with pytest.raises(ChunkedError, match="invalid chunk size line"):
        ChunkedDecoder().feed(wire)


def test_chunk_data_longer_than_announced_is_an_error() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabcdef\r\n") == b"abc"  # what was announced
    with pytest.raises(ChunkedError, match="expected a line end after the chunk data"):
        decoder.feed(b"")


def test_an_endless_size_line_is_an_error_not_unbounded_memory() -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedError, match="longer than"):
        for _ in range(MAX_LINE // 1024 + 2):
            decoder.feed(b"0" * 1024)


events_strategy = st.lists(st.binary(min_size=1, max_size=300), max_size=20)


@given(
    chunks=events_strategy,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    bare_lf=st.booleans(),
)
def test_random_chunks_cut_at_random_places_decode_to_the_body(
    chunks: List[bytes], cuts: List[int], bare_lf: bool
) -> None:
    line_end = b"\n" if bare_lf else b"\r\n"
    wire = b"".join(chunk(data, line_end=line_end) for data in chunks) + b"0" + line_end * 2
    offsets = sorted({min(cut, len(wire)) for cut in cuts} | {0, len(wire)})
    pieces = [wire[start:stop] for start, stop in zip(offsets, offsets[1:])]
    body, decoder = decode(pieces)
    assert body == b"".join(chunks)
    assert decoder.done and not decoder.surplus


# --- the transport reads chunked streams through it --------------------------------------------


HAND_FRAMED = {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}


def test_a_burst_of_chunks_is_read_in_one_go(server: SSEServer) -> None:
    # Twenty events, each its own chunk, written in one send: one read returns all of them
    # (http.client's read1 would return one chunk per call).
    events = [sse(Event(data=str(n))) for n in range(20)]
    burst = b"".join(map(chunk, events))
    server.route("/s", Reply(headers=HAND_FRAMED, framing="close", body=[burst, Pause(1.0)]))
    transport = RequestsTransport()
    try:
        stream = transport.open(Request("GET", server.url_for("/s")), WAIT, WAIT)
        assert stream is not None
        assert stream.read() == b"".join(events)
        stream.abort()
    finally:
        transport.close()


def test_a_malformed_chunked_body_is_a_connect_error_naming_the_problem(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        Reply(
            headers=HAND_FRAMED,
            framing="close",
            body=[chunk(b"data: one\n\n"), b"zz\r\ndata: two\n\n\r\n"],
        ),
    )
    conn = manager.create(server.url_for("/s"), retry=0)
    received: List[Event] = []
    with pytest.raises(ConnectError, match="invalid chunk size line") as caught:
        for event in conn.events(timeout=WAIT):
            received.append(event)
    assert received == [Event(data="one")]
    assert server.url_for("/s") in str(caught.value)


@pytest.mark.parametrize("surplus", [b"", b"garbage"], ids=["clean end", "bytes after the end"])
def test_a_connection_is_reused_only_after_a_clean_end(server: SSEServer, surplus: bytes) -> None:
    # The server frames by length (so it keeps the connection alive) a body that is itself
    # chunked, and the client decodes it as chunked; on reuse the server sees the second
    # request on the same TCP connection, i.e. in the same server thread.
    threads: List[threading.Thread] = []

    def respond(request: RecordedRequest) -> Reply:
        threads.append(threading.current_thread())
        body = chunk(b"data: x\n\n") + b"0\r\n\r\n" + (surplus if len(threads) == 1 else b"")
        return Reply(headers=HAND_FRAMED, framing="length", body=body)

    server.route("/s", respond)
    with ConnectionManager(base_url=server.url, method="POST") as manager:
        for _ in range(2):
            assert manager.create("/s").wait(WAIT) is Status.COMPLETED
    assert len(threads) == 2
    assert (threads[0] is threads[1]) == (not surplus)


@pytest.fixture
def manager() -> Iterator[ConnectionManager]:
    with ConnectionManager() as made:
        yield made


def test_the_body_before_a_framing_error_comes_out_first() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(chunk(b"data: one\n\n") + b"zz\r\n") == b"data: one\n\n"
    assert isinstance(decoder.error, ChunkedError)
    with pytest.raises(ChunkedError, match="invalid chunk size line"):
        decoder.feed(b"more")
