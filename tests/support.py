"""What many test modules share, defined once: the bound on every wait, a fast reconnect
policy, a bounded wait for a condition that has no callback to wait on, and the bodies of the
fixtures several modules use.

A fixture defined here would need importing into each test module under its own name, which
the linter reads as an unused import shadowed by every test's argument. So the fixtures'
bodies are plain generator functions here, and a module that wants one says so in one line::

    manager = pytest.fixture(fast_manager, name="manager")
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator, List, Union

import sseclient_sync as sse
from sseclient_sync import Connection, ConnectionManager, Retry

#: The bound on every wait in the tests; a passing test never comes near it.
WAIT = 5.0
#: Reconnects at once, five times at most: reconnect tests need no real backoff.
FAST = Retry(max_attempts=5, delay=0.001, jitter=0)


def wait_until(
    condition: Callable[[], bool],
    what: Union[str, Callable[[], str]],
    timeout: float = WAIT,
) -> None:
    """Check ``condition`` every few milliseconds until it holds; fail after ``timeout``.

    ``what`` names what the test waits for; a callable is asked only on failure, for a
    message that shows the state at the deadline.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            described = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out after {timeout}s waiting for {described}")
        pause.wait(0.005)


def datas(conn: Connection) -> List[str]:
    """The data of every event ``conn`` yields until it ends (each wait bounded by WAIT)."""
    return [event.data for event in conn.events(timeout=WAIT)]


def fast_manager() -> Iterator[ConnectionManager]:
    """The body of a ``manager`` fixture: WAIT bounds connecting and reading, FAST
    reconnects; it closes whatever a test left open."""
    with ConnectionManager(timeout=WAIT, read_timeout=WAIT, retry=FAST) as made:
        yield made


def empty_default_registry() -> Iterator[None]:
    """The body of a fixture for tests of the module-level functions: the default manager is
    empty before the test and emptied after it."""
    sse.close_all_sse_connections()
    assert sse.get_sse_connection_count() == 0
    try:
        yield
    finally:
        sse.close_all_sse_connections()
