"""Single large events: one 1 MB, 4 MB and 16 MB one-line event, parsed from memory.

The one rule this script owns: a parser's time per megabyte must not grow with the event, so
every size is timed and the time per MB is printed beside each. The event is fed in 4 KiB
chunks (``--chunk``), parsers are compared in one process, round by round (the order rotated
each round), best round shown with the median beside it, CPU time. A parser whose time grows
faster than the size is not run at a size it would need more than ``--budget`` seconds for
(estimated from the previous size, quadratically); its row says so. Each timed run follows an
untimed run of the same parser, so that none inherits the pages another one freed (a 16 MB
string costs about 3,900 page faults when its memory is fresh: more than the parse itself).

Sizes are decimal megabytes (10**6 bytes), so that 16 MB stays under our default
``max_event_size`` of 16 MiB.

Usage: ``python benchmarks/bench_large.py [--quick] [--rounds N] [--chunk BYTES]``.
"""

from __future__ import annotations

import argparse
import time
from typing import Dict, List

from _common import Cell, Notes, best, cpu_timer, interleave, median, preamble, print_table, ratio
from _peers import FLOOR, PEERS, US, parsers, verdict, versions

TARGET = 1.5
#: Per-MB time at the largest size over the smallest, at most, to call it linear.
LINEAR = 1.3
MB = 1_000_000


def one_line_event(size: int) -> bytes:
    """One event whose single data line holds ``size`` characters of base64-like text."""
    payload = "QUJDRA" * (size // 6 + 1)
    return ("data: " + payload[:size] + "\n\n").encode("ascii")


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="0.1 / 0.4 / 1.6 MB, one round")
    options.add_argument("--rounds", type=int, default=None, help="rounds (default 5)")
    options.add_argument("--chunk", type=int, default=4096, help="bytes per feed (4096)")
    options.add_argument("--budget", type=float, default=20.0, help="seconds one run may take")
    args = options.parse_args()
    sizes = [0.1, 0.4, 1.6] if args.quick else [1.0, 4.0, 16.0]
    rounds = args.rounds or (1 if args.quick else 5)
    preamble(
        f"Single large events: CPU time, {args.chunk}-byte chunks from memory; "
        f"{rounds} interleaved rounds, best shown (median ratio beside it)"
    )
    print(versions())
    print()
    table = parsers()
    runnable = {name: p for name, p in table.items() if p.count and p.collect}
    seconds: Dict[str, Dict[float, float]] = {name: {} for name in runnable}  # best, per size
    rows: List[List[Cell]] = []
    notes = Notes()
    skipped: Dict[str, str] = {}
    for size in sizes:
        blob = one_line_event(int(size * MB))
        chunks = [blob[i : i + args.chunk] for i in range(0, len(blob), args.chunk)]
        expected = table[FLOOR].collect(chunks)  # type: ignore[misc]
        checks: Dict[str, str] = {}
        single: Dict[str, float] = {}  # clients too slow for more than the checking run
        timed = []
        for name, parser in runnable.items():
            estimate = _estimate(seconds[name], size)
            if name not in skipped and estimate > args.budget:
                skipped[name] = (
                    f"not run from {size:g} MB on: {_last(seconds[name]):.1f} s at the size "
                    f"before, so about {estimate:.0f} s or more (over --budget {args.budget:g} s)"
                )
            if name in skipped:
                continue
            start = time.process_time()
            got = parser.collect(chunks)  # type: ignore[misc]
            elapsed = time.process_time() - start
            checks[name] = verdict(got, expected)
            del got
            if 2 * elapsed * rounds > args.budget:  # each timed run has its warm-up run
                single[name] = elapsed
            else:
                timed.append((name, cpu_timer(parser.count, chunks, warm=True)))  # type: ignore[arg-type]
        times = {name: [t] for name, t in single.items()}
        times.update(interleave(timed, rounds))
        floor_best, floor_median = best(times[FLOOR]), median(times[FLOOR])
        rows.append([f"one {size:g} MB one-line event"])
        for name in [US, FLOOR, *PEERS]:
            parser = table[name]
            if name not in times:
                reason = skipped.get(name) or parser.unavailable or ""
                short = "skipped" if name in skipped else "n/a"
                shown = reason if reason == "not installed" else notes.mark(reason, short)
                rows.append([f"  {name}", None, None, None, None, shown])
                continue
            fastest = seconds[name][size] = best(times[name])
            check = checks[name] if name not in single else f"{checks[name]}, 1 run"
            rows.append(
                [
                    f"  {name}",
                    fastest * 1000,
                    fastest * 1000 / size,
                    ratio(fastest, floor_best),
                    ratio(median(times[name]), floor_median),
                    notes.mark(check) if check != "ok, 1 run" else check,
                ]
            )
    print_table(["event / parser", "ms", "ms per MB", "x floor (best)", "(median)", "event"], rows)
    notes.print()
    print()
    smallest, largest = sizes[0], sizes[-1]
    growth = {
        name: (figures[largest] / largest) / (figures[smallest] / smallest)
        for name, figures in seconds.items()
        if smallest in figures and largest in figures
    }
    print(
        f"linearity, time per MB at {largest:g} MB / at {smallest:g} MB (1 = linear, "
        f"{largest / smallest:g} = quadratic): "
        + ", ".join(f"{name} {value:.2f}" for name, value in growth.items())
    )
    ours = seconds[US][largest] / seconds[FLOOR][largest]
    met = ours <= TARGET and growth[US] <= LINEAR
    print(
        f"target: sseclient_sync <= {TARGET}x floor at {largest:g} MB and linear (per-MB growth "
        f"<= {LINEAR}): {ours:.2f}x, growth {growth[US]:.2f} -> " + ("met" if met else "NOT met")
    )
    return 0


def _last(figures: Dict[float, float]) -> float:
    return figures[max(figures)]


def _estimate(figures: Dict[float, float], size: float) -> float:
    """Seconds a run at ``size`` may take, from the largest size measured before: scaled
    quadratically, which is what the slow parsers do."""
    if not figures:
        return 0.0
    last = max(figures)
    return figures[last] * (size / last) ** 2


if __name__ == "__main__":
    raise SystemExit(main())
