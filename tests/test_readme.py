"""The README's promises that can drift from the code: its commands, options and examples."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from sseclient_sync._options import Options

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
