"""The benchmark scripts still run and still report every client.

Each script's ``--quick`` mode runs as a subprocess (all side by side, to keep this short) and
must exit 0, print its table with a row for every client it compares (a peer that is not
installed has a row that says so), say whether its target is met, and find that the floor and
sseclient_sync got every event. Timings are never checked: they are the benchmarks' business.
One more run hides a peer from the script, which must then report it "not installed" and go
on with the others.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from typing import Dict, List, Sequence, Tuple

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
#: Each quick run takes a few seconds (all of them together about 15 s on two cores); these
#: only catch a hang, with room for a machine busy with other work.
TIMEOUT = 150.0
pytestmark = pytest.mark.timeout(TIMEOUT + 30)
PEERS = ("ld-eventsource", "httpx-sse", "requests-sse", "sseclient-py")
OURS = ("sseclient_sync, iteration", "sseclient_sync, on_message")

#: script -> (text in its table's header, rows it must have, rows that must say "ok")
SCRIPTS: Dict[str, Tuple[str, Sequence[str], Sequence[str]]] = {
    "bench_parser.py": (
        "x floor (best)",
        ("sseclient_sync", "floor", *PEERS, "SSEParser().feed (no comments)"),
        ("sseclient_sync", "floor"),
    ),
    "bench_large.py": ("ms per MB", ("sseclient_sync", "floor", *PEERS), ("sseclient_sync",)),
    "bench_e2e.py": ("CPU us/event", ("floor", *OURS, *PEERS), ("floor", *OURS)),
    "bench_latency.py": ("p99 - floor's", ("floor", *OURS, *PEERS), ("floor", *OURS)),
    "bench_many.py": ("RSS KiB/stream", ("sseclient_sync", "floor", "ld-eventsource"), ()),
    "bench_stall.py": ("events held", ("queue_size=10", "queue_size=100", "queue_size=1000"), ()),
    "bench_soak.py": ("RSS MB", ("start", "1/4", "2/4", "3/4", "end"), ()),
}

#: The scripts also run with a peer hidden.
HIDDEN = ["bench_parser.py", "bench_e2e.py"]
#: Runs a benchmark with ``httpx_sse`` unimportable, as if it were not installed.
HIDING_A_PEER = (
    "import runpy, sys; sys.modules['httpx_sse'] = None; sys.path.insert(0, {dir!r}); "
    "sys.argv = [{script!r}, '--quick']; runpy.run_path({script!r}, run_name='__main__')"
)


def table_rows(stdout: str, header: str) -> List[str]:
    """The lines of every table whose header holds ``header``, the header and rules left out."""
    lines = stdout.splitlines()
    rows: List[str] = []
    for index, line in enumerate(lines):
        if header in line and index + 1 < len(lines) and lines[index + 1].startswith("---"):
            for row in lines[index + 2 :]:
                if not row.strip():
                    break
                rows.append(row)
    return rows


def row_of(rows: List[str], name: str) -> List[str]:
    """The rows for client ``name`` (its name, then at least two spaces)."""
    return [row for row in rows if row.strip().startswith(name + "  ")]


def run_all(commands: Dict[str, List[str]]) -> Dict[str, Tuple[int, str, str]]:
    """Run every command at once; each one's exit code, stdout and stderr."""
    running = {
        name: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, command in commands.items()
    }
    results: Dict[str, Tuple[int, str, str]] = {}
    try:
        for name, process in running.items():
            stdout, stderr = process.communicate(timeout=TIMEOUT)
            results[name] = (process.returncode, stdout, stderr)
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return results


@pytest.fixture(scope="module")
def runs() -> Dict[str, Tuple[int, str, str]]:
    """Every script's quick run, and two with a peer hidden, all at once."""
    commands = {
        script: [sys.executable, os.path.join(BENCHMARKS, script), "--quick"] for script in SCRIPTS
    }
    for script in HIDDEN:
        code = HIDING_A_PEER.format(dir=BENCHMARKS, script=os.path.join(BENCHMARKS, script))
        commands[f"hidden peer: {script}"] = [sys.executable, "-c", code]
    return run_all(commands)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_a_benchmark_runs_quick_and_reports_every_client(
    runs: Dict[str, Tuple[int, str, str]], script: str
) -> None:
    header, names, complete = SCRIPTS[script]
    code, stdout, stderr = runs[script]
    assert code == 0, f"{script} --quick exited {code}:\n{stdout}\n{stderr[-3000:]}"
    rows = table_rows(stdout, header)
    assert rows, f"{script} printed no table:\n{stdout}"
    for name in names:
        assert row_of(rows, name), f"{script} has no row for {name!r}:\n{stdout}"
    for name in complete:
        for row in row_of(rows, name):
            assert row.rstrip().endswith("ok"), f"{script}: {name} lost events:\n{row}"
    assert "target: " in stdout, f"{script} printed no verdict on its target:\n{stdout}"


@pytest.mark.parametrize("script", HIDDEN)
def test_a_peer_that_is_not_installed_is_reported_and_the_others_run(
    runs: Dict[str, Tuple[int, str, str]], script: str
) -> None:
    code, stdout, stderr = runs[f"hidden peer: {script}"]
    assert code == 0, f"{script} with httpx-sse hidden exited {code}:\n{stderr[-3000:]}"
    rows = table_rows(stdout, SCRIPTS[script][0])
    hidden = row_of(rows, "httpx-sse")
    assert hidden, stdout
    assert all(row.rstrip().endswith("not installed") for row in hidden), stdout
    # The other peers still run: ld-eventsource where the bench extra installed it.
    others = row_of(rows, "ld-eventsource")
    assert others, stdout
    expected = "ok" if importlib.util.find_spec("ld_eventsource") else "not installed"
    assert all(row.rstrip().endswith(expected) for row in others), stdout


def test_the_soak_finds_every_event_once_and_the_stall_stays_bounded(
    runs: Dict[str, Tuple[int, str, str]],
) -> None:
    """What these two benchmarks check about the library holds in their quick runs."""
    soak = runs["bench_soak.py"][1]
    assert "every event exactly once" in soak, soak
    stall = runs["bench_stall.py"][1]
    rows = row_of(table_rows(stall, "events held"), "queue_size=100")
    assert rows, stall
    assert all("WRONG" not in row for row in rows), stall
    many = runs["bench_many.py"][1]
    rows = row_of(table_rows(many, "RSS KiB/stream"), "sseclient_sync")
    assert rows, many
    assert all("LOST" not in row for row in rows), many
