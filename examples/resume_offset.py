"""Resume a half-streamed answer from where it broke off, with an ``offset``.

Streams without event ids cannot rely on ``Last-Event-ID``. When such a server can continue an
answer from an offset (here: how many tokens the client already has), ``resume=`` supplies it:
the library calls it before each reconnect, after every event received before the drop has
been delivered, so ``conn.stats().messages_received`` is exactly the offset to ask for.

    python examples/resume_offset.py [URL]    # no URL: a local demo server that drops once
"""

from __future__ import annotations

import re
import sys
from typing import Any

import sseclient_sync as sse
from sseclient_sync.testing import RecordedRequest, Reply, SSEServer

DONE = "[DONE]"


def main(url: str, prompt: str = "Tell me a story") -> str:
    """POST ``prompt`` to ``url``; return the whole answer, however often the stream breaks."""
    body = {"prompt": prompt, "offset": 0}

    def resume(conn: sse.Connection) -> dict[str, Any]:
        # Ask the server to continue after the tokens we already have: none doubled, none lost.
        return {"json": {**body, "offset": conn.stats().messages_received}}

    with sse.create_sse_connection(
        url, method="POST", json=body, resume=resume, done=lambda e: e.data.strip() == DONE
    ) as conn:
        answer = "".join(event.data for event in conn)
    print(f"{answer!r} ({conn.stats().reconnect_count} reconnects)")
    return answer


def serve_demo(server: SSEServer, text: str = "Once upon a time, a stream broke.") -> str:
    """Serve ``text`` word by word at /answer from the request's offset; the first answer is
    cut off half-way, in the middle of an event. Returns the URL."""
    words = re.findall(r"\s*\S+", text)  # "Once", " upon", " a", ...

    def answer(request: RecordedRequest) -> Reply:
        offset = request.json()["offset"]
        stream = b"retry: 100\n\n"  # reconnect after 0.1 s instead of the default 1 s
        stream += b"".join(sse.Event(data=w).encode() for w in words[offset:])
        stream += sse.Event(data=DONE).encode()
        first = len(server.requests) == 1
        return Reply(body=[stream], drop_at=len(stream) // 2 if first else None)

    server.route("/answer", answer, methods=["POST"])
    return server.url_for("/answer")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with SSEServer() as demo:
            main(serve_demo(demo))
