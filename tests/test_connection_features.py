"""What SSE users keep asking the clients for, against the loopback server: comments,
errors reported inside a 200 stream, long-lived POST subscriptions, fresh URLs on resume."""

from __future__ import annotations

from typing import Any, Union

import pytest
from support import WAIT, datas, fast_manager, wait_until

from sseclient_sync import (
    Connection,
    ConnectionManager,
    Event,
    Retry,
    ServerEventError,
    Status,
)
from sseclient_sync.testing import Drop, Pause, Reply, Silence, SSEServer, sse

manager = pytest.fixture(fast_manager, name="manager")


# --- on_comment -------------------------------------------------------------------------------


def test_comments_arrive_verbatim_in_stream_order_with_the_events(
    server: SSEServer, manager: ConnectionManager
) -> None:
    seen: list[tuple[str, str]] = []
    body = [b":hello\n", b"data: a\n\n: ping\n", b"data: b\n", b":inside\n\n", b":bye\n"]
    server.route("/s", [Reply(body=body), Reply(status=204)])
    conn = manager.create(
        server.url_for("/s"),
        on_comment=lambda text: seen.append(("comment", text)),
        on_message=lambda event: seen.append(("event", event.data)),
    )
    assert conn.wait(WAIT) is Status.COMPLETED
    assert seen == [
        ("comment", "hello"),
        ("event", "a"),
        ("comment", " ping"),
        ("comment", "inside"),  # read before the blank line that dispatches b
        ("event", "b"),
        ("comment", "bye"),
    ]
    assert all(type(text) is str for kind, text in seen if kind == "comment")


def test_a_keep_alive_reaches_on_comment_as_soon_as_it_is_read(
    server: SSEServer, manager: ConnectionManager
) -> None:
    got: list[str] = []
    server.route("/s", Reply(body=[b": keep-alive\n", Silence()]))
    with manager.create(server.url_for("/s"), on_comment=got.append) as conn:
        wait_until(lambda: got == [" keep-alive"], "the comment")
        assert conn.status is Status.OPEN  # nothing but the comment arrived, and no end


def test_comments_do_not_disturb_dedup_or_iteration(
    server: SSEServer, manager: ConnectionManager
) -> None:
    first = [b"id: 1\ndata: a\n\n:c1\nid: 2\ndata: b\n\n", Drop()]
    again = [b":c2\nid: 2\ndata: b\n\n:c3\nid: 3\ndata: c\n\n"]  # replays b
    server.route("/s", [Reply(body=first), Reply(body=again), Reply(status=204)])
    comments: list[str] = []
    with manager.create(server.url_for("/s"), on_comment=comments.append) as conn:
        assert datas(conn) == ["a", "b", "c"]
    assert comments == ["c1", "c2", "c3"]


# --- fail: an error the server reports inside a 200 stream -----------------------------------

OVERLOADED = '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'


def is_error(event: Event) -> bool:
    return event.event == "error"


def test_fail_ends_the_stream_with_a_server_event_error_after_the_events_before_it(
    server: SSEServer, manager: ConnectionManager
) -> None:
    body = sse(Event(data="Hel"), Event(data="lo"), Event(event="error", data=OVERLOADED))
    server.route("/s", Reply(body=[body, Silence()]))
    errors: list[BaseException] = []
    conn = manager.create(server.url_for("/s"), fail=is_error, on_error=errors.append)
    got: list[str] = []
    with pytest.raises(ServerEventError) as caught:
        got.extend(event.data for event in conn.events(timeout=WAIT))
    assert got == ["Hel", "lo"]  # the error event itself is not delivered
    assert caught.value.event.json()["error"]["type"] == "overloaded_error"
    assert server.url_for("/s") in str(caught.value)
    assert conn.status is Status.FAILED and errors == [caught.value]
    assert len(server.requests) == 1  # final by default: not retried


def test_fail_is_resumed_like_a_drop_when_should_retry_accepts_it(
    server: SSEServer, manager: ConnectionManager
) -> None:
    retry = Retry(max_attempts=3, delay=0.001, jitter=0, should_retry=lambda e: True)
    server.route(
        "/s",
        [
            Reply(body=sse(Event(data="a", id="1"), Event(event="error", data=OVERLOADED))),
            Reply(body=sse(Event(data="b", id="2"))),
            Reply(status=204),
        ],
    )
    with manager.create(server.url_for("/s"), fail=is_error, retry=retry) as conn:
        assert datas(conn) == ["a", "b"]
        assert conn.status is Status.COMPLETED
    assert server.requests[1].headers["last-event-id"] == "1"


@pytest.mark.parametrize("one_read", [False, True], ids=["reads apart", "one read"])
def test_after_a_retried_fail_the_events_behind_it_are_resumed_however_the_reads_split(
    server: SSEServer, manager: ConnectionManager, one_read: bool
) -> None:
    # The stream ends at the error event: "c" behind it in the same read was never
    # delivered, so it is neither the resume point nor a replay when the server sends it again.
    head = sse(Event(data="a", id="1"), Event(event="error", data=OVERLOADED, id="2"))
    behind = sse(Event(data="c", id="3"))
    server.route(
        "/s",
        [
            Reply(body=[head + behind] if one_read else [head, Pause(0.3), behind]),
            Reply(body=sse(Event(data="c", id="3"), Event(data="d", id="4"))),
            Reply(status=204),
        ],
    )
    retry = Retry(max_attempts=3, delay=0.001, jitter=0, should_retry=lambda e: True)
    with manager.create(server.url_for("/s"), fail=is_error, retry=retry) as conn:
        assert datas(conn) == ["a", "c", "d"]
    assert server.requests[1].headers["last-event-id"] == "2"  # the error event's own id


