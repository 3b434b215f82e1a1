"""sseclient_sync: a synchronous, threaded Server-Sent Events client built on requests."""

from ._exceptions import (
    ConnectError,
    ContentTypeError,
    EventTooLarge,
    HTTPStatusError,
    ReadTimeout,
    RetryExhausted,
    SSEError,
)
from ._models import Event, Stats, Status
from ._parser import SSEParser
from ._version import __version__

__all__ = [
    "ConnectError",
    "ContentTypeError",
    "Event",
    "EventTooLarge",
    "HTTPStatusError",
    "ReadTimeout",
    "RetryExhausted",
    "SSEError",
    "SSEParser",
    "Stats",
    "Status",
    "__version__",
]
