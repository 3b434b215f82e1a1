"""How a Reply goes on the wire: the head gets only what the framing needs, and each body item
is written the moment it comes (one chunk per item when chunked), cut at exactly ``drop_at``.
"""

from __future__ import annotations

import dataclasses
import http
import socket
from typing import Callable, Iterable, Mapping, Optional, Tuple

from ._replies import (
    BodyItem,
    Drop,
    Pause,
    Reply,
    Silence,
    bad_body_item,
    body_items,
    join_for_length,
)

_DEFAULT_HEADERS: Mapping[str, str] = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
}

#: Waits ``seconds`` (``None``: with no end); False as soon as the response must end instead.
Wait = Callable[[Optional[float]], bool]


class Abort(Exception):
    """End the connection with a TCP reset (Drop, drop_at, or a body that failed mid-way)."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """A response ready to write: its head, and its body items (None when it has no body)."""

    head: bytes
    items: Optional[Iterable[BodyItem]]
    chunked: bool
    drop_at: Optional[int]
    keep_alive: bool
    hold_headers: bool


def plan(reply: Reply, method: str, http11: bool, keep_alive: bool) -> Plan:
    """How to write ``reply`` to a ``method`` request; ``keep_alive`` is whether the client
    allows the connection to stay open. Raises TypeError for a ``length`` body holding a
    control item."""
    framing = reply.framing
    if framing == "chunked" and not http11:
        framing = "close"  # HTTP/1.0 has no chunked encoding
    headers = list((_DEFAULT_HEADERS if reply.headers is None else reply.headers).items())
    items: Optional[Iterable[BodyItem]] = body_items(reply)
    if method.upper() == "HEAD" or reply.status < 200 or reply.status in (204, 304):
        items = None
    elif framing == "length":
        payload = join_for_length(body_items(reply))
        items = (payload,)
        headers.append(("Content-Length", str(len(payload))))
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
    keep_alive = keep_alive and reply.keep_alive and framing != "close"
    if not keep_alive:
        headers.append(("Connection", "close"))
    head = b"".join(_encode_head(code, ()) for code in reply.interim)
    head += _encode_head(reply.status, headers)
    if reply.cut_head:  # no blank line, no body: the connection closes in the head
        return Plan(head[:-2], None, False, None, False, False)
    hold = reply.hold_headers and items is not None
    return Plan(head, items, framing == "chunked", reply.drop_at, keep_alive, hold)


def whole(plan: Plan) -> bytes:
    """The whole response of a plan whose body is bytes only (the server's own answers)."""
    return plan.head + join_for_length(plan.items or ())


def write(conn: socket.socket, plan: Plan, wait: Wait) -> bool:
    """Write the response. True when the connection stays open for another request; False when
    it must close (the body ended early, or the reply asked so). Raises Abort for a reset."""
    writer = _BodyWriter(conn, plan)
    if plan.items is None:
        return plan.keep_alive
    items = iter(plan.items)
    try:
        for item in items:
            if isinstance(item, (bytes, str)):
                writer.write(item.encode("utf-8") if isinstance(item, str) else item)
            elif isinstance(item, Pause):
                if not wait(item.seconds):
                    return False
            elif isinstance(item, Silence):
                wait(None)
                return False
            elif isinstance(item, Drop):
                raise Abort
            else:  # a generator's items are checked as they come
                raise bad_body_item(item)
        writer.finish()
        return plan.keep_alive
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # run a generator's cleanup now, in this thread


class _BodyWriter:
    """Writes the head and the body bytes in the response's framing, counting the body bytes
    to honour ``drop_at``."""

    def __init__(self, conn: socket.socket, plan: Plan) -> None:
        self._conn = conn
        self._chunked = plan.chunked
        self._drop_at = plan.drop_at
        self._written = 0
        self._head = plan.head  # not yet sent
        if not plan.hold_headers:
            conn.sendall(self._head)
            self._head = b""

    def write(self, data: bytes) -> None:
        if self._drop_at is not None and self._written + len(data) >= self._drop_at:
            self._send(data[: self._drop_at - self._written])
            raise Abort
        self._send(data)

    def finish(self) -> None:
        if self._drop_at == 0:
            raise Abort  # before any body byte: a held head is never sent
        ending = b"0\r\n\r\n" if self._chunked and self._drop_at is None else b""
        if self._head or ending:
            self._conn.sendall(self._head + ending)
            self._head = b""
        if self._drop_at is not None:
            raise Abort

    def _send(self, data: bytes) -> None:
        if not data:
            return  # an empty chunk would end a chunked body
        self._written += len(data)
        if self._chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self._conn.sendall(self._head + data)
        self._head = b""


def _encode_head(status: int, headers: Iterable[Tuple[str, str]]) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
