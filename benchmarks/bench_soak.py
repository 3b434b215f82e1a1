"""Soak: K long-lived connections whose streams keep dropping; memory flat, every event once.

The one rule this script owns: a long run is judged by its samples and by an exact count, not
by its speed. K connections (one ConnectionManager) read endless streams from the server
(benchmarks/_server.py, in its own process): one event every ``--interval`` seconds, ids 0,
1, 2 ...; after a random 25..75 events (``--every`` 50) the server resets the connection,
half the time in the middle of an event; the client reconnects with ``Last-Event-ID`` and the
server resumes there, replaying up to ``--replay`` events before it (which dedup must drop).
Every few seconds the RSS and the thread count are sampled. At the end every connection must
have received 0, 1, 2 ... up to its last event exactly once: no gap, no repeat.

Reported: RSS and threads at the start and at each quarter of the run, and whether the RSS
stays within 10% of its value at the end of the first quarter from then on.

Usage: ``python benchmarks/bench_soak.py [--quick] [--connections K] [--minutes M]``.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Callable, List, Tuple

from _common import Cell, ServerProcess, os_threads, preamble, print_table, proc_status_kib

import sseclient_sync as sse

FLAT = 0.10


class Tally:
    """One connection's check, in constant memory: the next id due, repeats and gaps."""

    __slots__ = ("events", "gaps", "next", "repeats")

    def __init__(self) -> None:
        self.next = 0
        self.events = 0
        self.repeats = 0
        self.gaps = 0

    def record(self, event: sse.Event) -> None:
        """Called in the connection's reader thread, for each event in order."""
        seq = int(event.id or -1)
        self.events += 1
        if seq == self.next:
            self.next += 1
        elif seq < self.next:
            self.repeats += 1
        else:
            self.gaps += seq - self.next
            self.next = seq + 1


Sample = Tuple[float, int, int, int, int]  # seconds, RSS KiB, threads, events, reconnects


def run(
    server: ServerProcess, connections: int, seconds: float, every_s: float, query: str
) -> Tuple[List[Sample], List[Tally], int]:
    """The soak itself: samples, each connection's tally, and the reconnects."""
    tallies = [Tally() for _ in range(connections)]
    retry = sse.Retry(max_attempts=20, delay=0.05, backoff=1.0, jitter=0.0)
    samples: List[Sample] = []
    with sse.ConnectionManager() as manager:
        conns = [
            manager.create(
                server.url_for(f"/soak?{query}&key={index}"),
                retry=retry,
                on_message=tally.record,
                wait_open=False,
            )
            for index, tally in enumerate(tallies)
        ]

        def reconnects() -> int:
            return sum(conn.stats().reconnect_count for conn in conns)

        def sample(start: float) -> None:
            samples.append(
                (
                    time.monotonic() - start,
                    proc_status_kib("VmRSS"),
                    os_threads(),
                    sum(t.events for t in tallies),
                    reconnects(),
                )
            )

        start = time.monotonic()
        stop = threading.Event()
        sample(start)
        while not stop.wait(max(0.0, min(every_s, start + seconds - time.monotonic()))):
            sample(start)
            if time.monotonic() >= start + seconds:
                break
        total_reconnects = reconnects()
    return samples, tallies, total_reconnects


def at(samples: List[Sample], seconds: float) -> Sample:
    """The sample nearest ``seconds`` into the run."""
    return min(samples, key=lambda sample: abs(sample[0] - seconds))


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="5 connections for 3 s")
    options.add_argument("--connections", type=int, default=None, help="K (default 100)")
    options.add_argument("--minutes", type=float, default=None, help="duration (default 1)")
    options.add_argument("--sample", type=float, default=None, help="seconds between samples")
    options.add_argument("--interval", type=float, default=0.01, help="seconds between events")
    options.add_argument("--every", type=int, default=50, help="events per stream, on average")
    options.add_argument("--replay", type=int, default=3, help="events replayed, at most")
    args = options.parse_args()
    connections = args.connections or (5 if args.quick else 100)
    seconds = (args.minutes * 60) if args.minutes else (3.0 if args.quick else 60.0)
    every_s = args.sample or (0.5 if args.quick else 5.0)
    query = f"every={args.every}&interval={args.interval}&replay={args.replay}"
    preamble(
        f"Soak: {connections} connections for {seconds:g} s; one event every "
        f"{args.interval * 1000:g} ms per stream, a reset every {args.every // 2}.."
        f"{args.every + args.every // 2} events, up to {args.replay} replayed; RSS and threads "
        f"sampled every {every_s:g} s"
    )
    print()
    with ServerProcess() as server:
        samples, tallies, reconnects = run(server, connections, seconds, every_s, query)
    rows: List[List[Cell]] = []
    points: List[Tuple[str, Callable[[], Sample]]] = [
        ("start", lambda: samples[0]),
        *((f"{q}/4", lambda q=q: at(samples, seconds * q / 4)) for q in range(1, 4)),
        ("end", lambda: samples[-1]),
    ]
    for label, pick in points:
        elapsed, rss, threads, events, reconnected = pick()
        rows.append([label, elapsed, rss / 1024, threads, events, reconnected])
    print_table(["when", "s", "RSS MB", "threads", "events", "reconnects"], rows)
    print()
    first_quarter = at(samples, seconds / 4)
    later = [s for s in samples if s[0] >= first_quarter[0]]
    drift = max(abs(s[1] - first_quarter[1]) for s in later) / first_quarter[1]
    thread_counts = {s[2] for s in later}
    events = sum(t.events for t in tallies)
    repeats = sum(t.repeats for t in tallies)
    gaps = sum(t.gaps for t in tallies)
    silent = sum(1 for t in tallies if t.events == 0)
    exactly_once = repeats == 0 and gaps == 0 and silent == 0
    print(
        f"events {events:,} through {reconnects:,} reconnects; repeated {repeats:,}, "
        f"missing {gaps:,}, connections that got nothing {silent}: "
        + ("every event exactly once" if exactly_once else "NOT exactly once")
    )
    print(
        f"RSS after the first quarter within {drift * 100:.1f}% of "
        f"{first_quarter[1] / 1024:.1f} MB (flat: within {FLAT * 100:g}%); threads "
        f"{min(thread_counts)}..{max(thread_counts)}"
    )
    met = exactly_once and drift <= FLAT
    print(
        "target: RSS flat after the first quarter, every event once: "
        + ("met" if met else "NOT met")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
