"""Many streams at once: memory per stream, CPU per event and tail latency, K = 50 ... 2,000.

The one rule this script owns: each configuration runs in a fresh process, which measures
only itself. The child opens K streams to the server (benchmarks/_server.py, in a process of
its own), waits until every one is open, then tells the server to start: each stream then gets
a warm-up event and ``--events`` events, one every interval, the streams' phases spread evenly
over the interval. The interval is 50 ms, longer where K streams would pass ``--rate`` events
per second in all (K=2,000 at the default rate: 200 ms). Every event carries its send stamp.

The child reports:

- RSS per stream: the peak RSS (VmHWM, reset after the imports) minus the RSS after the
  imports, over K;
- set-up CPU per stream: our process's CPU time from the first stream's creation until all K
  are open, over K;
- CPU per event: our process's CPU time from the start signal until every stream has ended,
  over the events received;
- p50 and p99 latency: ``time.monotonic()`` at the consumer minus the event's send stamp;
- delivery: events received of those sent, and streams that got all of theirs.

Clients: sseclient_sync (one ``ConnectionManager``, ``create(url, retry=0, on_message=...,
wait_open=False)`` per stream: its own reader threads, the callbacks in them); the floor (one
thread per stream, ``http.client`` ``read1`` and the tuple parser); the peers, one thread per
stream iterating as their documentation shows (httpx-sse: one ``httpx.Client`` for all the
streams, its pool unbounded; default: ld-eventsource and httpx-sse; ``--clients`` picks
others). Rounds: the clients in a rotated order each round; each figure
the best of the rounds, delivery the worst.

Target: at K=500, sseclient_sync's RSS per stream, CPU per event and p99 no worse than
ld-eventsource's; K=2,000 complete.

``--profile N`` instead shows where sseclient_sync's time goes without contention: the CPU
per stream of opening and closing N streams one after the other, and per wake of one stream
of N events 2 ms apart, beside the floor's and ld-eventsource's; then a cProfile of each.

Usage: ``python benchmarks/bench_many.py [--quick] [--sizes 50,200,500,2000] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

from _common import (
    Cell,
    Notes,
    ServerProcess,
    floor_each,
    open_plain,
    os_threads,
    percentile,
    preamble,
    print_profile,
    print_table,
    proc_status_kib,
    profile_all_threads,
    raise_fd_limit,
    reset_peak_rss,
)
from _peers import FLOOR, PEERS, STREAMERS, US, missing, preload, versions

import sseclient_sync as sse

TARGET_K = 500
TARGET_PEER = "ld-eventsource"
DEFAULT_CLIENTS = [US, FLOOR, "ld-eventsource", "httpx-sse"]
MIN_INTERVAL = 0.05
#: A child waits this long for its streams to open (plus 20 ms per stream), and for them to
#: end beyond their own length.
SLACK = 60.0


# --- A child process: one client, K streams ------------------------------------------------


class Streams:
    """What a child's consumers record: per stream, events seen; latencies, all streams."""

    def __init__(self, count: int) -> None:
        self.counts = [0] * count
        self.delays: List[float] = []
        self._opened = itertools.count(1)
        self.count = count
        self.all_open = threading.Event()

    def opened(self) -> None:
        if next(self._opened) == self.count:
            self.all_open.set()

    def recorder(self, index: int) -> Callable[[str], None]:
        """The consumer of stream ``index``: note the event's delay, count it."""
        counts, delays, clock = self.counts, self.delays, time.monotonic

        def record(data: str) -> None:
            delays.append(clock() - float(data.split(" ", 2)[1]))
            counts[index] += 1

        return record


def start_ours(urls: List[str], streams: Streams) -> Callable[[float], None]:
    """Open the streams with one ConnectionManager; a function that waits for their end."""
    manager = sse.ConnectionManager()
    conns = []
    for index, url in enumerate(urls):
        record = streams.recorder(index)
        conns.append(
            manager.create(
                url,
                retry=0,
                on_open=lambda _conn: streams.opened(),
                on_message=lambda event, record=record: record(event.data),
                wait_open=False,
            )
        )

    def wait(deadline: float) -> None:
        for conn in conns:
            conn.wait(max(0.0, deadline - time.monotonic()))
        manager.shutdown()

    return wait


def start_threads(
    count: int, stream: Callable[[int], None], streams: Streams
) -> Callable[[float], None]:
    """One thread per stream running ``stream(index)``; a function that joins them."""
    errors: List[str] = []

    def run(index: int) -> None:
        try:
            stream(index)
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
            streams.opened()  # a stream that failed to open must not hold up the others

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()

    def wait(deadline: float) -> None:
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if errors:
            print(f"{len(errors)} stream(s) failed, the first: {errors[0]}", file=sys.stderr)

    return wait


