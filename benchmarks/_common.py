"""Helpers shared by the benchmarks: the loopback server in a process of its own, the
baselines' plain http.client reader, /proc memory figures, and table printing.

Run as a script (``python benchmarks/_common.py serve``) it is that server process: it serves
the routes below on 127.0.0.1, prints ``port N`` on its first line, and stops when its standard
input closes (so it never outlives the benchmark that started it).

Routes (all take ``?n=COUNT``):

- ``/each-chunked``: one event per body item through the generic Reply path, i.e. one HTTP
  chunk and one ``sendall`` per event.
- ``/each-close``: the same, close-delimited (one ``sendall`` per event).
- ``/grouped-chunked``: still one HTTP chunk per event, but pre-encoded (chunk framing
  included) and written ``GROUP`` events per ``sendall``; the Reply is close-framed with a
  ``Transfer-Encoding: chunked`` header of ours, so the server adds no framing of its own.
- ``/grouped-close``: close-delimited, ``GROUP`` pre-encoded events per ``sendall``.
- ``/trickle``: ``n`` events, one every ``interval`` seconds (``?interval=0.05``), chunked.
"""

from __future__ import annotations

import http.client
import math
import os
import resource
import subprocess
import sys
import threading
import time
from typing import IO, Callable, Iterator, List, Optional, Sequence, Union

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, ROOT)

from sseclient_sync import SSEParser  # noqa: E402
from sseclient_sync.testing import (  # noqa: E402
    BodyItem,
    Pause,
    RecordedRequest,
    Reply,
    SSEServer,
)

#: Events per sendall in the grouped routes: about 4 KiB of small events.
GROUP = 64
SERVER_START_TIMEOUT = 20.0
SERVER_STOP_TIMEOUT = 10.0


# --- Events on the wire -------------------------------------------------------------------


def small_event(seq: int) -> bytes:
    """A small event (about 50 bytes) whose data starts with its sequence number."""
    return b'id: %d\ndata: %d {"text": "hello, world"}\n\n' % (seq, seq)


def chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def seq_of(data: str) -> int:
    """The sequence number at the start of an event's data."""
    return int(data.split(" ", 1)[0])


def raise_fd_limit(wanted: int = 8192) -> None:
    """Raise the soft limit on open files towards ``wanted`` (never past the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# --- The server process -------------------------------------------------------------------


def _count(request: RecordedRequest, default: int) -> int:
    return int(request.query.get("n", [str(default)])[0])


def _each(count: int) -> Iterator[bytes]:
    for seq in range(count):
        yield small_event(seq)


def _grouped(count: int, encode: Callable[[bytes], bytes]) -> Iterator[bytes]:
    for start in range(0, count, GROUP):
        yield b"".join(encode(small_event(seq)) for seq in range(start, min(count, start + GROUP)))


def _grouped_chunked(count: int) -> Iterator[bytes]:
    yield from _grouped(count, chunk)
    yield b"0\r\n\r\n"


def _trickle(count: int, interval: float) -> Iterator[BodyItem]:
    start = time.monotonic()
    for seq in range(count):
        delay = start + seq * interval - time.monotonic()
        if delay > 0:
            yield Pause(delay)
        yield small_event(seq)


def add_routes(server: SSEServer) -> None:
    """The routes of the module docstring."""
    stream = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    server.route("/each-chunked", lambda r: Reply(body=_each(_count(r, 1000))))
    server.route("/each-close", lambda r: Reply(body=_each(_count(r, 1000)), framing="close"))
    server.route(
        "/grouped-chunked",
        lambda r: Reply(
            headers={**stream, "Transfer-Encoding": "chunked"},
            body=_grouped_chunked(_count(r, 1000)),
            framing="close",
        ),
    )
    server.route(
        "/grouped-close",
        lambda r: Reply(body=_grouped(_count(r, 1000), lambda e: e), framing="close"),
    )
    server.route(
        "/trickle",
        lambda r: Reply(body=_trickle(_count(r, 20), float(r.query.get("interval", ["0.05"])[0]))),
    )


def serve() -> None:
    """The server process: serve until standard input closes."""
    raise_fd_limit()
    with SSEServer() as server:
        add_routes(server)
        print(f"port {server.port}", flush=True)
        sys.stdin.read()  # the parent closes our stdin (or dies) to stop us


class ServerProcess:
    """The loopback server, in a process of its own (its CPU time, memory and GIL are not
    the client's). A context manager."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = _read_line(self._process.stdout, SERVER_START_TIMEOUT)
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"the server process did not start: {line!r}")
        self.port = int(line.split()[1])

    def url_for(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        process = self._process
        if process.stdin is not None and not process.stdin.closed:
            process.stdin.close()
        try:
            process.wait(SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(SERVER_STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _read_line(stream: IO[str], timeout: float) -> str:
    """The first line of ``stream``, or "" if none came within ``timeout`` seconds."""
    lines: List[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0].strip() if lines else ""


# --- The baselines' reader ----------------------------------------------------------------


def open_plain(port: int, path: str, timeout: float = 30.0) -> http.client.HTTPResponse:
    """GET ``path`` with the standard library alone; the response, headers read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("GET", path, headers={"Accept": "text/event-stream"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    return response


def read_plain(
    response: http.client.HTTPResponse, on_event: Optional[Callable[[str], None]] = None
) -> int:
    """Read a response to its end with ``read1(65536)`` feeding an SSEParser, in this
    thread; return how many events it held. Like the client's consumers in the benchmarks,
    it takes the events one by one and counts them; ``on_event(data)`` is called for each."""
    parser = SSEParser()
    feed = parser.feed
    read1 = response.read1
    count = 0
    try:
        while True:
            data = read1(65536)
            if not data:
                return count
            if on_event is None:
                for _event in feed(data):
                    count += 1
            else:
                for event in feed(data):
                    count += 1
                    on_event(event.data)
    finally:
        response.close()


def library_state() -> str:
    """Which sseclient_sync is measured: its version, and the checkout's commit if any."""
    import sseclient_sync

    state = f"sseclient_sync {sseclient_sync.__version__}"
    try:
        head = subprocess.run(
            ["git", "-C", ROOT, "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", ROOT, "status", "--porcelain", "--", "sseclient_sync"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return state
    changed = f" + uncommitted changes to {len(dirty.splitlines())} file(s)" if dirty else ""
    if len(head) > 60:
        head = head[:57] + "..."
    return f"{state} at {head}{changed}"


# --- Figures ------------------------------------------------------------------------------


def proc_status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), in KiB; 0 where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: ``5`` to /proc/self/clear_refs). True if done."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` 0.5 for the median)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(len(ordered), rank) - 1]


Cell = Union[str, int, float]


def print_table(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    """Print rows under a header, the first column left-aligned, the others right-aligned."""
    texts = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(header[i])), *(len(row[i]) for row in texts)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))])

    print(line([str(h) for h in header]))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for row in texts:
        print(line(row))


def _cell(value: Cell) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        serve()
    else:
        sys.exit(f"usage: {sys.argv[0]} serve")
