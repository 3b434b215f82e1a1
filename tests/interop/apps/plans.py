"""What each interop route sends and when: one plan per route, shared by every Python app.

A plan is a generator of steps: an ``Ev`` or ``Comment`` to send, a ``Partial`` (raw bytes of
an event cut off before its end), a float (sleep that long), or ``KILL`` (kill the connection
here). Each app's glue renders the steps the way its framework documents, so the routes and
their timing are the same on every server. The plan computes an event only when it is
reached, so ``time.time()`` in its data is the time of writing. The Node apps in ../node/
follow the same plans.

Routes (every app, same query parameters):

- ``GET /health``: 200 ``ok``, for the readiness check.
- ``GET /clock?n=3&gap=0.4``: events ``id: i`` with data ``{"i": i, "t": <time.time()>}``,
  ``gap`` seconds apart, then ``[DONE]``.
- ``GET /keepalive?every=0.6&total=1.3``: a comment at once and every ``every`` seconds until
  ``total``, then the event ``alive`` and ``[DONE]``.
- ``GET /silent?key=K&hold=3``: first request: ``id: 1`` ``first``, then silence for ``hold``
  seconds. A request with ``Last-Event-ID``: ``id: 2`` ``second`` and ``[DONE]``.
- ``GET /abort?key=K``: events ``e<i>`` (``id: i``) from the ``Last-Event-ID`` on; the first
  request stops after ``e3`` in the middle of event 4 (``id: 4`` and a data line, no blank
  line) and kills the connection; a resumed one goes on to ``e6`` and ``[DONE]``.
- ``POST /chat?key=K&first=0.8&n=5``: the first token after ``first`` seconds (a WSGI server
  sends its headers only then), ``n`` tokens ``{"token": "tok<i>"}``, then ``[DONE]``.
- ``GET /status?code=500&hold=2``: that status with a JSON body ``{"error": ..., "status":
  code}``; ``hold=0``: the framework's ordinary JSON response; ``hold>0``: the body streamed,
  then held open ``hold`` seconds.

With ``key``, each request is appended as a JSON line (method, path, Last-Event-ID,
Accept-Encoding, body) to ``$SSE_INTEROP_STATE/<key>.jsonl``, so that a test counts the
requests whatever the server's process model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from http import HTTPStatus
from typing import Any, Callable, Iterator, Mapping, Optional, Union

#: Headers of every SSE response. ``X-Accel-Buffering: no`` is how a backend tells a buffering
#: nginx to pass the stream through.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
#: Headers of a streamed (held open) error body.
HELD_HEADERS = {"X-Accel-Buffering": "no"}
DONE = "[DONE]"
#: The abort route's events, and the one it cuts in the middle.
ABORT_LAST = 6
ABORT_CUT = 4

_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclasses.dataclass(frozen=True)
class Ev:
    """An event to send."""

    data: str
    id: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Comment:
    """A comment line to send (a keep-alive)."""

    text: str


@dataclasses.dataclass(frozen=True)
class Partial:
    """Raw bytes of an event that is never finished."""

    raw: bytes


class Kill:
    """Kill the connection here, without ending the body."""


KILL = Kill()
Step = Union[Ev, Comment, Partial, float, Kill]
Plan = Iterator[Step]


class Aborted(ConnectionAbortedError):
    """Raised by an app's glue at ``KILL``, so the framework drops the response unfinished."""


def encode(step: Union[Ev, Comment, Partial]) -> bytes:
    """The wire form of a step (for apps that write bytes themselves)."""
    if isinstance(step, Partial):
        return step.raw
    if isinstance(step, Comment):
        return f": {step.text}\n\n".encode()
    head = f"id: {step.id}\n" if step.id is not None else ""
    return f"{head}data: {step.data}\n\n".encode()


