"""Throughput: small events per second over loopback, the consumer iterating and counting.

The loopback server (sseclient_sync.testing.SSEServer) runs in a process of its own, so its
work does not compete with the client's for this process's GIL. One generic-Reply ``sendall``
per event would make it the bottleneck, so its body is one generator yielding pre-encoded
events 64 at a time: close-delimited, that is just the events; chunked, every event is still
its own HTTP chunk on the wire (the chunk framing is pre-encoded too). A row "server alone"
shows what the server can send to a reader that only drains its socket.

Compared in the same run, interleaved (client, baseline, client, baseline ... 3 rounds), the
best round of each shown:

- client: ``sse.create_sse_connection(url, retry=0)`` and ``for ev in conn: count += 1``
  (reader thread, queue, consuming thread);
- baseline: the standard library's http.client, ``HTTPResponse.read1(65536)`` feeding the
  same SSEParser in one thread, no hand-off; it takes the events one by one and counts them,
  as the client's consumer does.

Diagnostic rows, not part of the target, split the client's cost: ``dedup=False``; and
requests' own ``raw.read1(65536)`` (urllib3) feeding SSEParser in one thread, which is what
the client's reader thread reads through.

``--breakdown`` adds a second table that needs no network: the same response bytes, read
from memory, through each layer in turn (http.client read1; urllib3's read1 on top of it;
a Connection fed by that through the private ``transport`` seam, consumed by ``on_message``
and by iteration, with and without dedup), to show where the client's time per event goes.

Target: the client within 1.25x of the baseline's time. Usage:
``python benchmarks/bench_throughput.py [--quick] [--breakdown]``.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import io
import itertools
import os
import socket
import statistics
import sys
import time
from collections import Counter
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import requests
import urllib3
from _common import (
    GROUP,
    Cell,
    ServerProcess,
    chunk,
    library_state,
    open_plain,
    print_table,
    read_plain,
    small_event,
)

import sseclient_sync as sse
from sseclient_sync import SSEParser

TARGET = 1.25
TIMEOUT = 120.0


def client(server: ServerProcess, path: str) -> int:
    count = 0
    with sse.create_sse_connection(server.url_for(path), retry=0) as conn:
        for _ in conn.events(timeout=TIMEOUT):
            count += 1
    return count


def client_no_dedup(server: ServerProcess, path: str) -> int:
    count = 0
    with sse.create_sse_connection(server.url_for(path), retry=0, dedup=False) as conn:
        for _ in conn.events(timeout=TIMEOUT):
            count += 1
    return count


def baseline(server: ServerProcess, path: str) -> int:
    return read_plain(open_plain(server.port, path, timeout=TIMEOUT))


def urllib3_read1(server: ServerProcess, path: str) -> int:
    parser = SSEParser()
    count = 0
    with requests.get(server.url_for(path), stream=True, timeout=TIMEOUT) as response:
        read1 = response.raw.read1
        while True:
            data = read1(65536, decode_content=True)
            if not data:
                return count
            for _event in parser.feed(data):
                count += 1


def server_alone(server: ServerProcess, path: str) -> int:
    """Drain the socket, parse nothing: what the server can send. Counts bytes, not events."""
    buffer = bytearray(1 << 20)
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("ascii"))
        total = 0
        while True:
            got = sock.recv_into(buffer)
            if not got:
                return total
            total += got


Runner = Callable[[ServerProcess, str], int]


# --- the breakdown: the same bytes from memory, through each layer ---------------------------


class _MemorySocket:
    """Enough of a socket for http.client.HTTPResponse: its bytes come from memory."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))


def _response_bytes(framing: str, count: int) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    if framing == "chunked":
        body = b"".join(chunk(small_event(seq)) for seq in range(count)) + b"0\r\n\r\n"
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + body
    return head + b"Connection: close\r\n\r\n" + b"".join(map(small_event, range(count)))


def _plain_response(data: bytes) -> http.client.HTTPResponse:
    response = http.client.HTTPResponse(_MemorySocket(data))  # type: ignore[arg-type]
    response.begin()
    return response


def _urllib3_response(data: bytes) -> urllib3.HTTPResponse:
    response = _plain_response(data)
    return urllib3.HTTPResponse(
        body=response,
        headers=dict(response.getheaders()),
        status=200,
        preload_content=False,
        original_response=response,
    )


class _MemoryStream:
    """The Stream protocol of sseclient_sync._http over an in-memory urllib3 response."""

    url = "http://memory.invalid/"

    def __init__(self, data: bytes) -> None:
        self._raw = _urllib3_response(data)

    def read(self) -> bytes:
        return self._raw.read1(65536, decode_content=True)

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


