"""Starting and stopping the real servers of the interop tests. The rule this module owns:
each server runs as a subprocess of its own process group on 127.0.0.1, is answering before a
test gets it, and is gone, with every process of its group, when it is stopped.

A server gets its port one of three ways, whichever it supports: it binds port 0 and writes
the port to a file (``port-file``), it inherits a socket the test bound to port 0 (``fd``), or
it is given a free port and started again on another one when the bind fails (``port``).

The client-side checks all the interop tests share are here too: that a stream noticed a
silence in time, that ``close()`` returned at once and left no socket to the server.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any, Callable, Optional

import sseclient_sync as sse

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
NODE_DIR = HERE / "node"
SETUP_HINT = "run .ci/interop-setup.sh to install it"

#: How long a server gets to answer its readiness check, and to stop before it is killed.
START_BOUND = 30.0
STOP_BOUND = 3.0


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something true, for at most ``timeout`` seconds;
    return that value, or the last (false) one when the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


@dataclasses.dataclass(frozen=True)
class Framing:
    """How a server delimits a streamed body, as the test ids name it."""

    chunked: bool
    connection_close: bool = False
    http10: bool = False
    gzip: bool = False

    def __str__(self) -> str:
        parts = ["HTTP/1.0"] if self.http10 else []
        parts.append("chunked" if self.chunked else "close-delimited")
        if self.connection_close and not self.http10:
            parts.append("Connection: close")
        if self.gzip:
            parts.append("gzip")
        return ", ".join(parts)

    @property
    def slug(self) -> str:
        """The framing in a test id."""
        return (
            str(self)
            .replace("Connection: close", "conn-close")
            .replace("HTTP/1.0", "http1.0")
            .replace(", ", "+")
        )


@dataclasses.dataclass(frozen=True)
class Launch:
    """What a spec needs to build its command line."""

    arg: str  # the port file, the inherited fd or the port, by the spec's port_mode
    workdir: Path
    backend: Optional[RunningServer] = None


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    """One server of the matrix."""

    name: str
    framing: Framing
    command: Callable[[Launch], list[str]]
    port_mode: str  # "port-file", "fd" or "port"
    versions: Callable[[], str]
    stop_signal: int = signal.SIGTERM
    needs: Callable[[], Optional[str]] = lambda: None  # why it cannot run here, if it cannot
    backend: Optional[ServerSpec] = None

    @property
    def id(self) -> str:
        """Name and framing, for test ids."""
        return f"{self.name}[{self.framing.slug}]"


@dataclasses.dataclass
class RunningServer:
    """A started server: its base URL, its process group, its log and its request logs."""

    spec: ServerSpec
    url: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    backend: Optional[RunningServer] = None

    @property
    def state_dir(self) -> Path:
        """Where the apps append the requests they get (see apps/plans.py)."""
        return (self.backend or self).workdir / "state"

    def requests(self, key: str) -> list[dict[str, Any]]:
        """The requests the app has logged for ``key``, oldest first."""
        path = self.state_dir / f"{key}.jsonl"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def log_tail(self, size: int = 3000) -> str:
        """The end of the server's output, for failure messages."""
        return "\n".join(
            f"--- {server.spec.name} ---\n{server.log_path.read_text(errors='replace')[-size:]}"
            for server in (self, self.backend)
            if server is not None and server.log_path.exists()
        )

    def stop(self) -> None:
        """Signal the process group, then kill it after ``STOP_BOUND``; the backend after."""
        stop_group(self.process, self.spec.stop_signal)
        if self.backend is not None:
            self.backend.stop()


