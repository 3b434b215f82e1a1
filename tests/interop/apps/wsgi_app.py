"""The interop routes as a bare WSGI application, for gunicorn (``gunicorn wsgi_app:app``).

A streamed response is a generator returned from the app, as PEP 3333 has it: the server
sends the headers with the first body bytes. See plans.py for the routes.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qs

import plans

StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Route one request."""
    path = environ.get("PATH_INFO", "")
    query = {name: values[0] for name, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
    plans.record(
        query.get("key"), environ["REQUEST_METHOD"], path, _headers(environ), _body(environ)
    )
    last_id = environ.get("HTTP_LAST_EVENT_ID")
    plan: Optional[plans.Plan] = None
    if path == "/health":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    if path == "/status":
        return _status(query, start_response)
    if path == "/clock":
        plan = plans.clock(int(plans.number(query, "n", 3)), plans.number(query, "gap", 0.4))
    elif path == "/keepalive":
        plan = plans.keepalive(plans.number(query, "every", 0.6), plans.number(query, "total", 1.3))
    elif path == "/silent":
        plan = plans.silent(last_id, plans.number(query, "hold", 3.0))
    elif path == "/abort":
        plan = plans.abort(last_id)
    elif path == "/chat" and environ["REQUEST_METHOD"] == "POST":
        plan = plans.chat(plans.number(query, "first", 0.8), int(plans.number(query, "n", 5)))
    if plan is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    headers = [("Content-Type", "text/event-stream"), *plans.SSE_HEADERS.items()]
    start_response("200 OK", headers)
    return plans.sync_bytes(plan, lambda: _kill(environ))


def _status(query: dict[str, str], start_response: StartResponse) -> Iterable[bytes]:
    code = int(plans.number(query, "code", 500))
    hold = plans.number(query, "hold", 0.0)
    status = f"{code} {plans.HTTPStatus(code).phrase}"
    body = plans.error_body(code)
    if not hold:
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
    start_response(status, [("Content-Type", "application/json"), *plans.HELD_HEADERS.items()])
    return plans.sync_bytes(plans.held_error(code, hold))


def _kill(environ: dict[str, Any]) -> None:
    sock = environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        sock.shutdown(socket.SHUT_RDWR)


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    return {
        name[5:].replace("_", "-").title(): str(value)
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""