class _MemoryTransport:
    """The Transport protocol: one in-memory stream, then nothing."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def open(self, request: object, timeout: float, read_timeout: object) -> _MemoryStream:
        return _MemoryStream(self._data)

    def abort(self) -> None:
        pass

    def poll(self, url: str, headers: object, timeout: float) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _read_all(read1: Callable[[], bytes]) -> int:
    feed = SSEParser().feed
    count = 0
    while True:
        data = read1()
        if not data:
            return count
        for _event in feed(data):
            count += 1


def _by_plain(data: bytes) -> int:
    response = _plain_response(data)
    return _read_all(lambda: response.read1(65536))


def _by_urllib3(data: bytes) -> int:
    response = _urllib3_response(data)
    return _read_all(lambda: response.read1(65536, decode_content=True))


def _by_callback(data: bytes, dedup: bool) -> int:
    counter = itertools.count()
    conn = sse.create_sse_connection(
        MEMORY_URL,
        transport=_MemoryTransport(data),
        retry=0,
        dedup=dedup,
        on_message=lambda _event: next(counter),
    )
    conn.wait(TIMEOUT)
    conn.close()
    return conn.stats().messages_received


def _by_iteration(data: bytes, dedup: bool) -> int:
    count = 0
    with sse.create_sse_connection(
        MEMORY_URL, transport=_MemoryTransport(data), retry=0, dedup=dedup
    ) as conn:
        for _ in conn.events(timeout=TIMEOUT):
            count += 1
    return count


MEMORY_URL = _MemoryStream.url
LAYERS: List[Tuple[str, Callable[[bytes], int]]] = [
    ("http.client read1 + SSEParser (= baseline)", _by_plain),
    ("+ urllib3 read1 (requests' raw)", _by_urllib3),
    ("+ Connection, on_message, dedup=False", lambda data: _by_callback(data, False)),
    ("+ Connection, on_message, dedup=True", lambda data: _by_callback(data, True)),
    ("+ Connection, iteration, dedup=False", lambda data: _by_iteration(data, False)),
    ("+ Connection, iteration, dedup=True (= client)", lambda data: _by_iteration(data, True)),
]


def breakdown(count: int, rounds: int) -> None:
    rows: List[List[Cell]] = []
    for framing in ("chunked", "close"):
        data = _response_bytes(framing, count)
        times: Dict[str, List[float]] = {name: [] for name, _ in LAYERS}
        for _ in range(rounds):
            for name, run in LAYERS:
                gc.collect()
                start = time.process_time()
                got = run(data)
                times[name].append(time.process_time() - start)
                if got != count:
                    raise SystemExit(f"breakdown, {framing}, {name}: {got} of {count} events")
        base = min(times[LAYERS[0][0]])
        rows.append([f"{framing}, read from memory", "", ""])
        for name, _ in LAYERS:
            best = min(times[name])
            rows.append([f"  {name}", best / count * 1e6, best / base])
    print()
    print(f"Breakdown: CPU time per event, no network, best of {rounds} rounds")
    print_table(["layer", "CPU us/event", "x baseline"], rows)


def timed(run: Runner, server: ServerProcess, path: str) -> Tuple[float, int]:
    gc.collect()
    start = time.perf_counter()
    count = run(server, path)
    return time.perf_counter() - start, count


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="20k events instead of 200k")
    options.add_argument(
        "--breakdown", action="store_true", help="also split the cost by layer, from memory"
    )
    args = options.parse_args()
    count = 20_000 if args.quick else 200_000
    rounds = 3

    framings = [
        ("chunked", "/grouped-chunked", "chunked, 1 chunk/event, 64 chunks/sendall"),
        ("close", "/grouped-close", "close-delimited, 64 events/sendall"),
    ]
    main_runs: List[Tuple[str, Runner]] = [("client", client), ("baseline", baseline)]
    extra_runs: List[Tuple[str, Runner]] = [
        ("diag: client dedup=False", client_no_dedup),
        ("diag: requests raw.read1 + SSEParser", urllib3_read1),
    ]
    print(
        f"Python {sys.version.split()[0]}; {count:,} events of about "
        f"{len(small_event(count // 2))} bytes; "
        f"server in its own process; {rounds} interleaved rounds, best shown; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(library_state())
    rows: List[List[Cell]] = []
    ratios: List[Tuple[str, Optional[float]]] = []
    errors: List[str] = []
    names = [name for name, _ in main_runs + extra_runs]
    with ServerProcess() as server:
        server_alone(server, f"/grouped-close?n={GROUP}")  # warm up both processes
        for framing, route, description in framings:
            path = f"{route}?n={count}"
            times: Dict[str, List[float]] = {name: [] for name in names}
            for round_number in range(rounds):
                order = main_runs if round_number % 2 == 0 else main_runs[::-1]
                for name, run in order + extra_runs:
                    try:
                        elapsed, got = timed(run, server, path)
                    except Exception as error:  # report it under the table, and go on
                        errors.append(f"{framing}, {name}: {type(error).__name__}: {error}")
                        continue
                    if got != count:
                        errors.append(f"{framing}, {name}: {got} of {count} events")
                        continue
                    times[name].append(elapsed)
            drained, _ = timed(server_alone, server, path)
            best = {name: min(values) for name, values in times.items() if values}
            medians = {name: statistics.median(values) for name, values in times.items() if values}
            base = best.get("baseline")
            ratios.append((framing, best["client"] / base if "client" in best and base else None))
            rows.append([description, "", "", "", "", ""])
            for name in names:
                if name not in best or not base:
                    rows.append([f"  {name}", "error", "", "", "", f"0/{rounds}"])
                    continue
                rows.append(
                    [
                        f"  {name}",
                        count / best[name],
                        best[name] * 1000,
                        best[name] / base,
                        medians[name] / medians["baseline"],
                        f"{len(times[name])}/{rounds}",
                    ]
                )
            rows.append(
                [
                    "  server alone (socket drained)",
                    count / drained,
                    drained * 1000,
                    drained / base if base else "",
                    "",
                    "1/1",
                ]
            )
    print_table(["", "events/s", "ms", "time / baseline", "(median)", "runs ok"], rows)
    for message, times_seen in Counter(errors).items():
        print(f"error ({times_seen}x): {message[:300]}")
    print()
    print(
        f"target: client time <= {TARGET}x baseline on both framings: "
        + ", ".join(
            f"{framing} " + ("error" if ratio is None else f"{ratio:.2f}x")
            for framing, ratio in ratios
        )
        + (
            " -> met"
            if all(ratio is not None and ratio <= TARGET for _, ratio in ratios)
            else " -> NOT met"
        )
    )
    if args.breakdown:
        breakdown(count, rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
