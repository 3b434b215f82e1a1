"""The pytest plugin: a test asking for ``sse_server`` gets a started server of its own, stopped
when the test ends. Installing the package registers it (entry point ``pytest11``); it is the
only module that imports pytest. Example::

    def test_greeting(sse_server: SSEServer) -> None:
        sse_server.route("/s", Reply(body="data: hi\\n\\n"))
        with sse.create_sse_connection(sse_server.url_for("/s")) as conn:
            assert next(iter(conn)).data == "hi"
"""

from __future__ import annotations

from typing import Iterator

import pytest

from ._server import SSEServer

__all__ = ["sse_server"]


@pytest.fixture
def sse_server() -> Iterator[SSEServer]:
    """A started :class:`SSEServer` on a free loopback port, serving plain HTTP, stopped after
    the test (every connection closed, every thread joined)."""
    with SSEServer() as server:
        yield server
