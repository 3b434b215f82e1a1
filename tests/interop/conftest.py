"""Fixtures of the interop tests: one real server per parameter, started once for all the
checks that use it and stopped after them; and the matrix of what ran, printed at the end."""

from __future__ import annotations

from typing import Iterator

import pytest
from _servers import SERVERS, RunningServer, ServerSpec, start

#: name -> (versions, framing) of every server started in this run, for the summary.
STARTED: dict[str, tuple[str, str]] = {}


@pytest.fixture(scope="module", params=SERVERS, ids=lambda spec: spec.id)
def real_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A started server of the matrix (skipped where it is not installed), stopped after the
    module's tests have used it."""
    spec: ServerSpec = request.param
    reason = spec.needs()
    if reason is not None:
        pytest.skip(f"{spec.name}: {reason}")
    running = start(spec, tmp_path_factory.mktemp(spec.name.replace(".", "-")))
    STARTED[spec.name] = (spec.versions(), str(spec.framing))
    try:
        yield running
    finally:
        running.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the servers the interop tests ran against, with versions and framing."""
    if not STARTED:
        return
    terminalreporter.section("interop servers")
    width = max(len(name) for name in STARTED)
    for name, (versions, framing) in STARTED.items():
        terminalreporter.write_line(f"{name:<{width}}  {versions:<55}  {framing}")
