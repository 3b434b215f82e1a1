"""The benchmark scripts still run: each one's ``--quick`` mode, as a subprocess, exits 0 and
prints its table. Their figures are not checked (timing is the benchmarks' business, not the
tests'). The three run side by side to keep this test short."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, Tuple

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
#: Each script's quick run takes a few seconds; this only catches a hang.
TIMEOUT = 50.0

#: script -> (its options beside --quick, text its table's header holds)
SCRIPTS = {
    "bench_latency.py": ((), "p99 ms"),
    "bench_throughput.py": (("--breakdown",), "time / baseline"),
    "bench_many.py": ((), "peak KiB/conn"),
}


def test_each_benchmark_runs_quick_and_prints_its_table() -> None:
    running: Dict[str, subprocess.Popen[str]] = {
        script: subprocess.Popen(
            [sys.executable, os.path.join(BENCHMARKS, script), "--quick", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for script, (options, _) in SCRIPTS.items()
    }
    results: Dict[str, Tuple[int, str, str]] = {}
    try:
        for script, process in running.items():
            stdout, stderr = process.communicate(timeout=TIMEOUT)
            results[script] = (process.returncode, stdout, stderr)
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    for script, (_, header) in SCRIPTS.items():
        code, stdout, stderr = results[script]
        assert code == 0, f"{script} --quick exited {code}:\n{stdout}\n{stderr[-3000:]}"
        lines = stdout.splitlines()
        assert any(header in line for line in lines), f"{script} printed no table:\n{stdout}"
        table_start = next(i for i, line in enumerate(lines) if header in line)
        assert lines[table_start + 1].startswith("---"), stdout
        assert len(lines) > table_start + 2, f"{script}'s table has no rows:\n{stdout}"
        assert "target" in stdout, f"{script} printed no verdict on its target:\n{stdout}"