def start(kind: str, port: int, paths: List[str], streams: Streams) -> Callable[[float], None]:
    """Open every stream with client ``kind``."""
    urls = [f"http://127.0.0.1:{port}{path}" for path in paths]
    if kind == US:
        return start_ours(urls, streams)
    if kind == FLOOR:

        def floor(index: int) -> None:
            response = open_plain(port, paths[index], SLACK)
            streams.opened()
            record = streams.recorder(index)
            floor_each(response, lambda row: record(row[1]))

        return start_threads(len(paths), floor, streams)
    streamer = STREAMERS[kind]
    shared = streamer.shared(len(paths)) if streamer.shared else None

    def peer(index: int) -> None:
        record = streams.recorder(index)
        fields = streamer.fields
        opened = streamer.open(urls[index], shared) if shared else streamer.open(urls[index])
        with opened as events:
            streams.opened()
            for event in events:
                record(fields(event)[1])

    return start_threads(len(paths), peer, streams)


def child(kind: str, port: int, count: int, events: int, interval: float) -> Dict[str, Any]:
    """Run one configuration in this process; its figures."""
    limit = raise_fd_limit()
    if limit < 2 * count + 64:
        raise SystemExit(f"RLIMIT_NOFILE is {limit}: too low for {count} streams")
    preload(kind)  # its imports are not its streams' cost
    group = uuid.uuid4().hex
    paths = [
        f"/timed?n={events}&interval={interval}&framing=chunked&group={group}"
        f"&phase={interval * index / count:.6f}"
        for index in range(count)
    ]
    streams = Streams(count)
    gc.collect()
    base_rss = proc_status_kib("VmRSS")
    peak_reset = reset_peak_rss()
    cpu_start, wall_start = time.process_time(), time.monotonic()
    wait = start(kind, port, paths, streams)
    all_open = streams.all_open.wait(SLACK + 0.02 * count)
    cpu_open, wall_open = time.process_time(), time.monotonic()
    rss_open = proc_status_kib("VmRSS")
    threads_open = os_threads()
    go = http.client.HTTPConnection("127.0.0.1", port, timeout=SLACK)
    go.request("GET", f"/go?group={group}")
    go.getresponse().read()
    go.close()
    cpu_go, wall_go = time.process_time(), time.monotonic()
    wait(wall_go + (events + 1) * interval + SLACK)
    cpu_end, wall_end = time.process_time(), time.monotonic()
    peak = proc_status_kib("VmHWM")
    received = sum(streams.counts)
    delays = list(streams.delays)
    return {
        "kind": kind,
        "streams": count,
        "all_open": all_open,
        "expected": count * (events + 1),
        "events": received,
        "complete_streams": sum(1 for n in streams.counts if n == events + 1),
        "setup_cpu_ms": (cpu_open - cpu_start) * 1000 / count,
        "setup_wall": wall_open - wall_start,
        "rss_open_kib": (rss_open - base_rss) / count,
        "rss_peak_kib": (peak - base_rss) / count,
        "peak_reset": peak_reset,
        "threads_open": threads_open,
        "cpu_us": (cpu_end - cpu_go) * 1e6 / max(1, received),
        "events_wall": wall_end - wall_go,
        "p50_ms": percentile(delays, 0.5) * 1000 if delays else None,
        "p99_ms": percentile(delays, 0.99) * 1000 if delays else None,
    }


# --- The parent ------------------------------------------------------------------------------


def interval_for(count: int, rate: float) -> float:
    """The per-stream interval: 50 ms, or longer so that ``count`` streams stay at ``rate``."""
    return max(MIN_INTERVAL, count / rate)


