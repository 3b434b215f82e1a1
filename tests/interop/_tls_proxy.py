"""What the TLS and proxy tests share: certificates from trustme, our own HTTPS server scripted
like the uvicorn app, the real servers (uvicorn, proxy.py) as subprocesses, and the read of a
stream that goes silent.

The one rule this module owns: every server a test uses runs on 127.0.0.1 on a port the OS
chose, answers before the test gets it, and is gone (its whole process group, or every
thread and socket of our own server) when the test is done with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import trustme
from _servers import START_BOUND, is_done, stop_group

import sseclient_sync as sse
from sseclient_sync.testing import RecordedRequest, Reply, Silence, SSEServer

HERE = Path(__file__).resolve().parent
FAST_RETRY = sse.Retry(max_attempts=3, delay=0.05, jitter=0)
#: The bound on reading a whole test stream.
PER_EVENT = 5.0


# --- Certificates -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    """A private CA, a server certificate for 127.0.0.1 and localhost, and a client
    certificate, all issued by it, as PEM files the client and the servers load."""

    ca: trustme.CA
    ca_file: str
    server_cert_file: str
    server_key_file: str
    #: The client's certificate and key in one file, as ``cert=`` takes it.
    client_cert_file: str
    #: A client certificate from a CA the servers do not trust.
    stranger_cert_file: str

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        """A server-side context with the server certificate; with ``require_client_cert``,
        only clients presenting a certificate from the CA get through the handshake."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert_file, self.server_key_file)
        if require_client_cert:
            context.load_verify_locations(self.ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def make_tls_files(directory: Path) -> TLSFiles:
    """Issue the certificates of one test module into ``directory``."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.test", common_name="sse-interop-client")
    stranger = trustme.CA().issue_cert("stranger@example.test")
    paths = {name: directory / name for name in ("ca.pem", "server.pem", "server.key")}
    ca.cert_pem.write_to_path(str(paths["ca.pem"]))
    server.cert_chain_pems[0].write_to_path(str(paths["server.pem"]))
    for pem in server.cert_chain_pems[1:]:
        pem.write_to_path(str(paths["server.pem"]), append=True)
    server.private_key_pem.write_to_path(str(paths["server.key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(directory / "client.pem"))
    stranger.private_key_and_cert_chain_pem.write_to_path(str(directory / "stranger.pem"))
    return TLSFiles(
        ca=ca,
        ca_file=str(paths["ca.pem"]),
        server_cert_file=str(paths["server.pem"]),
        server_key_file=str(paths["server.key"]),
        client_cert_file=str(directory / "client.pem"),
        stranger_cert_file=str(directory / "stranger.pem"),
    )


# --- Our own server, scripted like the uvicorn app ----------------------------------------


def _silent(request: RecordedRequest) -> Reply:
    if request.header("last-event-id") is None:
        return Reply(body=[sse.Event(data="first", id="1").encode(), Silence()])
    return Reply(body=[sse.Event(data="second", id="2").encode(), b"data: [DONE]\n\n"])


def _events(request: RecordedRequest) -> Reply:
    count = int(request.query.get("n", ["3"])[0])
    body = [sse.Event(data=f"e{i}", id=str(i)).encode() for i in range(1, count + 1)]
    return Reply(body=[*body, b"data: [DONE]\n\n"])


def _status(request: RecordedRequest) -> Reply:
    code = int(request.query.get("code", ["500"])[0])
    body = b'{"error": "held open", "status": %d}' % code
    return Reply(status=code, headers={"Content-Type": "application/json"}, body=[body, Silence()])


def route_like_the_app(server: SSEServer) -> SSEServer:
    """Give ``server`` the routes of _tls_app.py, with the same behaviour."""
    server.route("/health", Reply(body="ok", headers={}, framing="length"))
    server.route("/events", _events)
    server.route("/silent", _silent)
    server.route("/status", _status)
    return server


# --- Real servers as subprocesses ---------------------------------------------------------


@dataclasses.dataclass
class Process:
    """A server running as a subprocess of its own process group."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_file: Path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the address of a proxy; a server's base URL is scheme
        dependent, see :func:`start_uvicorn`."""
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the server logged so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the process group; kill what is left of it after STOP_BOUND."""
        stop_group(self.process)


def _start(
    name: str, argv: list[str], workdir: Path, ready: Callable[[int], bool], log_name: str
) -> Process:
    """Start ``argv`` (which writes its port to ``workdir/port``); return once ``ready(port)``
    holds, or fail saying why with the end of its log."""
    port_file = workdir / "port"
    log_file = workdir / log_name
    with open(workdir / "output.log", "wb") as output:
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running: Optional[Process] = None
    try:
        deadline = time.monotonic() + START_BOUND
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if port_file.exists() and (text := port_file.read_text().strip()).isdigit():
                running = Process(name, process, int(text), log_file)
                if ready(running.port):
                    return running
            time.sleep(0.05)
        output_text = (workdir / "output.log").read_text(errors="replace")[-3000:]
        raise AssertionError(
            f"{name} did not answer within {START_BOUND}s (exit code {process.poll()}):\n"
            f"{output_text}"
        )
    except BaseException:
        (running or Process(name, process, 0, log_file)).stop()
        raise


def _https_answers(ca_file: str, client_cert_file: Optional[str]) -> Callable[[int], bool]:
    def ready(port: int) -> bool:
        context = ssl.create_default_context(cafile=ca_file)
        if client_cert_file is not None:
            context.load_cert_chain(client_cert_file)
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=context)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    return ready


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def start_uvicorn(files: TLSFiles, workdir: Path, require_client_cert: bool = False) -> Process:
    """uvicorn serving _tls_app.py over HTTPS with the test certificate; with
    ``require_client_cert`` it accepts only clients with a certificate from the test CA."""
    argv = [
        sys.executable,
        str(HERE / "_tls_app.py"),
        "--certfile",
        files.server_cert_file,
        "--keyfile",
        files.server_key_file,
        "--port-file",
        str(workdir / "port"),
    ]
    if require_client_cert:
        argv += ["--client-ca", files.ca_file]
    client = files.client_cert_file if require_client_cert else None
    ready = _https_answers(files.ca_file, client)
    return _start("uvicorn", argv, workdir, ready, "output.log")


