"""``python -m sseclient_sync demo``: a chat answer cut off half-way and resumed, offline.

A local server (``sseclient_sync.testing``) streams a 40-token answer with event ids and drops
the connection in the middle of an event. The client reconnects with ``Last-Event-ID``, the
server continues after that id, and the demo counts what arrived against what was sent.
"""

from __future__ import annotations

import threading
from typing import TextIO, Union

from ._cli import quiet
from ._connection import Connection
from ._manager import ConnectionManager
from ._models import Event, Status
from ._retry import Retry
from .testing import Drop, Pause, RecordedRequest, Reply, SSEServer

__all__ = ["run_demo"]

_ANSWER_TEXT = (
    "Server-Sent Events carry text from a server to a client over one HTTP response. "
    "When the connection drops, the client reconnects and sends the id of the last event "
    "it saw, and the server continues there: nothing lost or repeated."
)
ANSWER = _ANSWER_TEXT.split(" ")
CUT_AFTER = 20  # the first response breaks off inside event CUT_AFTER + 1
TOKEN_PAUSE = 0.025


def _token_event(index: int) -> bytes:
    token = ANSWER[index] + (" " if index + 1 < len(ANSWER) else "")
    return Event(data=token, id=str(index + 1)).encode()


def _respond(request: RecordedRequest) -> Reply:
    last_id = request.header("last-event-id")
    start = int(last_id) if last_id and last_id.isdigit() else 0
    body: list[Union[bytes, Pause, Drop]] = []
    for index in range(start, len(ANSWER)):
        if last_id is None and index == CUT_AFTER:
            body += [_token_event(index)[:9], Drop()]  # break off mid-event
            return Reply(body=body)
        body += [_token_event(index), Pause(TOKEN_PAUSE)]
    body.append(Event(event="done", data="[DONE]").encode())
    return Reply(body=body)


class _Printer:
    """Writes tokens inline and status lines on their own lines, from either thread."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._mid_line = False
        self._gone = False  # the reader of the output went away (| head)

    def token(self, text: str) -> None:
        with self._lock:
            self._write(text)
            self._mid_line = True

    def line(self, text: str) -> None:
        with self._lock:
            prefix = "\n" if self._mid_line else ""
            self._write(f"{prefix}{text}\n")
            self._mid_line = False

    def _write(self, text: str) -> None:
        if self._gone:
            return
        try:
            self._out.write(text)
            self._out.flush()
        except BrokenPipeError:  # the demo still runs to its end, quietly
            self._gone = True
            quiet(self._out)


def run_demo(out: TextIO) -> int:
    """Run the demo, writing to ``out``; return 0 when every event arrived exactly once."""
    printer = _Printer(out)
    printer.line(
        f"demo: a local server streams a {len(ANSWER)}-token answer and drops the connection "
        f"inside event {CUT_AFTER + 1}."
    )
    received: list[Event] = []
    with SSEServer() as server, ConnectionManager() as manager:
        server.route("/chat", _respond)

        def on_status(conn: Connection, old: Status, new: Status) -> None:
            if new is Status.OPEN:
                sent = server.requests[-1].header("last-event-id")
                resume = f", Last-Event-ID: {sent}" if sent else ""
                printer.line(f"[{old.value} -> open] GET /chat{resume}")
            else:
                printer.line(f"[{old.value} -> {new.value}]")

        connection = manager.create(
            server.url_for("/chat"),
            retry=Retry(max_attempts=3, delay=0.3, jitter=0.0),
            done=lambda event: event.event == "done",
            on_status=on_status,
            on_error=lambda error: printer.line(f"[dropped] {error}"),
        )
        for event in connection.events(timeout=10):
            received.append(event)
            printer.token(event.data)
        connection.wait(5)
        requests_made = len(server.requests)
    sent_ids = [str(index + 1) for index in range(len(ANSWER))]
    got_ids = [event.id for event in received]
    lost = len(set(sent_ids) - set(got_ids))
    duplicated = len(got_ids) - len(set(got_ids))
    ok = got_ids == sent_ids and "".join(e.data for e in received) == " ".join(ANSWER)
    printer.line(f"requests: {requests_made}; answer intact: {'yes' if ok else 'NO'}")
    printer.line(
        f"{connection.status.value}: {len(received)} events, {lost} lost, {duplicated} duplicated"
    )
    return 0 if ok and connection.status is Status.COMPLETED else 1
