"""Relay an upstream SSE stream to your own clients from a Flask view.

Each client request opens its own upstream connection, forwards each event with
``Event.encode()``, and closes the upstream connection when the client goes away. The relay
passes the client's ``Last-Event-ID`` upstream and ends when upstream ends (``retry=False``),
so a browser's EventSource reconnect resumes both hops where they left off.

    python examples/flask_relay.py [UPSTREAM_URL]    # then: curl -N http://127.0.0.1:5000/events
"""

from __future__ import annotations

import sys
from typing import Iterator

from flask import Flask, Response, request

import sseclient_sync as sse
from sseclient_sync.testing import Pause, Reply, SSEServer


def create_app(upstream_url: str, heartbeat: float = 15.0) -> Flask:
    """A Flask app relaying ``upstream_url`` at /events, with a comment every ``heartbeat`` s
    of silence (it keeps proxies from timing out, and a write is how a gone client shows)."""
    app = Flask(__name__)

    @app.get("/events")
    def events() -> Response:
        last_id = request.headers.get("Last-Event-ID") or None  # read it while in the request

        def relay() -> Iterator[bytes]:
            upstream = sse.create_sse_connection(upstream_url, last_event_id=last_id, retry=False)
            try:
                while True:
                    try:
                        for event in upstream.events(timeout=heartbeat):
                            yield event.encode()
                        return  # upstream ended: so does this response
                    except TimeoutError:
                        yield b": keep-alive\n\n"
            finally:  # the client went away (the server closed us at a yield), or upstream ended
                upstream.close()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering
        return Response(relay(), mimetype="text/event-stream", headers=headers)

    return app


if __name__ == "__main__":
    with SSEServer() as demo:
        ticks = [sse.Event(data=f"tick {n}", id=str(n)).encode() for n in range(1, 6)]
        demo.route("/ticks", Reply(body=[i for t in ticks for i in (t, Pause(1.0))]))
        upstream = sys.argv[1] if len(sys.argv) > 1 else demo.url_for("/ticks")
        create_app(upstream).run(port=5000, threaded=True)