def sync_bytes(plan: Plan, kill: Optional[Callable[[], None]] = None) -> Iterator[bytes]:
    """Run a plan in a thread as a WSGI body: sleep, yield bytes, and at ``KILL`` kill the
    socket (when the server lets the app reach it) and raise ``Aborted``."""
    for step in plan:
        if isinstance(step, (int, float)):
            time.sleep(step)
        elif isinstance(step, Kill):
            if kill is not None:
                kill()
            raise Aborted("interop: the server aborts the stream mid-event")
        else:
            yield encode(step)


def clock(n: int = 3, gap: float = 0.4) -> Plan:
    """``n`` events stamped with the time they are written, ``gap`` seconds apart."""
    for i in range(1, n + 1):
        if i > 1:
            yield gap
        yield Ev(json.dumps({"i": i, "t": time.time()}), id=str(i))
    yield Ev(DONE)


def keepalive(every: float = 0.6, total: float = 1.3) -> Plan:
    """Comments every ``every`` seconds for ``total`` seconds, then one event."""
    start = time.monotonic()
    yield Comment("keep-alive")
    while True:
        left = total - (time.monotonic() - start)
        if left <= 0:
            break
        yield min(every, left)
        if time.monotonic() - start < total:
            yield Comment("keep-alive")
    yield Ev("alive")
    yield Ev(DONE)


def silent(last_event_id: Optional[str], hold: float = 3.0) -> Plan:
    """One event, then silence; a reconnect gets the second event and the end."""
    if last_event_id:
        yield Ev("second", id="2")
        yield Ev(DONE)
        return
    yield Ev("first", id="1")
    yield hold


def abort(last_event_id: Optional[str]) -> Plan:
    """Events from the last id on; the first request is killed in the middle of an event."""
    start = _as_int(last_event_id)
    if start < ABORT_CUT - 1:
        for i in range(start + 1, ABORT_CUT):
            yield Ev(f"e{i}", id=str(i))
            yield 0.02
        yield Partial(f"id: {ABORT_CUT}\ndata: e{ABORT_CUT}-cut".encode())
        yield 0.1
        yield KILL
        return
    for i in range(start + 1, ABORT_LAST + 1):
        yield Ev(f"e{i}", id=str(i))
    yield Ev(DONE)


def chat(first: float = 0.8, n: int = 5) -> Plan:
    """An LLM-style answer: a slow first token, then ``n`` tokens and ``[DONE]``."""
    yield first
    for i in range(n):
        if i:
            yield 0.02
        yield Ev(json.dumps({"token": f"tok{i}"}))
    yield Ev(DONE)


def held_error(code: int, hold: float) -> Plan:
    """An error body streamed, then held open for ``hold`` seconds."""
    yield Partial(error_body(code))
    yield hold


def error_body(code: int) -> bytes:
    """The JSON body of the status route."""
    return json.dumps({"error": HTTPStatus(code).phrase, "status": code}).encode()


def record(
    key: Optional[str], method: str, path: str, headers: Mapping[str, str], body: bytes
) -> None:
    """Append one request to the key's log (see the module docstring); no key, no log."""
    if not key:
        return
    if not _KEY.fullmatch(key):
        raise ValueError(f"bad key {key!r}")
    entry: dict[str, Any] = {
        "method": method,
        "path": path,
        "last_event_id": _header(headers, "Last-Event-ID"),
        "accept_encoding": _header(headers, "Accept-Encoding"),
        "body": body.decode("utf-8", "replace"),
        "time": time.time(),
    }
    path_on_disk = os.path.join(os.environ["SSE_INTEROP_STATE"], f"{key}.jsonl")
    # One write of one line with O_APPEND: whole even with several worker processes.
    fd = os.open(path_on_disk, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
    finally:
        os.close(fd)


def number(query: Mapping[str, Any], name: str, default: float) -> float:
    """A numeric query parameter."""
    value = query.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return float(value) if value not in (None, "") else default


def write_port_file(path: str, port: int) -> None:
    """Tell the test which port the server listens on (written whole, then renamed)."""
    partial = path + ".part"
    with open(partial, "w", encoding="ascii") as file:
        file.write(str(port))
    os.replace(partial, path)


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _as_int(text: Optional[str]) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0
