"""The pytest plugin: an ``sse_server`` fixture for every test suite that has this package.

The one rule this module owns: a test asking for ``sse_server`` gets a started
:class:`~sseclient_sync.testing.SSEServer` of its own, and when the test ends the server is
stopped, with no thread and no socket left. Installing the package registers the plugin
(the ``pytest11`` entry point ``sseclient_sync``); it is the only module that imports pytest.
Example::

    import sseclient_sync as sse
    from sseclient_sync.testing import Reply, SSEServer

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