def spawn(
    kind: str, port: int, count: int, *, events: int, interval: float, notes: List[str]
) -> Optional[Dict[str, Any]]:
    """Run one configuration in a fresh process; its figures, or None (with a note)."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        kind,
        str(port),
        str(count),
        str(events),
        str(interval),
    ]
    label = f"K={count} {kind}"
    timeout = 2 * SLACK + 0.05 * count + (events + 1) * interval + 30
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        notes.append(f"{label}: the child process timed out after {timeout:.0f} s")
        return None
    lines = done.stdout.strip().splitlines()
    errors = [line for line in done.stderr.strip().splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        notes.append(f"{label}: the child failed (exit {done.returncode}): {errors[-3:]}")
        return None
    if errors:
        notes.append(f"{label}: {len(errors)} line(s) on stderr, the first: {errors[0][:200]}")
    result: Dict[str, Any] = json.loads(lines[-1])
    if not result["peak_reset"]:
        notes.append("could not reset VmHWM: the peaks include the start-up peak")
    return result


def summarise(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Best of each figure over the rounds; the worst delivery."""
    figures = {
        key: min(run[key] for run in runs if run[key] is not None)
        if any(run[key] is not None for run in runs)
        else None
        for key in ("rss_peak_kib", "setup_cpu_ms", "cpu_us", "p50_ms", "p99_ms", "setup_wall")
    }
    worst = min(runs, key=lambda run: run["events"] / run["expected"])
    figures.update(
        events=worst["events"],
        expected=worst["expected"],
        complete_streams=worst["complete_streams"],
        streams=worst["streams"],
        threads_open=worst["threads_open"],
        all_open=all(run["all_open"] for run in runs),
    )
    return figures


def no_worse(ours: Optional[Dict[str, Any]], other: Optional[Dict[str, Any]]) -> bool:
    """True when ``ours`` has RSS per stream, CPU per event and p99 no worse than ``other``."""
    if ours is None or other is None:
        return False
    keys = ("rss_peak_kib", "cpu_us", "p99_ms")
    if any(ours[key] is None or other[key] is None for key in keys):
        return False
    return all(ours[key] <= other[key] for key in keys)


def _vs(ours: Dict[str, Any], other: Optional[Dict[str, Any]]) -> str:
    """RSS / CPU / p99 of ``ours`` over ``other``'s."""
    if other is None:
        return "-"
    parts = []
    for key in ("rss_peak_kib", "cpu_us", "p99_ms"):
        mine, theirs = ours.get(key), other.get(key)
        parts.append(f"{mine / theirs:.2f}" if mine is not None and theirs else "-")
    return "/".join(parts)


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="K=10 and 30, 3 events, 1 round")
    options.add_argument("--sizes", default=None, help="K values (default 50,200,500,2000)")
    options.add_argument("--events", type=int, default=None, help="events per stream (20)")
    options.add_argument("--rate", type=float, default=10_000, help="events/s in all, at most")
    options.add_argument("--rounds", type=int, default=None, help="rounds (default 2)")
    options.add_argument("--clients", default=None, help="comma-separated, or 'all'")
    options.add_argument("--profile", type=int, metavar="N", help="profile set-up and wakes")
    options.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.child:
        kind, port, count, events, interval = args.child
        result = child(kind, int(port), int(count), int(events), float(interval))
        print(json.dumps(result), flush=True)
        os._exit(0)  # daemon threads of a peer that hangs must not hold the exit
    sizes = [
        int(k) for k in (args.sizes or ("10,30" if args.quick else "50,200,500,2000")).split(",")
    ]
    events = args.events or (3 if args.quick else 20)
    rounds = args.rounds or (1 if args.quick else 2)
    clients = (
        DEFAULT_CLIENTS
        if not args.clients
        else ([US, FLOOR, *PEERS] if args.clients == "all" else args.clients.split(","))
    )
    if args.profile:
        with ServerProcess() as server:
            profile(server.port, args.profile)
        return 0
    preamble(
        f"Many streams: each configuration a fresh process; {events} events per stream after a "
        f"warm-up event, one every max(50 ms, K / {args.rate:g}/s); {rounds} round(s), best "
        "figure shown, worst delivery"
    )
    print(versions())
    print(f"open files: soft limit raised to {raise_fd_limit()}")
    print()
    rows: List[List[Cell]] = []
    notes: List[str] = []
    footnotes = Notes()
    verdict_parts: List[str] = []
    met = True
    runnable = [c for c in clients if c in (US, FLOOR) or missing(c) is None]
    with ServerProcess() as server:
        for count in sizes:
            interval = interval_for(count, args.rate)
            runs: Dict[str, List[Dict[str, Any]]] = {kind: [] for kind in runnable}
            for round_number in range(rounds):
                shift = round_number % len(runnable)
                for kind in [*runnable[shift:], *runnable[:shift]]:
                    run = spawn(
                        kind, server.port, count, events=events, interval=interval, notes=notes
                    )
                    if run is not None:
                        runs[kind].append(run)
            figures = {kind: summarise(r) for kind, r in runs.items() if r}
            rows.append([f"K={count:,}, one event per stream every {interval * 1000:g} ms"])
            for kind in clients:
                if kind not in runnable:
                    rows.append([f"  {kind}", missing(kind)])
                    continue
                if kind not in figures:
                    rows.append([f"  {kind}", footnotes.mark("failed: see the notes below")])
                    continue
                f = figures[kind]
                delivered = f"{f['events']:,}/{f['expected']:,}" + (
                    "" if f["events"] == f["expected"] else " LOST"
                )
                rows.append(
                    [
                        f"  {kind}",
                        delivered,
                        f"{f['complete_streams']:,}/{f['streams']:,}",
                        f["rss_peak_kib"],
                        f["setup_cpu_ms"],
                        f["cpu_us"],
                        f["p50_ms"],
                        f["p99_ms"],
                        f["threads_open"],
                        "" if kind == FLOOR else _vs(f, figures.get(FLOOR)),
                        "" if kind == TARGET_PEER else _vs(f, figures.get(TARGET_PEER)),
                    ]
                )
            ours, peer = figures.get(US), figures.get(TARGET_PEER)
            if count == TARGET_K:
                ok = no_worse(ours, peer)
                met = met and ok
                verdict_parts.append(
                    f"K={count}: RSS/CPU/p99 vs {TARGET_PEER} "
                    f"{_vs(ours, peer) if ours else '-'} -> {'ok' if ok else 'NOT ok'}"
                )
            if count == max(sizes):
                complete = ours is not None and ours["events"] == ours["expected"]
                met = met and complete
                verdict_parts.append(f"K={count} complete: {'yes' if complete else 'NO'}")
    print_table(
        [
            "K / client",
            "events",
            "streams all",
            "RSS KiB/stream",
            "set-up CPU ms/stream",
            "CPU us/event",
            "p50 ms",
            "p99 ms",
            "threads",
            "x floor RSS/CPU/p99",
            f"x {TARGET_PEER} RSS/CPU/p99",
        ],
        rows,
    )
    footnotes.print()
    for note in dict.fromkeys(notes):
        print("note:", note)
    print()
    print("target: " + "; ".join(verdict_parts) + (" -> met" if met else " -> NOT met"))
    return 0


