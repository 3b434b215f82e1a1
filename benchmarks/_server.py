"""The benchmarks' loopback server: what goes on the wire, and when, for every suite.

The one rule this module owns: the server never becomes what a benchmark measures. It runs in
a process of its own (its CPU time, memory and GIL are not the client's), bulk bodies are
encoded once and written in 64 KiB slices, and timed events are written by one scheduler
thread that stamps each event with ``time.monotonic()`` just before its ``send``. Linux's
CLOCK_MONOTONIC is shared by every process on the machine, so a client subtracts that stamp
from its own ``time.monotonic()`` to get the delivery latency.

Run as ``python benchmarks/_server.py``: it prints ``port N`` and serves 127.0.0.1 until its
standard input closes. Every response is ``text/event-stream`` with ``Connection: close``.

Routes:

- ``/bulk?n=N&framing=F&size=S&pause=P``: N events as fast as the socket takes them. ``F``:
  ``event`` (chunked, one HTTP chunk per event), ``chunk4k`` (chunked, 4096-byte chunks that
  cut events anywhere) or ``close`` (close-delimited). ``S``: ``small`` (:func:`small_event`)
  or ``kib`` (:func:`kib_event`, about 1 KiB of data). With ``P`` seconds, the first event
  goes alone, then the rest after that pause.
- ``/timed?n=N&interval=I&framing=F&phase=P&group=G``: a warm-up event (seq 0), then N events
  (seq 1..N) one every I seconds, the first P seconds after the start. ``F``: ``chunked``
  (one chunk per event) or ``close``. Without ``group`` the stream starts at once; with one it
  waits for ``/go?group=G`` (the client opens all its streams first, then says go).
- ``/go?group=G``: starts every stream of group G; answers an empty event stream.
- ``/soak?every=E&interval=I&replay=R&seed=X``: an endless chunked stream of events with ids
  ``0, 1, 2 ...`` from ``Last-Event-ID + 1`` (0 without one), moved back by a random 0..R
  events (a server that replays a little after a reconnect), one every I seconds; after a
  random E/2..3E/2 events the connection is reset (half the time in the middle of an event).

Event data always starts with the event's sequence number; timed and soak events carry the
send stamp as the second word.
"""

from __future__ import annotations

import heapq
import itertools
import random
import resource
import socket
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

#: Bulk bodies are written in slices this large (what one read of the client may get).
SLICE = 65536
CHUNK_4K = 4096
#: A timed stream whose client stopped reading is dropped once this much waits to be sent.
MAX_PENDING = 1 << 20
REQUEST_TIMEOUT = 30.0
HEADERS_END = b"\r\n\r\n"


# --- Events on the wire ----------------------------------------------------------------------


def small_event(seq: int) -> bytes:
    """A small event (about 50 bytes) with an id, its data starting with its sequence number."""
    return b'id: %d\ndata: %d {"text": "hello, world"}\n\n' % (seq, seq)


def kib_event(seq: int) -> bytes:
    """An event with about 1 KiB of data (1024 characters), starting with its sequence number."""
    head = b"%d " % seq
    return b"id: %d\ndata: %s%s\n\n" % (seq, head, b"x" * (1024 - len(head)))


def stamped_event(seq: int, stamp: float) -> bytes:
    """A small event whose data is ``"<seq> <monotonic stamp>"``."""
    return b"id: %d\ndata: %d %.9f\n\n" % (seq, seq, stamp)


def chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def head(chunked: bool) -> bytes:
    """The response head: an event stream, closed after this response."""
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        + framing
        + b"Connection: close\r\n\r\n"
    )


def bulk_body(count: int, framing: str, size: str, split: bool = False) -> List[bytes]:
    """The response of ``/bulk`` (head included), in one piece; or, ``split``, in two: the
    first event alone, then the rest."""
    make = kib_event if size == "kib" else small_event
    events = [make(seq) for seq in range(count)]
    if framing not in ("close", "event", "chunk4k"):
        raise ValueError(f"unknown framing {framing!r}")
    groups = [events[:1], events[1:]] if split else [events]
    parts = [_framed(group, framing) for group in groups]
    parts[0] = head(framing != "close") + parts[0]
    if framing != "close":
        parts[-1] += b"0\r\n\r\n"
    return parts


