"""sseclient_sync.testing._replies: replies are immutable values, checked when they are made."""

from __future__ import annotations

import dataclasses
from typing import Callable

import pytest

from sseclient_sync import Event
from sseclient_sync.testing import Drop, Pause, Reply, Silence, redirect, sse


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: Reply(framing="chunky"), ValueError),
        (lambda: Reply(status=42), ValueError),
        (lambda: Reply(status=True), TypeError),
        (lambda: Reply(status="200"), TypeError),
        (lambda: Reply(drop_at=-1), ValueError),
        (lambda: Reply(drop_at=True), ValueError),
        (lambda: Reply(keep_alive=0), TypeError),
        (lambda: Reply(hold_headers="yes"), TypeError),
        (lambda: Reply(body=[b"a", Pause(1)], framing="length"), TypeError),
        (lambda: Reply(body=[b"data: a\n\n", 42]), TypeError),  # any framing
        (lambda: Reply(body=(None,), framing="close"), TypeError),
        (lambda: Reply(body=Pause(0.1)), TypeError),  # a lone item must be in a list
        (lambda: Pause(-1), ValueError),
        (lambda: Pause(float("nan")), ValueError),
        (lambda: redirect("/new", status=200), ValueError),
        (lambda: Reply(interim=(101,)), ValueError),  # 101 is a final answer
        (lambda: Reply(interim=(200,)), ValueError),
        (lambda: Reply(interim=[103]), ValueError),  # type: ignore[arg-type]
        (lambda: Reply(cut_head=1), TypeError),  # type: ignore[arg-type]
    ],
)
def test_values_are_checked_eagerly(make: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        make()


@pytest.mark.parametrize("value", [Reply(), Pause(1), Drop(), Silence()], ids=type)
def test_replies_and_their_items_are_frozen(value: object) -> None:
    field = dataclasses.fields(value)[0].name if dataclasses.fields(value) else "anything"
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)


def test_a_list_body_is_kept_as_a_tuple_so_it_stays_as_checked() -> None:
    items: list[object] = [b"a", Pause(0)]
    reply = Reply(body=items)  # type: ignore[arg-type]
    items.append(42)
    assert reply.body == (b"a", Pause(0))


def test_reply_defaults_and_equality() -> None:
    reply = Reply()
    assert (reply.status, reply.headers, reply.body, reply.framing) == (200, None, (), "chunked")
    assert (reply.drop_at, reply.keep_alive, reply.hold_headers) == (None, True, False)
    assert Reply(body=(b"a",), keep_alive=False) == Reply(body=(b"a",), keep_alive=False)
    assert dataclasses.replace(reply, status=500).status == 500


def test_redirect_is_an_empty_length_reply_with_a_location() -> None:
    assert redirect("/new", status=307) == Reply(
        status=307, headers={"Location": "/new"}, framing="length"
    )


def test_sse_encodes_events_and_passes_text_through() -> None:
    assert sse(Event(data="a", id="1"), "data: b\n\n", b": c\n") == (
        b"id: 1\ndata: a\n\ndata: b\n\n: c\n"
    )
    with pytest.raises(TypeError):
        sse(42)  # type: ignore[arg-type]
