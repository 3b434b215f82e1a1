"""Latency: from the server writing an event to the consumer holding it, p50 and p99.

The one rule this script owns: the delay is measured on one clock, per event. The server
(benchmarks/_server.py, in its own process) writes one small event at a time, a gap between
each, and puts ``time.monotonic()`` taken just before the ``send`` in the event's data; the
consumer subtracts it from its own ``time.monotonic()`` when it holds the event (CLOCK_MONOTONIC
is one clock for every process on the machine). A warm-up event opens each stream and is not
counted.

Both framings (chunked, one chunk per event; close-delimited), for the floor (``http.client``
``read1`` and the tuple parser in the consuming thread), sseclient_sync by iteration and by
``on_message``, each installed peer by iteration, and "floor + reader thread" (the floor's
reading and parsing in a thread of their own, handing rows over a ``queue.Queue``: what the
design's hand-off costs, not a target). Rounds: each round runs every client on
every framing once, the order rotated; the figures are over all rounds' events. Every client
must get every event (the column says how many it got). Peers that read fixed-size blocks hold
events back on a close-delimited stream until the block fills or the stream ends: their rows
show it.

Target: sseclient_sync's p50 within 0.1 ms and p99 within 0.5 ms of the floor's, same framing.

Usage: ``python benchmarks/bench_latency.py [--quick] [--events N] [--interval S] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from _common import (
    Cell,
    FloorParser,
    Notes,
    Row,
    ServerProcess,
    floor_each,
    interleave,
    open_plain,
    percentile,
    preamble,
    print_table,
    ratio,
)
from _peers import FLOOR, PEERS, STREAMERS, missing, versions

import sseclient_sync as sse

P50_SLACK = 0.0001
P99_SLACK = 0.0005
FRAMINGS = {"chunked": "chunked, one chunk per event", "close": "close-delimited"}
FLOOR_THREAD = "floor + reader thread"
ITERATION = "sseclient_sync, iteration"
ON_MESSAGE = "sseclient_sync, on_message"
SLACK = 30.0

#: (the event's data, when the consumer held it)
Arrivals = List[Tuple[str, float]]


def delays(arrivals: Arrivals) -> List[float]:
    """Seconds from each event's send stamp to its arrival, the warm-up event (seq 0) left out."""
    result = []
    for data, at in arrivals:
        seq, stamp = data.split()
        if seq != "0":
            result.append(at - float(stamp))
    return result


def by_floor(port: int, path: str) -> Arrivals:
    got: Arrivals = []
    clock = time.monotonic
    floor_each(open_plain(port, path, SLACK), lambda row: got.append((row[1], clock())))
    return got


def by_floor_thread(port: int, path: str) -> Arrivals:
    """The floor with the hand-off this library's design fixes (not the floor: a measure of
    that cost): a thread of its own reads and parses, and puts each read's rows on a
    ``queue.Queue``; this thread takes them and notes the clock."""
    got: Arrivals = []
    clock = time.monotonic
    response = open_plain(port, path, SLACK)
    handed: queue.Queue[Optional[List[Row]]] = queue.Queue()

    def reader() -> None:
        feed = FloorParser().feed
        try:
            while True:
                data = response.read1(65536)
                if not data:
                    return
                handed.put(feed(data))
        finally:
            handed.put(None)
            response.close()

    worker = threading.Thread(target=reader, daemon=True)
    worker.start()
    for rows in iter(handed.get, None):
        for row in rows:
            got.append((row[1], clock()))
    worker.join()
    return got


def by_iteration(url: str, wait: float) -> Arrivals:
    got: Arrivals = []
    clock = time.monotonic
    with sse.create_sse_connection(url, retry=0) as conn:
        for event in conn.events(timeout=wait):
            got.append((event.data, clock()))
    return got


def by_on_message(url: str, wait: float) -> Arrivals:
    got: Arrivals = []
    clock = time.monotonic

    def on_message(event: sse.Event) -> None:
        got.append((event.data, clock()))

    with sse.create_sse_connection(url, retry=0, on_message=on_message) as conn:
        conn.wait(wait)
    return got


