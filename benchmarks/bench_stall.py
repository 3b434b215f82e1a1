"""Stalled consumer: how much a connection buffers while its consumer stops reading.

The one rule this script owns: what is buffered is measured on the Python heap, in events.
The server (benchmarks/_server.py, its own process) sends 1 KiB events as fast as the socket
takes them, the first alone and the rest 0.1 s later; the consumer iterates, takes the first
event, notes the heap (nothing is buffered yet), then stops reading for ``--stall`` seconds
while the reader thread fills the queue. tracemalloc gives the heap's growth at the end of
the stall (and its peak during it); over what one parsed 1 KiB event costs on the heap
(measured in the same way) that is "about N events held". ``queue_size`` counts events
(API.md section 2), so N should be about ``queue_size`` plus at most one read in the
reader's hands: its 16 KiB of bytes and the 15 events parsed from it, about 30 events'
worth of heap in all. The consumer then reads the rest, and every event must arrive, in
order.

Usage: ``python benchmarks/bench_stall.py [--quick] [--stall S] [--sizes 10,100,1000]``.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from typing import List

from _common import Cell, ServerProcess, preamble, print_table

import sseclient_sync as sse
from sseclient_sync._http import READ_SIZE

#: One read in the reader's hands (READ_SIZE of 1 KiB events): its bytes and the events
#: parsed from it, each about 15 events' worth of heap.
ONE_READ_EVENTS = 2 * (READ_SIZE // 1040)
TIMEOUT = 60.0
PAUSE = 0.1


def bytes_per_event() -> float:
    """Heap bytes one parsed ~1 KiB event holds (its Event and its strings)."""
    from _server import kib_event

    blob = b"".join(kib_event(seq) for seq in range(1000, 3000))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    events = sse.SSEParser().feed(blob)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / len(events)


def stall(server: ServerProcess, queue_size: int, count: int, seconds: float) -> List[Cell]:
    """One stalled consumer; its row."""
    # The first event comes alone, the rest PAUSE later: the heap is measured while nothing
    # is buffered yet, and the stall has begun when the rest arrives.
    url = server.url_for(f"/bulk?n={count}&framing=chunk4k&size=kib&pause={PAUSE}")
    gc.collect()
    tracemalloc.start()
    order_ok = True
    received = 0
    try:
        with sse.create_sse_connection(url, queue_size=queue_size, retry=0) as conn:
            events = conn.events(timeout=TIMEOUT)
            first = next(events)
            received = 1
            order_ok = first.id == "0"
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            time.sleep(seconds)  # the consumer stops reading
            current, peak = tracemalloc.get_traced_memory()
            for event in events:
                order_ok = order_ok and event.id == str(received)
                received += 1
    finally:
        tracemalloc.stop()
    held, peak_held = current - before, peak - before
    per_event = bytes_per_event()
    complete = received == count and order_ok
    return [
        f"queue_size={queue_size}",
        held / 1e6,
        peak_held / 1e6,
        f"about {held / per_event:,.0f}",
        f"{queue_size + ONE_READ_EVENTS:,}",
        f"{received:,}/{count:,}" + ("" if complete else " WRONG"),
    ]


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="a 0.3 s stall, 3,000 events")
    options.add_argument("--stall", type=float, default=None, help="seconds (default 1.0)")
    options.add_argument("--sizes", default="10,100,1000", help="queue sizes")
    options.add_argument("--events", type=int, default=None, help="events sent (20,000)")
    args = options.parse_args()
    seconds = args.stall or (0.3 if args.quick else 1.0)
    count = args.events or (3_000 if args.quick else 20_000)
    sizes = [int(size) for size in args.sizes.split(",")]
    preamble(
        f"Stalled consumer: {count:,} events of 1 KiB sent as fast as possible; the consumer "
        f"takes one, stops for {seconds:g} s, then reads the rest; tracemalloc"
    )
    per_event = bytes_per_event()
    print(f"one parsed 1 KiB event holds {per_event:,.0f} bytes on the heap")
    print()
    rows: List[List[Cell]] = []
    with ServerProcess() as server:
        for queue_size in sizes:
            rows.append(stall(server, queue_size, count, seconds))
    print_table(
        ["consumer", "held MB", "peak MB", "events held", "queue + 1 read", "events"],
        rows,
    )
    print()
    verdict = []
    for row in rows:
        size = int(str(row[0]).split("=")[1])
        held = float(str(row[3]).split()[1].replace(",", ""))
        verdict.append(held <= 1.1 * (size + ONE_READ_EVENTS) and "WRONG" not in str(row[5]))
    print(
        "target: about queue_size events held (plus at most one read), every event delivered: "
        + ("met" if all(verdict) else "NOT met")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
