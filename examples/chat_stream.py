"""Stream an LLM chat answer over POST and print its tokens as they arrive.

The server answers a JSON prompt with one token per event and ends the answer with
``data: [DONE]``. ``done=`` recognises that marker: the connection completes there and the
marker itself is not delivered. A POST that breaks off mid-answer is not silently re-sent (that
would repeat the answer): it raises, unless you resume it (see resume_offset.py).

    python examples/chat_stream.py [URL]    # no URL: a local demo server
"""

from __future__ import annotations

import sys

import sseclient_sync as sse
from sseclient_sync.testing import BodyItem, Pause, Reply, SSEServer


def main(url: str, prompt: str = "Say hello") -> str:
    """POST ``prompt`` to ``url``, print the answer token by token, and return it whole."""
    tokens = []
    with sse.create_sse_connection(
        url,
        method="POST",
        json={"messages": [{"role": "user", "content": prompt}], "stream": True},
        # Servers pad the marker ("data:  [DONE] ") or end lines with CRLF: compare it stripped.
        done=lambda event: event.data.strip() == "[DONE]",
    ) as conn:
        for event in conn:  # ends at [DONE]; raises if the stream fails before it
            print(event.data, end="", flush=True)
            tokens.append(event.data)
    print()
    return "".join(tokens)


def serve_demo(server: SSEServer) -> str:
    """Script a chat answer on ``server`` at /chat; return its URL."""
    body: list[BodyItem] = []
    for token in ["Hello", ",", " world", "!", " How", " can", " I", " help", "?"]:
        body += [sse.Event(data=token).encode(), Pause(0.05)]
    server.route("/chat", Reply(body=[*body, "data: [DONE]\n\n"]), methods=["POST"])
    return server.url_for("/chat")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with SSEServer() as demo:
            main(serve_demo(demo))
