"""What the server received, and who answers it: every request is recorded before it is
answered, and every responder, whatever its shape, becomes one callable
``RecordedRequest -> Reply`` when the route is made.
"""

from __future__ import annotations

import dataclasses
import json as _json
import threading
import time
from typing import (
    Any,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from ._replies import Reply, text_reply

# --- What the server received -------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Header fields by case-insensitive name; a repeated field's values are joined with ", "
    (RFC 9110 section 5.3). Iterating gives the names as first received."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[Tuple[str, str]] = ()) -> None:
        self._fields: dict[str, Tuple[str, str]] = {}
        for name, value in fields:
            key = name.lower()
            if key in self._fields:
                first_name, earlier = self._fields[key]
                self._fields[key] = (first_name, earlier + ", " + value)
            else:
                self._fields[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    ``path`` is the target without its query string (``"/chat"``), ``target`` the raw request
    target (``"/chat?offset=3"``), ``query`` the parsed query string (blank values kept).
    ``headers`` is a case-insensitive mapping (``headers["last-event-id"]``); a repeated
    field's values are joined with ``", "``. ``body`` is the request body, de-chunked.
    ``client_cert`` is the certificate the client presented (``ssl.SSLSocket.getpeercert()``)
    when the server's TLS context asks for one (``CERT_OPTIONAL`` or ``CERT_REQUIRED``), else
    ``None``.
    """

    method: str
    path: str
    target: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""
    client_cert: Optional[dict[str, Any]] = None

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers.items()))

    def json(self, **loads_kwargs: Any) -> Any:
        """Parse ``body`` as JSON (``json.loads`` keyword arguments are passed through)."""
        return _json.loads(self.body, **loads_kwargs)

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The value of header ``name`` (any case), or ``default`` when it was not sent."""
        return self.headers.get(name, default)


class Recorder:
    """Every request received, in arrival order; safe to use from any thread."""

    def __init__(self) -> None:
        self._arrived = threading.Condition()
        self._requests: list[RecordedRequest] = []

    def record(self, request: RecordedRequest) -> None:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()

    def snapshot(self) -> list[RecordedRequest]:
        with self._arrived:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float, where: str) -> list[RecordedRequest]:
        """Wait until ``count`` requests have arrived; TimeoutError naming ``where`` if not."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(f"{r.method} {r.target}" for r in self._requests) or "none"
                    raise TimeoutError(
                        f"waited {timeout} s for {count} requests to {where}, "
                        f"{len(self._requests)} arrived: {seen}"
                    )
                self._arrived.wait(remaining)
            return list(self._requests)


# --- Who answers it -----------------------------------------------------------------------

#: What :meth:`SSEServer.route` serves: a Reply, a sequence of Replies, or a callable.
Responder = Union[Reply, Sequence[Reply], Callable[[RecordedRequest], Reply]]

#: The one shape every responder is turned into.
Respond = Callable[[RecordedRequest], Reply]


class _InOrder:
    """Serves its Replies one per request, in order; the last one repeats once exhausted."""

    __slots__ = ("_lock", "_replies", "_served")

    def __init__(self, replies: Tuple[Reply, ...]) -> None:
        self._replies = replies
        self._served = 0
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            reply = self._replies[min(self._served, len(self._replies) - 1)]
            self._served += 1
        return reply


def as_respond(responder: Responder) -> Respond:
    """The callable serving ``responder``. Raises TypeError or ValueError for anything else."""
    if isinstance(responder, Reply):
        reply = responder
        return lambda request: reply
    if isinstance(responder, Sequence):
        replies = tuple(responder)
        if not replies:
            raise ValueError("a sequence responder needs at least one Reply")
        for item in replies:
            if not isinstance(item, Reply):
                raise TypeError(f"a sequence responder holds Replies only, got {item!r}")
        return _InOrder(replies)
    if callable(responder):
        return responder
    raise TypeError(f"a responder is a Reply, a sequence of Replies or a callable: {responder!r}")


@dataclasses.dataclass(frozen=True)
class _Route:
    respond: Respond
    methods: Optional[frozenset[str]]  # upper case; None: any method


class Routes:
    """The route table: exact paths to responders; safe to change from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}

    def add(self, path: str, responder: Responder, methods: Optional[Collection[str]]) -> None:
        """Serve ``responder`` at ``path``, replacing an earlier route for it."""
        if not path.startswith("/") or "?" in path:
            raise ValueError(f"a route path starts with '/' and has no query, got {path!r}")
        allowed = None
        if methods is not None:
            names = [methods] if isinstance(methods, str) else methods
            allowed = frozenset(method.upper() for method in names)
        route = _Route(as_respond(responder), allowed)
        with self._lock:
            self._routes[path] = route

    def reply_for(self, request: RecordedRequest) -> Reply:
        """The Reply for ``request``: its route's, or a 404 naming what is wrong. The responder
        runs outside the table's lock, so it may block."""
        with self._lock:
            route = self._routes.get(request.path)
        if route is None:
            return text_reply(404, f"no route for {request.path}\n")
        if route.methods is not None and request.method.upper() not in route.methods:
            allowed = ", ".join(sorted(route.methods))
            return text_reply(
                404, f"{request.path} does not accept {request.method} (only {allowed})\n"
            )
        reply = route.respond(request)
        if not isinstance(reply, Reply):
            raise TypeError(f"the responder for {request.path} returned {reply!r}, not a Reply")
        return reply
