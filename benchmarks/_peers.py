"""The clients the benchmarks compare, each used the way its own documentation shows.

The one rule this module owns: a peer that is not installed is reported as such, never an
error, and every client's events are reduced to the same ``(type, data, id)`` triple so that
a benchmark can check that each got every event, unchanged (``id`` is the last event ID in
force, as the spec defines it; a peer that only reports an event's own ``id:`` field is
compared on the benchmark streams, where every event carries one).

The peers (the ``bench`` extra of setup.cfg): launchdarkly-eventsource (``ld_eventsource``),
httpx-sse, requests-sse and sseclient-py.

- Streams: :data:`STREAMERS` maps each client's name to ``open(url)``, a context manager that
  returns once the response headers are in and gives an iterable of that client's events,
  and ``fields(event)``, the triple.
- Parsers: :data:`PARSERS` maps each client to a parser that takes the body's bytes in
  chunks, where the client has one that can be used apart from its HTTP code (requests-sse
  does not: its field parsing is inside ``EventSource.__next__``, reading requests'
  ``iter_lines()``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
from typing import Any, Callable, ContextManager, Dict, Iterable, Iterator, List, Optional, Tuple

import _common

import sseclient_sync as sse

Triple = Tuple[str, str, Optional[str]]
Chunks = List[bytes]

US = "sseclient_sync"
FLOOR = "floor"
#: name shown -> (import name, distribution name)
PEER_MODULES: Dict[str, Tuple[str, str]] = {
    "ld-eventsource": ("ld_eventsource", "launchdarkly-eventsource"),
    "httpx-sse": ("httpx_sse", "httpx-sse"),
    "requests-sse": ("requests_sse", "requests-sse"),
    "sseclient-py": ("sseclient", "sseclient-py"),
}
PEERS = list(PEER_MODULES)
#: How long any client may wait for the next bytes of a benchmark stream.
READ_TIMEOUT = 60.0


def missing(name: str) -> Optional[str]:
    """Why peer ``name`` cannot run ("not installed"), or None when it can."""
    module, _ = PEER_MODULES[name]
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return "not installed"
    try:
        importlib.import_module(module)
    except Exception as error:  # installed but broken: say so, and run the others
        return f"cannot be imported ({type(error).__name__}: {error})"
    return None


#: What each peer's stream code imports, to import before measuring its memory.
IMPORTS: Dict[str, Tuple[str, ...]] = {
    "ld-eventsource": ("ld_eventsource", "ld_eventsource.config"),
    "httpx-sse": ("httpx", "httpx_sse"),
    "requests-sse": ("requests_sse",),
    "sseclient-py": ("sseclient", "urllib3"),
}


def preload(name: str) -> None:
    """Import what client ``name`` needs, so that its imports are not counted as its streams'."""
    for module in IMPORTS.get(name, ()):
        importlib.import_module(module)


def versions() -> str:
    """The peers' versions, for the preamble."""
    parts = []
    for name, (_, distribution) in PEER_MODULES.items():
        reason = missing(name)
        if reason is None:
            reason = importlib.metadata.version(distribution)
        parts.append(f"{name} {reason}")
    return "peers: " + ", ".join(parts)


# --- Streams: each client reading one response ----------------------------------------------


class Streamer:
    """How one client reads a stream: ``open(url)`` and ``fields(event)``. Where the client's
    documentation has one object serve many streams (httpx's ``Client``), ``shared(k)`` makes
    one for ``k`` streams and ``open(url, shared)`` uses it."""

    def __init__(
        self,
        open_stream: Callable[..., ContextManager[Iterable[Any]]],
        fields: Callable[[Any], Triple],
        shared: Optional[Callable[[int], Any]] = None,
    ) -> None:
        self.open = open_stream
        self.fields = fields
        self.shared = shared


@contextlib.contextmanager
def _ours(url: str) -> Iterator[Iterable[sse.Event]]:
    with sse.create_sse_connection(url, retry=0, read_timeout=READ_TIMEOUT) as conn:
        yield conn.events(timeout=READ_TIMEOUT)


