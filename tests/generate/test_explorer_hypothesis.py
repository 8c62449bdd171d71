"""The explorer as a hypothesis test: statistics under ``--hypothesis-show-statistics``, the
opt-in example database (``--anonvma-explore-db``) replaying a found failure first, and
hypothesis's ``@reproduce_failure`` line beside our own shrunk case.

Expected behaviour: issue 11, item 6. The failing model is rfc-v1, whose fork drops the
parent's guard markers (the kernel copies them: ``copy_page_range`` on a VMA with guard
regions, selftest ``guard-regions`` ``fork``); the reference passes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import reproduce_failure
from hypothesis.stateful import run_state_machine_as_test

from pytest_anonvma import registry
from pytest_anonvma.generate.explorer import ExplorationFailure, explore, explorer_machine
from pytest_anonvma.generate.profiles import explorer_settings
from pytest_anonvma.suite import bundled_suite_dir

EXPLORE = str(bundled_suite_dir() / "test_explore.py")


def _explore_rfc_v1(database: Path | None) -> ExplorationFailure:
    """The failure of a 30-program exploration of rfc-v1 (seed 2), with ``database``."""
    with pytest.raises(ExplorationFailure) as found:
        explore(registry.resolve("rfc-v1"), "rfc-v1", "rfc-v1", 2,
                explorer_settings(None, 30, database))
    return found.value


def test_statistics_reach_hypothesis_show_statistics(pytester: pytest.Pytester) -> None:
    """Each explorer test gets its own statistics: examples run, and the operations played."""
    result = pytester.runpytest("-p", "anonvma", "--anonvma-impl=reference",
                                "--anonvma-explore", "--anonvma-examples=5",
                                "--hypothesis-show-statistics", EXPLORE)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*Hypothesis Statistics*",
        "*test_explore.py::test_explore[[]reference[]]:",
        "*5 passing*",  # "5 passing examples" in older hypothesis versions
        "*Events:",
        "*100.00%, played start",
        "*Stopped because settings.max_examples=5",
    ])


def test_the_database_replays_a_found_failure_first(tmp_path: Path) -> None:
    """Without a database every run finds the failure at the same program; with one, the
    second run starts with it (program 1) and shrinks to the same case."""
    plain = _explore_rfc_v1(None)
    assert plain.program > 1
    assert _explore_rfc_v1(None).program == plain.program
    first = _explore_rfc_v1(tmp_path / "db")
    assert first.program == plain.program
    again = _explore_rfc_v1(tmp_path / "db")
    assert again.program == 1
    assert again.case.format() == first.case.format()


def test_each_implementation_keeps_its_own_database_entries(tmp_path: Path) -> None:
    """rfc-v1's saved failure is not replayed on the reference (a different machine), which
    still passes."""
    _explore_rfc_v1(tmp_path)
    entries = {p for p in tmp_path.rglob("*") if p.is_file()}
    explore(registry.resolve("reference"), "reference", "reference", 2,
            explorer_settings(None, 5, tmp_path))
    assert entries <= {p for p in tmp_path.rglob("*") if p.is_file()}


def test_the_reproduce_failure_line_replays_hypothesis_program() -> None:
    """The report's ``@reproduce_failure`` line, applied to the machine as docs/usage.md says,
    fails again on rfc-v1 with the same oracle finding."""
    failure = _explore_rfc_v1(None)
    assert failure.blob is not None and f"  {failure.blob}" in str(failure).splitlines()
    arguments = re.fullmatch(r"@reproduce_failure\((.*)\)", failure.blob)
    assert arguments is not None
    version, blob = ast.literal_eval(f"({arguments.group(1)})")
    machine = explorer_machine(registry.resolve("rfc-v1"), "rfc-v1")
    with pytest.raises(AssertionError, match="lost the parent's guard marker"):
        run_state_machine_as_test(reproduce_failure(version, blob)(machine))


def test_explore_db_replays_first_in_the_next_run(pytester: pytest.Pytester) -> None:
    """A run with ``--anonvma-explore-db=db``, then one with the ini key ``anonvma_explore_db =
    db`` (relative to the ini file): the second finds the failure at program 1. The report
    carries the ``@reproduce_failure`` line and the rerun line."""
    args = ("-p", "anonvma", "--anonvma-impl=rfc-v1", "--anonvma-explore",
            "--anonvma-examples=30", "--anonvma-seed=2", EXPLORE)
    first = pytester.runpytest(*args, f"--anonvma-explore-db={pytester.path / 'db'}")
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*hypothesis's own minimal program*",
                                "  @reproduce_failure(*)", "rerun: pytest -p anonvma*"])
    assert "program 1 of at most 30" not in first.stdout.str()
    ini = pytester.makeini("[pytest]\nanonvma_explore_db = db\n")
    again = pytester.runpytest("-c", str(ini), *args)
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*failing program on 'rfc-v1' (*program 1 of at most 30)*"])


@pytest.mark.parametrize("value", ["", "file.txt"])
def test_a_bad_explore_db_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    """An empty value or a file where a folder is wanted: one line naming the option, exit 4."""
    pytester.makefile(".txt", file="not a folder")
    result = pytester.runpytest("-p", "anonvma", "--anonvma-explore",
                                f"--anonvma-explore-db={value}", EXPLORE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --anonvma-explore-db: *"])
    assert "Traceback" not in result.stderr.str()
