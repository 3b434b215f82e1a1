"""Reconnect, resume and completion on real sockets: Last-Event-ID, resume(conn), done, the
POST rules, dedup, and the two end-to-end proofs of the issue:

- exactly once, in order: 2,000 id'd events while the server drops the connection 20 times
  at chosen byte offsets (mid-line, between CR and LF, inside a UTF-8 character), both with
  a server that resumes from Last-Event-ID and with one that replays from the start;
- the chat case: a POST answer cut half-way, continued by a server that needs the offset
  reached, assembled exactly, and ended by the done marker without another request.
"""

from __future__ import annotations

import io
import random
import threading
import time
from typing import Any, Iterator, List, Optional, Tuple

import pytest
from support import WAIT, datas, fast_manager, wait_until

from sseclient_sync import (
    ConnectError,
    Connection,
    ConnectionManager,
    Event,
    Retry,
    Status,
)
from sseclient_sync._options import Runtime
from sseclient_sync.testing import Drop, Pause, RecordedRequest, Reply, Silence, SSEServer, sse

manager = pytest.fixture(fast_manager, name="manager")


# --- Last-Event-ID and resume(conn) -------------------------------------------------------

def test_resume_waits_until_a_first_subscriber_has_the_events_queued_before_it(
    server: SSEServer, manager: ConnectionManager
) -> None:
    # API.md: resume runs only after every event received before the drop has been handed to
    # the subscribers. A first subscribe() takes over the backlog in its own thread, here
    # slowly; the stream drops meanwhile.
    first = sse(*(Event(data=str(n), id=str(n)) for n in range(1, 6)))
    server.route(
        "/s",
        [
            Reply(body=[first, Pause(0.2), sse(Event(data="6", id="6")), Drop()]),
            Reply(body=sse(Event(data="7", id="7"))),
            Reply(status=204),
        ],
    )
    seen: list[str] = []
    at_resume: list[list[str]] = []

    def slowly(event: Event) -> None:
        time.sleep(0.1)
        seen.append(event.data)

    conn = manager.create(server.url_for("/s"), resume=lambda c: at_resume.append(list(seen)))
    wait_until(lambda: conn.stats().messages_received >= 5, "the first events to be queued")
    conn.subscribe("message", slowly)
    assert conn.wait(WAIT) is Status.COMPLETED
    assert at_resume[0] == ["1", "2", "3", "4", "5", "6"]
    assert seen == ["1", "2", "3", "4", "5", "6", "7"]



def test_each_reconnect_sends_the_latest_id_and_an_id_only_block_counts(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="a", id="1")), "id: 2\n\n", Drop()]),
            Reply(body=[sse(Event(data="b", id="3")), Drop()]),
            Reply(body=[": nothing new\n", Drop()]),
            Reply(status=204),
        ],
    )
    with manager.create(server.url_for("/s"), last_event_id="0") as conn:
        assert datas(conn) == ["a", "b"]
        assert conn.last_event_id == "3"
    sent = [request.headers.get("last-event-id") for request in server.requests]
    assert sent == ["0", "2", "3", "3"]


def test_a_non_ascii_id_from_the_stream_is_sent_back_as_utf8(
    server: SSEServer, manager: ConnectionManager
) -> None:
    event_id = "ключ-€-😀"
    server.route(
        "/s",
        [Reply(body=[sse(Event(data="a", id=event_id)), Drop()]), Reply(status=204)],
    )
    with manager.create(server.url_for("/s")) as conn:
        assert [event.id for event in conn.events(timeout=WAIT)] == [event_id]
    sent = server.requests[1].headers["last-event-id"].encode("latin-1")
    assert sent == event_id.encode("utf-8")


def test_resume_changes_each_reconnect_and_sees_the_events_so_far(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="a"), Event(data="b")), Drop()]),
            Reply(body=[sse(Event(data="c")), Drop()]),
            Reply(status=204),
        ],
    )
    calls: List[Tuple[int, int]] = []
    delivered: List[str] = []

    def resume(conn: Connection) -> dict[str, Any]:
        calls.append((conn.stats().messages_received, len(delivered)))
        count = len(delivered)
        return {"params": {"from": str(count)}, "headers": {"X-Seen": str(count)}}

    with manager.create(
        server.url_for("/s"),
        params={"room": "7"},
        resume=resume,
        on_message=lambda event: delivered.append(event.data),
    ) as conn:
        assert conn.wait(WAIT) is Status.COMPLETED
    assert delivered == ["a", "b", "c"]
    assert calls == [(2, 2), (3, 3)]  # every event was handed over before resume ran
    first, second, third = server.requests
    assert first.query == {"room": ["7"]} and "x-seen" not in first.headers
    assert second.query == {"room": ["7"], "from": ["2"]} and second.headers["x-seen"] == "2"
    assert third.query == {"room": ["7"], "from": ["3"]} and third.headers["x-seen"] == "3"


