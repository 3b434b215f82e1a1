"""A small scriptable SSE server on loopback, for tests, demos and benchmarks.

The one rule this package owns: a test says exactly what goes on the wire and when, and the
server does that and nothing else. Each ``bytes`` or ``str`` item of a reply body is sent at
once (one HTTP chunk per item in chunked framing); :class:`Pause`, :class:`Drop` and
:class:`Silence` script the timing and the failures; ``drop_at`` breaks a stream at an exact
byte. Every request is recorded, and :meth:`SSEServer.stop` leaves no thread and no socket
behind. It needs nothing beyond the standard library. Example::

    from sseclient_sync import Event
    from sseclient_sync.testing import Drop, Pause, Reply, SSEServer, sse

    with SSEServer() as server:
        server.route("/stream", [
            Reply(body=[sse(Event(data="one", id="1")), Pause(0.1), Drop()]),
            Reply(body=[sse(Event(data="two", id="2"))]),
        ])
        ...  # point a client at server.url_for("/stream")
        second = server.wait_for_requests(2)[1]
        assert second.headers["last-event-id"] == "1"

The server speaks HTTP/1.1 with keep-alive (HTTPS with ``SSEServer(tls=context)``), one
thread per client connection. With pytest, the ``sse_server`` fixture gives each test a
started server. This module only re-exports.
"""

from __future__ import annotations

from ._replies import BodyItem, Drop, Pause, Reply, Silence, redirect, sse
from ._routes import RecordedRequest, Responder
from ._server import SSEServer

__all__ = [
    "BodyItem",
    "Drop",
    "Pause",
    "RecordedRequest",
    "Reply",
    "Responder",
    "SSEServer",
    "Silence",
    "redirect",
    "sse",
]