def start(spec: ServerSpec, workdir: Path) -> RunningServer:
    """Start ``spec`` (and its backend first) and return it once it answers ``/health``."""
    workdir.mkdir(parents=True, exist_ok=True)
    backend = start(spec.backend, workdir / "backend") if spec.backend is not None else None
    try:
        state = (backend.workdir if backend else workdir) / "state"
        state.mkdir(exist_ok=True)
        attempts = 3 if spec.port_mode == "port" else 1
        for attempt in range(attempts):
            server = _start_once(spec, workdir, backend, state, attempt)
            failure = _wait_ready(server)
            if failure is None:
                return server
            stop_group(server.process, spec.stop_signal)  # the backend stays up for a retry
            if not (spec.port_mode == "port" and "in use" in server.log_tail()):
                raise RuntimeError(f"{spec.name} did not start: {failure}\n{server.log_tail()}")
        raise RuntimeError(f"{spec.name}: no free port after {attempts} attempts")
    except BaseException:
        if backend is not None:
            backend.stop()
        raise


def _start_once(
    spec: ServerSpec, workdir: Path, backend: Optional[RunningServer], state: Path, attempt: int
) -> RunningServer:
    env = {**os.environ, "SSE_INTEROP_STATE": str(state), "PYTHONUNBUFFERED": "1"}
    log_path = workdir / f"server-{attempt}.log"
    port_file = workdir / f"port-{attempt}"
    listener: Optional[socket.socket] = None
    if spec.port_mode == "fd":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        arg = str(listener.fileno())
    elif spec.port_mode == "port":
        port = free_port()
        arg = str(port)
    else:
        port = 0
        arg = str(port_file)
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                spec.command(Launch(arg, workdir, backend)),
                cwd=str(workdir),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),) if listener is not None else (),
                start_new_session=True,
            )
    finally:
        if listener is not None:
            listener.close()  # the server holds its own copy now
    server = RunningServer(spec, "", port, process, workdir, log_path, backend)
    if spec.port_mode == "port-file":
        found = wait_until(lambda: port_file.exists() or process.poll() is not None, START_BOUND)
        if found and port_file.exists():
            server.port = int(port_file.read_text())
    server.url = f"http://127.0.0.1:{server.port}"
    return server


def _wait_ready(server: RunningServer) -> Optional[str]:
    """None once ``/health`` answers 200; else why not, within ``START_BOUND``."""
    deadline = time.monotonic() + START_BOUND
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return f"exited with {server.process.returncode}"
        if server.port:
            try:
                status = _get_status(server.port, "/health")
            except OSError as error:
                last = repr(error)
            else:
                if status == 200:
                    return None
                last = f"status {status}"
        time.sleep(0.05)
    return f"not ready after {START_BOUND}s ({last})"


