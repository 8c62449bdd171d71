"""Skip files (``--anonvma-skip-file``, ini ``anonvma_skip_files``): listed tests do not run at
all and are reported as skipped with the reason; stale entries warn; entries that name a failure
or may pass are usage errors.

Expected behaviour: issue 11 item 5 ("an xfail-listed test of a model that hangs still spends
the timeout"; a skip file's tests are "not run at all (reported as skipped with the reason)").
"""

from __future__ import annotations

import pytest
from plugin_helpers import GUARD_CASE, USER_TESTS, one_line_usage_error

HANGING = "--anonvma-impl=toyimpl:SleepingMM"


def test_listed_tests_of_a_hanging_model_do_not_run(toy: pytest.Pytester) -> None:
    """SleepingMM's mmap sleeps for an hour: listed, its tests are skipped with the reason and
    the entry's file:line, before any setup (the time limit is never reached), and the run
    passes."""
    toy.makepyfile(test_user=USER_TESTS)
    toy.makefile(".txt", skips="# hangs\ntest_user.py::test_map  mmap never returns\n"
                               "test_fork[toyimpl:SleepingMM]\n")
    result = toy.runpytest("-v", "-rs", HANGING, "--anonvma-timeout=60",
                           "--anonvma-skip-file=skips.txt", "test_user.py")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines([
        "test_user.py::test_map[[]toyimpl:SleepingMM[]] SKIPPED *",
        "test_user.py::test_fork[[]toyimpl:SleepingMM[]] SKIPPED *",
        "SKIPPED [[]1[]] test_user.py: mmap never returns [[]skips.txt:2[]]",
        "SKIPPED [[]1[]] test_user.py: listed in skips.txt:3",
    ])
    assert result.ret == pytest.ExitCode.OK
    assert "StaleXfailWarning" not in result.stdout.str()


def test_skip_wins_over_an_expected_failure(toy: pytest.Pytester) -> None:
    """A test in both a skip file and an xfail file is skipped (it does not run, so it cannot
    fail as expected); neither entry is stale."""
    toy.makepyfile(test_user=USER_TESTS)
    toy.makefile(".txt", skips="test_map  hangs\n", xfails="test_map  fails\n")
    result = toy.runpytest("-rs", HANGING, "--anonvma-skip-file=skips.txt",
                           "--anonvma-xfail-file=xfails.txt", "-k", "test_map", "test_user.py")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] test_user.py: hangs [[]skips.txt:1[]]"])
    assert "StaleXfailWarning" not in result.stdout.str()


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_stale_entry_warns_at_its_line(toy: pytest.Pytester, workers: tuple[str, ...]) -> None:
    """An entry matching no collected test warns at its file:line, also when the matches
    come from xdist workers; the matching one is not stale."""
    toy.makepyfile(test_user=USER_TESTS)
    toy.makefile(".txt", skips="test_map  hangs\n\ntest_gone  removed long ago\n")
    result = toy.runpytest(HANGING, "--anonvma-skip-file=skips.txt", *workers, "test_user.py")
    stale = [line for line in result.outlines if "StaleXfailWarning" in line]
    assert stale == [
        "  skips.txt:3: StaleXfailWarning: skip entry 'test_gone' matches no collected test"
    ]


def test_user_case_skipped_by_its_id(pytester: pytest.Pytester) -> None:
    """A case of the user's own files is skipped by its ``test_case[IMPL-ID]`` like any test."""
    pytester.makefile(".toml", mine=GUARD_CASE.format(id="mine"))
    pytester.makefile(".txt", skips="test_case[baseline-mine]  not today\n")
    result = pytester.runpytest("-p", "anonvma", "-v", "-rs", "--anonvma-impl=reference,baseline",
                                "--anonvma-cases=mine.toml", "--anonvma-no-bundled",
                                "--anonvma-skip-file=skips.txt")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "test_cases.py::test_case[[]reference-mine[]] PASSED*",
        "test_cases.py::test_case[[]baseline-mine[]] SKIPPED*",
        "SKIPPED [[]1[]] *test_cases.py: not today [[]skips.txt:1[]]",
    ])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("test_map  finding=crash  hangs",
         "skips.txt:1: finding= names a failure, and a skipped test does not run *"),
        ("test_map  line=3  hangs",
         "skips.txt:1: line= names a failure, and a skipped test does not run *"),
        ("?test_map  hangs", "skips.txt:1: '?' (may pass) has no meaning for a test that *"),
        ("?  hangs", "skips.txt:1: '?' without a test id"),
    ],
)
def test_entries_that_cannot_apply_are_usage_errors(
    toy: pytest.Pytester, text: str, message: str
) -> None:
    """finding=, line= and '?' make no sense for a test that does not run: exit 4 and one
    line naming the option, file and line."""
    toy.makefile(".txt", skips=f"{text}\n")
    one_line_usage_error(toy.runpytest("--anonvma-skip-file=skips.txt"),
                         f"ERROR: --anonvma-skip-file: {message}")


def test_missing_file_is_a_usage_error(toy: pytest.Pytester) -> None:
    """A skip file that cannot be read: one line naming the option and the file."""
    one_line_usage_error(toy.runpytest("--anonvma-skip-file=nope.txt"),
                         "ERROR: --anonvma-skip-file: cannot read 'nope.txt': No such file *")
