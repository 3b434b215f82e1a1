"""The test service for LaunchDarkly's SSE contract suite: it drives sseclient_sync through its
public API only, so the harness checks the library exactly as a user gets it.

Protocol: ../shared/tools/README.md (the harness's docs/service_spec.md). One rule governs the
service: it claims a capability only when the library really has it, and never works around
a library bug; a failing harness test is a finding about the library. Observations (events,
comments, errors) are posted to the harness in order from a sender thread per stream, so the
library's reader thread never waits on the harness.

Run: ``python tests/contract/service.py --port 0 [--port-file PATH]``; it prints the port it
bound, and exits on ``DELETE /`` or SIGTERM, closing every connection.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Dict, List, Optional

import sseclient_sync

log = logging.getLogger("contract-service")

#: Harness tests end streams many times; the attempt counter resets only after an event.
MAX_ATTEMPTS = 1_000_000
#: Each callback POST to the harness is bounded by this many seconds.
CALLBACK_TIMEOUT = 5.0
#: How long closing waits for a stream's sender thread.
SENDER_JOIN_TIMEOUT = 2.0
STREAMS_PATH = "/streams/"
BASE_CAPABILITIES = (
    "bom",
    "headers",
    "last-event-id",
    "post",
    "read-timeout",
    "report",
    "restart",
    "server-directed-shutdown-request",
)

# Callbacks to the harness are loopback requests: never through a proxy from the environment.
_CALLBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def library_has_option(name: str, value: Any) -> bool:
    """Whether ``create_sse_connection`` accepts the option ``name``: a manager checks its
    default options eagerly and raises ``TypeError`` for an unknown one, without any I/O."""
    try:
        manager = sseclient_sync.ConnectionManager(**{name: value})
    except TypeError:
        return False
    manager.shutdown()
    return True


HAS_ON_COMMENT = library_has_option("on_comment", lambda text: None)
HAS_RECONNECT_ON_END = library_has_option("reconnect_on_end", True)


def capabilities() -> List[str]:
    """What the library honestly does; ``comments`` once ``on_comment`` exists."""
    claimed = list(BASE_CAPABILITIES)
    if HAS_ON_COMMENT:
        claimed.append("comments")
    return sorted(claimed)


class BadParameters(ValueError):
    """The harness asked for a stream with parameters the service cannot honour (a 400)."""


class CallbackSender:
    """Posts one stream's observations to ``<callback_url>/<n>``, n = 1, 2, ..., in order,
    from a thread of its own."""

    def __init__(self, callback_url: str, tag: str) -> None:
        self._url = callback_url.rstrip("/")
        self._tag = tag
        self._queue: queue.Queue[Optional[Dict[str, Any]]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"callbacks {tag}", daemon=True)
        self._thread.start()

    def send(self, message: Dict[str, Any]) -> None:
        """Queue one message; never blocks the caller."""
        self._queue.put(message)

    def stop(self) -> None:
        """Send what is queued, then end the thread (bounded by ``SENDER_JOIN_TIMEOUT``)."""
        self._queue.put(None)
        self._thread.join(SENDER_JOIN_TIMEOUT)

    def _run(self) -> None:
        counter = 0
        while True:
            message = self._queue.get()
            if message is None:
                return
            counter += 1
            self._post(f"{self._url}/{counter}", message)

    def _post(self, url: str, message: Dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with _CALLBACK_OPENER.open(request, timeout=CALLBACK_TIMEOUT) as response:
                response.read()
        except (OSError, urllib.error.URLError) as error:
            # The harness closes a test's endpoint when the test ends; later posts are moot.
            log.debug("[%s] callback %s failed: %s", self._tag, url, error)


class StreamEntity:
    """One client of the library, created by the harness's ``POST /``."""

    def __init__(
        self, manager: sseclient_sync.ConnectionManager, params: Dict[str, Any], tag: str
    ) -> None:
        self.tag = tag
        self._sender = CallbackSender(params["callbackUrl"], tag)
        try:
            self.connection = manager.create(params["streamUrl"], **self._options(params))
        except (TypeError, ValueError) as error:
            self._sender.stop()
            raise BadParameters(str(error)) from error

    def _options(self, params: Dict[str, Any]) -> Dict[str, Any]:
        options: Dict[str, Any] = {
            "wait_open": False,
            "retry": _retry(params.get("initialDelayMs")),
            "on_message": self._on_message,
            "on_error": self._on_error,
        }
        if params.get("readTimeoutMs") is not None:
            options["read_timeout"] = _milliseconds(params["readTimeoutMs"], "readTimeoutMs")
        if params.get("lastEventId") is not None:
            options["last_event_id"] = params["lastEventId"]
        if params.get("headers") is not None:
            options["headers"] = params["headers"]
        if params.get("body") is not None:
            options["data"] = str(params["body"]).encode("utf-8")
        method = params.get("method")
        if method is not None:
            options["method"] = method
            if str(method).upper() != "GET":
                options.update(_long_lived_subscription())
        if HAS_ON_COMMENT:
            options["on_comment"] = self._on_comment
        return options

    def _on_message(self, event: sseclient_sync.Event) -> None:
        message: Dict[str, Any] = {"type": event.event, "data": event.data}
        if event.id is not None:
            message["id"] = event.id
        self._sender.send({"kind": "event", "event": message})

    def _on_comment(self, text: str) -> None:
        self._sender.send({"kind": "comment", "comment": text})

    def _on_error(self, error: BaseException) -> None:
        log.info("[%s] error: %s", self.tag, error)
        self._sender.send({"kind": "error", "error": str(error)})

    def restart(self) -> None:
        """The harness's ``restart`` command: what ``Connection.reconnect()`` means."""
        self.connection.reconnect()

    def close(self) -> None:
        """Close the client, then stop posting its observations."""
        self.connection.close()
        self._sender.stop()


