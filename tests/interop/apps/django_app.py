"""The interop routes as a one-file Django project on its development server (``manage.py
runserver``, without the autoreloader), streaming with ``StreamingHttpResponse`` as Django
documents.

``python django_app.py PORT`` serves on 127.0.0.1:PORT (runserver cannot report a port 0).
"""

from __future__ import annotations

import sys
from typing import Optional

import django
import plans
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="interop-tests-only",
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    LOGGING_CONFIG=None,
)


def _stream(request: HttpRequest, plan: plans.Plan) -> StreamingHttpResponse:
    plans.record(
        request.GET.get("key"),
        request.method or "",
        request.path,
        dict(request.headers),
        request.body,
    )
    response = StreamingHttpResponse(plans.sync_bytes(plan), content_type="text/event-stream")
    for name, value in plans.SSE_HEADERS.items():
        response[name] = value
    return response


def health(request: HttpRequest) -> HttpResponse:
    """Readiness."""
    return HttpResponse("ok", content_type="text/plain")


def clock(request: HttpRequest) -> StreamingHttpResponse:
    """See plans.clock."""
    args = request.GET
    return _stream(
        request, plans.clock(int(plans.number(args, "n", 3)), plans.number(args, "gap", 0.4))
    )


def keepalive(request: HttpRequest) -> StreamingHttpResponse:
    """See plans.keepalive."""
    args = request.GET
    return _stream(
        request, plans.keepalive(plans.number(args, "every", 0.6), plans.number(args, "total", 1.3))
    )


def silent(request: HttpRequest) -> StreamingHttpResponse:
    """See plans.silent."""
    last_id: Optional[str] = request.headers.get("Last-Event-ID")
    return _stream(request, plans.silent(last_id, plans.number(request.GET, "hold", 3.0)))


def abort(request: HttpRequest) -> StreamingHttpResponse:
    """See plans.abort (Django gives the view no socket: raising ends the response unfinished)."""
    return _stream(request, plans.abort(request.headers.get("Last-Event-ID")))


def chat(request: HttpRequest) -> HttpResponse:
    """See plans.chat."""
    if request.method != "POST":
        return HttpResponse(status=405)
    args = request.GET
    return _stream(
        request, plans.chat(plans.number(args, "first", 0.8), int(plans.number(args, "n", 5)))
    )


def status(request: HttpRequest) -> HttpResponse:
    """See plans.held_error."""
    code = int(plans.number(request.GET, "code", 500))
    hold = plans.number(request.GET, "hold", 0.0)
    if not hold:
        return JsonResponse({"error": plans.HTTPStatus(code).phrase, "status": code}, status=code)
    response = StreamingHttpResponse(
        plans.sync_bytes(plans.held_error(code, hold)), status=code, content_type="application/json"
    )
    for name, value in plans.HELD_HEADERS.items():
        response[name] = value
    return response


urlpatterns = [
    path("health", health),
    path("clock", clock),
    path("keepalive", keepalive),
    path("silent", silent),
    path("abort", abort),
    path("chat", chat),
    path("status", status),
]


if __name__ == "__main__":
    django.setup()
    from django.core.management import call_command

    call_command("runserver", f"127.0.0.1:{int(sys.argv[1])}", use_reloader=False, skip_checks=True)