def _get_status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def stop_group(process: subprocess.Popen[bytes], stop_signal: int = signal.SIGTERM) -> None:
    """Send ``stop_signal`` to the process group of ``process``, wait up to ``STOP_BOUND``,
    then kill whatever is left of the group."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, stop_signal)
        except ProcessLookupError:
            pass
        try:
            process.wait(STOP_BOUND)
        except subprocess.TimeoutExpired:
            pass
    # The group may hold workers that outlive their master: kill whatever is left.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(STOP_BOUND)
    except subprocess.TimeoutExpired:
        pass


def free_port() -> int:
    """A port that was free a moment ago (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- what each server needs and which versions it runs -------------------------------------


def node_binary() -> Optional[str]:
    """The node executable, if any."""
    return shutil.which("node")


def nginx_binary() -> Optional[str]:
    """The nginx executable (Debian keeps it in /usr/sbin, not always on PATH), if any."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def _needs_node() -> Optional[str]:
    return None if node_binary() else f"node is not installed; {SETUP_HINT}"


def _needs_node_package(package: str) -> Callable[[], Optional[str]]:
    def check() -> Optional[str]:
        if node_binary() is None:
            return _needs_node()
        if not (NODE_DIR / "node_modules" / package / "package.json").exists():
            return f"{package} is not in tests/interop/node/node_modules; {SETUP_HINT}"
        return None

    return check


def _needs_nginx() -> Optional[str]:
    return None if nginx_binary() else f"nginx is not installed; {SETUP_HINT}"


def _dists(*names: str) -> Callable[[], str]:
    return lambda: " + ".join(f"{name} {dist_version(name)}" for name in names)


def _node_versions(*packages: str) -> Callable[[], str]:
    def versions() -> str:
        node = subprocess.run(
            [node_binary() or "node", "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        parts = [f"Node {node.stdout.strip().lstrip('v')}"]
        for package in packages:
            meta = json.loads((NODE_DIR / "node_modules" / package / "package.json").read_text())
            parts.append(f"{package} {meta['version']}")
        return " + ".join(parts)

    return versions


def _nginx_version() -> str:
    out = subprocess.run(
        [nginx_binary() or "nginx", "-v"], capture_output=True, text=True, timeout=10, check=True
    )
    return out.stderr.strip().replace("nginx version: nginx/", "nginx ")


def _python(script: str) -> Callable[[Launch], list[str]]:
    return lambda launch: [sys.executable, str(APPS / script), launch.arg]


def _gunicorn(worker: str) -> Callable[[Launch], list[str]]:
    extra = ["--workers", "6"] if worker == "sync" else ["--workers", "1", "--threads", "16"]

    def command(launch: Launch) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "--worker-class", worker, *extra,
            "--bind", f"fd://{launch.arg}", "--chdir", str(APPS), "--graceful-timeout", "1",
            "--log-level", "warning", "wsgi_app:app",
        ]  # fmt: skip

    return command


def _uvicorn(app: str) -> Callable[[Launch], list[str]]:
    return lambda launch: [
        sys.executable, "-m", "uvicorn", "--fd", launch.arg, "--app-dir", str(APPS),
        "--timeout-graceful-shutdown", "1", "--log-level", "warning", app,
    ]  # fmt: skip


def _node(script: str) -> Callable[[Launch], list[str]]:
    return lambda launch: [node_binary() or "node", str(NODE_DIR / script), launch.arg]


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream backend {{ server 127.0.0.1:{backend}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            # The documented SSE setup: HTTP/1.1 to the backend, no Connection: close.
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 60s;
{extra}
        }}
    }}
}}
"""

NGINX_MODES = {
    # The directive alone decides: the backend's X-Accel-Buffering is ignored.
    "buffering-off": "proxy_buffering off;\nproxy_ignore_headers X-Accel-Buffering;",
    "gzip": (
        "proxy_buffering off;\nproxy_ignore_headers X-Accel-Buffering;\n"
        "gzip on;\ngzip_types text/event-stream application/json;"
    ),
    # Buffering on; the backend's X-Accel-Buffering: no is what lets the stream through.
    "buffering-on": "proxy_buffering on;",
}


def _nginx(mode: str) -> Callable[[Launch], list[str]]:
    def command(launch: Launch) -> list[str]:
        assert launch.backend is not None
        conf_dir = launch.workdir / "nginx"
        conf_dir.mkdir(exist_ok=True)
        extra = "\n".join(" " * 12 + line for line in NGINX_MODES[mode].splitlines())
        conf = NGINX_CONF.format(
            dir=conf_dir, backend=launch.backend.port, port=launch.arg, extra=extra
        )
        path = conf_dir / "nginx.conf"
        path.write_text(conf, encoding="utf-8")
        return [
            nginx_binary() or "nginx",
            "-p",
            str(conf_dir),
            "-c",
            str(path),
            "-e",
            str(conf_dir / "error.log"),
        ]

    return command


GTHREAD = ServerSpec(
    "gunicorn-gthread", Framing(chunked=True), _gunicorn("gthread"), "fd",
    _dists("gunicorn"), stop_signal=signal.SIGINT,
)  # fmt: skip

SERVERS: list[ServerSpec] = [
    ServerSpec(
        "werkzeug", Framing(chunked=True, connection_close=True), _python("flask_app.py"),
        "port-file", _dists("Werkzeug", "Flask"),
    ),
    ServerSpec(
        "gunicorn-sync", Framing(chunked=True, connection_close=True), _gunicorn("sync"), "fd",
        _dists("gunicorn"), stop_signal=signal.SIGINT,
    ),
    GTHREAD,
    ServerSpec(
        "django-runserver", Framing(chunked=False, connection_close=True), _python("django_app.py"),
        "port", _dists("Django"),
    ),
    ServerSpec(
        "uvicorn-sse-starlette", Framing(chunked=True), _uvicorn("starlette_app:sse_app"), "fd",
        _dists("uvicorn", "starlette", "sse-starlette"),
    ),
    ServerSpec(
        "uvicorn-starlette", Framing(chunked=True), _uvicorn("starlette_app:plain_app"), "fd",
        _dists("uvicorn", "starlette"),
    ),
    ServerSpec(
        "aiohttp-sse", Framing(chunked=True), _python("aiohttp_app.py"), "port-file",
        _dists("aiohttp", "aiohttp-sse"),
    ),
    ServerSpec(
        "http.server", Framing(chunked=False, connection_close=True, http10=True),
        _python("stdlib_app.py"), "port-file", lambda: f"Python {sys.version.split()[0]}",
    ),
    ServerSpec(
        "node-http", Framing(chunked=True), _node("plain_http.mjs"), "port-file",
        _node_versions(), needs=_needs_node,
    ),
    ServerSpec(
        "node-better-sse", Framing(chunked=True), _node("better_sse.mjs"), "port-file",
        _node_versions("better-sse", "express"), needs=_needs_node_package("better-sse"),
    ),
    *(
        ServerSpec(
            f"nginx-{mode}", Framing(chunked=True, gzip=mode == "gzip"), _nginx(mode), "port",
            lambda: f"{_nginx_version()} -> gunicorn-gthread", stop_signal=signal.SIGTERM,
            needs=_needs_nginx, backend=GTHREAD,
        )
        for mode in NGINX_MODES
    ),
]  # fmt: skip


# --- Client-side checks ----------------------------------------------------------------------


def is_done(event: sse.Event) -> bool:
    """The end marker every route sends last."""
    return event.data == "[DONE]"


def client_sockets_to(port: int) -> int:
    """How many TCP sockets this process holds open to ``port``: the inodes of our fds that
    /proc/self/net/tcp{,6} lists with that remote port."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed since the listing
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table, encoding="ascii") as file:
                rows = file.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[9] in inodes:
                count += 1
    return count


def assert_silence_noticed(
    first_at: float, errors: list[tuple[float, BaseException]], context: object = None
) -> None:
    """The first of ``errors`` (what on_error got, with the time) is a ReadTimeout, noticed
    0.4 to 1.5 s after the event before the silence arrived at ``first_at``; ``context`` goes
    into the message when no error came."""
    detail = "" if context is None else f"; {context}"
    assert errors, f"no error reached on_error{detail}"
    noticed_at, error = errors[0]
    assert isinstance(error, sse.ReadTimeout), repr(error)
    silence = noticed_at - first_at
    assert 0.4 <= silence <= 1.5, f"the silence was noticed after {silence:.2f}s"


def assert_close_returns_at_once(conn: sse.Connection, port: int, first_within: float) -> None:
    """``conn`` streams a route that goes silent after its first event: once the reader is
    blocked in its read, on the one socket to ``port``, close() returns within 100 ms and
    leaves the connection CLOSED."""
    try:
        first = next(iter(conn.events(timeout=first_within)))
        assert first.data == "first"
        time.sleep(0.1)  # the reader is blocked in its read by now
        assert client_sockets_to(port) == 1
    finally:
        started = time.monotonic()
        conn.close()
        took = time.monotonic() - started
    assert took < 0.1, f"close() took {took:.3f}s"
    assert conn.status is sse.Status.CLOSED
