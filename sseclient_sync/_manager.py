"""ConnectionManager: a registry of live connections with create / close / close-all / count,
supervision of reader threads, and the module-level functions over a default manager.

One lock guards the registry and nothing else: it is never held while a connection opens,
closes, joins its thread or runs a callback, so every method is safe from any thread and from
inside any callback.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urljoin

from ._connection import Connection, close_together
from ._http import check_session, new_session
from ._options import (
    DEFAULT_RUNTIME,
    Runtime,
    build_options,
    check_url,
    merge_options,
    replayable,
)
from ._transport import Transport

if TYPE_CHECKING:
    import requests

__all__ = [
    "ConnectionManager",
    "close_all_sse_connections",
    "close_sse_connection",
    "create_sse_connection",
    "get_all_sse_connections",
    "get_sse_connection_count",
    "is_sse_connection_open",
]

log = logging.getLogger(__name__)

_managers: weakref.WeakSet[ConnectionManager] = weakref.WeakSet()


class ConnectionManager:
    """Creates connections and keeps track of the live ones.

    ``base_url`` is joined with relative URLs given to :meth:`create`; ``session`` is shared by
    every connection (connection reuse, auth, proxies); without one the manager makes its own,
    whose requests ``close()`` can interrupt even while they wait for response headers.
    ``default_options`` are connection options that every :meth:`create` starts from: an
    option a call gives replaces them (``None`` included); ``params``/``headers``/``proxies``
    merge. Leaving a ``with`` block closes every connection.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        session: Optional[requests.Session] = None,
        *,
        _transport: Optional[Transport] = None,
        _runtime: Runtime = DEFAULT_RUNTIME,
        **default_options: Any,
    ) -> None:
        self._transport = _transport  # test seams: a fake network, clock and randomness
        self._runtime = _runtime
        if "session" in default_options:
            raise TypeError("pass the manager's session as ConnectionManager(session=...)")
        defaults = dict(default_options)
        if "data" in defaults:  # a file or generator: read once, for every connection
            defaults["data"] = replayable(defaults["data"])
        # Fail early on a bad default (a relative poll_url is joined to each stream's URL).
        build_options(_PLACEHOLDER_URL, _with_poll_url_joined(_PLACEHOLDER_URL, defaults))
        check_session(session)
        if base_url is not None:
            check_url("base_url", base_url)
        self.base_url = base_url
        self._defaults = defaults
        self._session = session
        self._owns_session = session is None
        self._lock = threading.Lock()
        self._connections: dict[str, Connection] = {}
        _managers.add(self)

    def create(self, url: str, **options: Any) -> Connection:
        """Open a connection with its own reader thread and return it once the stream is open
        (``wait_open=False``: at once). Raises the final error if it cannot open within the
        retry budget, and ``TypeError``/``ValueError`` for a bad option."""
        merged = merge_options(self._defaults, options)
        if merged.get("session") is None:
            merged["session"] = self._shared_session()
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        full_url = urljoin(self.base_url, url) if self.base_url else url
        checked = build_options(full_url, _with_poll_url_joined(full_url, merged))
        connection = Connection(
            full_url,
            checked,
            transport=self._transport,
            runtime=self._runtime,
            supervisor=self,
        )
        with self._lock:
            self._connections[connection.id] = connection
        connection.start()
        if checked.wait_open:
            try:
                connection.wait_open()
            except BaseException:
                connection.close()  # Ctrl-C while opening leaves nothing running
                raise
        return connection

    def get(self, conn_id: str) -> Optional[Connection]:
        """The live connection with this id, or None."""
        with self._lock:
            return self._connections.get(conn_id)

    def close(self, connection: Connection) -> None:
        """Close one connection; closing twice does nothing."""
        connection.close()

    def close_all(self) -> None:
        """Close every live connection of this manager. All are told to stop first, so that
        readers busy in callbacks are waited for together, not one after another."""
        close_together(self.all())

    def is_open(self, connection: Connection) -> bool:
        """True while the connection's stream is open and delivering."""
        return connection.is_open()

    def all(self) -> list[Connection]:
        """The live (not yet ended) connections."""
        with self._lock:
            return list(self._connections.values())

    def count(self) -> int:
        """How many live connections there are."""
        with self._lock:
            return len(self._connections)

    def shutdown(self) -> None:
        """Close every connection and the manager's own session (a session the caller gave
        stays, for connections made later)."""
        self.close_all()
        with self._lock:
            session = self._session if self._owns_session else None
            if session is not None:
                self._session = None  # a later create() makes a new one
        if session is not None:
            session.close()

    def __enter__(self) -> ConnectionManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<ConnectionManager {self.count()} connections base_url={self.base_url!r}>"

    def _shared_session(self) -> requests.Session:
        with self._lock:
            if self._session is None:
                self._session = new_session()
                self._owns_session = True
            return self._session

    def ended(self, connection: Connection) -> None:
        """Supervision: the connection ended; forget it."""
        with self._lock:
            self._connections.pop(connection.id, None)

    def reader_died(self, connection: Connection, cause: BaseException) -> None:
        """Supervision: the connection's reader thread died of an internal error; restart it
        (a reconnect, within the connection's Retry budget)."""
        log.warning("restarting the reader of %s after it died: %r", connection.url, cause)
        connection.restart_reader(cause)


_PLACEHOLDER_URL = "http://defaults.invalid/"


def _with_poll_url_joined(url: object, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with a relative ``poll_url`` joined to the stream's ``url``."""
    poll_url = options.get("poll_url")
    if isinstance(poll_url, str) and isinstance(url, str):
        try:
            return {**options, "poll_url": urljoin(url, poll_url)}
        except ValueError as error:  # e.g. an unclosed "[" of an IPv6 address
            raise ValueError(f"poll_url is not a valid URL ({error}): {poll_url!r}") from None
    return options


_default_manager: Optional[ConnectionManager] = None
_default_lock = threading.Lock()


def default_manager() -> ConnectionManager:
    """The manager behind the module-level functions, made on first use."""
    global _default_manager
    with _default_lock:
        if _default_manager is None:
            _default_manager = ConnectionManager()
        return _default_manager


def create_sse_connection(url: str, **options: Any) -> Connection:
    """Open a new, independent connection; see :meth:`ConnectionManager.create`."""
    return default_manager().create(url, **options)


def close_sse_connection(conn: Connection) -> None:
    """Close one connection; closing twice is a no-op."""
    default_manager().close(conn)


def close_all_sse_connections() -> None:
    """Close every connection of the default manager."""
    default_manager().close_all()


def is_sse_connection_open(conn: Connection) -> bool:
    """True while the stream is open and delivering."""
    return default_manager().is_open(conn)


def get_all_sse_connections() -> list[Connection]:
    """The live (not yet ended) connections of the default manager."""
    return default_manager().all()


def get_sse_connection_count() -> int:
    """How many live connections the default manager has."""
    return default_manager().count()


@atexit.register
def _close_everything_at_exit() -> None:
    # Reader threads are daemons, so nothing would hang; closing lets servers see a clean end.
    try:
        close_together([c for manager in list(_managers) for c in manager.all()])
    except Exception:
        log.debug("closing connections at exit failed", exc_info=True)
