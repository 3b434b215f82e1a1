"""The interop routes as Starlette apps for uvicorn, in two spellings: ``sse_app`` streams with
sse-starlette's ``EventSourceResponse`` (its ``ping`` sends the keep-alives), ``plain_app``
with Starlette's own ``StreamingResponse`` of encoded events.

``uvicorn --app-dir tests/interop/apps starlette_app:sse_app`` (or ``:plain_app``).
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, Optional, Union

import plans
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

Rendered = Union[plans.Ev, plans.Comment, plans.Partial]
Streamer = Callable[[plans.Plan, Optional[float]], Response]


async def steps(plan: plans.Plan) -> AsyncIterator[Rendered]:
    """Run a plan on the event loop; at ``KILL`` raise, so uvicorn drops the connection with
    the body unfinished."""
    for step in plan:
        if isinstance(step, (int, float)):
            await asyncio.sleep(step)
        elif isinstance(step, plans.Kill):
            raise plans.Aborted("interop: the server aborts the stream mid-event")
        else:
            yield step


def sse_starlette_stream(plan: plans.Plan, ping: Optional[float]) -> Response:
    """sse-starlette's way: ServerSentEvent objects; its own pings replace the plan's comments."""

    async def events() -> AsyncIterator[Union[ServerSentEvent, bytes]]:
        async for step in steps(plan):
            if isinstance(step, plans.Ev):
                yield ServerSentEvent(data=step.data, id=step.id)
            elif isinstance(step, plans.Partial):
                yield step.raw
            elif ping is None:
                yield ServerSentEvent(comment=step.text)

    return EventSourceResponse(events(), ping=ping, headers={"Cache-Control": "no-cache"})


def plain_stream(plan: plans.Plan, ping: Optional[float]) -> Response:
    """Starlette's own way: a StreamingResponse of encoded events (``ping`` is not used)."""

    async def chunks() -> AsyncIterator[bytes]:
        async for step in steps(plan):
            yield plans.encode(step)

    return StreamingResponse(chunks(), media_type="text/event-stream", headers=plans.SSE_HEADERS)


def make_app(stream: Streamer) -> Starlette:
    """The routes of plans.py over one way of streaming."""

    async def record(request: Request) -> None:
        plans.record(
            request.query_params.get("key"),
            request.method,
            request.url.path,
            dict(request.headers),
            await request.body(),
        )

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def clock(request: Request) -> Response:
        args = request.query_params
        return stream(
            plans.clock(int(plans.number(args, "n", 3)), plans.number(args, "gap", 0.4)), None
        )

    async def keepalive(request: Request) -> Response:
        every = plans.number(request.query_params, "every", 0.6)
        total = plans.number(request.query_params, "total", 1.3)
        return stream(plans.keepalive(every, total), every)

    async def silent(request: Request) -> Response:
        await record(request)
        hold = plans.number(request.query_params, "hold", 3.0)
        return stream(plans.silent(request.headers.get("last-event-id"), hold), None)

    async def abort(request: Request) -> Response:
        await record(request)
        return stream(plans.abort(request.headers.get("last-event-id")), None)

    async def chat(request: Request) -> Response:
        await record(request)
        args = request.query_params
        return stream(
            plans.chat(plans.number(args, "first", 0.8), int(plans.number(args, "n", 5))), None
        )

    async def status(request: Request) -> Response:
        code = int(plans.number(request.query_params, "code", 500))
        hold = plans.number(request.query_params, "hold", 0.0)
        if not hold:
            return JSONResponse(
                {"error": plans.HTTPStatus(code).phrase, "status": code}, status_code=code
            )

        async def body() -> AsyncIterator[bytes]:
            async for step in steps(plans.held_error(code, hold)):
                yield plans.encode(step)

        return StreamingResponse(
            body(), status_code=code, media_type="application/json", headers=plans.HELD_HEADERS
        )

    routes: list[Any] = [
        Route("/health", health),
        Route("/clock", clock),
        Route("/keepalive", keepalive),
        Route("/silent", silent),
        Route("/abort", abort),
        Route("/chat", chat, methods=["POST"]),
        Route("/status", status),
    ]
    return Starlette(routes=routes)


sse_app = make_app(sse_starlette_stream)
plain_app = make_app(plain_stream)
