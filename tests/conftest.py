"""Fixtures shared by every test module."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

from sseclient_sync.testing import SSEServer

#: How long a test's threads get to end after it, before the test fails for leaving them.
THREAD_GRACE = 2.0


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running after it ends."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE
    while True:
        leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leftover:
            return
        if time.monotonic() >= deadline:
            names = ", ".join(sorted(t.name for t in leftover))
            pytest.fail(f"the test left {len(leftover)} threads running: {names}")
        time.sleep(0.01)


@pytest.fixture
def server(sse_server: SSEServer) -> SSEServer:
    """The package's own pytest fixture, ``sse_server``: a started SSEServer on a free loopback
    port, stopped after the test."""
    return sse_server