def profile(port: int, count: int) -> None:
    """Where sseclient_sync's time goes per stream set-up and per wake, without contention:
    ``count`` streams opened and closed one after the other, then one stream of ``count``
    events 2 ms apart (each its own wake); CPU beside the floor and ld-eventsource, then
    cProfile (wall clock: one thread works at a time here)."""
    raise_fd_limit()
    parked = f"http://127.0.0.1:{port}/timed?n=1&group=never"  # open, and never sends
    trickle = f"http://127.0.0.1:{port}/timed?n={count}&interval=0.002"
    manager = sse.ConnectionManager()

    def set_up_ours() -> None:
        for _ in range(count):
            manager.create(parked, retry=0, on_message=lambda _event: None).close()

    def set_up_floor() -> None:
        for _ in range(count):
            open_plain(port, parked[parked.index("/timed") :], SLACK).close()

    def set_up_peer() -> None:
        for _ in range(count):
            with STREAMERS[TARGET_PEER].open(parked):
                pass

    def wakes_ours() -> None:
        conn = manager.create(trickle, retry=0, on_message=lambda _event: None)
        conn.wait(SLACK + count * 0.002)

    def wakes_floor() -> None:
        floor_each(open_plain(port, trickle[trickle.index("/timed") :], SLACK), lambda _: None)

    def wakes_peer() -> None:
        with STREAMERS[TARGET_PEER].open(trickle) as events:
            for _event in events:
                pass

    preload(TARGET_PEER)
    cases = [
        ("set-up and close, per stream", count, (set_up_ours, set_up_floor, set_up_peer)),
        ("per wake (one event per read)", count + 1, (wakes_ours, wakes_floor, wakes_peer)),
    ]
    rows: List[List[Cell]] = []
    for label, per, runs in cases:
        figures = []
        for run in runs:
            run()  # warm up
            start = time.process_time()
            run()
            figures.append((time.process_time() - start) / per * 1e6)
        rows.append(
            [label, *figures, f"{figures[0] / figures[1]:.2f}x", f"{figures[0] / figures[2]:.2f}x"]
        )
    print(f"CPU us, {count} streams one after the other / one stream of {count} events 2 ms apart")
    print_table(["", US, FLOOR, TARGET_PEER, "x floor", f"x {TARGET_PEER}"], rows)
    for label, per, (ours, _, _) in cases:
        print()
        print(f"sseclient_sync, {label}: cProfile in every thread, wall clock")
        print_profile(profile_all_threads(ours), per, "stream" if per == count else "wake")
    manager.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
