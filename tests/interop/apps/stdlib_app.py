"""The interop routes on the standard library's ``http.server``: a ``BaseHTTPRequestHandler``
speaking HTTP/1.0 (its default), so every body ends when the server closes the connection.

``python stdlib_app.py PORT_FILE`` listens on 127.0.0.1, port 0, and writes the port there.
"""

from __future__ import annotations

import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, urlsplit

import plans


class Handler(BaseHTTPRequestHandler):
    """One request; the body is written straight to the socket (``wbufsize`` is 0)."""

    def do_GET(self) -> None:
        """Route a GET."""
        self._route()

    def do_POST(self) -> None:
        """Route a POST."""
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        plans.record(query.get("key"), self.command, url.path, dict(self.headers.items()), body)
        last_id: Optional[str] = self.headers.get("Last-Event-ID")
        plan: Optional[plans.Plan] = None
        if url.path == "/health":
            self._reply(200, "text/plain", b"ok")
        elif url.path == "/status":
            self._status(query)
        elif url.path == "/clock":
            plan = plans.clock(int(plans.number(query, "n", 3)), plans.number(query, "gap", 0.4))
        elif url.path == "/keepalive":
            plan = plans.keepalive(
                plans.number(query, "every", 0.6), plans.number(query, "total", 1.3)
            )
        elif url.path == "/silent":
            plan = plans.silent(last_id, plans.number(query, "hold", 3.0))
        elif url.path == "/abort":
            plan = plans.abort(last_id)
        elif url.path == "/chat" and self.command == "POST":
            plan = plans.chat(plans.number(query, "first", 0.8), int(plans.number(query, "n", 5)))
        else:
            self._reply(404, "text/plain", b"not found")
        if plan is not None:
            self._stream(plan)

    def _stream(self, plan: plans.Plan) -> None:
        # A handler that works first and answers after, as a naive one does: nothing, not even
        # the status line, goes out before the first event is ready.
        first = True
        try:
            for chunk in plans.sync_bytes(plan, self._kill):
                if first:
                    self._head(200, "text/event-stream", plans.SSE_HEADERS)
                    first = False
                self.wfile.write(chunk)
        except (plans.Aborted, BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _status(self, query: dict[str, str]) -> None:
        code = int(plans.number(query, "code", 500))
        hold = plans.number(query, "hold", 0.0)
        if not hold:
            self._reply(code, "application/json", plans.error_body(code))
            return
        self._head(code, "application/json", plans.HELD_HEADERS)
        try:
            for chunk in plans.sync_bytes(plans.held_error(code, hold)):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _reply(self, code: int, content_type: str, body: bytes) -> None:
        self._head(code, content_type, {"Content-Length": str(len(body))})
        self.wfile.write(body)

    def _head(self, code: int, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _kill(self) -> None:
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: object) -> None:
        """Log to stderr (the test keeps it in the server's log file)."""
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    plans.write_port_file(sys.argv[1], server.server_port)
    server.serve_forever()
