"""Relay an upstream SSE stream from a Django view, with ``StreamingHttpResponse``.

The recipe of flask_relay.py: one upstream connection per client, events forwarded with
``Event.encode()``, the client's ``Last-Event-ID`` passed on, and the upstream connection closed
in a ``finally`` when the client goes away (Django closes the generator). In a project the
view lives in views.py and SSE_UPSTREAM_URL in settings.py; here a minimal Django is set up.

    python examples/django_relay.py [UPSTREAM_URL]    # then: curl -N http://127.0.0.1:8000/events
"""

from __future__ import annotations

import sys
from typing import Iterator

import django
from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path

import sseclient_sync as sse

if not settings.configured:  # imported twice, or beside a project that configured Django
    settings.configure(
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        SECRET_KEY="example-only",
        SSE_UPSTREAM_URL="http://127.0.0.1:8001/stream",
        SSE_HEARTBEAT=15.0,  # seconds of upstream silence before a keep-alive comment
    )
    django.setup()


def events(request: HttpRequest) -> StreamingHttpResponse:
    upstream_url, heartbeat = settings.SSE_UPSTREAM_URL, settings.SSE_HEARTBEAT
    last_id = request.headers.get("Last-Event-ID") or None

    def relay() -> Iterator[bytes]:
        upstream = sse.create_sse_connection(upstream_url, last_event_id=last_id, retry=False)
        try:
            while True:
                try:
                    for event in upstream.events(timeout=heartbeat):
                        yield event.encode()
                    return  # upstream ended: so does this response
                except TimeoutError:
                    yield b": keep-alive\n\n"  # a write is how a gone client shows
        finally:  # the client went away (Django closed the generator), or upstream ended
            upstream.close()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering
    return StreamingHttpResponse(relay(), content_type="text/event-stream", headers=headers)


urlpatterns = [path("events", events)]

if __name__ == "__main__":
    from django.core.management import call_command

    from sseclient_sync.testing import Pause, Reply, SSEServer

    with SSEServer() as demo:
        ticks = [sse.Event(data=f"tick {n}", id=str(n)).encode() for n in range(1, 6)]
        demo.route("/ticks", Reply(body=[i for t in ticks for i in (t, Pause(1.0))]))
        settings.SSE_UPSTREAM_URL = sys.argv[1] if len(sys.argv) > 1 else demo.url_for("/ticks")
        call_command("runserver", "127.0.0.1:8000", "--noreload")