@pytest.mark.parametrize(
    "cut",
    [
        b"event: update\ndata: first half",  # mid-line
        b"event: update\ndata: first half\n",  # a complete line, no blank line yet
        b"data: x\r",  # CR with its LF never sent
        b"id: 99\ndata: with an id",  # an id in an unfinished block must not move the resume point
    ],
)
def test_a_partial_event_from_a_broken_stream_is_discarded_never_glued(
    server: SSEServer, manager: ConnectionManager, cut: bytes
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="whole", id="1")), cut, Drop()]),
            Reply(body=[b"data: next\n\n", Drop()]),
            Reply(status=204),
        ],
    )
    with manager.create(server.url_for("/s")) as conn:
        events = list(conn.events(timeout=WAIT))
    assert events == [Event(data="whole", id="1"), Event(data="next", id="1")]
    assert server.requests[1].headers["last-event-id"] == "1"


def test_the_servers_retry_field_replaces_the_delay(
    server: SSEServer, manager: ConnectionManager
) -> None:
    waits: List[float] = []

    def wait(stop: threading.Event, seconds: float) -> bool:
        waits.append(seconds)
        return stop.is_set()  # record the wait instead of sleeping it

    server.route(
        "/s",
        [
            Reply(body=[b"retry: 1234\ndata: a\n\n", Drop()]),
            Reply(body=[b"data: b\n\n", Drop()]),
            Reply(status=204),
        ],
    )
    with ConnectionManager(_runtime=Runtime(wait=wait), timeout=WAIT) as timed, timed.create(
        server.url_for("/s"), retry=Retry(max_attempts=3, delay=7.0, jitter=0)
    ) as conn:
        assert datas(conn) == ["a", "b"]
    assert waits == [1.234, 1.234]  # not 7 s, and not doubled: the counter reset on delivery


def test_reconnect_opens_a_new_stream_at_once_from_the_last_id(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="a", id="1")), Silence()]),
            Reply(body=[sse(Event(data="b", id="2")), Silence()]),
        ],
    )
    with manager.create(
        server.url_for("/s"), retry=Retry(max_attempts=1, delay=30.0, jitter=0)
    ) as conn:
        events = conn.events(timeout=WAIT)
        assert next(events).data == "a"
        conn.reconnect()  # no 30 s backoff
        assert next(events).data == "b"
        assert conn.stats().reconnect_count == 1
    assert server.requests[1].headers["last-event-id"] == "1"


# --- Completion and the POST rules ----------------------------------------------------------


def test_a_post_is_not_resent_after_a_normal_end(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=sse(Event(data="answer"))))
    completed: List[Connection] = []
    with manager.create(
        server.url_for("/s"), method="POST", json={"q": 1}, on_complete=completed.append
    ) as conn:
        assert datas(conn) == ["answer"]
        assert conn.status is Status.COMPLETED
    assert completed == [conn]
    assert len(server.requests) == 1


def test_a_get_stream_reconnects_after_a_normal_end_like_eventsource(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=sse(Event(data="a", id="1"))),
            Reply(body=sse(Event(data="b"))),
            Reply(status=204),
        ],
    )
    with manager.create(server.url_for("/s")) as conn:
        assert datas(conn) == ["a", "b"]
    assert len(server.requests) == 3


def test_a_post_with_done_resumes_after_an_early_end_until_the_marker(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=sse(Event(data="one"))),  # ends normally, but before the marker
            Reply(
                body=[sse(Event(data="two"), Event(data="[DONE]"), Event(data="after")), Silence()]
            ),
        ],
    )
    with manager.create(
        server.url_for("/s"),
        method="POST",
        json={"q": 1},
        done=lambda event: event.data == "[DONE]",
        resume=lambda conn: {"json": {"q": 1, "offset": conn.stats().messages_received}},
    ) as conn:
        assert datas(conn) == ["one", "two"]  # the marker and what follows it are not delivered
        assert conn.status is Status.COMPLETED
    assert [request.json() for request in server.requests] == [{"q": 1}, {"q": 1, "offset": 1}]