def _retry(initial_delay_ms: Any) -> sseclient_sync.Retry:
    if initial_delay_ms is None:
        return sseclient_sync.Retry(max_attempts=MAX_ATTEMPTS, jitter=0)
    delay = _milliseconds(initial_delay_ms, "initialDelayMs", allow_zero=True)
    return sseclient_sync.Retry(max_attempts=MAX_ATTEMPTS, delay=delay, jitter=0)


def _long_lived_subscription() -> Dict[str, Any]:
    """Options for a non-GET stream that the harness treats as a subscription: its end is a
    drop, and the request (body included) is sent again."""
    if HAS_RECONNECT_ON_END:
        return {"reconnect_on_end": True}
    # Without reconnect_on_end, a non-GET stream that ends normally completes. With a done
    # predicate, a normal end before `done` counts as a drop and reconnects; this one never
    # matches, so every event of the harness is delivered.
    return {"done": _never_done}


def _never_done(event: sseclient_sync.Event) -> bool:
    return False


def _milliseconds(value: Any, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadParameters(f"{name} must be a number of milliseconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise BadParameters(f"{name} out of range: {value!r}")
    return value / 1000.0


class Service:
    """The streams the harness created, by resource id."""

    def __init__(self) -> None:
        self.manager = sseclient_sync.ConnectionManager()
        self._lock = threading.Lock()
        self._streams: Dict[str, StreamEntity] = {}
        self._next_id = 0

    def create(self, params: Dict[str, Any]) -> str:
        """Start a client; return its resource path. Raises BadParameters."""
        for name in ("streamUrl", "callbackUrl"):
            if not isinstance(params.get(name), str):
                raise BadParameters(f"{name} is required and must be a string")
        with self._lock:
            self._next_id += 1
            stream_id = str(self._next_id)
        tag = f"{stream_id} {params.get('tag') or ''}".strip()
        entity = StreamEntity(self.manager, params, tag)
        with self._lock:
            self._streams[stream_id] = entity
        log.info("[%s] created %s", tag, params["streamUrl"])
        return STREAMS_PATH + stream_id

    def get(self, stream_id: str) -> Optional[StreamEntity]:
        """The stream with this id, or None."""
        with self._lock:
            return self._streams.get(stream_id)

    def close(self, stream_id: str) -> bool:
        """Close one stream; False when there is none."""
        with self._lock:
            entity = self._streams.pop(stream_id, None)
        if entity is None:
            return False
        entity.close()
        log.info("[%s] closed", entity.tag)
        return True

    def close_all(self) -> None:
        """Close every stream and the manager."""
        with self._lock:
            entities, self._streams = list(self._streams.values()), {}
        for entity in entities:
            entity.close()
        self.manager.shutdown()


class Handler(BaseHTTPRequestHandler):
    """The service's HTTP resources: ``/`` and ``/streams/<id>``."""

    server: ContractServer

    def do_GET(self) -> None:
        """``GET /``: the capabilities."""
        if self.path != "/":
            self._answer(404)
            return
        self._answer(200, {"capabilities": capabilities()})

    def do_POST(self) -> None:
        """``POST /`` creates a stream; ``POST /streams/<id>`` runs a command on it."""
        try:
            params = json.loads(self._body() or b"{}")
        except ValueError:
            self._answer(400, {"error": "the body is not JSON"})
            return
        if not isinstance(params, dict):
            self._answer(400, {"error": "the body must be a JSON object"})
            return
        if self.path == "/":
            self._create(params)
        elif self.path.startswith(STREAMS_PATH):
            self._command(self.path[len(STREAMS_PATH) :], params)
        else:
            self._answer(404)

    def do_DELETE(self) -> None:
        """``DELETE /`` stops the service; ``DELETE /streams/<id>`` closes a stream."""
        if self.path == "/":
            self._answer(204)
            self.server.stop()
        elif self.path.startswith(STREAMS_PATH):
            found = self.server.service.close(self.path[len(STREAMS_PATH) :])
            self._answer(204 if found else 404)
        else:
            self._answer(404)

    def _create(self, params: Dict[str, Any]) -> None:
        try:
            location = self.server.service.create(params)
        except BadParameters as error:
            self._answer(400, {"error": str(error)})
            return
        self._answer(201, headers={"Location": location})

    def _command(self, stream_id: str, params: Dict[str, Any]) -> None:
        entity = self.server.service.get(stream_id)
        if entity is None:
            self._answer(404)
        elif params.get("command") == "restart":
            entity.restart()
            self._answer(204)
        else:
            self._answer(400, {"error": f"unknown command {params.get('command')!r}"})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _answer(
        self,
        status: int,
        body: Optional[Dict[str, Any]] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the debug log, not to stderr."""
        log.debug("%s " + format, self.address_string(), *args)


class ContractServer(ThreadingHTTPServer):
    """The HTTP server with the service it fronts."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.service = Service()

    def stop(self) -> None:
        """Stop ``serve_forever`` from any thread but its own (it waits for the loop)."""
        threading.Thread(target=self.shutdown, name="shutdown", daemon=True).start()


def _write_port(path: str, port: int) -> None:
    # Written whole, then renamed: a script polling for the file never reads half a number.
    partial = f"{path}.partial"
    with open(partial, "w", encoding="ascii") as file:
        file.write(f"{port}\n")
    os.replace(partial, path)


def main(argv: Optional[List[str]] = None) -> int:
    """Serve until ``DELETE /`` or SIGTERM; then close every connection."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0: a free one")
    parser.add_argument("--port-file", help="write the bound port to this file")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    server = ContractServer(args.port)
    port = server.server_address[1]

    def on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, on_sigterm)
    if args.port_file:
        _write_port(args.port_file, port)
    print(f"contract test service on http://127.0.0.1:{port}", flush=True)
    log.info("sseclient_sync %s from %s", sseclient_sync.__version__, sseclient_sync.__file__)
    log.info("capabilities: %s", ", ".join(capabilities()))
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.service.close_all()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
