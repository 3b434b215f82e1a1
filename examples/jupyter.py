"""The notebook pattern: iterate a stream in a cell, stop it with the kernel's interrupt.

Interrupting a Jupyter kernel (the stop button, or Ctrl-C in a terminal) raises
KeyboardInterrupt in the loop below; it leaves the ``with`` block, and that closes the
connection: its reader thread stops and the server sees the client go away. Nothing lingers
to be cleaned up by hand before running the cell again.

    python examples/jupyter.py [URL]    # no URL: a local demo server; press Ctrl-C to stop
"""

from __future__ import annotations

import sys
from typing import Any

import sseclient_sync as sse
from sseclient_sync.testing import Pause, Reply, SSEServer


def main(url: str, **options: Any) -> None:
    """Print the events of ``url`` until the stream ends or KeyboardInterrupt, which propagates
    (as in a notebook cell) once the connection is closed. ``options`` go to the connection."""
    # --- the notebook cell ---
    with sse.create_sse_connection(url, **options) as conn:
        for event in conn:
            print(f"{event.event}: {event.data}", flush=True)
    # ---
    print(f"the stream ended: {conn.status}")


def serve_demo(server: SSEServer) -> str:
    """Script an endless-looking ticker at /ticker; return its URL."""
    ticks = [sse.Event(event="tick", data=str(n), id=str(n)).encode() for n in range(1, 1000)]
    server.route("/ticker", Reply(body=[item for t in ticks for item in (t, Pause(0.5))]))
    return server.url_for("/ticker")


if __name__ == "__main__":
    with SSEServer() as demo:
        try:
            main(sys.argv[1] if len(sys.argv) > 1 else serve_demo(demo))
        except KeyboardInterrupt:
            print("\ninterrupted; the connection was closed on the way out")