def test_the_done_marker_completes_even_when_an_oversized_event_follows_it(
    server: SSEServer, manager: ConnectionManager
) -> None:
    # One read holds the answer, the marker, and junk past max_event_size: the marker came
    # first, so the connection is complete and the junk is never looked at as an error.
    server.route(
        "/s",
        Reply(body=[sse(Event(data="answer"), Event(data="[DONE]")) + b"data: " + b"x" * 500]),
    )
    errors: List[BaseException] = []
    with manager.create(
        server.url_for("/s"),
        method="POST",
        max_event_size=100,
        done=lambda event: event.data == "[DONE]",
        on_error=errors.append,
    ) as conn:
        assert datas(conn) == ["answer"]
        assert conn.status is Status.COMPLETED
    assert errors == []


def test_a_non_get_stream_that_drops_after_events_without_ids_or_resume_fails(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="half")), Drop()]))
    url = server.url_for("/s")
    with manager.create(url, method="POST", json={"q": 1}) as conn:
        events = conn.events(timeout=WAIT)
        assert next(events).data == "half"
        with pytest.raises(ConnectError) as caught:
            next(events)
    assert conn.status is Status.FAILED
    assert url in str(caught.value) and "resume=" in str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectError)  # the drop itself
    assert len(server.requests) == 1  # the request was not run again


def test_a_non_get_stream_with_event_ids_resumes_after_a_drop(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="a", id="1")), Drop()]),
            Reply(body=sse(Event(data="b", id="2"))),
        ],
    )
    with manager.create(server.url_for("/s"), method="PUT", data="x") as conn:
        assert datas(conn) == ["a", "b"]
        assert conn.status is Status.COMPLETED
    assert server.requests[1].headers["last-event-id"] == "1"
    assert server.requests[1].body == b"x"


