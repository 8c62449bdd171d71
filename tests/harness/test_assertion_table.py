"""docs/harness.md's C-versus-Python assertion tables stay true: the ``asserts run`` columns are
the ``assert`` statements one run of each ported test executes, counted here by tracing the
test module and its scenario module (the helpers' own checks not counted), per era; every
ported test has a row and every row a test.

Expected values: the C counts are the ``ASSERT_*`` statements of tools/testing/vma (v6.14's
vma.c @6ab2d9c7, tests/*.c @334fbe73); this test keeps the Python side from silently losing
an assertion against them.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from pytest_anonvma.harness import scenarios
from pytest_anonvma.harness.trees import TREES
from pytest_anonvma.suite import bundled_suite_dir

DOC = Path(__file__).resolve().parents[2] / "docs" / "harness.md"
SECTION = re.compile(r"^### .*`conformance/(test_harness_\w+\.py)`")
#: one implementation per era (the harness outcome does not depend on the design)
IMPLS = {"2025-03": "reference", "6.18": "reference@6.18"}


def documented() -> dict[tuple[str, str], dict[str, str]]:
    """(module, Python test) -> {era: the ``asserts run`` cell} of every table row."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    module, header = None, []
    for line in DOC.read_text().splitlines():
        if match := SECTION.match(line):
            module, header = match.group(1), []
        elif module and line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not header:
                header = cells
                continue
            row = dict(zip(header, cells, strict=True))
            rows[module, row["Python test"]] = {era: row[f"asserts run {era}"] for era in TREES}
    return rows


def _assert_spans(path: Path) -> dict[int, int]:
    """First line -> last line of each ``assert`` statement of a source file."""
    tree = ast.parse(path.read_text())
    return {n.lineno: n.end_lineno or n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)}


class AssertCounter:
    """A pytest plugin counting the ``assert`` statements each test's call executes."""

    def __init__(self, files: list[Path]) -> None:
        self.spans = {str(path.resolve()): _assert_spans(path) for path in files}
        self.counts: dict[str, int] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """Trace the call: a statement counts once each time execution enters its first line."""
        count, last = 0, {}

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal count
            if event == "line":
                spans, line = self.spans[frame.f_code.co_filename], frame.f_lineno
                previous = last.get(id(frame))
                if line in spans and not (previous is not None and line <= previous <= spans[line]):
                    count += 1
                last[id(frame)] = line
            return local

        def start(frame: FrameType, event: str, arg: Any) -> Any:
            code = frame.f_code
            return local if code.co_filename in self.spans and code.co_name[0] != "<" else None

        previous_trace = sys.gettrace()
        sys.settrace(start)
        try:
            yield
        finally:
            sys.settrace(previous_trace)
        self.counts[item.nodeid] = count


def measured(pytester: pytest.Pytester) -> dict[tuple[str, str], dict[str, str]]:
    """(module, Python test) -> {era: asserts run, ``a–b`` over parameters, ``—`` if none}."""
    suite = bundled_suite_dir()
    modules = sorted(suite.glob("test_harness_*.py"))
    package = Path(scenarios.__file__).parent
    counter = AssertCounter([*modules, *sorted(package.glob("*.py"))])
    impls = ",".join(IMPLS.values())
    result = pytester.inline_run(*map(str, modules), f"--anonvma-impl={impls}", plugins=[counter])
    passed, _, failed = result.listoutcomes()
    assert passed and not failed
    found: dict[tuple[str, str], dict[str, list[int]]] = {}
    for nodeid, count in counter.counts.items():
        path, _, name = nodeid.partition("::")
        test, _, params = name.partition("[")
        era = next(era for era, impl in IMPLS.items() if params.startswith(f"{impl}-{era}"))
        found.setdefault((Path(path).name, test), {}).setdefault(era, []).append(count)
    cells = {}
    for key, per_era in found.items():
        cells[key] = {era: _cell(per_era.get(era, [])) for era in TREES}
    return cells


def _cell(counts: list[int]) -> str:
    if not counts:
        return "—"
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}–{high}"


def test_assertion_tables_match_the_port(pytester: pytest.Pytester) -> None:
    """Every harness test of a kernel test file has a row, and its run counts are the table's."""
    rows = documented()
    found = measured(pytester)
    actual = {key: value for key, value in found.items() if key[0] != "test_harness_accessors.py"}
    assert rows, f"no assertion tables found in {DOC}"
    assert actual == rows
