"""Quickstart: callbacks, and the module-level functions that manage every connection.

Callbacks run in each connection's own reader thread, so several streams are followed at once
with nobody iterating. A dropped stream is reported to ``on_error`` and reconnected for you
(with ``Last-Event-ID``); ``close_all_sse_connections()`` ends them all.

    python examples/callbacks_and_manager.py [BASE_URL]    # serving /news and /prices
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import sseclient_sync as sse
from sseclient_sync.testing import Drop, Reply, Silence, SSEServer


def main(base_url: str, expected: int = 4, timeout: float = 10.0) -> dict[str, Any]:
    """Follow /news and /prices until ``expected`` events arrived in all (or ``timeout`` s
    passed), then close both. Returns what happened."""
    messages: list[str] = []
    errors: list[BaseException] = []
    enough = threading.Event()

    def on_message(event: sse.Event) -> None:
        messages.append(event.data)
        print(f"{event.event}: {event.data}")
        if len(messages) >= expected:
            enough.set()

    for path in ("/news", "/prices"):
        sse.create_sse_connection(
            base_url + path,
            on_open=lambda conn: print(f"open: {conn.url}"),
            on_message=on_message,
            on_error=errors.append,  # a dropped stream lands here; the library reconnects
            on_close=lambda conn: print(f"closed: {conn.url} ({conn.status})"),
        )
    print(f"{sse.get_sse_connection_count()} connections open")
    enough.wait(timeout)
    still_open = [sse.is_sse_connection_open(conn) for conn in sse.get_all_sse_connections()]
    sse.close_all_sse_connections()
    count = sse.get_sse_connection_count()
    return {"messages": messages, "errors": errors, "open": still_open, "count_after": count}


def serve_demo(server: SSEServer) -> str:
    """Script /news (steady) and /prices (drops once, then resumes) on ``server``."""
    news, p1, p2 = (sse.Event(data=d, id=d[:2]).encode() for d in ("n1 rain", "p1 1.08", "p2 1.09"))
    server.route("/news", Reply(body=[news, Silence()]))
    dropped = Reply(body=[b"retry: 200\n\n", p1, Drop()])  # then a reconnect after 0.2 s
    server.route("/prices", [dropped, Reply(body=[p2, Silence()])])
    return server.url


if __name__ == "__main__":
    with SSEServer() as demo:
        print(main(sys.argv[1] if len(sys.argv) > 1 else serve_demo(demo), expected=3))
