"""The interop routes as a Flask app on Werkzeug's development server (what ``flask run`` and
``app.run()`` start), threaded, streaming with ``Response(generator,
mimetype="text/event-stream")`` as Flask documents.

``python flask_app.py PORT_FILE`` listens on 127.0.0.1, port 0, and writes the port there.
"""

from __future__ import annotations

import socket
import sys
from typing import Any, Optional

import plans
from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

app = Flask(__name__)


@app.before_request
def _record() -> None:
    plans.record(
        request.args.get("key"),
        request.method,
        request.path,
        dict(request.headers),
        request.get_data(),
    )


def _stream(plan: plans.Plan) -> Response:
    environ = request.environ
    return Response(
        plans.sync_bytes(plan, lambda: _kill(environ)),
        mimetype="text/event-stream",
        headers=plans.SSE_HEADERS,
    )


@app.get("/health")
def health() -> str:
    """Readiness."""
    return "ok"


@app.get("/clock")
def clock() -> Response:
    """See plans.clock."""
    return _stream(
        plans.clock(int(plans.number(request.args, "n", 3)), plans.number(request.args, "gap", 0.4))
    )


@app.get("/keepalive")
def keepalive() -> Response:
    """See plans.keepalive."""
    args = request.args
    return _stream(
        plans.keepalive(plans.number(args, "every", 0.6), plans.number(args, "total", 1.3))
    )


@app.get("/silent")
def silent() -> Response:
    """See plans.silent."""
    last_id: Optional[str] = request.headers.get("Last-Event-ID")
    return _stream(plans.silent(last_id, plans.number(request.args, "hold", 3.0)))


@app.get("/abort")
def abort() -> Response:
    """See plans.abort."""
    return _stream(plans.abort(request.headers.get("Last-Event-ID")))


@app.post("/chat")
def chat() -> Response:
    """See plans.chat."""
    args = request.args
    return _stream(plans.chat(plans.number(args, "first", 0.8), int(plans.number(args, "n", 5))))


@app.get("/status")
def status() -> Any:
    """See plans.held_error."""
    code = int(plans.number(request.args, "code", 500))
    hold = plans.number(request.args, "hold", 0.0)
    if not hold:
        return jsonify(error=plans.HTTPStatus(code).phrase, status=code), code
    return Response(
        plans.sync_bytes(plans.held_error(code, hold)),
        status=code,
        mimetype="application/json",
        headers=plans.HELD_HEADERS,
    )


def _kill(environ: dict[str, Any]) -> None:
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        sock.shutdown(socket.SHUT_RDWR)


if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, app, threaded=True)
    plans.write_port_file(sys.argv[1], server.server_port)
    server.serve_forever()
