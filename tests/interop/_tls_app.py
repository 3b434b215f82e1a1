"""A tiny Starlette app served by uvicorn over HTTPS, for the TLS interop tests.

The one rule this module owns: it streams the way Starlette documents (a ``StreamingResponse``
of encoded events) and does nothing else, so that what the tests see is uvicorn's and
Starlette's behaviour over TLS. Run as a script it serves on 127.0.0.1, a port of the OS's
choosing written to ``--port-file`` once uvicorn listens::

    python tests/interop/_tls_app.py --certfile server.pem --keyfile server.key \
        --port-file port [--client-ca ca.pem]

``--client-ca`` makes uvicorn require a client certificate issued by that CA.

Routes:

- ``GET /health``: 200 ``ok``.
- ``GET /events?n=3``: events ``e1`` .. ``en`` (``id: i``), then ``[DONE]``.
- ``GET /silent``: without ``Last-Event-ID``: ``id: 1`` ``first``, then 30 s of silence; with
  it: ``id: 2`` ``second`` and ``[DONE]``.
- ``GET /status?code=500``: that status, a JSON body ``{"error": ...}`` sent at once, then the
  body held open for 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
from typing import Any, AsyncIterator, Optional

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

SSE_HEADERS = {"Cache-Control": "no-cache"}
#: How long the silent and held-open routes hold; the tests end them sooner.
HOLD = 30.0


def event(data: str, event_id: Optional[str] = None) -> bytes:
    """One event in wire format."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {data}\n\n".encode()


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def events(request: Request) -> Response:
    count = int(request.query_params.get("n", "3"))

    async def body() -> AsyncIterator[bytes]:
        for i in range(1, count + 1):
            yield event(f"e{i}", str(i))
            await asyncio.sleep(0.01)
        yield event("[DONE]")

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


async def silent(request: Request) -> Response:
    resumed = request.headers.get("last-event-id") is not None

    async def body() -> AsyncIterator[bytes]:
        if resumed:
            yield event("second", "2")
            yield event("[DONE]")
            return
        yield event("first", "1")
        await asyncio.sleep(HOLD)

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


async def status(request: Request) -> Response:
    code = int(request.query_params.get("code", "500"))

    async def body() -> AsyncIterator[bytes]:
        yield b'{"error": "held open", "status": %d}' % code
        await asyncio.sleep(HOLD)

    return StreamingResponse(body(), status_code=code, media_type="application/json")


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/events", events),
        Route("/silent", silent),
        Route("/status", status),
    ]
)


def main(argv: list[str]) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certfile", required=True)
    parser.add_argument("--keyfile", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--client-ca")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {}
    if args.client_ca:
        options = {"ssl_ca_certs": args.client_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}

    class Server(uvicorn.Server):
        """Writes the port it listens on once it does, so the test need not guess one."""

        async def startup(self, sockets: Optional[list[Any]] = None) -> None:
            await super().startup(sockets)
            port = self.servers[0].sockets[0].getsockname()[1]
            partial = args.port_file + ".partial"
            with open(partial, "w", encoding="ascii") as file:
                file.write(str(port))
            os.replace(partial, args.port_file)  # the test never reads half a number

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        log_level="warning",
        lifespan="off",
        **options,
    )
    Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1:])
