"""What a test writes: a reply is an immutable value, checked when it is made, that says
exactly what goes on the wire and when."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Optional, Union

from .._models import Event

#: The framings a Reply may ask for.
FRAMINGS = ("chunked", "close", "length")


@dataclasses.dataclass(frozen=True)
class Pause:
    """A body item: write nothing for ``seconds``, then carry on. The response ends early if
    the client goes away or the server stops meanwhile."""

    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds >= 0:  # also rejects NaN
            raise ValueError(f"Pause needs a non-negative number of seconds, got {self.seconds!r}")


@dataclasses.dataclass(frozen=True)
class Drop:
    """A body item: abort the connection right here, with a TCP reset and no proper ending
    (no terminating chunk; a ``length`` body stays short of its Content-Length)."""


@dataclasses.dataclass(frozen=True)
class Silence:
    """A body item: write nothing more, and hold the connection open until the client
    disconnects or the server stops."""


#: One item of a :class:`Reply` body. ``str`` is sent UTF-8 encoded.
BodyItem = Union[bytes, str, Pause, Drop, Silence]


@dataclasses.dataclass(frozen=True)
class Reply:
    """One scripted response.

    ``status`` is the status code. ``headers`` are the response headers: ``None`` sends
    ``Content-Type: text/event-stream`` and ``Cache-Control: no-cache``; a mapping sends exactly
    those headers (``{}`` sends none), so a test can send a wrong content type or none. The
    server adds only what the framing needs (``Transfer-Encoding``, ``Content-Length``,
    ``Connection: close``).

    ``body`` is consumed lazily, item by item, while the response is written, so a generator
    may block or decide what comes next (and can be served only once: use a callable responder
    for a fresh one per request). A lone ``bytes`` or ``str`` is one item; empty items are
    skipped.

    ``framing`` is ``"chunked"`` (each item one HTTP chunk; HTTP/1.0 clients get ``"close"``),
    ``"close"`` (no length, no chunking; the end of the body is the connection closing) or
    ``"length"`` (Content-Length; the body is gathered before sending, so it may hold only
    ``bytes`` and ``str``).

    ``drop_at`` aborts the connection (as :class:`Drop` does) once exactly that many body bytes
    have been written, cutting inside an item if need be: mid-line, between CR and LF, inside a
    UTF-8 character. In chunked framing the bytes before the cut go out as one complete chunk,
    so a client gets all of them before the reset. If the body ends first, the connection is
    aborted at its end. ``None`` never aborts; ``0`` aborts right after the headers (with
    ``hold_headers``, before them: nothing is sent).

    ``keep_alive=False`` sends ``Connection: close`` and closes the connection after the body,
    whatever the framing, as Werkzeug and gunicorn's sync workers do with chunked replies.
    ``True`` keeps the connection for another request when the framing and the client allow.

    ``hold_headers=True`` writes the status line and headers only together with the first body
    bytes, as WSGI servers do (they send nothing before the application yields), so a leading
    :class:`Pause` delays the headers too, and a leading :class:`Silence` never sends them. A
    body with no bytes at all sends them at its end. ``False`` sends them at once.

    ``interim`` are the status codes of informational responses (1xx, not 101) sent before
    this one, each a status line and a blank line: ``(103,)`` is an Early Hints, as servers
    behind a CDN send. ``cut_head=True`` sends the status line and the headers without the
    blank line that ends them, then closes the connection: a server that died in its head.
    """

    status: int = 200
    headers: Optional[Mapping[str, str]] = None
    body: Union[bytes, str, Iterable[BodyItem]] = ()
    framing: str = "chunked"
    drop_at: Optional[int] = None
    keep_alive: bool = True
    hold_headers: bool = False
    interim: tuple[int, ...] = ()
    cut_head: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise TypeError(f"Reply status must be an int, got {self.status!r}")
        if not 100 <= self.status <= 999:
            raise ValueError(f"Reply status must be a three-digit code, got {self.status!r}")
        if self.framing not in FRAMINGS:
            raise ValueError(f"Reply framing must be one of {FRAMINGS}, got {self.framing!r}")
        drop_at = self.drop_at
        if drop_at is not None and (
            isinstance(drop_at, bool) or not isinstance(drop_at, int) or drop_at < 0
        ):
            raise ValueError(f"Reply drop_at must be None or an int >= 0, got {drop_at!r}")
        interim = self.interim
        if not isinstance(interim, tuple) or not all(
            type(code) is int and 100 <= code < 200 and code != 101 for code in interim
        ):
            raise ValueError(
                f"Reply interim must be a tuple of 1xx status codes (not 101), got {interim!r}"
            )
        for flag in ("keep_alive", "hold_headers", "cut_head"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"Reply {flag} must be True or False, got {getattr(self, flag)!r}")
        body = self.body
        if isinstance(body, (list, tuple)):
            for item in body:
                if not isinstance(item, (bytes, str, Pause, Drop, Silence)):
                    raise bad_body_item(item)
            object.__setattr__(self, "body", tuple(body))  # immutable, as it was checked
            if self.framing == "length":
                join_for_length(body)
        elif not isinstance(body, (bytes, str)) and not hasattr(body, "__iter__"):
            raise TypeError(
                f"a Reply body is bytes, str or an iterable of items, got {body!r}"
                + (": put it in a list" if isinstance(body, (Pause, Drop, Silence)) else "")
            )


def bad_body_item(item: object) -> TypeError:
    """The error for ``item`` in a :class:`Reply` body where it cannot be."""
    return TypeError(f"a Reply body item must be bytes, str, Pause, Drop or Silence: {item!r}")


def redirect(location: str, status: int = 302) -> Reply:
    """A redirect to ``location`` (absolute, or relative to the request) with an empty body."""
    if not 300 <= status <= 399:
        raise ValueError(f"a redirect status must be 3xx, got {status!r}")
    return Reply(status=status, headers={"Location": location}, framing="length")


def sse(*items: Union[Event, str, bytes]) -> bytes:
    """Concatenate wire-format SSE: an :class:`Event` is written with ``Event.encode()``, ``str``
    (UTF-8) and ``bytes`` pass through untouched, so malformed streams can be scripted too."""
    rule = "sse() takes Event, str or bytes items"
    return b"".join(
        item.encode() if isinstance(item, Event) else _utf8(item, rule) for item in items
    )


def body_items(reply: Reply) -> Iterable[BodyItem]:
    """The body of ``reply`` as items: a lone ``bytes`` or ``str`` body is one item."""
    return (reply.body,) if isinstance(reply.body, (bytes, str)) else reply.body


def text_reply(status: int, text: str) -> Reply:
    """A plain-text reply of the server's own (a 404, a 400, a 500 naming the failure)."""
    return Reply(
        status=status,
        headers={"Content-Type": "text/plain; charset=utf-8"},
        body=(text,),
        framing="length",
    )


def join_for_length(items: Iterable[BodyItem]) -> bytes:
    """The bytes of a ``length`` body. Raises TypeError for a control item."""
    rule = 'a Reply with framing="length" may hold only bytes and str'
    return b"".join(_utf8(item, rule) for item in items)


def _utf8(item: object, rule: str) -> bytes:
    """``item`` as bytes, a ``str`` UTF-8 encoded; TypeError stating ``rule`` for anything else."""
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, bytes):
        return item
    raise TypeError(f"{rule}, got {item!r}")
