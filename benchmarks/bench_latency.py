"""Delivery latency: the delay from the server writing an event to the consumer holding it.

The loopback server (sseclient_sync.testing.SSEServer, in this process so that both sides
read the same perf_counter) writes one small event every 20 ms and notes the moment it hands
each event to the socket, by the sequence number the event carries. The consumer notes the
moment it gets the event. Measured for chunked and close-delimited framing, consuming by
iteration (``for ev in conn``) and by ``on_message``; beside it, in the same run and
interleaved round by round:

- the floor: the standard library's http.client ``read1(65536)`` feeding SSEParser in the
  consuming thread (no reader thread, no hand-off);
- a naive reference: requests' ``iter_lines()`` / ``iter_content(chunk_size=512)`` on the
  close-delimited stream, which wait for 512 bytes (or the end) before giving anything.

The first event of each stream is a warm-up and is not counted. Target: p99 under 1 ms on
both framings. Usage: ``python benchmarks/bench_latency.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from typing import Callable, Dict, Iterator, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import requests
from _common import (
    Cell,
    library_state,
    open_plain,
    percentile,
    print_table,
    read_plain,
    seq_of,
    small_event,
)

import sseclient_sync as sse
from sseclient_sync import SSEParser
from sseclient_sync.testing import (
    BodyItem,
    Pause,
    RecordedRequest,
    Reply,
    SSEServer,
)

INTERVAL = 0.020
TARGET_P99 = 0.001
#: A run ends by itself when the stream ends; this bounds it should the client misbehave.
SLACK = 10.0

Delays = List[float]


class StampingServer:
    """Serves ``/chunked`` and ``/close`` (``?n=COUNT&run=ID``): a warm-up event (seq 0), then
    COUNT events every INTERVAL, noting in ``sent[ID][seq]`` the perf_counter at which each
    was handed to the socket. Each run has its own ID, so that a stream left behind by a
    failed run cannot write into the next run's figures."""

    def __init__(self, server: SSEServer) -> None:
        self.server = server
        self.sent: Dict[str, Dict[int, float]] = {}
        self._runs = 0
        for framing in ("chunked", "close"):
            server.route(f"/{framing}", self._responder(framing))

    def path(self, framing: str, count: int) -> Tuple[str, str]:
        """A new run's id and its path."""
        self._runs += 1
        run = str(self._runs)
        self.sent[run] = {}
        return run, f"/{framing}?n={count}&run={run}"

    def _responder(self, framing: str) -> Callable[[RecordedRequest], Reply]:
        def respond(request: RecordedRequest) -> Reply:
            count = int(request.query["n"][0])
            sent = self.sent[request.query["run"][0]]
            return Reply(body=self._body(count, sent), framing=framing)

        return respond

    def _body(self, count: int, sent: Dict[int, float]) -> Iterator[BodyItem]:
        start = time.perf_counter()
        for seq in range(count + 1):
            if self.server.stopping.is_set():
                return
            delay = start + seq * INTERVAL - time.perf_counter()
            if delay > 0:
                yield Pause(delay)
            event = small_event(seq)
            sent[seq] = time.perf_counter()
            yield event

    def delays(self, run: str, received: List[Tuple[int, float]]) -> Delays:
        """Seconds from write to receipt, the warm-up event left out."""
        sent = self.sent[run]
        return [at - sent[seq] for seq, at in received if seq != 0]


# --- the consumers: each returns [(seq, perf_counter when received)] ------------------------


def by_iteration(url: str, count: int) -> List[Tuple[int, float]]:
    received: List[Tuple[int, float]] = []
    clock = time.perf_counter
    with sse.create_sse_connection(url, retry=0) as conn:
        for event in conn.events(timeout=SLACK):
            received.append((seq_of(event.data), clock()))
    return received


def by_callback(url: str, count: int) -> List[Tuple[int, float]]:
    received: List[Tuple[int, float]] = []
    clock = time.perf_counter

    def on_message(event: sse.Event) -> None:
        received.append((seq_of(event.data), clock()))

    with sse.create_sse_connection(url, retry=0, on_message=on_message) as conn:
        conn.wait((count + 1) * INTERVAL + SLACK)
    return received


def by_plain_read1(server: SSEServer, path: str) -> List[Tuple[int, float]]:
    received: List[Tuple[int, float]] = []
    clock = time.perf_counter

    def on_event(data: str) -> None:
        received.append((seq_of(data), clock()))

    read_plain(open_plain(server.port, path, timeout=SLACK), on_event)
    return received


def by_iter_lines(url: str) -> List[Tuple[int, float]]:
    received: List[Tuple[int, float]] = []
    clock = time.perf_counter
    with requests.get(url, stream=True, timeout=(SLACK, SLACK)) as response:
        for line in response.iter_lines():  # chunk_size=512 by default
            if line.startswith(b"data:"):
                received.append((seq_of(line[5:].decode().strip()), clock()))
    return received


