"""sseclient_sync.testing.pytest_plugin: installing the package gives every test suite an
``sse_server`` fixture. Checked by running pytest on a small test file of a user's (pytester),
with the plugin found through its ``pytest11`` entry point, as a user's run finds it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sseclient_sync.testing import SSEServer

pytest_plugins = ["pytester"]

USERS_TESTS = '''
import socket
import threading

import pytest
import requests

from sseclient_sync.testing import Reply, SSEServer

SEEN = []


def server_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("SSEServer")]


def test_gets_a_started_server(sse_server):
    assert isinstance(sse_server, SSEServer)
    sse_server.route("/s", Reply(body="data: hi\\n\\n"))
    with requests.get(sse_server.url_for("/s"), timeout=5) as response:
        assert response.text == "data: hi\\n\\n"
    SEEN.append(sse_server)


def test_the_server_is_gone_after_its_test():
    (earlier,) = SEEN
    assert earlier.stopping.is_set()
    assert earlier.open_connections == 0
    assert server_threads() == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", earlier.port), timeout=5).close()


def test_each_test_gets_a_server_of_its_own(sse_server):
    assert sse_server is not SEEN[0]
    assert sse_server.requests == []
'''


def test_the_fixture_serves_a_users_tests_and_leaves_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_users=USERS_TESTS)
    result = pytester.runpytest("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_fixture_is_listed_with_its_docstring(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_users="def test_nothing(): pass\n")
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["sse_server*", "*A started :class:`SSEServer`*"])


def test_the_plugin_comes_from_the_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("sseclient_sync")
    assert plugin is not None
    assert plugin.__name__ == "sseclient_sync.testing.pytest_plugin"


def test_our_server_fixture_is_the_plugins(server: SSEServer, sse_server: SSEServer) -> None:
    assert server is sse_server


def test_importing_the_testing_helpers_does_not_import_pytest() -> None:
    code = (
        "import sys, sseclient_sync.testing; "
        "print(sorted(m for m in sys.modules if m == 'pytest' or m.endswith('pytest_plugin')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "[]"