def by_peer(name: str, url: str) -> Arrivals:
    streamer = STREAMERS[name]
    held: List[Tuple[float, Any]] = []
    clock = time.monotonic
    with streamer.open(url) as events:
        for event in events:
            held.append((clock(), event))
    return [(streamer.fields(event)[1], at) for at, event in held]


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="20 events 5 ms apart, 1 round")
    options.add_argument("--events", type=int, default=None, help="events per row (500)")
    options.add_argument("--interval", type=float, default=None, help="gap, seconds (0.01)")
    options.add_argument("--rounds", type=int, default=None, help="rounds (2)")
    args = options.parse_args()
    total = args.events or (20 if args.quick else 500)
    interval = args.interval or (0.005 if args.quick else 0.01)
    rounds = args.rounds or (1 if args.quick else 2)
    per_round = max(1, total // rounds)
    preamble(
        f"Latency: {per_round * rounds} events per row, one every {interval * 1000:g} ms, "
        f"{rounds} interleaved round(s); server in its own process, stamps on CLOCK_MONOTONIC"
    )
    print(versions())
    print()
    wait = per_round * interval + SLACK
    arrivals: Dict[Tuple[str, str], Arrivals] = {}
    errors: Dict[Tuple[str, str], str] = {}
    with ServerProcess() as server:

        def runner(
            name: str, framing: str, read: Callable[[str, str], Arrivals]
        ) -> Callable[[], float]:
            path = f"/timed?n={per_round}&interval={interval}&framing={framing}"

            def run() -> float:
                start = time.monotonic()
                try:
                    got = read(server.url_for(path), path)
                except Exception as error:
                    errors[(name, framing)] = f"{type(error).__name__}: {error}"[:200]
                    got = []
                arrivals.setdefault((name, framing), []).extend(got)
                return time.monotonic() - start

            return run

        clients: Dict[str, Callable[[str, str], Arrivals]] = {
            FLOOR: lambda url, path: by_floor(server.port, path),
            FLOOR_THREAD: lambda url, path: by_floor_thread(server.port, path),
            ITERATION: lambda url, path: by_iteration(url, wait),
            ON_MESSAGE: lambda url, path: by_on_message(url, wait),
        }
        for name in PEERS:
            if missing(name) is None:
                clients[name] = lambda url, path, name=name: by_peer(name, url)  # type: ignore[misc]
        runners = [
            (f"{name} {framing}", runner(name, framing, read))
            for framing in FRAMINGS
            for name, read in clients.items()
        ]
        interleave(runners, rounds)

    rows: List[List[Cell]] = []
    notes = Notes()
    verdicts: List[bool] = []
    for framing, title in FRAMINGS.items():
        rows.append([title])
        floor = delays(arrivals.get((FLOOR, framing), []))
        floor_p50 = percentile(floor, 0.5) if floor else None
        floor_p99 = percentile(floor, 0.99) if floor else None
        for name in [FLOOR, FLOOR_THREAD, ITERATION, ON_MESSAGE, *PEERS]:
            if name not in clients:
                rows.append([f"  {name}", None, None, None, None, None, None, missing(name)])
                continue
            values = delays(arrivals.get((name, framing), []))
            expected = per_round * rounds
            complete = len(values) == expected and (name, framing) not in errors
            remark = "ok" if complete else errors.get((name, framing), "") or "LOST EVENTS"
            if not values:
                rows.append(
                    [f"  {name}", f"0/{expected}", None, None, None, None, None, notes.mark(remark)]
                )
                if name in (ITERATION, ON_MESSAGE):
                    verdicts.append(False)
                continue
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            rows.append(
                [
                    f"  {name}",
                    f"{len(values)}/{expected}",
                    p50 * 1000,
                    p99 * 1000,
                    max(values) * 1000,
                    _difference(p50, floor_p50),
                    _difference(p99, floor_p99),
                    f"{ratio(p50, floor_p50)} / {ratio(p99, floor_p99)}",
                    notes.mark(remark),
                ]
            )
            if name in (ITERATION, ON_MESSAGE):
                verdicts.append(
                    complete
                    and floor_p50 is not None
                    and floor_p99 is not None
                    and p50 - floor_p50 <= P50_SLACK
                    and p99 - floor_p99 <= P99_SLACK
                )
    print_table(
        [
            "framing / client",
            "events",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p50 - floor's",
            "p99 - floor's",
            "x floor p50 / p99",
            "check",
        ],
        rows,
    )
    notes.print()
    print()
    print(
        f"target: sseclient_sync p50 within {P50_SLACK * 1000:g} ms and p99 within "
        f"{P99_SLACK * 1000:g} ms of the floor's, both framings and modes: "
        + ("met" if all(verdicts) else "NOT met")
    )
    return 0


def _difference(value: float, floor: object) -> Cell:
    """``value - floor`` in milliseconds, signed."""
    if not isinstance(floor, float):
        return None
    return f"{(value - floor) * 1000:+.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