def by_iter_content(url: str) -> List[Tuple[int, float]]:
    received: List[Tuple[int, float]] = []
    clock = time.perf_counter
    parser = SSEParser()
    with requests.get(url, stream=True, timeout=(SLACK, SLACK)) as response:
        for data in response.iter_content(chunk_size=512):
            now = clock()
            received.extend((seq_of(event.data), now) for event in parser.feed(data))
    return received


# --- running ---------------------------------------------------------------------------------


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="fewer events (for a smoke test)")
    args = options.parse_args()
    total = 50 if args.quick else 250
    rounds = 1 if args.quick else 2
    naive_count = 25 if args.quick else 50
    per_round = total // rounds

    Consume = Callable[[StampingServer, str, int], List[Tuple[int, float]]]

    def ours(consume: Callable[[str, int], List[Tuple[int, float]]]) -> Consume:
        return lambda s, path, n: consume(s.server.url_for(path), n)

    def floor(s: StampingServer, path: str, n: int) -> List[Tuple[int, float]]:
        return by_plain_read1(s.server, path)

    def naive(consume: Callable[[str], List[Tuple[int, float]]]) -> Consume:
        return lambda s, path, n: consume(s.server.url_for(path))

    # name, framing, consumer, events per round, is it ours (the target applies)
    Config = Tuple[str, str, Consume, int, bool]
    interleaved: List[Config] = [
        ("sseclient_sync  chunked  iteration", "chunked", ours(by_iteration), per_round, True),
        ("sseclient_sync  chunked  on_message", "chunked", ours(by_callback), per_round, True),
        ("sseclient_sync  close    iteration", "close", ours(by_iteration), per_round, True),
        ("sseclient_sync  close    on_message", "close", ours(by_callback), per_round, True),
        ("floor: http.client read1  chunked", "chunked", floor, per_round, False),
        ("floor: http.client read1  close", "close", floor, per_round, False),
    ]
    once: List[Config] = [
        ("naive: requests iter_lines()  close", "close", naive(by_iter_lines), naive_count, False),
        (
            "naive: requests iter_content(512)  close",
            "close",
            naive(by_iter_content),
            naive_count,
            False,
        ),
    ]
    schedule: List[Config] = []
    for round_number in range(rounds):
        schedule += interleaved if round_number % 2 == 0 else interleaved[::-1]
    schedule += once

    results: Dict[str, Delays] = {config[0]: [] for config in interleaved + once}
    expected: Dict[str, int] = dict.fromkeys(results, 0)
    errors: Dict[str, List[str]] = {name: [] for name in results}
    print(
        f"Python {sys.version.split()[0]}; one {len(small_event(0))}-byte event every "
        f"{INTERVAL * 1000:.0f} ms, {total} per row ({rounds} interleaved round(s)) after a "
        f"warm-up event; server in this process; load average {os.getloadavg()[0]:.2f}"
    )
    print(library_state())
    with SSEServer() as server:
        stamping = StampingServer(server)
        for name, framing, consume, count, _ in schedule:
            run, path = stamping.path(framing, count)
            expected[name] += count
            try:
                received = consume(stamping, path, count)
            except Exception as error:  # report it in the table, and go on
                errors[name].append(f"{type(error).__name__}: {error}")
                continue
            results[name] += stamping.delays(run, received)

    rows: List[List[Cell]] = []
    verdicts = []
    for name, _, _, _, is_ours in interleaved + once:
        delays = results[name]
        got = f"{len(delays)}/{expected[name]}"
        complete = len(delays) == expected[name] and not errors[name]
        if not delays:
            rows.append([name, got, "-", "-", "-", "NO" if is_ours else ""])
            verdicts.append(not is_ours)
            continue
        p99 = percentile(delays, 0.99)
        verdict = ""
        if is_ours:
            verdict = "yes" if p99 < TARGET_P99 and complete else "NO"
            verdicts.append(verdict == "yes")
        rows.append(
            [
                name,
                got,
                percentile(delays, 0.5) * 1000,
                p99 * 1000,
                max(delays) * 1000,
                verdict,
            ]
        )
    print_table(["consumer", "events", "p50 ms", "p99 ms", "max ms", "p99 < 1 ms"], rows)
    for name, messages in errors.items():
        for message, times in Counter(messages).items():
            print(
                f"error: {name.split()[0]} {' '.join(name.split()[1:])}: {times} run(s) "
                f"raised {message[:300]}"
            )
    print()
    print(
        "target p99 < 1 ms on both framings (sseclient_sync rows): "
        + ("met" if all(verdicts) else "NOT met")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