def start_proxy(workdir: Path) -> Process:
    """proxy.py, one worker, its access log at INFO level in ``workdir/proxy.log``."""
    argv = [
        sys.executable,
        "-m",
        "proxy",
        "--hostname",
        "127.0.0.1",
        "--port",
        "0",
        "--port-file",
        str(workdir / "port"),
        "--num-workers",
        "1",
        "--num-acceptors",
        "1",
        "--data-dir",
        str(workdir / "data"),
        "--log-file",
        str(workdir / "proxy.log"),
        "--log-level",
        "INFO",
    ]
    return _start("proxy.py", argv, workdir, _accepts, "proxy.log")


@contextlib.contextmanager
def tls_sseserver(files: TLSFiles, require_client_cert: bool = False) -> Iterator[SSEServer]:
    """Our own SSEServer over TLS with the routes of _tls_app.py."""
    with SSEServer(tls=files.server_context(require_client_cert)) as server:
        yield route_like_the_app(server)


# --- Client-side checks -------------------------------------------------------------------


def read_through_a_silence(
    url: str, **options: Any
) -> tuple[list[tuple[float, str]], list[tuple[float, BaseException]]]:
    """Stream ``url``, a /silent route, with read_timeout=0.5 and FAST_RETRY to its [DONE]:
    the events' data and the errors on_error got, each with the time it came."""
    errors: list[tuple[float, BaseException]] = []
    arrived: list[tuple[float, str]] = []
    with sse.create_sse_connection(
        url,
        **options,
        timeout=10,
        read_timeout=0.5,
        retry=FAST_RETRY,
        done=is_done,
        on_error=lambda error: errors.append((time.monotonic(), error)),
    ) as conn:
        for event in conn.events(timeout=PER_EVENT):
            arrived.append((time.monotonic(), event.data))
    return arrived, errors
