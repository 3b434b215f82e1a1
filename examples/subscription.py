"""A long-lived subscription: a REPORT body sent again on every reconnect, a freshly signed
URL each time, and the server's keep-alive comments watched.

The server ends each response after a few events (as proxies and load balancers do to
long-lived requests). ``reconnect_on_end=True`` makes that end a drop for a non-GET request,
so the body is sent again; ``resume`` returns a newly signed ``url`` (relative to the
connection's) and a fresh token; ``on_comment`` sees each keep-alive.

    python examples/subscription.py [URL]    # no URL: a local demo server
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import sseclient_sync as sse
from sseclient_sync.testing import RecordedRequest, Reply, SSEServer

QUERY = b'<subscribe topic="prices"/>'


def main(url: str, events_wanted: int = 6) -> list[str]:
    """Subscribe, print each event and keep-alive, return the events' data."""
    signatures = itertools.count(1)
    received: list[str] = []

    def resume(conn: sse.Connection) -> dict[str, Any]:
        number = next(signatures)
        return {"url": f"?sig={number}", "headers": {"Authorization": f"Bearer token-{number}"}}

    with sse.create_sse_connection(
        url,
        method="REPORT",
        data=QUERY,
        reconnect_on_end=True,
        resume=resume,
        retry=sse.Retry(max_attempts=5, delay=0.05),
        on_comment=lambda text: print(f"(keep-alive{text})"),
    ) as conn:
        for event in conn:
            print(event.data)
            received.append(event.data)
            if len(received) == events_wanted:
                break
    return received


def serve_demo(server: SSEServer) -> str:
    """Three events per response, a keep-alive before them; return the URL."""
    prices = itertools.count(100)

    def respond(request: RecordedRequest) -> Reply:
        body = [": ping\n", *(sse.Event(data=f"price {next(prices)}").encode() for _ in range(3))]
        return Reply(body=body)

    server.route("/prices", respond, methods=["REPORT"])
    return server.url_for("/prices")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with SSEServer() as demo:
            main(serve_demo(demo))
