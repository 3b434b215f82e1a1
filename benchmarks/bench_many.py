"""Many connections at once: peak memory per connection and CPU time per event.

For each number of connections, a fresh client process opens them all at once to the
loopback server (sseclient_sync.testing.SSEServer, in a process of its own so that neither
its memory nor its CPU time is counted), each stream a trickle of small events (20, one
every 50 ms). The client process reports:

- peak RSS growth per connection: VmHWM at the end minus VmRSS taken after the imports
  (the peak is reset to that moment through /proc/self/clear_refs), divided by the number of
  connections;
- CPU time per event: ``time.process_time()`` of the whole client process from just before
  the first connection until every stream has ended, divided by the events received.

Compared in the same run, interleaved, the best of the rounds shown:

- client: one ``sse.ConnectionManager()`` (one shared requests Session),
  ``manager.create(url, retry=0, on_message=..., wait_open=False)`` per stream;
- baseline: one plain thread per stream, http.client ``read1(65536)`` feeding SSEParser.

A diagnostic row, not part of the target, shows what requests itself costs: one thread per
stream doing only ``session.get(url, stream=True)`` (one shared Session) and ``raw.read1``
feeding SSEParser, the floor for any client built on requests.

Target: the client within 1.2x of the baseline's memory and CPU. Usage:
``python benchmarks/bench_many.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import requests
import requests.adapters
from _common import (
    Cell,
    ServerProcess,
    library_state,
    open_plain,
    print_table,
    proc_status_kib,
    raise_fd_limit,
    read_plain,
    reset_peak_rss,
)

import sseclient_sync as sse
from sseclient_sync import SSEParser

EVENTS = 20
INTERVAL = 0.05
TARGET = 1.2
#: A child gets this long beyond the streams' own length, then counts as failed.
CHILD_SLACK = 60.0


# --- a child process: one configuration --------------------------------------------------


def run_client(url: str, connections: int) -> int:
    """Open ``connections`` streams with one ConnectionManager; the events received."""
    counter = itertools.count()
    on_message = lambda _event: next(counter)  # noqa: E731 (atomic under the GIL)
    deadline = time.monotonic() + EVENTS * INTERVAL + CHILD_SLACK
    with sse.ConnectionManager() as manager:
        conns = [
            manager.create(url, retry=0, on_message=on_message, wait_open=False)
            for _ in range(connections)
        ]
        for conn in conns:
            conn.wait(max(0.0, deadline - time.monotonic()))
        return sum(conn.stats().messages_received for conn in conns)


def run_baseline(port: int, path: str, connections: int) -> int:
    """One plain thread per stream: http.client read1 feeding SSEParser."""
    counts: List[int] = []

    def stream() -> None:
        counts.append(read_plain(open_plain(port, path, timeout=CHILD_SLACK)))

    threads = [threading.Thread(target=stream, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + EVENTS * INTERVAL + CHILD_SLACK
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(counts)


def run_requests_floor(url: str, connections: int) -> int:
    """Diagnostic: one thread per stream doing only what requests needs, one shared Session
    (``get(stream=True)``, ``raw.read1`` feeding SSEParser). The part of the client's cost
    that is requests' own: the floor for any requests-based client."""
    counts: List[int] = []
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=connections))

    def stream() -> None:
        count = 0
        parser = SSEParser()
        with session.get(url, stream=True, timeout=CHILD_SLACK) as response:
            read1 = response.raw.read1
            while True:
                data = read1(65536)
                if not data:
                    break
                for _event in parser.feed(data):
                    count += 1
        counts.append(count)

    threads = [threading.Thread(target=stream, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + EVENTS * INTERVAL + CHILD_SLACK
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(counts)


def child(kind: str, port: int, connections: int) -> None:
    raise_fd_limit(4 * connections + 256)
    path = f"/trickle?n={EVENTS}&interval={INTERVAL}"
    url = f"http://127.0.0.1:{port}{path}"
    gc.collect()
    base_rss = proc_status_kib("VmRSS")
    peak_reset = reset_peak_rss()
    cpu_start = time.process_time()
    wall_start = time.monotonic()
    if kind == "client":
        events = run_client(url, connections)
    elif kind == "requests":
        events = run_requests_floor(url, connections)
    else:
        events = run_baseline(port, path, connections)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    peak = proc_status_kib("VmHWM")
    print(
        json.dumps(
            {
                "events": events,
                "cpu": cpu,
                "wall": wall,
                "base_rss_kib": base_rss,
                "peak_kib": peak,
                "growth_kib": peak - base_rss,
                "peak_reset": peak_reset,
            }
        ),
        flush=True,
    )


# --- the parent: runs the children and prints the table ------------------------------------


def spawn(kind: str, port: int, connections: int, notes: List[str]) -> Optional[Dict[str, Any]]:
    """Run one configuration in a fresh process; its figures, or None (with a note)."""
    command = [sys.executable, os.path.abspath(__file__), "--child", kind, str(port)]
    command.append(str(connections))
    label = f"{kind}, {connections} connections"
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=EVENTS * INTERVAL + CHILD_SLACK + 30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        notes.append(f"{label}: the child process timed out")
        return None
    lines = done.stdout.strip().splitlines()
    errors = done.stderr.strip().splitlines()
    if done.returncode != 0 or not lines:
        notes.append(f"{label}: the child failed (exit {done.returncode}): {errors[-1:]}")
        return None
    if errors:
        notes.append(f"{label}: {len(errors)} lines on stderr, the first: {errors[0][:200]}")
    result: Dict[str, Any] = json.loads(lines[-1])
    if not result["peak_reset"]:
        notes.append("could not reset VmHWM: the peaks include the start-up peak")
    if result["events"] != connections * EVENTS:
        notes.append(f"{label}: {result['events']} of {connections * EVENTS} events")
    return result


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="20 and 50 connections, 1 round")
    options.add_argument("--child", nargs=3, metavar=("KIND", "PORT", "N"), help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.child:
        kind, port, connections = args.child
        child(kind, int(port), int(connections))
        return 0

    sizes = [20, 50] if args.quick else [50, 200, 500]
    rounds = 1 if args.quick else 2
    kinds = ["client", "baseline"]
    diagnostics = ["requests"]  # rows for the analysis, not the target
    labels = {"client": "client", "baseline": "baseline", "requests": "diag: requests floor"}
    print(
        f"Python {sys.version.split()[0]}; each stream {EVENTS} events, one every "
        f"{INTERVAL * 1000:.0f} ms; server in its own process; each run a fresh process; "
        f"{rounds} interleaved round(s), best shown; load average {os.getloadavg()[0]:.2f}"
    )
    print(library_state())
    rows: List[List[Cell]] = []
    verdicts = []
    notes: List[str] = []
    raise_fd_limit(4 * max(sizes) + 256)
    with ServerProcess() as server:
        for connections in sizes:
            runs: Dict[str, List[Dict[str, Any]]] = {kind: [] for kind in kinds + diagnostics}
            for round_number in range(rounds):
                order = kinds if round_number % 2 == 0 else kinds[::-1]
                for kind in order + diagnostics:
                    result = spawn(kind, server.port, connections, notes)
                    if result is not None:
                        runs[kind].append(result)
            best: Dict[str, Dict[str, float]] = {}
            for kind in kinds + diagnostics:
                if runs[kind]:
                    best[kind] = {
                        "kib": min(run["growth_kib"] for run in runs[kind]) / connections,
                        "us": min(run["cpu"] / max(1, run["events"]) for run in runs[kind]) * 1e6,
                        "wall": min(run["wall"] for run in runs[kind]),
                        "events": min(run["events"] for run in runs[kind]),
                    }
            if any(kind not in best for kind in kinds):
                verdicts.append(False)
                for kind in kinds:
                    rows.append([f"{connections} conns  {kind}", "error", "", "", "", "", ""])
                continue
            base = best["baseline"]
            complete = all(best[kind]["events"] == connections * EVENTS for kind in kinds)
            verdicts.append(
                best["client"]["kib"] <= TARGET * base["kib"]
                and best["client"]["us"] <= TARGET * base["us"]
                and complete
            )
            for kind in kinds + diagnostics:
                label = f"{connections} conns  {labels[kind]}"
                if kind not in best:
                    rows.append([label, "error", "", "", "", "", ""])
                    continue
                figures = best[kind]
                rows.append(
                    [
                        label,
                        f"{int(figures['events'])}/{connections * EVENTS}",
                        figures["kib"],
                        figures["us"],
                        figures["wall"],
                        "" if kind == "baseline" else f"{figures['kib'] / base['kib']:.2f}",
                        "" if kind == "baseline" else f"{figures['us'] / base['us']:.2f}",
                    ]
                )
    header = ["", "events", "peak KiB/conn", "CPU us/event", "wall s", "mem ratio", "CPU ratio"]
    print_table(header, rows)
    for note in dict.fromkeys(notes):
        print("note:", note)
    print()
    print(
        f"target: client within {TARGET}x of the baseline's memory and CPU: "
        + ("met" if all(verdicts) else "NOT met")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
