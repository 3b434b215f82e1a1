"""Follow a background task: progress, then success or failure, with one handler per event type.

``subscribe(event_type, handler)`` calls the handler in the connection's reader thread for each
event of that type. The handlers close the connection themselves when the task ends; the main
thread just waits for that.

    python examples/task_monitor.py [URL]    # no URL: a local demo server
"""

from __future__ import annotations

import sys

import sseclient_sync as sse
from sseclient_sync.testing import BodyItem, Pause, Reply, SSEServer


class TaskFailed(Exception):
    """The server reported that the task failed."""


def main(url: str, timeout: float = 60.0) -> list[int]:
    """Watch the task at ``url`` until it completes; return the progress percentages seen.
    Raises TaskFailed if it fails, TimeoutError if it has not ended after ``timeout`` s."""
    progress: list[int] = []
    failure: list[str] = []

    def on_open(conn: sse.Connection) -> None:
        # Subscribe here: on_open runs in the reader thread before the stream's first event is
        # read, so no event slips past (after create_sse_connection returns, one could have).
        # It runs again after a reconnect, hence unsubscribe first.
        for event_type in ("task_progress", "task_complete", "task_failed"):
            conn.unsubscribe(event_type)
        conn.subscribe("task_progress", lambda e: progress.append(e.json()["percent"]))
        conn.subscribe("task_complete", lambda e: conn.close())  # closing from a handler is safe

        def failed(event: sse.Event) -> None:
            failure.append(event.data)
            conn.close()

        conn.subscribe("task_failed", failed)

    with sse.create_sse_connection(url, on_open=on_open) as conn:
        if not conn.wait(timeout).is_final:
            raise TimeoutError(f"the task at {url} did not end within {timeout} s")
    if failure:
        raise TaskFailed(failure[0])
    print(f"done: {progress}")
    return progress


def serve_demo(server: SSEServer) -> str:
    """Script a task that reports progress and completes, at /task; return its URL."""
    body: list[BodyItem] = []
    for percent in (0, 25, 50, 75, 100):
        event = sse.Event(event="task_progress", data=f'{{"percent": {percent}}}')
        body += [event.encode(), Pause(0.1)]
    body.append(sse.Event(event="task_complete", data='{"result": "ok"}').encode())
    server.route("/task", Reply(body=body))
    return server.url_for("/task")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with SSEServer() as demo:
            main(serve_demo(demo))