def test_a_non_get_stream_retries_a_retryable_status(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", [Reply(status=503), Reply(body=sse(Event(data="answer")))])
    with manager.create(server.url_for("/s"), method="POST", json={"q": 1}) as conn:
        assert datas(conn) == ["answer"]
        assert conn.status is Status.COMPLETED
    assert [request.json() for request in server.requests] == [{"q": 1}, {"q": 1}]


@pytest.mark.parametrize(
    "first",
    [Reply(body=[Drop()]), Reply(body=[b"data: never fini", Drop()])],
    ids=["at-once", "mid-event"],
)
def test_a_non_get_stream_that_broke_before_its_first_event_is_not_sent_again(
    server: SSEServer, manager: ConnectionManager, first: Reply
) -> None:
    server.route("/s", [first, Reply(body=sse(Event(data="answer")))])
    with manager.create(server.url_for("/s"), method="POST", json={"q": 1}) as conn:
        with pytest.raises(ConnectError, match="resume="):
            datas(conn)
        assert conn.status is Status.FAILED
    assert len(server.requests) == 1


def test_dedup_drops_an_events_own_id_seen_before_but_not_an_inherited_one(
    server: SSEServer, manager: ConnectionManager
) -> None:
    first = sse(Event(data="a", id="1"), "data: inherits 1\n\n", Event(data="b", id="2"))
    server.route(
        "/s",
        [
            Reply(body=[first, Drop()]),
            Reply(body=[first, sse(Event(data="c", id="3")), Drop()]),  # a replaying server
            Reply(status=204),
        ],
    )
    with manager.create(server.url_for("/s")) as conn:
        assert datas(conn) == ["a", "inherits 1", "b", "inherits 1", "c"]
        assert conn.stats().messages_received == 5


def test_dedup_false_delivers_a_replay_again(server: SSEServer, manager: ConnectionManager) -> None:
    first = sse(Event(data="a", id="1"))
    server.route(
        "/s", [Reply(body=[first, Drop()]), Reply(body=[first, Drop()]), Reply(status=204)]
    )
    with manager.create(server.url_for("/s"), dedup=False) as conn:
        assert datas(conn) == ["a", "a"]


# --- Exactly once, in order, through 20 drops -----------------------------------------------

EVENT_COUNT = 2_000
REPLAYED = 400  # what a replaying server sends again from before the resume point
CUTS = 20
SAMPLES = ["héllo", "€uro", "😀 smile", "naïve café", "ascii only"]


def wire_event(number: int) -> bytes:
    """Event ``number`` with CRLF line ends and multi-byte characters in its data."""
    return f"id: {number}\r\ndata: {number} {SAMPLES[number % len(SAMPLES)]}\r\n\r\n".encode()


def expected_event(number: int) -> Event:
    return Event(data=f"{number} {SAMPLES[number % len(SAMPLES)]}", id=str(number))


def cut_offsets(body: bytes, kind: str) -> List[int]:
    """Where ``body`` may be cut for ``kind``; a cut at n sends body[:n]."""
    if kind == "crlf":  # after a CR whose LF is not sent
        return [n for n in range(1, len(body)) if body[n - 1 : n + 1] == b"\r\n"]
    if kind == "utf8":  # after the first byte(s) of a multi-byte character
        return [n for n in range(1, len(body)) if 0x80 <= body[n] <= 0xBF]
    if kind == "midline":  # between two characters of a line, outside a UTF-8 sequence
        return [
            n
            for n in range(1, len(body))
            if body[n - 1] < 0x80 and body[n] < 0x80 and b"\r" not in body[n - 1 : n + 1]
        ]
    return list(range(1, len(body)))


def describe_cut(body: bytes, offset: int) -> str:
    if body[offset - 1 : offset + 1] == b"\r\n":
        return "crlf"
    if 0x80 <= body[offset] <= 0xBF:
        return "utf8"
    if body[offset - 1] not in b"\r\n" and body[offset] not in b"\r\n":
        return "midline"
    return "line-end"


def pieces(body: bytes, size: int = 1000) -> List[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def complete_events(sent: bytes) -> int:
    """How many events of ``sent`` are complete: a lone CR ends a line, so an event whose
    final CRLF was cut between CR and LF is complete too."""
    return sent.count(b"\r\n\r\n") + (1 if sent.endswith(b"\r\n\r") else 0)


class DroppingServer:
    """Serves EVENT_COUNT events, dropping the first CUTS responses at chosen offsets.

    ``replay=False``: each response starts after the request's Last-Event-ID. ``replay=True``:
    it replays its buffer of the REPLAYED events before that point (as Mercure or Nchan do),
    each cut past the replayed part, so that every response brings new events. After the
    response that runs to the end, the server answers 204.
    """

    def __init__(self, *, replay: bool, seed: int) -> None:
        self.replay = replay
        self.random = random.Random(seed)
        kinds = ["crlf", "utf8", "midline", "any"] * (CUTS // 4)
        self.random.shuffle(kinds)
        self.kinds = kinds
        self.full = b"".join(wire_event(n) for n in range(EVENT_COUNT))
        self.lock = threading.Lock()
        self.served = 0
        self.cuts: List[Tuple[str, int, bytes]] = []  # (kind asked, offset, body)
        self.starts: List[int] = []  # the first event number of each response
        self.last_ids: List[Optional[str]] = []

    def start_of(self, request: RecordedRequest) -> int:
        last_id = request.headers.get("last-event-id")
        resume_at = 0 if last_id is None else int(last_id) + 1
        return max(0, resume_at - REPLAYED) if self.replay else resume_at

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            number = self.served
            self.served += 1
        self.last_ids.append(request.headers.get("last-event-id"))
        if number > CUTS:
            return Reply(status=204)
        start = self.start_of(request)
        self.starts.append(start)
        body = b"".join(wire_event(n) for n in range(start, EVENT_COUNT))
        if number == CUTS:
            return Reply(body=pieces(body))
        replayed = len(b"".join(wire_event(n) for n in range(start, self.resume_at(request))))
        offset = self.choose(body, self.kinds[number], replayed)
        self.cuts.append((self.kinds[number], offset, body))
        # The test server's cut is an abortive close, which throws away what its send buffer
        # still holds: pause just before the cut so that the client has drained it, and the
        # cut the client sees is the one chosen here. drop_at sends the last byte, then cuts.
        items: List[Any] = [*pieces(body[: offset - 1]), Pause(0.02), body[offset - 1 :]]
        return Reply(body=items, drop_at=offset)

    def resume_at(self, request: RecordedRequest) -> int:
        last_id = request.headers.get("last-event-id")
        return 0 if last_id is None else int(last_id) + 1

    def choose(self, body: bytes, kind: str, replayed: int) -> int:
        longest = max(len(wire_event(n)) for n in range(EVENT_COUNT))
        # Past the replayed part and the first new event, and a few dozen events in.
        low, high = replayed + 2 * longest, replayed + 3_000
        candidates = [n for n in cut_offsets(body, kind) if low <= n <= high]
        return self.random.choice(candidates)


@pytest.mark.parametrize("replay", [False, True], ids=["resuming-server", "replaying-server"])
def test_every_event_exactly_once_in_order_through_twenty_drops(
    server: SSEServer, manager: ConnectionManager, replay: bool
) -> None:
    script = DroppingServer(replay=replay, seed=20240611 + replay)
    server.route("/s", script)
    ids_at_resume: List[Optional[str]] = []

    def resume(conn: Connection) -> None:
        ids_at_resume.append(conn.last_event_id)

    with manager.create(
        server.url_for("/s"), retry=Retry(max_attempts=5, delay=0.001, jitter=0), resume=resume
    ) as conn:
        received = list(conn.events(timeout=WAIT))
        assert conn.status is Status.COMPLETED
    assert received == [expected_event(n) for n in range(EVENT_COUNT)]
    stats = conn.stats()
    assert stats.messages_received == EVENT_COUNT and stats.reconnect_count == CUTS + 1

    # The cuts fell where the issue asks: mid-line, between CR and LF, inside a character.
    assert len(script.cuts) == CUTS
    for asked, offset, body in script.cuts:
        if asked != "any":
            assert describe_cut(body, offset) == asked
    assert {describe_cut(body, offset) for _, offset, body in script.cuts} >= {
        "crlf",
        "utf8",
        "midline",
    }
    # Every reconnect sent the latest id the client had, and that id never went past the
    # last complete event before the cut: the partial event was discarded.
    assert script.last_ids == [None, *ids_at_resume]
    assert ids_at_resume[-1] == str(EVENT_COUNT - 1)
    for (_, offset, body), sent_id, start in zip(script.cuts, ids_at_resume, script.starts):
        last_complete = start + complete_events(body[:offset]) - 1
        assert sent_id is not None and int(sent_id) <= last_complete
        if not replay:  # a few KB in flight at most: the client got every byte before the cut
            assert int(sent_id) == last_complete
    if replay:
        assert script.starts == [0] + [max(0, int(i) + 1 - REPLAYED) for i in ids_at_resume[:CUTS]]  # type: ignore[arg-type]
        assert max(script.starts) > 0  # it did replay a buffer, not the whole stream
    else:
        assert script.starts == [0] + [int(i) + 1 for i in ids_at_resume[:CUTS]]  # type: ignore[arg-type]


# --- The chat case ----------------------------------------------------------------------------

ANSWER = (
    "Bonjour! Voici la réponse, en morceaux: les tokens arrivent un par un, avec des accents "
    "(é, ü, ñ), du chinois (你好), des emoji (🚀🎉), des espaces  doubles, une ligne\nnouvelle,"
    " et un [DONE] au milieu du texte qui n'est pas le marqueur. Fin."
)
PROMPT = "Say something long."


def tokens() -> List[str]:
    """The answer split into tokens of 1 to 7 characters (fixed by a seed)."""
    chooser = random.Random(7)
    pieces, index = [], 0
    while index < len(ANSWER):
        size = chooser.randint(1, 7)
        pieces.append(ANSWER[index : index + size])
        index += size
    return pieces


class ChatServer:
    """A chat endpoint that streams the answer's tokens from the offset it is told, and is cut
    twice: once after a third of the tokens plus half an event, once after two thirds."""

    def __init__(self, offset_in: str) -> None:
        self.offset_in = offset_in
        self.tokens = tokens()
        self.offsets: List[int] = []

    def offset_of(self, request: RecordedRequest) -> int:
        assert request.method == "POST" and request.json()["prompt"] == PROMPT
        if self.offset_in == "query":
            return int(request.query.get("offset", ["0"])[0])
        return int(request.json().get("offset", 0))

    def __call__(self, request: RecordedRequest) -> Reply:
        offset = self.offset_of(request)
        self.offsets.append(offset)
        wire = [Event(data=token).encode() for token in self.tokens[offset:]]
        third = len(self.tokens) // 3
        if len(self.offsets) == 1:  # cut inside the event after the first third
            cut = sum(map(len, wire[:third])) + len(wire[third]) // 2
            return Reply(body=wire, drop_at=cut)
        if len(self.offsets) == 2:  # the server ends the stream early, cleanly
            return Reply(body=wire[: 2 * third - offset])
        return Reply(body=[*wire, sse(Event(data="[DONE]")), Silence()])


@pytest.mark.parametrize("offset_in", ["json", "query"])
def test_the_chat_case_a_cut_post_answer_is_resumed_from_its_offset(
    server: SSEServer, manager: ConnectionManager, offset_in: str
) -> None:
    chat = ChatServer(offset_in)
    server.route("/chat", chat, methods=["POST"])
    received: List[str] = []

    def resume(conn: Connection) -> dict[str, Any]:
        assert conn.stats().messages_received == len(received)
        if offset_in == "query":
            return {"params": {"offset": str(len(received))}}
        return {"json": {"prompt": PROMPT, "offset": conn.stats().messages_received}}

    completed: List[Connection] = []
    with manager.create(
        server.url_for("/chat"),
        method="POST",
        json={"prompt": PROMPT},
        done=lambda event: event.data == "[DONE]",
        resume=resume,
        on_message=lambda event: received.append(event.data),
        on_complete=completed.append,
    ) as conn:
        assert conn.wait(WAIT) is Status.COMPLETED
    assert "".join(received) == ANSWER  # nothing doubled, nothing missing
    assert received == chat.tokens
    third = len(chat.tokens) // 3
    assert chat.offsets == [0, third, 2 * third]
    assert len(server.requests) == 3  # done ended it: no request after the marker
    assert completed == [conn]
    assert conn.stats().messages_received == len(chat.tokens)  # the marker is not counted


def test_a_replay_after_a_greeting_without_an_id_is_dropped(
    server: SSEServer, manager: ConnectionManager
) -> None:
    # The reconnect's answer opens with an event without an id: line (it carries the
    # earlier stream's last id), then replays from the resume point inclusive.
    server.route(
        "/s",
        [
            Reply(body=[sse(*(Event(data=n, id=n) for n in "123")), Drop()]),
            Reply(body=[sse(Event(data="hello"), Event(data="3", id="3")), Drop()]),
            Reply(body=sse(Event(data="4", id="4"))),
            Reply(status=204),
        ],
    )
    conn = manager.create(server.url_for("/s"))
    assert [event.data for event in conn.events(timeout=WAIT)] == ["1", "2", "3", "hello", "4"]


@pytest.mark.parametrize("kind", ["generator", "file"])
def test_a_generator_or_file_body_is_sent_again_on_every_reconnect(
    server: SSEServer, manager: ConnectionManager, kind: str
) -> None:
    server.route(
        "/sub",
        [
            Reply(body=[sse(Event(data="a")), Drop()]),
            Reply(body=sse(Event(data="b"))),
            Reply(status=204),
        ],
    )

    def chunks() -> Iterator[bytes]:
        yield b"subscribe:"
        yield b"topic-1"

    body = chunks() if kind == "generator" else io.BytesIO(b"subscribe:topic-1")
    conn = manager.create(
        server.url_for("/sub"), method="POST", data=body, reconnect_on_end=True
    )
    assert [event.data for event in conn.events(timeout=WAIT)] == ["a", "b"]
    assert [request.body for request in server.requests] == [b"subscribe:topic-1"] * 3


def test_a_reconnect_asked_for_during_the_resume_hook_is_that_reconnect(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route(
        "/s",
        [
            Reply(body=[sse(Event(data="a", id="1")), Drop()]),
            Reply(body=sse(Event(data="b", id="2"))),
            Reply(status=204),
        ],
    )
    calls: list[str] = []

    def resume(conn: Connection) -> None:
        calls.append("resume")
        if len(calls) == 1:
            conn.reconnect()

    conn = manager.create(server.url_for("/s"), resume=resume)
    assert [event.data for event in conn.events(timeout=WAIT)] == ["a", "b"]
    assert len(server.requests) == 3  # a, b, then the 204: not a fourth
    assert conn.stats().reconnect_count == 2
