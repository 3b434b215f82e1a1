"""The seam between a connection and the network: what a request is, what an open stream
does, and what opens one. Protocols only, with no requests import, so that everything above
the transport can be tested with a fake one; ``_http.py`` is the real implementation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Protocol

__all__ = ["Request", "Stream", "Transport"]


@dataclasses.dataclass(frozen=True)
class Request:
    """What to send. ``headers`` already holds the SSE headers and ``Last-Event-ID``."""

    method: str
    url: str
    params: Optional[Mapping[str, Any]] = None
    headers: Optional[Mapping[str, Any]] = None
    json: Any = None
    data: Any = None
    auth: Any = None
    verify: Any = None
    cert: Any = None
    proxies: Optional[Mapping[str, str]] = None


class Stream(Protocol):
    """An open, accepted ``text/event-stream`` response."""

    url: str

    def read(self) -> bytes:
        """The bytes that have arrived (waiting for at least one), or b"" at the end."""

    def abort(self) -> None:
        """From any thread: wake a blocked read. From the reading thread (which calls it once
        it is done with the stream, however the stream ended): also release the socket."""


class Transport(Protocol):
    """Opens streams. The connection talks to this seam only, so tests can fake it."""

    def open(
        self, request: Request, timeout: float, read_timeout: Optional[float]
    ) -> Optional[Stream]:
        """Send ``request``; return the stream, or ``None`` when the server answered 204 (the
        server's way of saying: stop, do not reconnect). Raises ConnectError, HTTPStatusError or
        ContentTypeError."""

    def abort(self) -> bool:
        """From any thread: interrupt an ``open`` or ``poll`` in progress. False when one is
        in progress that no interrupt reaches (a session of the caller's own)."""

    def poll(
        self, request: Request, timeout: float, read_timeout: Optional[float], limit: Optional[int]
    ) -> bytes:
        """Send ``request`` for the polling fallback; return the body of a 200 response.
        ``timeout`` bounds connecting, ``read_timeout`` each silence. Raises ConnectError,
        HTTPStatusError, ReadTimeout, or EventTooLarge for a body past ``limit`` bytes."""

    def close(self) -> None:
        """Release what the transport owns (its own session)."""
