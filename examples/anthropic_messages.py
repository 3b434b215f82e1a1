"""Stream an Anthropic-style Messages answer and assemble its text.

The server names every event: ``message_start``, ``content_block_start``,
``content_block_delta`` (the text, in ``delta.text``), ``ping``, ``content_block_stop``,
``message_delta`` and ``message_stop``; an error after the 200 comes as ``event: error`` with
``{"type": "error", "error": {"type": "overloaded_error", ...}}``. ``done=`` stops at
``message_stop``; ``fail=`` turns ``error`` into a ``ServerEventError``.

    python examples/anthropic_messages.py [URL]    # no URL: a local demo server
"""

from __future__ import annotations

import json
import sys
from typing import Any, NamedTuple, Optional

import sseclient_sync as sse
from sseclient_sync.testing import BodyItem, Pause, Reply, SSEServer


class Answer(NamedTuple):
    text: str
    error: Optional[str]  # the error type the server reported inside the stream, if any


def main(url: str, prompt: str = "Say hello") -> Answer:
    """POST ``prompt``, print the text as it arrives, return it with any in-stream error."""
    pieces: list[str] = []
    body = {"model": "demo", "max_tokens": 64, "stream": True,
            "messages": [{"role": "user", "content": prompt}]}
    with sse.create_sse_connection(
        url,
        method="POST",
        json=body,
        headers={"anthropic-version": "2023-06-01"},
        done=lambda event: event.event == "message_stop",
        fail=lambda event: event.event == "error",
    ) as conn:
        try:
            for event in conn:
                if event.event == "content_block_delta":
                    text = event.json()["delta"].get("text", "")
                    print(text, end="", flush=True)
                    pieces.append(text)
        except sse.ServerEventError as failure:
            error = failure.event.json()["error"]
            print(f"\n[error: {error['type']}: {error.get('message')}]")
            return Answer("".join(pieces), error["type"])
    print()
    return Answer("".join(pieces), None)


def named(event_type: str, **data: Any) -> bytes:
    return sse.Event(event=event_type, data=json.dumps({"type": event_type, **data})).encode()


def delta(text: str) -> bytes:
    return named("content_block_delta", index=0, delta={"type": "text_delta", "text": text})


def serve_demo(server: SSEServer) -> str:
    """Script an answer on ``server`` at /v1/messages; return its URL."""
    body: list[BodyItem] = [
        named("message_start", message={"id": "msg_1", "role": "assistant", "content": []}),
        named("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        named("ping"),
    ]
    for token in ["Hello", "!", " How", " can", " I", " help", "?"]:
        body += [delta(token), Pause(0.03)]
    body += [
        named("content_block_stop", index=0),
        named("message_delta", delta={"stop_reason": "end_turn"}),
        named("message_stop"),
    ]
    server.route("/v1/messages", Reply(body=body), methods=["POST"])
    return server.url_for("/v1/messages")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with SSEServer() as demo:
            main(serve_demo(demo))
