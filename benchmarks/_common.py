"""What every benchmark shares: the floor, the server process, rounds, and the tables.

The one rule this module owns: the floor pays no cost that a client pays by choice. It is a
plain-Python parser of the WHATWG rules that yields tuples (no event objects, no size limit),
read by the standard library's ``http.client`` ``read1`` in the consuming thread (no reader
thread, no queue, no hand-off); its consumer counts the tuples in that thread. Everything a
client does beyond that is its own cost, and every table shows it as a ratio to the floor
measured in the same run.
"""

from __future__ import annotations

import cProfile
import gc
import http.client
import itertools
import math
import os
import pstats
import queue
import resource
import statistics
import subprocess
import sys
import threading
import time
from codecs import utf_8_decode
from typing import IO, Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, ROOT)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

SERVER_START_TIMEOUT = 20.0
SERVER_STOP_TIMEOUT = 10.0

#: What the floor parser yields: (event type, data, last event id in force, retry).
Row = Tuple[str, str, Optional[str], Optional[int]]
#: A parser's ``feed``: the next bytes in, what they completed out.
Feed = Callable[[bytes], Iterable[Any]]


# --- The floor -------------------------------------------------------------------------------


class FloorParser:
    """The WHATWG "Server-sent events" parsing rules, tuples out, written for speed.

    UTF-8 with U+FFFD for bad bytes (an incomplete sequence waits for the next chunk), one
    leading BOM skipped, CR, LF and CRLF line ends (a CRLF split between two chunks is one line
    end), comments, ``data``/``event``/``id``/``retry`` fields with one leading space removed,
    an ``id`` with NUL ignored, the last event ID persisting across events, no dispatch for a
    block without data, and the unfinished last event never dispatched. Each chunk is decoded
    once and split once; a line spanning chunks is joined once, so the cost is linear.
    """

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

    def feed(self, chunk: bytes) -> List[Row]:
        """The events that ``chunk`` completes, as tuples, in order."""
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
        data = self._data
        remaining = iter(lines)
        if self._parts and lines:
            parts = self._parts
            self._parts = []
            first = parts[0]
            if len(parts) > 1 and len(first) > 5 and first.startswith("data:"):
                # A long data line: join its value straight from the pieces (one copy, not
                # two). Its colon and the optional space are both in the first piece.
                parts[0] = first[6:] if first[5] == " " else first[5:]
                parts.append(next(remaining))
                data.append("".join(parts))
            else:
                parts.append(lines[0])
                lines[0] = "".join(parts)
        rows: List[Row] = []
        event_type = self._event_type
        id_buffer = self._id_buffer
        block_retry = self._block_retry
        for line in remaining:
            if not line:
                self.last_event_id = id_buffer
                if data:
                    rows.append((event_type or "message", "\n".join(data), id_buffer, block_retry))
                    data = []
                event_type = ""
                block_retry = None
                continue
            # A comment (a line starting with a colon) gives the name "" and matches no field.
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
        return rows


def feed_counter(
    make: Callable[[], Feed], seen: Optional[List[Any]] = None
) -> Callable[[List[bytes]], int]:
    """Count what a fresh feed from ``make()`` yields over the chunks (and empty ``seen``,
    where reported comments pile up, so that no run holds the previous run's)."""

    def count(chunks: List[bytes]) -> int:
        feed = make()
        total = 0
        for data in chunks:
            for _item in feed(data):
                total += 1
        if seen is not None:
            seen.clear()
        return total

    return count


