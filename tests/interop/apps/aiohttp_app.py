"""The interop routes as an aiohttp app streaming with aiohttp-sse's ``EventSourceResponse``
(prepared, then used as a context manager; its pings send the keep-alives), as aiohttp-sse
documents.

``python aiohttp_app.py PORT_FILE`` listens on 127.0.0.1, port 0, and writes the port there.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import sys
from typing import Any, Optional

import plans
from aiohttp import web
from aiohttp_sse import EventSourceResponse

routes = web.RouteTableDef()
_OPTIONS = inspect.signature(EventSourceResponse).parameters


def _new_response(ping: Optional[float]) -> EventSourceResponse:
    """An EventSourceResponse answering any method, pinging every ``ping`` seconds if given:
    aiohttp-sse 3 takes both as arguments; 2.x (the last for Python 3.9) serves any method
    and takes the interval as a property, set before ``prepare``."""
    options: dict[str, Any] = {}
    if "allow_all_methods" in _OPTIONS:
        options["allow_all_methods"] = True  # for the POST chat route
    if ping and "ping_interval" in _OPTIONS:
        options["ping_interval"] = ping
    response = EventSourceResponse(headers=plans.SSE_HEADERS, **options)
    if ping and "ping_interval" not in _OPTIONS:
        response.ping_interval = ping
    return response


async def _record(request: web.Request) -> None:
    plans.record(
        request.query.get("key"),
        request.method,
        request.path,
        dict(request.headers),
        await request.read(),
    )


async def _stream(
    request: web.Request, plan: plans.Plan, ping: Optional[float] = None
) -> web.StreamResponse:
    await _record(request)
    sse = _new_response(ping)
    await sse.prepare(request)
    async with sse:
        for step in plan:
            if isinstance(step, (int, float)):
                await asyncio.sleep(step)
            elif isinstance(step, plans.Kill):
                if request.transport is not None:
                    request.transport.abort()
                raise plans.Aborted("interop: the server aborts the stream mid-event")
            elif isinstance(step, plans.Ev):
                await sse.send(step.data, id=step.id)
            elif isinstance(step, plans.Partial):
                await sse.write(step.raw)
            elif not ping:
                await sse.write(plans.encode(step))
    return sse


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """Readiness."""
    return web.Response(text="ok")


@routes.get("/clock")
async def clock(request: web.Request) -> web.StreamResponse:
    """See plans.clock."""
    args = request.query
    return await _stream(
        request, plans.clock(int(plans.number(args, "n", 3)), plans.number(args, "gap", 0.4))
    )


@routes.get("/keepalive")
async def keepalive(request: web.Request) -> web.StreamResponse:
    """See plans.keepalive."""
    every = plans.number(request.query, "every", 0.6)
    return await _stream(
        request, plans.keepalive(every, plans.number(request.query, "total", 1.3)), every
    )


@routes.get("/silent")
async def silent(request: web.Request) -> web.StreamResponse:
    """See plans.silent."""
    hold = plans.number(request.query, "hold", 3.0)
    return await _stream(request, plans.silent(request.headers.get("Last-Event-ID"), hold))


@routes.get("/abort")
async def abort(request: web.Request) -> web.StreamResponse:
    """See plans.abort."""
    return await _stream(request, plans.abort(request.headers.get("Last-Event-ID")))


@routes.post("/chat")
async def chat(request: web.Request) -> web.StreamResponse:
    """See plans.chat."""
    args = request.query
    return await _stream(
        request, plans.chat(plans.number(args, "first", 0.8), int(plans.number(args, "n", 5)))
    )


@routes.get("/status")
async def status(request: web.Request) -> web.StreamResponse:
    """See plans.held_error."""
    code = int(plans.number(request.query, "code", 500))
    hold = plans.number(request.query, "hold", 0.0)
    if not hold:
        return web.json_response(
            {"error": plans.HTTPStatus(code).phrase, "status": code}, status=code
        )
    response = web.StreamResponse(status=code, headers=plans.HELD_HEADERS)
    response.content_type = "application/json"
    await response.prepare(request)
    await response.write(plans.error_body(code))
    await asyncio.sleep(hold)
    await response.write_eof()
    return response


def main(port_file: str) -> None:
    """Serve on a socket bound to port 0."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    app = web.Application()
    app.add_routes(routes)

    async def announce(app: web.Application) -> None:
        plans.write_port_file(port_file, sock.getsockname()[1])

    app.on_startup.append(announce)
    web.run_app(app, sock=sock, print=None, handle_signals=True, shutdown_timeout=1)


if __name__ == "__main__":
    main(sys.argv[1])
