"""The README's promises that can drift from the code: its commands, options and examples."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import textwrap
from pathlib import Path

import pytest

import sseclient_sync as sse
from sseclient_sync._options import Options
from sseclient_sync.testing import Pause, Reply, Silence, SSEServer

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")
TEST_COMMAND = "python -m pip install -e '.[test]' && python -m pytest"
DEMO_COMMAND = "python -m pip install . && python -m sseclient_sync demo"


def test_the_two_setup_commands_are_in_the_readme_and_ci_runs_the_test_command() -> None:
    assert f"    {TEST_COMMAND}\n" in README
    assert f"    {DEMO_COMMAND}\n" in README
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert TEST_COMMAND in ci_script
    assert DEMO_COMMAND in ci_script


def test_every_public_option_is_in_the_option_table() -> None:
    private = {"runtime", "transport"}
    public = {field.name for field in dataclasses.fields(Options)} - private
    documented = set(re.findall(r"^``(\w+)``", README, flags=re.MULTILINE))
    documented |= set(re.findall(r"^``\w+``/``(\w+)``", README, flags=re.MULTILINE))
    documented |= {"verify", "cert", "proxies"}  # named together in the ``auth`` row
    assert public - documented == set()


def test_every_example_the_readme_names_exists() -> None:
    named = set(re.findall(r"examples/(\w+\.py)", README))
    assert named, "the README names its example files"
    missing = [name for name in sorted(named) if not (ROOT / "examples" / name).is_file()]
    assert missing == []


def test_the_package_version_is_the_one_setup_cfg_declares() -> None:
    # setup.cfg holds a literal: old setuptools (Python 3.9's) resolves `attr:` by importing
    # the package, which needs requests before it is installed.
    from sseclient_sync import __version__

    setup_cfg = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert f"\nversion = {__version__}\n" in setup_cfg


def readme_snippet(title: str) -> str:
    """The code block that follows the README line starting with ``title``."""
    after = README.split(f"\n{title}", 1)[1].split("::\n\n", 1)[1]
    block = re.match(r"((?:    .*\n|\n)+)", after)
    assert block, f"no code block after {title!r}"
    return textwrap.dedent(block.group(1))


@pytest.mark.parametrize(
    ("last", "printed"),
    [
        (sse.Event(event="task_complete", data="{}"), "progress 10\n"),
        (sse.Event(event="task_failed", data="disk full"), "progress 10\nfailed: disk full\n"),
    ],
)
def test_the_task_monitoring_snippet_runs_as_written(
    server: SSEServer, last: sse.Event, printed: str
) -> None:
    progress = sse.Event(event="task_progress", data='{"percent": 10}')
    server.route("/task", Reply(body=[progress.encode(), Pause(0.1), last.encode(), Silence()]))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(readme_snippet("Task monitoring"), {"sse": sse, "url": server.url_for("/task")})
    assert out.getvalue() == printed
    sse.close_all_sse_connections()