def open_plain(port: int, path: str, timeout: float = 60.0) -> http.client.HTTPResponse:
    """GET ``path`` with the standard library alone; the response, its headers read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("GET", path, headers={"Accept": "text/event-stream"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    return response


def floor_count(response: http.client.HTTPResponse) -> int:
    """The floor consumer: read the response to its end with ``read1(65536)`` feeding a
    FloorParser in this thread, and count the tuples one by one."""
    feed = FloorParser().feed
    read1 = response.read1
    count = 0
    try:
        while True:
            data = read1(65536)
            if not data:
                return count
            for _row in feed(data):
                count += 1
    finally:
        response.close()


def floor_each(response: http.client.HTTPResponse, on_row: Callable[[Row], object]) -> int:
    """Like :func:`floor_count`, calling ``on_row(row)`` for each event as it is parsed."""
    feed = FloorParser().feed
    read1 = response.read1
    count = 0
    try:
        while True:
            data = read1(65536)
            if not data:
                return count
            for row in feed(data):
                count += 1
                on_row(row)
    finally:
        response.close()


def design_floor_count(
    response: http.client.HTTPResponse,
    *,
    events: bool,
    thread: bool,
    seen: Optional[List[Tuple[Any, ...]]] = None,
) -> int:
    """The floor with one or both of the costs this library's design fixes (not the floor: a
    measure of those costs). ``events``: each tuple becomes an ``Event`` (a C-level ``map``
    of ``tuple.__new__``, the cheapest way to make one). ``thread``: the reading and parsing
    run in a thread of their own, which puts each read's rows on a ``queue.Queue``; this
    thread counts them (and, given ``seen``, keeps each row's first three fields there, for
    the check). Every other cost of the client is left out."""
    from sseclient_sync import Event

    feed = FloorParser().feed
    read1 = response.read1
    make = tuple.__new__

    def parsed() -> Iterable[List[Any]]:
        while True:
            data = read1(65536)
            if not data:
                return
            rows = feed(data)
            yield list(map(make, itertools.repeat(Event, len(rows)), rows)) if events else rows

    count = 0
    try:
        if seen is not None:  # the check run, in this thread: what is parsed, not how fast
            seen.extend(tuple(row[:3]) for batch in parsed() for row in batch)
            return len(seen)
        if not thread:
            for batch in parsed():
                for _row in batch:
                    count += 1
            return count
        handed: queue.Queue[Optional[List[Any]]] = queue.Queue()

        def reader() -> None:
            try:
                for batch in parsed():
                    handed.put(batch)
            finally:
                handed.put(None)

        worker = threading.Thread(target=reader, daemon=True)
        worker.start()
        for batch in iter(handed.get, None):
            for _row in batch:
                count += 1
        worker.join()
        return count
    finally:
        response.close()


# --- The server process ----------------------------------------------------------------------


class ServerProcess:
    """benchmarks/_server.py in a process of its own; a context manager."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = _read_line(self._process.stdout, SERVER_START_TIMEOUT)
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"the server process did not start: {line!r}")
        self.port = int(line.split()[1])

    def url_for(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        """Close the server's standard input, which stops it; kill it if it lingers."""
        process = self._process
        if process.stdin is not None and not process.stdin.closed:
            process.stdin.close()
        try:
            process.wait(SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(SERVER_STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _read_line(stream: IO[str], timeout: float) -> str:
    """The first line of ``stream``, or "" if none came within ``timeout`` seconds."""
    lines: List[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0].strip() if lines else ""


# --- Rounds ----------------------------------------------------------------------------------


def interleave(
    runners: Sequence[Tuple[str, Callable[[], float]]], rounds: int
) -> Dict[str, List[float]]:
    """Run every runner once per round, the order rotated each round; each run's figure.
    A runner that raises is recorded as no figure for that round (and its error re-raised
    only if it never succeeds)."""
    times: Dict[str, List[float]] = {name: [] for name, _ in runners}
    errors: Dict[str, BaseException] = {}
    for round_number in range(rounds):
        shift = round_number % max(1, len(runners))
        for name, run in [*runners[shift:], *runners[:shift]]:
            gc.collect()
            try:
                times[name].append(run())
            except Exception as error:
                errors[name] = error
    for name, failure in errors.items():
        if not times[name]:
            raise RuntimeError(f"{name} failed in every round: {failure!r}") from failure
    return times


def cpu_timer(
    count: Callable[[List[bytes]], object], chunks: List[bytes], warm: bool = False
) -> Callable[[], float]:
    """A runner for :func:`interleave`: the CPU seconds ``count(chunks)`` takes. ``warm``:
    run it once untimed just before, so that the allocator's state (which memory is free
    and mapped) is its own, not what the runner before it left: with multi-megabyte events,
    whoever follows another parser in the round can otherwise reuse the pages it freed, and
    the others pay thousands of page faults."""

    def run() -> float:
        if warm:
            count(chunks)
        start = time.process_time()
        count(chunks)
        return time.process_time() - start

    return run


def best(values: Sequence[float]) -> float:
    """The smallest figure (the least disturbed run)."""
    return min(values)


def median(values: Sequence[float]) -> float:
    """The median figure."""
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` 0.5 for the median)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(len(ordered), rank) - 1]


# --- Profiles --------------------------------------------------------------------------------


def profile_all_threads(
    run: Callable[[], object], clock: Optional[Callable[[], float]] = None
) -> pstats.Stats:
    """Run ``run()`` under cProfile, in this thread and in every thread it starts (their
    ``Thread.run`` is wrapped while it runs), and merge the profiles.

    cProfile's own clock is wall time: a blocking call's time is its wait, and with many
    threads a function's time includes waiting for the GIL. ``clock=time.thread_time`` counts
    each thread's CPU time instead (the right measure with hundreds of threads), at the price
    of a larger overhead per call."""
    profiles: List[cProfile.Profile] = []
    original = threading.Thread.run

    def make() -> cProfile.Profile:
        profile = cProfile.Profile() if clock is None else cProfile.Profile(clock)
        profiles.append(profile)
        return profile

    def profiled(thread: threading.Thread) -> None:
        make().runcall(original, thread)

    threading.Thread.run = profiled  # type: ignore[method-assign,assignment]
    try:
        make().runcall(run)
    finally:
        threading.Thread.run = original  # type: ignore[method-assign]
    stats = pstats.Stats(profiles[0])  # this thread's
    for profile in profiles[1:]:
        try:
            stats.add(profile)
        except TypeError:  # a thread still running has no stats yet
            pass
    return stats


#: Built-ins whose time in a profile is mostly waiting (for a lock, the socket, a timer).
WAITS = ("acquire' of '_thread.lock", "recv_into' of", "recv' of", "sleep", "select", "poll")


def print_profile(stats: pstats.Stats, per: int, what: str, top: int = 25) -> None:
    """The ``top`` functions by own time, with their own time per ``what`` (``per`` of them);
    the blocking calls (:data:`WAITS`) are listed apart and left out of the total."""
    entries = stats.stats  # type: ignore[attr-defined]

    def waiting(key: Tuple[str, int, str]) -> bool:
        return key[0] == "~" and any(wait in key[2] for wait in WAITS)

    total = sum(e[2] for key, e in entries.items() if not waiting(key))
    waits = sum(e[2] for key, e in entries.items() if waiting(key))
    print(
        f"profile: {total * 1000:.0f} ms of own time outside blocking calls, "
        f"{total / per * 1e6:.2f} us per {what}; blocking calls {waits * 1000:.0f} ms "
        "(mostly waiting, marked [wait])"
    )
    rows: List[List[Cell]] = []
    ordered = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)
    for key, (_, calls, tottime, cumtime, _) in ordered[:top]:
        share = "[wait]" if waiting(key) else f"{tottime / total * 100:.1f}%"
        rows.append(
            [_where(*key), calls, tottime * 1000, tottime / per * 1e6, cumtime * 1000, share]
        )
    print_table(["function", "calls", "own ms", f"own us/{what}", "cum ms", "share"], rows)


def _where(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function  # a built-in
    if "site-packages/" in filename:
        filename = filename.split("site-packages/", 1)[1]
    elif "/sseclient_sync/" in filename:
        filename = "sseclient_sync/" + filename.split("/sseclient_sync/", 1)[1]
    else:
        filename = os.path.basename(filename)
    return f"{filename}:{line} {function}"


# --- The process -----------------------------------------------------------------------------


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), in KiB; 0 where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def os_threads() -> int:
    """The number of OS threads of this process (``Threads:`` of /proc/self/status)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return threading.active_count()


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: ``5`` to /proc/self/clear_refs). True if done."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def library_state() -> str:
    """Which sseclient_sync is measured: its version, and the checkout's commit if any."""
    import sseclient_sync

    state = f"sseclient_sync {sseclient_sync.__version__}"
    try:
        head = subprocess.run(
            ["git", "-C", ROOT, "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", ROOT, "status", "--porcelain", "--", "sseclient_sync"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return state
    changed = f" + uncommitted changes to {len(dirty.splitlines())} file(s)" if dirty else ""
    if len(head) > 60:
        head = head[:57] + "..."
    return f"{state} at {head}{changed}"


def preamble(what: str) -> None:
    """Print what is measured, on what, and the machine's load."""
    print(what)
    print(
        f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load average "
        f"{os.getloadavg()[0]:.2f}; {library_state()}"
    )


# --- Tables ----------------------------------------------------------------------------------

Cell = Union[str, int, float, None]


def ratio(value: Optional[float], floor: Optional[float]) -> str:
    """``value / floor`` as ``1.23x``, or "-" when either is missing."""
    if value is None or not floor:
        return "-"
    return f"{value / floor:.2f}x"


class Notes:
    """Footnotes for a table: a long remark becomes ``[n]`` in its cell, printed below."""

    def __init__(self) -> None:
        self._texts: Dict[str, int] = {}

    def mark(self, text: str, short: str = "") -> str:
        """``short`` (or the text's first word) and ``[n]`` for ``text``; "ok" stays as is."""
        if text == "ok" or not text:
            return text
        number = self._texts.setdefault(text, len(self._texts) + 1)
        word = short or text.split(":", maxsplit=1)[0].split(maxsplit=1)[0]
        return f"{word} [{number}]"

    def print(self) -> None:
        """Print the footnotes, if any."""
        for text, number in self._texts.items():
            print(f"[{number}] {text}")


def print_table(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    """Print rows under a header, the first column left-aligned, the others right-aligned."""
    texts = [[_cell(value) for value in row] for row in rows]
    widths = [
        max(len(str(header[i])), *(len(row[i]) for row in texts if i < len(row)))
        for i in range(len(header))
    ]

    def line(cells: Sequence[str]) -> str:
        cells = [*cells, *([""] * (len(widths) - len(cells)))]
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))]).rstrip()

    print(line([str(h) for h in header]))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for row in texts:
        print(line(row))


def _cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value
