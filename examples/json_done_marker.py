"""Collect JSON results until the server's completion marker ``{"status": 88}``.

Not every event on such a stream is JSON (heartbeats, plain-text notes), so both the ``done``
predicate and the loop parse ``event.json()`` defensively. The marker event is not delivered.

    python examples/json_done_marker.py [URL]    # no URL: a local demo server
"""

from __future__ import annotations

import sys
from typing import Any

import sseclient_sync as sse
from sseclient_sync.testing import Pause, Reply, SSEServer


def parse(event: sse.Event) -> Any:
    """The event's JSON payload, or None when its data is not JSON (or is JSON null)."""
    try:
        return event.json()
    except ValueError:  # json.JSONDecodeError is a ValueError
        return None


def is_done(event: sse.Event) -> bool:
    """True for the completion marker: a JSON object whose "status" is 88."""
    payload = parse(event)
    return isinstance(payload, dict) and payload.get("status") == 88


def main(url: str) -> list[Any]:
    """Read ``url`` until the completion marker; return the JSON payloads received."""
    results = []
    with sse.create_sse_connection(url, done=is_done) as conn:
        for event in conn:
            payload = parse(event)
            if payload is None:
                print("note:", event.data)  # not JSON: show it, keep going
            else:
                print("result:", payload)
                results.append(payload)
    return results


def serve_demo(server: SSEServer) -> str:
    """Script a result stream on ``server`` at /results; return its URL."""
    events = ['{"n": 1}', "working...", '{"n": 2}', '{"n": 3}', '{"status": 88}']
    body = [item for data in events for item in (sse.Event(data=data).encode(), Pause(0.1))]
    server.route("/results", Reply(body=body))
    return server.url_for("/results")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with SSEServer() as demo:
            main(serve_demo(demo))
