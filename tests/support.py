"""What many test modules share: the bound on every wait, a fast reconnect policy, and a
bounded wait for a condition that has no callback to wait on."""

from __future__ import annotations

import threading
import time
from typing import Callable

from sseclient_sync import Retry

#: The bound on every wait in the tests; a passing test never comes near it.
WAIT = 5.0
#: Reconnects at once, five times at most: reconnect tests need no real backoff.
FAST = Retry(max_attempts=5, delay=0.001, jitter=0)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Check ``condition`` every few milliseconds until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        pause.wait(0.005)