@contextlib.contextmanager
def _ld(url: str) -> Iterator[Iterable[Any]]:
    from ld_eventsource import SSEClient
    from ld_eventsource.config import ConnectStrategy

    strategy = ConnectStrategy.http(url, urllib3_request_options={"timeout": READ_TIMEOUT})
    with SSEClient(connect=strategy) as client:  # the default ErrorStrategy: stop at the end
        client.start()
        yield client.events


def _httpx_client(streams: int) -> Any:
    """One httpx Client for ``streams`` streams at once (its pool unbounded)."""
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    return httpx.Client(timeout=READ_TIMEOUT, limits=limits)


@contextlib.contextmanager
def _httpx_sse(url: str, shared: Any = None) -> Iterator[Iterable[Any]]:
    import httpx
    from httpx_sse import connect_sse

    with contextlib.ExitStack() as stack:
        client = shared or stack.enter_context(httpx.Client(timeout=READ_TIMEOUT))
        event_source = stack.enter_context(connect_sse(client, "GET", url))
        yield event_source.iter_sse()


class _StreamEnded(Exception):
    """requests-sse reconnects forever; its ``on_error`` (called when the stream ends) raises
    this to stop the iteration there."""


def _stop() -> None:
    raise _StreamEnded


@contextlib.contextmanager
def _requests_sse(url: str) -> Iterator[Iterable[Any]]:
    from requests_sse import EventSource

    with EventSource(url, timeout=READ_TIMEOUT, on_error=_stop, max_connect_retry=0) as source:
        yield _until_ended(source)


def _until_ended(source: Iterable[Any]) -> Iterator[Any]:
    try:
        yield from source
    except _StreamEnded:
        return


@contextlib.contextmanager
def _sseclient_py(url: str) -> Iterator[Iterable[Any]]:
    import sseclient
    import urllib3

    http = urllib3.PoolManager()
    response = http.request("GET", url, preload_content=False, timeout=READ_TIMEOUT)
    try:
        yield sseclient.SSEClient(response).events()
    finally:
        response.release_conn()
        http.clear()


STREAMERS: Dict[str, Streamer] = {
    US: Streamer(_ours, lambda e: (e.event, e.data, e.id)),
    "ld-eventsource": Streamer(_ld, lambda e: (e.event, e.data, e.last_event_id)),
    "httpx-sse": Streamer(_httpx_sse, lambda e: (e.event, e.data, e.id or None), _httpx_client),
    "requests-sse": Streamer(_requests_sse, lambda e: (e.type, e.data, e.last_event_id or None)),
    "sseclient-py": Streamer(_sseclient_py, lambda e: (e.event, e.data, e.id)),
}


# --- Parsers: bytes in memory, fed in chunks -------------------------------------------------


class Parser:
    """One client's parser: ``count(chunks)`` for timing, ``collect(chunks)`` for checking.
    ``unavailable`` says why there is none."""

    def __init__(
        self,
        count: Optional[Callable[[Chunks], int]] = None,
        collect: Optional[Callable[[Chunks], List[Triple]]] = None,
        unavailable: Optional[str] = None,
    ) -> None:
        self.count = count
        self.collect = collect
        self.unavailable = unavailable


def _ours_collect(chunks: Chunks) -> List[Triple]:
    parser = sse.SSEParser()
    return [(e.event, e.data, e.id) for data in chunks for e in parser.feed(data)]


def _floor_collect(chunks: Chunks) -> List[Triple]:
    parser = _common.FloorParser()
    return [(t, d, i) for data in chunks for t, d, i, _ in parser.feed(data)]


def _ld_events(chunks: Chunks) -> Iterator[Any]:
    """What ld-eventsource's SSEClient.events runs over the stream's chunks: its line reader,
    its event reader, and the filter that keeps the events (not the comments)."""
    from ld_eventsource.actions import Event
    from ld_eventsource.reader import _BufferedLineReader, _SSEReader

    reader = _SSEReader(_BufferedLineReader.lines_from(chunks), None, None)
    for item in reader.events_and_comments():
        if isinstance(item, Event):
            yield item


