"""Stream an OpenAI-compatible chat completion and assemble its text.

The server sends ``data: {json}`` chunks whose ``choices[0].delta.content`` carry the text,
ends with ``data: [DONE]``, and may report an error inside the 200 stream as a chunk with an
``error`` object (vLLM, OpenRouter and others do). ``done=`` stops at the marker; ``fail=``
turns the error chunk into a ``ServerEventError`` after the text before it.

    python examples/openai_chat.py [URL]    # no URL: a local demo server
"""

from __future__ import annotations

import json
import sys
from typing import NamedTuple, Optional

import sseclient_sync as sse
from sseclient_sync.testing import BodyItem, Pause, Reply, SSEServer


class Answer(NamedTuple):
    text: str
    error: Optional[str]  # what the server reported inside the stream, if it did


def is_done(event: sse.Event) -> bool:
    return event.data.strip() == "[DONE]"


def is_error(event: sse.Event) -> bool:
    try:
        chunk = event.json()
    except ValueError:
        return False
    return isinstance(chunk, dict) and "error" in chunk


def main(url: str, prompt: str = "Say hello") -> Answer:
    """POST ``prompt``, print the text as it arrives, return it with any in-stream error."""
    pieces: list[str] = []
    body = {"model": "demo", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    with sse.create_sse_connection(
        url, method="POST", json=body, done=is_done, fail=is_error
    ) as conn:
        try:
            for event in conn:
                delta = event.json()["choices"][0]["delta"].get("content") or ""
                print(delta, end="", flush=True)
                pieces.append(delta)
        except sse.ServerEventError as failure:
            error = failure.event.json()["error"]
            print(f"\n[error: {error.get('message')}]")
            return Answer("".join(pieces), error.get("message"))
    print()
    return Answer("".join(pieces), None)


def chunk(content: str) -> bytes:
    delta = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return sse.Event(data=json.dumps({"object": "chat.completion.chunk", **delta})).encode()


def serve_demo(server: SSEServer) -> str:
    """Script a completion on ``server`` at /v1/chat/completions; return its URL."""
    body: list[BodyItem] = []
    for token in ["Hello", "!", " How", " can", " I", " help", "?"]:
        body += [chunk(token), Pause(0.03)]
    server.route(
        "/v1/chat/completions", Reply(body=[*body, "data: [DONE]\n\n"]), methods=["POST"]
    )
    return server.url_for("/v1/chat/completions")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with SSEServer() as demo:
            main(serve_demo(demo))