@pytest.mark.parametrize("one_read", [False, True], ids=["reads apart", "one read"])
def test_the_done_marker_is_the_last_event_id_however_the_reads_split(
    server: SSEServer, manager: ConnectionManager, one_read: bool
) -> None:
    head = sse(Event(data="a", id="1"), Event(data="[DONE]", id="2"))
    behind = sse(Event(data="next answer", id="3"))
    server.route("/s", Reply(body=[head + behind] if one_read else [head, Pause(0.3), behind]))
    with manager.create(server.url_for("/s"), done=lambda e: e.data == "[DONE]") as conn:
        assert datas(conn) == ["a"]
        assert conn.status is Status.COMPLETED
        assert conn.last_event_id == "2"


def test_fail_of_a_post_without_ids_is_final_even_when_should_retry_accepts_it(
    server: SSEServer, manager: ConnectionManager
) -> None:
    retry = Retry(max_attempts=3, delay=0.001, jitter=0, should_retry=lambda e: True)
    server.route("/s", Reply(body=sse(Event(data="a"), Event(event="error", data=OVERLOADED))))
    conn = manager.create(server.url_for("/s"), method="POST", json={}, fail=is_error, retry=retry)
    with pytest.raises(Exception, match="twice"):
        datas(conn)
    assert len(server.requests) == 1


# --- reconnect_on_end -------------------------------------------------------------------------


def test_reconnect_on_end_true_resends_a_post_body_on_every_normal_end(
    server: SSEServer, manager: ConnectionManager
) -> None:
    # A long-lived subscription over POST or REPORT: each end is a drop, the body goes again.
    server.route(
        "/s",
        [Reply(body=sse(Event(data="a"))), Reply(body=sse(Event(data="b"))), Reply(status=204)],
    )
    for method in ("POST", "REPORT"):
        conn = manager.create(
            server.url_for("/s"), method=method, data=b"<sub/>", reconnect_on_end=True
        )
        assert datas(conn) == ["a", "b"]
        assert conn.status is Status.COMPLETED
        server.route("/s", [Reply(body=sse(Event(data=d))) for d in "ab"] + [Reply(status=204)])
    bodies = [(request.method, request.body) for request in server.requests]
    assert bodies == [("POST", b"<sub/>")] * 3 + [("REPORT", b"<sub/>")] * 3


def test_reconnect_on_end_false_completes_a_get_at_its_first_end(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/s", Reply(body=sse(Event(data="a"))))
    with manager.create(server.url_for("/s"), reconnect_on_end=False) as conn:
        assert datas(conn) == ["a"]
        assert conn.status is Status.COMPLETED
    assert len(server.requests) == 1


# --- resume may return a url ------------------------------------------------------------------


def test_resume_may_return_a_freshly_signed_url(
    server: SSEServer, manager: ConnectionManager
) -> None:
    server.route("/v1/stream", Reply(body=[sse(Event(data="a", id="1")), Drop()]))
    server.route("/v2/stream", [Reply(body=sse(Event(data="b", id="2"))), Reply(status=204)])
    signatures = iter(["sig-1", "sig-2"])

    def resume(conn: Connection) -> dict[str, Union[str, Any]]:
        return {"url": f"../v2/stream?sig={next(signatures)}"}

    with manager.create(server.url_for("/v1/stream"), resume=resume) as conn:
        assert datas(conn) == ["a", "b"]
    paths = [(request.path, request.query.get("sig")) for request in server.requests]
    assert paths == [("/v1/stream", None), ("/v2/stream", ["sig-1"]), ("/v2/stream", ["sig-2"])]
    assert server.requests[1].headers["last-event-id"] == "1"


def test_a_resume_hook_that_always_raises_ends_in_retry_exhausted_without_recursion(
    server: SSEServer,
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="a")), Pause(0.01), Drop()]))
    errors: list[BaseException] = []

    def resume(conn: Connection) -> dict[str, Any]:
        raise RuntimeError("the token service is down")

    retry = Retry(max_attempts=3000, delay=0, jitter=0)
    with ConnectionManager(retry=retry) as manager:
        conn = manager.create(server.url_for("/s"), resume=resume, on_error=errors.append)
        assert conn.wait(WAIT * 4) is Status.FAILED
    cause = conn.error.__cause__ if conn.error is not None else None
    assert type(conn.error).__name__ == "RetryExhausted"
    assert type(cause).__name__ == "CallbackError"
    assert isinstance(cause.__cause__, RuntimeError)  # type: ignore[union-attr]
    assert len(errors) >= 3000  # each failed attempt was reported
    assert len(server.requests) == 1