def _httpx_sse_events(chunks: Chunks) -> Iterator[Any]:
    """What httpx-sse's ``EventSource.iter_sse`` runs over ``Response.iter_text()``: httpx's
    incremental UTF-8 decoder, httpx-sse's line decoder and its event decoder."""
    from httpx._decoders import TextDecoder
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    text_decoder = TextDecoder(encoding="utf-8")  # httpx's default for text/event-stream
    lines = SSELineDecoder()
    decoder = SSEDecoder()
    for data in chunks:
        text = text_decoder.decode(data)
        if not text:
            continue
        for line in lines.decode(text):
            event = decoder.decode(line.rstrip("\n"))
            if event is not None:
                yield event
    for line in lines.flush():
        event = decoder.decode(line.rstrip("\n"))
        if event is not None:
            yield event


def _sseclient_py_events(chunks: Chunks) -> Iterable[Any]:
    """sseclient-py's SSEClient over an iterable of byte chunks (what its README passes as
    ``s.iter_bytes()`` in the httpx example)."""
    import sseclient

    return sseclient.SSEClient(iter(chunks)).events()


def parsers() -> Dict[str, Parser]:
    """Every client's parser, ours and the floor's first; a missing peer says why."""
    table: Dict[str, Parser] = {
        US: Parser(_common.feed_counter(lambda: sse.SSEParser().feed), _ours_collect),
        FLOOR: Parser(_common.feed_counter(lambda: _common.FloorParser().feed), _floor_collect),
    }
    fields = {name: streamer.fields for name, streamer in STREAMERS.items()}
    found: Dict[str, Callable[[Chunks], Iterable[Any]]] = {
        "ld-eventsource": _ld_events,
        "httpx-sse": _httpx_sse_events,
        "sseclient-py": _sseclient_py_events,
    }
    for name in PEERS:
        reason = missing(name)
        if reason is not None:
            table[name] = Parser(unavailable=reason)
        elif name in found:
            events = found[name]
            table[name] = Parser(_event_counter(events), _collector(events, fields[name]))
        else:
            table[name] = Parser(
                unavailable="no separable parser (parsing is inside EventSource.__next__, "
                "reading requests' iter_lines())"
            )
    return table


def _event_counter(events: Callable[[Chunks], Iterable[Any]]) -> Callable[[Chunks], int]:
    """Count, one by one, the events ``events(chunks)`` yields."""

    def count(chunks: Chunks) -> int:
        total = 0
        for _event in events(chunks):
            total += 1
        return total

    return count


def _collector(
    events: Callable[[Chunks], Iterable[Any]], fields: Callable[[Any], Triple]
) -> Callable[[Chunks], List[Triple]]:
    return lambda chunks: [fields(event) for event in events(chunks)]


# --- Checking what a client got --------------------------------------------------------------


def verdict(got: List[Triple], expected: List[Triple]) -> str:
    """ "ok", or what is wrong with ``got``: lost or extra events, the first difference."""
    if got == expected:
        return "ok"
    problems = []
    if len(got) < len(expected):
        problems.append(f"lost {len(expected) - len(got):,} of {len(expected):,}")
    elif len(got) > len(expected):
        empty = sum(1 for _, data, _ in got if not data) - sum(
            1 for _, data, _ in expected if not data
        )
        extra = f"{len(got) - len(expected):,} extra events"
        problems.append(extra + (f" ({empty:,} of them empty)" if empty > 0 else ""))
    first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), None)
    if first is not None:
        changed = sum(1 for a, b in zip(got, expected) if a != b)
        what = "first difference" if len(got) != len(expected) else f"{changed:,} changed, first"
        problems.append(
            f"{what} #{first}: got {_short(got[first])}, expected {_short(expected[first])}"
        )
    return "WRONG: " + "; ".join(problems)


def _short(triple: Triple) -> str:
    text = repr(triple)
    return text if len(text) <= 70 else text[:67] + "..."