def _framed(events: List[bytes], framing: str) -> bytes:
    if framing == "close":
        return b"".join(events)
    if framing == "event":
        return b"".join(map(chunk, events))
    body = b"".join(events)
    return b"".join(chunk(body[i : i + CHUNK_4K]) for i in range(0, len(body), CHUNK_4K))


# --- Timed streams ---------------------------------------------------------------------------


class TimedStream:
    """One stream the scheduler writes: its socket, what it still has to send, and when."""

    def __init__(self, sock: socket.socket, chunked: bool, first: int, count: int) -> None:
        self.sock = sock
        self.chunked = chunked
        self.seq = first  # the next event to send
        self.end = first + count  # exclusive; soak streams are endless until they drop
        self.pending = b""
        self.interval = 0.0
        self.drop_after = -1  # soak: events left before the reset, -1 for never
        self.cut_mid_event = False

    def frame(self, data: bytes) -> bytes:
        return chunk(data) if self.chunked else data


class Scheduler:
    """The one thread that writes every timed and soak event, each at its due time."""

    def __init__(self) -> None:
        self._heap: List[Tuple[float, int, TimedStream]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._groups: Dict[str, List[Tuple[float, TimedStream]]] = {}
        self.stopping = False

    def add(self, stream: TimedStream, due: float) -> None:
        with self._wake:
            heapq.heappush(self._heap, (due, next(self._order), stream))
            self._wake.notify()

    def park(self, group: str, phase: float, stream: TimedStream) -> None:
        """Hold ``stream`` until ``/go`` for its group."""
        with self._wake:
            self._groups.setdefault(group, []).append((phase, stream))

    def go(self, group: str) -> int:
        """Start every stream of ``group``, each at its phase from now; how many."""
        now = time.monotonic()
        with self._wake:
            parked = self._groups.pop(group, [])
            for phase, stream in parked:
                heapq.heappush(self._heap, (now + phase, next(self._order), stream))
            self._wake.notify()
        return len(parked)

    def run(self) -> None:
        while True:
            with self._wake:
                while not self.stopping:
                    if self._heap:
                        delay = self._heap[0][0] - time.monotonic()
                        if delay <= 0:
                            break
                        self._wake.wait(min(delay, 0.5))
                    else:
                        self._wake.wait(0.5)
                if self.stopping:
                    return
                due, _, stream = heapq.heappop(self._heap)
            following = self._step(stream)
            if following is not None:
                self.add(
                    stream,
                    following
                    if stream.pending or stream.seq > stream.end
                    else max(due + stream.interval, following),
                )

    def _step(self, stream: TimedStream) -> Optional[float]:
        """Write the stream's next event (or its end); when to come back, None when done."""
        try:
            # What the socket did not take last time goes first.
            if stream.pending and not self._send(stream, b""):
                return time.monotonic() + 0.005
            if stream.drop_after == 0:
                if stream.cut_mid_event:
                    event = stream.frame(stamped_event(stream.seq, time.monotonic()))
                    self._send(stream, event[: len(event) // 2])
                reset(stream.sock)
                return None
            if stream.seq >= stream.end:
                if stream.chunked and stream.seq == stream.end:
                    stream.seq += 1  # the last chunk goes once
                    if not self._send(stream, b"0\r\n\r\n"):
                        return time.monotonic() + 0.005
                stream.sock.shutdown(socket.SHUT_WR)
                stream.sock.close()
                return None
            self._send(stream, stream.frame(stamped_event(stream.seq, time.monotonic())))
        except OSError:  # the client went away
            stream.sock.close()
            return None
        stream.seq += 1
        if stream.drop_after > 0:
            stream.drop_after -= 1
        return time.monotonic()

    @staticmethod
    def _send(stream: TimedStream, data: bytes) -> bool:
        """Send what is pending and ``data``, as much as the socket takes; True if all."""
        data = stream.pending + data
        sent = 0
        if data:
            try:
                sent = stream.sock.send(data)
            except BlockingIOError:
                sent = 0
        stream.pending = data[sent:]
        if len(stream.pending) > MAX_PENDING:
            raise OSError("the client stopped reading")
        return not stream.pending


def finish(sock: socket.socket) -> None:
    """End a response: FIN, then close (the client reads to the end first)."""
    try:
        sock.setblocking(True)
        sock.settimeout(5.0)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # the client's own close, or the timeout: then our close leaves no backlog
    except OSError:
        pass
    sock.close()


def reset(sock: socket.socket) -> None:
    """Abort a connection with a TCP reset: a dropped stream, no proper end."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()


# --- Requests --------------------------------------------------------------------------------


class Server:
    """Accepts connections, reads each request in a short-lived thread, and answers it."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4096)
        self.port = self.listener.getsockname()[1]
        self.scheduler = Scheduler()
        self._bodies: Dict[Tuple[int, str, str, bool], List[bytes]] = {}
        self._bodies_lock = threading.Lock()
        self._random = random.Random(0)

    def serve(self) -> None:
        threading.Thread(target=self.scheduler.run, daemon=True).start()
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed: stop
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def stop(self) -> None:
        self.scheduler.stopping = True
        self.listener.close()

    def _handle(self, sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(REQUEST_TIMEOUT)
            target, headers = read_request(sock)
            parts = urlsplit(target)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            self._answer(sock, parts.path, query, headers)
        except Exception as error:  # a client that vanished mid-request, or a bad request
            print(f"server: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            sock.close()

    def _answer(
        self, sock: socket.socket, path: str, query: Dict[str, str], headers: Dict[str, str]
    ) -> None:
        if path == "/bulk":
            self._bulk(sock, query)
        elif path == "/timed":
            self._timed(sock, query)
        elif path == "/go":
            started = self.scheduler.go(query["group"])
            sock.sendall(head(False) + b": started %d\n\n" % started)
            finish(sock)
        elif path == "/soak":
            self._soak(sock, query, headers.get("last-event-id"))
        else:
            sock.sendall(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            finish(sock)

    def _bulk(self, sock: socket.socket, query: Dict[str, str]) -> None:
        pause = float(query.get("pause", "0"))
        key = (int(query["n"]), query.get("framing", "event"), query.get("size", ""), pause > 0)
        with self._bodies_lock:
            parts = self._bodies.get(key)
            if parts is None:
                parts = self._bodies[key] = bulk_body(*key)
        sock.settimeout(None)  # a stalled client holds its thread, not the others
        for number, part in enumerate(parts):
            if number:
                time.sleep(pause)
            view = memoryview(part)
            for start in range(0, len(part), SLICE):
                sock.sendall(view[start : start + SLICE])
        finish(sock)

    def _timed(self, sock: socket.socket, query: Dict[str, str]) -> None:
        chunked = query.get("framing", "chunked") != "close"
        stream = TimedStream(sock, chunked, first=0, count=int(query["n"]) + 1)
        stream.interval = float(query.get("interval", "0.01"))
        phase = float(query.get("phase", "0"))
        group = query.get("group")
        if group:
            # Parked before the head goes out: a client that has every head sends /go at
            # once, and a stream parked after it would never start.
            self.scheduler.park(group, phase, stream)
        sock.sendall(head(chunked))
        sock.setblocking(False)
        if not group:
            self.scheduler.add(stream, time.monotonic() + phase)

    def _soak(self, sock: socket.socket, query: Dict[str, str], last_id: Optional[str]) -> None:
        every = int(query.get("every", "50"))
        replay = int(query.get("replay", "0"))
        first = int(last_id) + 1 if last_id else 0
        with self._bodies_lock:  # one Random for every handler thread
            first = max(0, first - self._random.randint(0, replay))
            drop_after = self._random.randint(max(1, every // 2), every + every // 2)
            cut = self._random.random() < 0.5
        stream = TimedStream(sock, chunked=True, first=first, count=sys.maxsize)
        stream.interval = float(query.get("interval", "0.01"))
        stream.drop_after = drop_after
        stream.cut_mid_event = cut
        sock.sendall(head(True))
        sock.setblocking(False)
        self.scheduler.add(stream, time.monotonic())


def read_request(sock: socket.socket) -> Tuple[str, Dict[str, str]]:
    """The request target and the headers (names in lower case); a body is not read."""
    data = b""
    while HEADERS_END not in data:
        got = sock.recv(65536)
        if not got:
            raise ConnectionError("the client closed before its request ended")
        data += got
        if len(data) > 1 << 20:
            raise ValueError("request head too large")
    lines = data.split(HEADERS_END, 1)[0].decode("latin-1").split("\r\n")
    target = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return target, headers


def raise_fd_limit() -> None:
    """Raise the soft limit on open files to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    """Serve until standard input closes (the benchmark that started us ended, or died)."""
    raise_fd_limit()
    server = Server()
    threading.Thread(target=server.serve, daemon=True).start()
    print(f"port {server.port}", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
