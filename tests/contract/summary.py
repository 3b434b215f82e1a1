"""One summary line for a run of the contract suite, counted from the harness's own output.

The harness prints each test's full path in brackets (groups too), then ``SKIPPED: path`` or
``FAILED: path`` under it, but no totals; a test is a bracketed path that no other path
extends. Usage: ``python tests/contract/summary.py HARNESS_LOG``.
"""

from __future__ import annotations

import re
import sys
from typing import List, Optional, Set

_TEST = re.compile(r"^\[(?P<path>.+)\]$")
_OUTCOME = re.compile(r"^\s+(?P<outcome>SKIPPED|FAILED): (?P<path>.+?)(?: \(.*\))?$")
_CAPABILITIES = re.compile(r'"capabilities": \[(?P<list>[^\]]*)\]')


def summarise(lines: List[str]) -> str:
    """``contract suite: N passed, N failed, N skipped (N tests); capabilities: ...``."""
    paths: List[str] = []
    failed: Set[str] = set()
    skipped: Set[str] = set()
    capabilities: Optional[str] = None
    for raw in lines:
        line = raw.rstrip("\n")
        test = _TEST.match(line)
        if test:
            paths.append(test.group("path"))
            continue
        outcome = _OUTCOME.match(line)
        if outcome:
            kind = failed if outcome.group("outcome") == "FAILED" else skipped
            kind.add(outcome.group("path"))
            continue
        found = _CAPABILITIES.search(line)
        if found and capabilities is None:
            capabilities = found.group("list").replace('"', "")
    prefixes = {path.rsplit("/", 1)[0] for path in paths if "/" in path}
    # A skipped group is counted once; its tests are never printed.
    units = [path for path in paths if path not in prefixes or path in skipped]
    count_failed = sum(path in failed for path in units)
    count_skipped = sum(path in skipped and path not in failed for path in units)
    passed = len(units) - count_failed - count_skipped
    return (
        f"contract suite: {passed} passed, {count_failed} failed, {count_skipped} skipped "
        f"({len(units)} tests); capabilities: {capabilities or 'unknown'}"
    )


def main(argv: List[str]) -> int:
    """Print the summary of the harness log named by ``argv[1]``."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8", errors="replace") as file:
        print(summarise(file.readlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
