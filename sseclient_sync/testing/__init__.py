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

The server speaks HTTP/1.1 with keep-alive (and HTTPS with ``SSEServer(tls=context)``), one
thread per client connection. With pytest, the ``sse_server`` fixture (registered when the
package is installed) gives each test a started server and stops it afterwards.

This module only re-exports. The modules, one rule each:

- ``_replies``: what a test writes (Reply and its body items), immutable and checked when made;
- ``_routes``: what the server received, and the route table turning every responder into one
  callable;
- ``_wire``: the HTTP/1.1 wire reader, bytes in, bounded and checked requests out;
- ``_writer``: how a Reply goes on the wire (head, framing, drop_at, held headers);
- ``_server``: sockets and threads, and a stop that leaves none behind;
- ``pytest_plugin``: the ``sse_server`` fixture (the only module that imports pytest).
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
