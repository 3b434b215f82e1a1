"""End to end: 50k small events through a real loopback HTTP server, events per second.

The one rule this script owns: every client reads the same responses from the same server
process in the same run, and its figure is shown as a ratio to the floor's. The server
(benchmarks/_server.py) runs in a process of its own, so it does not share our GIL; it sends
each response pre-encoded in 64 KiB writes, faster than any client reads (the "server alone"
row: a raw socket drained, nothing parsed). Three framings: chunked with one HTTP chunk per
event, chunked in 4 KiB chunks that cut events anywhere, and close-delimited.

Clients: the floor (``http.client`` ``read1`` feeding the tuple parser in the consuming
thread, counting); sseclient_sync by iteration (``for event in conn``) and by ``on_message``
(a callback that counts, ``conn.wait()``); each installed peer by iteration, as its
documentation shows. Each client first reads the stream once untimed, and what it got is
checked event by event (a client that loses or changes events is marked WRONG). Then rounds:
every client once per round, the order rotated each round; the best round is the headline,
with the median ratio beside it. Wall time; CPU time (all our threads) per event beside it.

``--profile FRAMING:MODE`` (e.g. ``chunk4k:on_message``) instead runs sseclient_sync once on
that case under cProfile, in every thread, and prints where the time goes.

Usage: ``python benchmarks/bench_e2e.py [--quick] [--events N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import Callable, Dict, List, Tuple

from _common import (
    Cell,
    Notes,
    ServerProcess,
    best,
    design_floor_count,
    floor_count,
    floor_each,
    interleave,
    median,
    open_plain,
    preamble,
    print_profile,
    print_table,
    profile_all_threads,
    ratio,
)
from _peers import FLOOR, PEERS, STREAMERS, US, Triple, missing, verdict, versions

import sseclient_sync as sse

TARGET = 1.25
TIMEOUT = 120.0
FRAMINGS = {
    "event": "chunked, one chunk per event",
    "chunk4k": "chunked, 4 KiB chunks",
    "close": "close-delimited",
}
ITERATION = f"{US}, iteration"
ON_MESSAGE = f"{US}, on_message"
#: The floor plus the costs this library's design fixes: Event objects, a reader thread.
DESIGN_FLOORS = {
    "floor + Event objects": (True, False),
    "floor + reader thread": (False, True),
    "floor + both (the design's least cost)": (True, True),
}
DESIGN_LEAST = "floor + both (the design's least cost)"


def expected_events(count: int) -> List[Triple]:
    """What every client must get from ``/bulk?size=small``."""
    return [("message", f'{seq} {{"text": "hello, world"}}', str(seq)) for seq in range(count)]


# --- One read of the stream, per client: (events, [their triples]) -------------------------


def ours_iteration(url: str, keep: bool) -> Tuple[int, List[Triple]]:
    got: List[Triple] = []
    count = 0
    with sse.create_sse_connection(url, retry=0) as conn:
        if keep:
            got = [(e.event, e.data, e.id) for e in conn]
        else:
            for _event in conn:
                count += 1
    return (len(got) if keep else count), got


def ours_on_message(url: str, keep: bool) -> Tuple[int, List[Triple]]:
    got: List[Triple] = []
    count = 0

    def on_message(_event: sse.Event) -> None:
        nonlocal count
        count += 1

    def keep_it(event: sse.Event) -> None:
        got.append((event.event, event.data, event.id))

    with sse.create_sse_connection(
        url, retry=0, on_message=keep_it if keep else on_message
    ) as conn:
        conn.wait(TIMEOUT)
    return (len(got) if keep else count), got


def floor_read(port: int, path: str, keep: bool) -> Tuple[int, List[Triple]]:
    if not keep:
        return floor_count(open_plain(port, path, TIMEOUT)), []
    got: List[Triple] = []
    floor_each(open_plain(port, path, TIMEOUT), lambda row: got.append(row[:3]))
    return len(got), got


def design_floor_read(
    port: int, path: str, events: bool, thread: bool, keep: bool
) -> Tuple[int, List[Triple]]:
    response = open_plain(port, path, TIMEOUT)
    if not keep:
        return design_floor_count(response, events=events, thread=thread), []
    got: List[Triple] = []
    design_floor_count(response, events=events, thread=thread, seen=got)  # type: ignore[arg-type]
    return len(got), got


def peer_read(name: str, url: str, keep: bool) -> Tuple[int, List[Triple]]:
    streamer = STREAMERS[name]
    count = 0
    got: List[Triple] = []
    with streamer.open(url) as events:
        if keep:
            fields = streamer.fields
            got = [fields(event) for event in events]
        else:
            for _event in events:
                count += 1
    return (len(got) if keep else count), got


def server_alone(port: int, path: str) -> int:
    """Drain the response from a raw socket, parsing nothing; the bytes received."""
    buffer = bytearray(1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("ascii"))
        total = 0
        while True:
            got = sock.recv_into(buffer)
            if not got:
                return total
            total += got


Reader = Callable[[bool], Tuple[int, List[Triple]]]


def readers(server: ServerProcess, path: str) -> Dict[str, Reader]:
    """Every client that can run, by name, reading ``path``."""
    url = server.url_for(path)
    table: Dict[str, Reader] = {
        FLOOR: lambda keep: floor_read(server.port, path, keep),
        ITERATION: lambda keep: ours_iteration(url, keep),
        ON_MESSAGE: lambda keep: ours_on_message(url, keep),
    }
    for name, (events, thread) in DESIGN_FLOORS.items():
        table[name] = lambda keep, e=events, t=thread: design_floor_read(  # type: ignore[misc]
            server.port, path, e, t, keep
        )
    for name in PEERS:
        if missing(name) is None:
            table[name] = lambda keep, name=name: peer_read(name, url, keep)  # type: ignore[misc]
    return table


# --- Running ---------------------------------------------------------------------------------


def measure(
    server: ServerProcess, framing: str, count: int, rounds: int, notes: Notes
) -> Tuple[List[List[Cell]], Dict[str, float]]:
    """The rows of one framing, and our two ratios to the floor (best rounds)."""
    path = f"/bulk?n={count}&framing={framing}&size=small"
    expected = expected_events(count)
    table = readers(server, path)
    checks: Dict[str, str] = {}
    for name, read in table.items():  # untimed: check, and warm up both processes
        try:
            checks[name] = verdict(read(True)[1], expected)
        except Exception as error:
            checks[name] = f"ERROR: {type(error).__name__}: {error}"[:300]
    cpu: Dict[str, List[float]] = {name: [] for name in table}

    def timed(name: str, read: Reader) -> Callable[[], float]:
        def run() -> float:
            wall, process = time.perf_counter(), time.process_time()
            got = read(False)[0]
            elapsed = time.perf_counter() - wall
            cpu[name].append(time.process_time() - process)
            if got != count:
                raise RuntimeError(f"{name}: {got} of {count} events")
            return elapsed

        return run

    runnable = [(n, timed(n, r)) for n, r in table.items() if not checks[n].startswith("ERROR")]
    try:
        times = interleave(runnable, rounds)
    except RuntimeError as error:
        raise SystemExit(f"{FRAMINGS[framing]}: {error}") from error
    start = time.perf_counter()
    server_alone(server.port, path)
    drained = time.perf_counter() - start
    floor_best, floor_median = best(times[FLOOR]), median(times[FLOOR])
    rows: List[List[Cell]] = [[f"{FRAMINGS[framing]}, {count:,} events"]]
    for name in [FLOOR, *DESIGN_FLOORS, ITERATION, ON_MESSAGE, *PEERS]:
        if name not in table:
            rows.append([f"  {name}", None, None, None, None, missing(name)])
            continue
        if not times.get(name):
            rows.append([f"  {name}", None, None, None, None, notes.mark(checks[name])])
            continue
        fastest = best(times[name])
        rows.append(
            [
                f"  {name}",
                count / fastest,
                ratio(fastest, floor_best),
                ratio(median(times[name]), floor_median),
                min(cpu[name]) / count * 1e6,
                notes.mark(checks[name]),
            ]
        )
    rows.append(["  server alone (socket drained)", count / drained, ratio(drained, floor_best)])
    ours = {mode: best(times[mode]) / floor_best for mode in (ITERATION, ON_MESSAGE)}
    least = best(times[DESIGN_LEAST])
    ours["least"] = least / floor_best
    ours["over least"] = best(times[ITERATION]) / least
    return rows, ours


def profile(server: ServerProcess, case: str, count: int) -> None:
    """Run sseclient_sync once on ``FRAMING:MODE`` under cProfile and print the hot spots."""
    framing, _, mode = case.partition(":")
    if framing not in FRAMINGS or mode not in ("iteration", "on_message"):
        raise SystemExit(f"--profile wants FRAMING:MODE, FRAMING in {list(FRAMINGS)}: {case!r}")
    url = server.url_for(f"/bulk?n={count}&framing={framing}&size=small")
    read = ours_iteration if mode == "iteration" else ours_on_message
    read(url, False)  # warm up
    stats = profile_all_threads(lambda: read(url, False))
    print(f"{FRAMINGS[framing]}, {mode}, {count:,} events, cProfile in every thread")
    print_profile(stats, count, "event")


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="2,000 events, one round")
    options.add_argument("--events", type=int, default=None, help="events (default 50,000)")
    options.add_argument("--rounds", type=int, default=None, help="rounds (default 5)")
    options.add_argument("--profile", metavar="FRAMING:MODE", help="profile one case instead")
    args = options.parse_args()
    count = args.events or (2_000 if args.quick else 50_000)
    rounds = args.rounds or (1 if args.quick else 5)
    if args.profile:
        with ServerProcess() as server:
            profile(server, args.profile, count)
        return 0
    preamble(
        f"End to end: loopback, server in its own process; wall time, {rounds} interleaved "
        "rounds, best shown (median ratio beside it); CPU: all our threads, best round"
    )
    print(versions())
    print()
    rows: List[List[Cell]] = []
    notes = Notes()
    ours: Dict[str, Dict[str, float]] = {}
    with ServerProcess() as server:
        for framing in FRAMINGS:
            framing_rows, ours[framing] = measure(server, framing, count, rounds, notes)
            rows += framing_rows
    print_table(
        ["framing / client", "events/s", "x floor (best)", "(median)", "CPU us/event", "events"],
        rows,
    )
    notes.print()
    print()
    ratios = [ours[framing][mode] for framing in FRAMINGS for mode in (ITERATION, ON_MESSAGE)]
    print(
        f"target: sseclient_sync <= {TARGET}x floor in all six cases: "
        + "; ".join(
            f"{framing} iteration {ours[framing][ITERATION]:.2f}x, "
            f"on_message {ours[framing][ON_MESSAGE]:.2f}x"
            for framing in FRAMINGS
        )
        + (" -> met" if all(r <= TARGET for r in ratios) else " -> NOT met")
    )
    print(
        "the design's least cost (floor + Event objects + a reader thread): "
        + "; ".join(
            f"{framing} {ours[framing]['least']:.2f}x floor "
            f"(iteration {ours[framing]['over least']:.2f}x of it)"
            for framing in FRAMINGS
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
