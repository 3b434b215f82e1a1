"""sseclient_sync: a synchronous, threaded Server-Sent Events client built on requests.

>>> import sseclient_sync as sse
>>> with sse.create_sse_connection("https://example.org/stream") as conn:  # doctest: +SKIP
...     for event in conn:
...         print(event.data)
"""

from ._connection import Connection
from ._exceptions import (
    CallbackError,
    ConnectError,
    ContentTypeError,
    EventTooLarge,
    HTTPStatusError,
    InternalError,
    ProtocolError,
    ReadTimeout,
    RetryExhausted,
    ServerEventError,
    SSEError,
)
from ._manager import (
    ConnectionManager,
    close_all_sse_connections,
    close_sse_connection,
    create_sse_connection,
    get_all_sse_connections,
    get_sse_connection_count,
    is_sse_connection_open,
)
from ._models import Comment, Event, Stats, Status
from ._parser import SSEParser
from ._retry import Retry
from ._version import __version__

__all__ = [
    "CallbackError",
    "Comment",
    "ConnectError",
    "Connection",
    "ConnectionManager",
    "ContentTypeError",
    "Event",
    "EventTooLarge",
    "HTTPStatusError",
    "InternalError",
    "ProtocolError",
    "ReadTimeout",
    "Retry",
    "RetryExhausted",
    "SSEError",
    "SSEParser",
    "ServerEventError",
    "Stats",
    "Status",
    "__version__",
    "close_all_sse_connections",
    "close_sse_connection",
    "create_sse_connection",
    "get_all_sse_connections",
    "get_sse_connection_count",
    "is_sse_connection_open",
]
