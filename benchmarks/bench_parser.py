"""SSEParser against a baseline parser of the same rules, side by side in one process.

Run it as ``python benchmarks/bench_parser.py`` (``--quick`` for a smaller run). The baseline
below is the fastest complete plain-Python parser of the WHATWG rules we could write: one
decode and one split per chunk, the pieces of a long line joined once, the same BOM, CR/CRLF,
``id`` and ``retry`` rules, the same :class:`Event` objects, but no ``max_event_size``
bookkeeping. The two are first checked to give identical events on every stream, then timed
alternately round by round (the order flips each round), and the best round of each is
reported, so that the ratio shows what the size limit and the rest of SSEParser's structure
cost, not what the machine was doing at the time. Times are the process's CPU time
(``time.process_time``), which other busy processes on the machine do not inflate.

Sizes are in decimal megabytes (10**6 bytes) so that the 16 MB event stays under the default
``max_event_size`` of 16 MiB.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from codecs import utf_8_decode
from pathlib import Path
from typing import Callable, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sseclient_sync import Event, SSEParser

MB = 1_000_000


class BaselineParser:
    """The same parsing rules as SSEParser without any size limit, written for speed."""

    def __init__(self, last_event_id: Optional[str] = None) -> None:
        self.last_event_id = last_event_id
        self.retry: Optional[int] = None
        self._undecoded = b""
        self._at_start = True
        self._after_cr = False
        self._parts: List[str] = []
        self._data: List[str] = []
        self._event_type = ""
        self._id_buffer = last_event_id
        self._block_retry: Optional[int] = None

    def feed(self, chunk: bytes) -> List[Event]:
        if self._undecoded:
            chunk = self._undecoded + chunk
            self._undecoded = b""
        text, used = utf_8_decode(chunk, "replace", False)
        if used != len(chunk):
            self._undecoded = chunk[used:]
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        elif self._after_cr:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]
        if "\r" in text:
            self._after_cr = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        tail = lines.pop()
        if self._parts and lines:
            self._parts.append(lines[0])
            lines[0] = "".join(self._parts)
            self._parts = []
        events: List[Event] = []
        data = self._data
        event_type = self._event_type
        id_buffer = self._id_buffer
        block_retry = self._block_retry
        for line in lines:
            if not line:
                self.last_event_id = id_buffer
                if data:
                    events.append(
                        Event(event_type or "message", "\n".join(data), id_buffer, block_retry)
                    )
                    data = []
                event_type = ""
                block_retry = None
            elif line[0] != ":":
                name, space, value = line.partition(": ")
                if not space or ":" in name:
                    name, _, value = line.partition(":")
                if name == "data":
                    data.append(value)
                elif name == "event":
                    event_type = value
                elif name == "id":
                    if "\0" not in value:
                        id_buffer = value
                elif name == "retry" and value.isdigit() and value.isascii():
                    block_retry = self.retry = int(value)
        if tail:
            self._parts.append(tail)
        self._data = data
        self._event_type = event_type
        self._id_buffer = id_buffer
        self._block_retry = block_retry
        return events


# --- streams ---------------------------------------------------------------------------------


def small_events(count: int, newline: str) -> bytes:
    """A typical feed: ids, a few event types, JSON data, now and then a multi-line event, a
    comment and a retry."""
    parts = []
    for i in range(count):
        if i % 50 == 0:
            parts.append(f": keep-alive{newline}{newline}")
        lines = [f"id: {i}"]
        if i % 3:
            lines.append("event: update" if i % 3 == 1 else "event: delta")
        if i % 1000 == 0:
            lines.append("retry: 3000")
        lines.append(f'data: {{"n": {i}, "text": "hello, w\u00f6rld"}}')
        if i % 7 == 0:
            lines.append("data: second line")
        parts.append(newline.join(lines) + newline + newline)
    return "".join(parts).encode("utf-8")


def one_line_event(size: int) -> bytes:
    payload = "QUJDRA" * (size // 6 + 1)
    return ("data: " + payload[:size] + "\n\n").encode("ascii")


def many_line_event(size: int) -> bytes:
    line = "data: " + "x" * 57 + "\n"  # 64 bytes a line
    return ("event: big\n" + line * (size // len(line)) + "\n").encode("ascii")


# The rules the benchmark streams do not exercise, for the agreement check only.
TRICKY = (
    "\ufeffdata: bom skipped\r\n\r\n: comment\rdata:no space\rdata:  two spaces\r\r"
    "id: 1\nretry: 50\nevent: t\ndata: a\u2028b\x85c\n\nid: bad\x00id\nretry: -1\nretry: \uff15\n"
    "data\ndata\n\nid\nevent:\ndata: \ufeff\U0001f389\n\nid: 9\n\n: ping\n\ndata: last\n\n"
    "data: before bad bytes"
).encode("utf-8") + b"\ndata: \xff\xe2\x82\n\ndata: never dispatched"


def chunked(blob: bytes, size: int) -> List[bytes]:
    return [blob[i : i + size] for i in range(0, len(blob), size)]


# --- running ---------------------------------------------------------------------------------


def run_sse(chunks: List[bytes]) -> tuple[List[Event], Optional[str], Optional[int]]:
    parser = SSEParser()
    events: List[Event] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events, parser.last_event_id, parser.retry


def run_baseline(chunks: List[bytes]) -> tuple[List[Event], Optional[str], Optional[int]]:
    parser = BaselineParser()
    events: List[Event] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events, parser.last_event_id, parser.retry


def time_sse(chunks: List[bytes]) -> float:
    feed = SSEParser().feed
    start = time.process_time()
    for chunk in chunks:
        feed(chunk)
    return time.process_time() - start


def time_baseline(chunks: List[bytes]) -> float:
    feed = BaselineParser().feed
    start = time.process_time()
    for chunk in chunks:
        feed(chunk)
    return time.process_time() - start


def best_of(rounds: int, chunks: List[bytes]) -> tuple[float, float, float, float]:
    """Alternate the two parsers round by round; return the best and median time of each."""
    sse_times: List[float] = []
    base_times: List[float] = []
    runners: List[tuple[Callable[[List[bytes]], float], List[float]]] = [
        (time_sse, sse_times),
        (time_baseline, base_times),
    ]
    for round_number in range(rounds):
        order = runners if round_number % 2 == 0 else runners[::-1]
        for runner, times in order:
            gc.collect()
            times.append(runner(chunks))
    sse_times.sort()
    base_times.sort()
    return (
        sse_times[0],
        sse_times[len(sse_times) // 2],
        base_times[0],
        base_times[len(base_times) // 2],
    )


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="smaller streams, fewer rounds")
    options.add_argument("--rounds", type=int, default=None, help="rounds per stream")
    args = options.parse_args()
    count = 20_000 if args.quick else 200_000
    big_sizes = [1, 2, 4] if args.quick else [1, 4, 16]
    many_size = 1 if args.quick else 4
    rounds = args.rounds or (3 if args.quick else 7)

    lf = small_events(count, "\n")
    crlf = small_events(count, "\r\n")
    streams: List[tuple[str, List[bytes], int]] = [
        (f"{count // 1000}k small, LF, 4 KiB chunks", chunked(lf, 4096), len(lf)),
        (f"{count // 1000}k small, CRLF, 4 KiB chunks", chunked(crlf, 4096), len(crlf)),
        (f"{count // 1000}k small, LF, 64 B chunks", chunked(lf, 64), len(lf)),
        (f"{count // 1000}k small, CRLF, 64 B chunks", chunked(crlf, 64), len(crlf)),
    ]
    for size in big_sizes:
        blob = one_line_event(size * MB)
        streams.append((f"1 event, {size} MB one line, 4 KiB", chunked(blob, 4096), len(blob)))
    blob = many_line_event(many_size * MB)
    streams.append(
        (f"1 event, {many_size} MB of 64 B lines, 4 KiB", chunked(blob, 4096), len(blob))
    )

    checks = [(name, chunks) for name, chunks, _ in streams]
    checks += [(f"tricky, {size} B chunks", chunked(TRICKY, size)) for size in range(1, 9)]
    for name, chunks in checks:  # the comparison is meaningless unless both agree
        expected = run_baseline(chunks)
        got = run_sse(chunks)
        assert got == expected, f"SSEParser and the baseline disagree on {name!r}"
        assert expected[0], f"no events in {name!r}"

    print(f"Python {sys.version.split()[0]}, {rounds} interleaved rounds, best round shown")
    header = (
        f"{'stream':<36} {'MB':>6} {'SSEParser ev/s':>15} {'MB/s':>7} "
        f"{'baseline ev/s':>14} {'MB/s':>7} {'ratio':>6} {'(median)':>8}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    per_mb: List[tuple[int, float, float]] = []
    for name, chunks, size in streams:
        events = len(run_baseline(chunks)[0])
        sse_best, sse_median, base_best, base_median = best_of(rounds, chunks)
        ratio = sse_best / base_best
        worst = max(worst, ratio)
        megabytes = size / MB
        print(
            f"{name:<36} {megabytes:>6.1f} {events / sse_best:>15,.0f} "
            f"{megabytes / sse_best:>7.1f} {events / base_best:>14,.0f} "
            f"{megabytes / base_best:>7.1f} {ratio:>6.2f} {sse_median / base_median:>8.2f}"
        )
        if "one line" in name:
            per_mb.append(
                (int(name.split(", ")[1].split()[0]), sse_best / megabytes, base_best / megabytes)
            )
    print()
    print(
        "linearity, ms per MB of a one-line event: SSEParser "
        + ", ".join(f"{mb} MB {sse * 1000:.2f}" for mb, sse, _ in per_mb)
        + "; baseline "
        + ", ".join(f"{mb} MB {base * 1000:.2f}" for mb, _, base in per_mb)
    )
    (small_mb, sse_small, base_small), (large_mb, sse_large, base_large) = per_mb[0], per_mb[-1]
    print(
        f"time per MB, {large_mb} MB event / {small_mb} MB event: SSEParser "
        f"{sse_large / sse_small:.2f}, baseline {base_large / base_small:.2f} "
        f"(linear: 1; quadratic: {large_mb // small_mb})"
    )
    print(f"worst ratio of SSEParser time to baseline time: {worst:.2f} (target <= 1.30)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
