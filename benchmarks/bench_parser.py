"""Parse: small events from memory, our SSEParser against the floor parser and the peers'.

The one rule this script owns: parsers are compared on the same bytes, cut into the same
chunks, in one process, round by round. Four streams of small events (ids, a few event types,
JSON data, now and then a multi-line event, a keep-alive comment and a ``retry:``): LF and
CRLF line ends, each fed in 4 KiB and in 64 B chunks. Every parser's events are first checked
against the floor's (and ours against the floor's on a stream of the spec's corner cases);
a parser that loses, adds or changes events is marked WRONG and its figures are still shown.

Then comments: our parser on a stream without comment lines and on one with a comment line in
every event, without and with comments being reported: ``feed`` (the fast path, which must
pay nothing for comments) and each way the parser has to report them, found at run time (a
constructor parameter named for comments, as ``inspect.signature(SSEParser)`` shows, or a
``feed_items`` method); "not available" while it has none.

Times are the process's CPU time (``time.process_time``); each round runs every parser once,
the order rotated each round; the best round is the headline figure, the median beside it.

Usage: ``python benchmarks/bench_parser.py [--quick] [--rounds N] [--events N]``.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any, Callable, Dict, List, Tuple

import _common
from _common import (
    Cell,
    Feed,
    Notes,
    best,
    cpu_timer,
    feed_counter,
    interleave,
    median,
    preamble,
    print_table,
    ratio,
)
from _peers import FLOOR, PEERS, US, parsers, verdict, versions

from sseclient_sync import Event, SSEParser

TARGET = 1.3
MB = 1_000_000


# --- Streams ---------------------------------------------------------------------------------


def small_events(count: int, newline: str, comments: str = "keep-alive") -> bytes:
    """A typical feed. ``comments``: ``"keep-alive"`` (a comment block every 50 events),
    ``"none"``, or ``"every"`` (a comment line opening every event)."""
    parts = []
    for i in range(count):
        if comments == "keep-alive" and i % 50 == 0:
            parts.append(f": keep-alive{newline}{newline}")
        lines = [f": note {i}"] if comments == "every" else []
        lines.append(f"id: {i}")
        if i % 3:
            lines.append("event: update" if i % 3 == 1 else "event: delta")
        if i % 1000 == 0:
            lines.append("retry: 3000")
        lines.append(f'data: {{"n": {i}, "text": "hello, w\u00f6rld"}}')
        if i % 7 == 0:
            lines.append("data: second line")
        parts.append(newline.join(lines) + newline + newline)
    return "".join(parts).encode("utf-8")


#: The rules the benchmark streams do not exercise, to check ours against the floor.
TRICKY = (
    "\ufeffdata: bom skipped\r\n\r\n: comment\rdata:no space\rdata:  two spaces\r\r"
    "id: 1\nretry: 50\nevent: t\ndata: a\u2028b\x85c\n\nid: bad\x00id\nretry: -1\nretry: \uff15\n"
    "data\ndata\n\nid\nevent:\ndata: \ufeff\U0001f389\n\nid: 9\n\n: ping\n\ndata: last\n\n"
    "data: before bad bytes"
).encode("utf-8") + b"\ndata: \xff\xe2\x82\n\ndata: never dispatched"


def chunked(blob: bytes, size: int) -> List[bytes]:
    """``blob`` cut into ``size``-byte chunks."""
    return [blob[i : i + size] for i in range(0, len(blob), size)]


def check_ours_against_floor(streams: List[Tuple[str, List[bytes]]]) -> None:
    """Ours and the floor must agree on every stream (events, last id, retry), or the
    comparison means nothing."""
    checks = [*streams, *((f"corner cases, {n} B chunks", chunked(TRICKY, n)) for n in range(1, 9))]
    for name, chunks in checks:
        ours, floor = SSEParser(), _common.FloorParser()
        got = [(e.event, e.data, e.id, e.retry) for c in chunks for e in ours.feed(c)]
        expected = [row for c in chunks for row in floor.feed(c)]
        same = got == expected and (ours.last_event_id, ours.retry) == (
            floor.last_event_id,
            floor.retry,
        )
        if not same:
            raise SystemExit(f"SSEParser and the floor parser disagree on {name!r}")


# --- The main table --------------------------------------------------------------------------


def parse_table(count: int, rounds: int) -> List[float]:
    """Print the table of the four streams; our ratio to the floor on each."""
    lf, crlf = small_events(count, "\n"), small_events(count, "\r\n")
    label = f"{count // 1000}k small" if count >= 1000 else f"{count} small"
    streams = [
        (f"{label}, LF, 4 KiB chunks", chunked(lf, 4096)),
        (f"{label}, CRLF, 4 KiB chunks", chunked(crlf, 4096)),
        (f"{label}, LF, 64 B chunks", chunked(lf, 64)),
        (f"{label}, CRLF, 64 B chunks", chunked(crlf, 64)),
    ]
    check_ours_against_floor(streams)
    table = parsers()
    rows: List[List[Cell]] = []
    notes = Notes()
    ours_ratios: List[float] = []
    for name, chunks in streams:
        megabytes = sum(map(len, chunks)) / MB
        expected = table[FLOOR].collect(chunks)  # type: ignore[misc]
        runnable = {n: p for n, p in table.items() if p.count is not None}
        checks = {n: verdict(p.collect(chunks), expected) for n, p in runnable.items()}  # type: ignore[misc]
        times = interleave([(n, cpu_timer(p.count, chunks)) for n, p in runnable.items()], rounds)  # type: ignore[arg-type]
        floor_best, floor_median = best(times[FLOOR]), median(times[FLOOR])
        rows.append([f"{name} ({len(expected):,} events, {megabytes:.1f} MB)"])
        for client in [US, FLOOR, *PEERS]:
            parser = table[client]
            if parser.count is None:
                reason = parser.unavailable or ""
                shown = reason if reason == "not installed" else notes.mark(reason, "n/a")
                rows.append([f"  {client}", None, None, None, None, shown])
                continue
            fastest = best(times[client])
            rows.append(
                [
                    f"  {client}",
                    len(expected) / fastest,
                    megabytes / fastest,
                    ratio(fastest, floor_best),
                    ratio(median(times[client]), floor_median),
                    notes.mark(checks[client]),
                ]
            )
        ours_ratios.append(best(times[US]) / floor_best)
    print_table(
        ["stream / parser", "events/s", "MB/s", "x floor (best)", "(median)", "events"], rows
    )
    notes.print()
    return ours_ratios


# --- Comments --------------------------------------------------------------------------------


class CommentVariant:
    """A way to get the comments out of our parser: ``make()`` gives a fresh parser's feed
    function, ``reported(items, seen)`` counts the comments a run got (from the feed's
    output, for a parser that puts them among the events, or from ``seen``, where a callback
    puts them)."""

    def __init__(
        self, label: str, make: Callable[[], Feed], seen: List[Any], among_events: bool
    ) -> None:
        self.label = label
        self.make = make
        self.seen = seen
        self.among_events = among_events

    def reported(self, items: List[Any]) -> int:
        if self.among_events:
            return sum(1 for item in items if not isinstance(item, Event))
        return len(self.seen)


def comment_variants() -> List[CommentVariant]:
    """Every way our parser has to report comments: a constructor parameter named for them
    (a callback such as ``on_comment``, or a flag), or a ``feed_items`` method that returns
    them among the events. Empty while it has none."""
    variants = []
    for name, parameter in inspect.signature(SSEParser).parameters.items():
        if "comment" not in name.lower():
            continue
        seen: List[Any] = []
        callback = name.startswith("on_") or parameter.default is None
        options: Dict[str, Any] = {name: seen.append if callback else True}
        variants.append(
            CommentVariant(
                f"SSEParser({name}=...).feed", _feed_with(options), seen, among_events=not callback
            )
        )
    if hasattr(SSEParser, "feed_items"):

        def make_items() -> Feed:
            feed_items = SSEParser().feed_items
            return lambda data: feed_items(data)[0]

        variants.append(CommentVariant("SSEParser().feed_items", make_items, [], True))
    return variants


def _feed_with(options: Dict[str, Any]) -> Callable[[], Feed]:
    return lambda: SSEParser(**options).feed


def comments_table(count: int, rounds: int) -> None:
    """Print our parser's cost with and without comments reported."""
    variants = comment_variants()
    streams = [
        ("no comment lines", chunked(small_events(count, "\n", "none"), 4096), 0),
        ("a comment line in every event", chunked(small_events(count, "\n", "every"), 4096), count),
    ]
    floor = "floor (skips comments)"
    rows: List[List[Cell]] = []
    for name, chunks, comment_lines in streams:
        runners: Dict[str, Callable[[], float]] = {
            floor: cpu_timer(feed_counter(lambda: _common.FloorParser().feed), chunks),
            "SSEParser().feed (no comments)": cpu_timer(
                feed_counter(lambda: SSEParser().feed), chunks
            ),
        }
        checks: Dict[str, str] = {}
        for variant in variants:
            feed = variant.make()
            reported = variant.reported([item for data in chunks for item in feed(data)])
            checks[variant.label] = (
                "ok" if reported == comment_lines else f"WRONG: {reported} of {comment_lines}"
            )
            variant.seen.clear()
            runners[variant.label] = cpu_timer(feed_counter(variant.make, variant.seen), chunks)
        times = interleave(list(runners.items()), rounds)
        rows.append([f"{count:,} small events, LF, 4 KiB chunks, {name}"])
        for label in runners:
            fastest = best(times[label])
            rows.append(
                [
                    f"  {label}",
                    count / fastest,
                    ratio(fastest, best(times[floor])),
                    ratio(median(times[label]), median(times[floor])),
                    checks.get(label, ""),
                ]
            )
        if not variants:
            rows.append(["  SSEParser, comments reported", None, None, None, "not available"])
    print_table(
        ["stream / parser", "events/s", "x floor (best)", "(median)", "comments reported"], rows
    )
    if not variants:
        print(
            "SSEParser has no way to report comments yet (signature "
            f"{inspect.signature(SSEParser)}, no feed_items): 'comments reported' not available."
        )


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="tiny streams, two rounds")
    options.add_argument("--rounds", type=int, default=None, help="rounds (default 7)")
    options.add_argument("--events", type=int, default=None, help="events (default 200,000)")
    args = options.parse_args()
    count = args.events or (5_000 if args.quick else 200_000)
    rounds = args.rounds or (2 if args.quick else 7)
    preamble(
        f"Parse: CPU time, bytes from memory; {rounds} interleaved rounds, best shown "
        "(median ratio beside it)"
    )
    print(versions())
    print()
    ours = parse_table(count, rounds)
    print()
    print(
        f"target: sseclient_sync <= {TARGET}x floor in all four cases: "
        + ", ".join(f"{r:.2f}x" for r in ours)
        + (" -> met" if all(r <= TARGET for r in ours) else " -> NOT met")
    )
    print()
    comments_table(count, rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
