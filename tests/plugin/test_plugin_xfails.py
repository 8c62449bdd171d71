"""Expected-failure files: format, matching, strictness, stale entries (serial and xdist), and
the bundled lists.

Expected behaviour: issue 3 ("Expected failures") and the anchors' note on syrupy's xdist bug
(a stale-entry check that silently does nothing under workers).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from plugin_helpers import outcomes

from pytest_anonvma.selection import BUNDLED
from pytest_anonvma.suite import bundled_suite_dir
from pytest_anonvma.xfails import (
    XfailEntry,
    XfailFileError,
    find_entry,
    match_keys,
    read_xfail_file,
)

TESTS = """
import pytest

def test_ok(mm):
    pass

def test_bad(mm):
    assert False, "known bug"

@pytest.mark.parametrize("n", [1, 2])
def test_param(mm, n):
    assert n == 1
"""


def test_parse_format(tmp_path: Path) -> None:
    """Ids, id prefixes, reasons after the id, ``#`` comments and blank lines."""
    path = tmp_path / "x.txt"
    path.write_text(
        "# a comment\n"
        "\n"
        "test_case[rfc-v1-guard-x]   flag lost on merge\n"
        "  test_merge[   # every parametrization\n"
        "tests/test_a.py::test_b\n"
    )
    assert read_xfail_file(path) == [
        XfailEntry("test_case[rfc-v1-guard-x]", "flag lost on merge", str(path), 3),
        XfailEntry("test_merge[", "every parametrization", str(path), 4),
        XfailEntry("tests/test_a.py::test_b", f"listed in {path}:5", str(path), 5),
    ]


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    """A missing file is an error naming the option and the file."""
    with pytest.raises(XfailFileError, match=r"--anonvma-xfail-file: cannot read '.*nope.txt'"):
        read_xfail_file(tmp_path / "nope.txt")


def test_matching_is_install_location_independent() -> None:
    """An entry matches the node id, ``file.py::rest`` or ``rest``, as a prefix; the longest
    matching entry wins."""
    nodeid = "../site-packages/pytest_anonvma/conformance/test_cases.py::test_case[ref-guard-a]"
    assert match_keys(nodeid) == (
        nodeid,
        "test_cases.py::test_case[ref-guard-a]",
        "test_case[ref-guard-a]",
    )
    short = XfailEntry("test_case[ref-", "short", "f", 1)
    exact = XfailEntry("test_case[ref-guard-a]", "exact", "f", 2)
    other = XfailEntry("test_case[rfc-v1-", "other", "f", 3)
    assert find_entry([short, exact, other], nodeid) is exact
    assert find_entry([short, other], nodeid) is short
    assert find_entry([other], nodeid) is None


def test_xfail_file_applied_strict_and_stale(toy: pytest.Pytester) -> None:
    """Listed failures xfail with the reason; a listed test that passes fails (strict); an
    entry matching nothing gives one warning naming the entry and its line."""
    toy.makepyfile(test_user=TESTS)
    xfails = toy.makefile(
        ".txt",
        xf=textwrap.dedent(
            """\
            test_bad[toyimpl:ToyMM]    known bug 123
            test_param[toyimpl:ToyMM-   the whole parametrization
            test_user.py::test_ok       wrongly listed
            test_gone                   removed long ago
            """
        ),
    )
    result = toy.runpytest(
        "-rA", "--anonvma-impl=toyimpl:ToyMM", f"--anonvma-xfail-file={xfails}", "test_user.py"
    )
    assert outcomes(result) == {
        "test_user.py::test_ok[toyimpl:ToyMM]": "FAILED",
        "test_user.py::test_bad[toyimpl:ToyMM]": "XFAIL",
        "test_user.py::test_param[toyimpl:ToyMM-1]": "FAILED",
        "test_user.py::test_param[toyimpl:ToyMM-2]": "XFAIL",
    }
    out = result.stdout.str()
    assert f"[XPASS(strict)] wrongly listed [{xfails}:3]" in out
    assert f"XFAIL test_user.py::test_bad[toyimpl:ToyMM] - known bug 123 [{xfails}:1]" in out
    stale = [line for line in result.outlines if "StaleXfailWarning" in line]
    assert stale == [
        f"  {xfails}:4: StaleXfailWarning: expected-failure entry 'test_gone' matches no "
        "collected test"
    ]


def test_stale_entries_found_under_xdist(toy: pytest.Pytester) -> None:
    """Under ``-n 2`` the stale check runs on the controller from every worker's matches:
    the same single warning as serially (not zero, not one per worker)."""
    toy.makepyfile(test_user=TESTS)
    xfails = toy.makefile(".txt", xf="test_bad   known\ntest_gone   removed\n")
    result = toy.runpytest(
        "-n", "2", "--anonvma-impl=toyimpl:ToyMM",
        f"--anonvma-xfail-file={xfails}", "test_user.py",
    )
    result.assert_outcomes(passed=2, failed=1, xfailed=1, warnings=1)
    stale = [line for line in result.outlines if "StaleXfailWarning" in line]
    assert len(stale) == 1 and "'test_gone'" in stale[0]


def test_deselected_entries_are_not_stale(toy: pytest.Pytester) -> None:
    """Matching happens before ``-k`` deselection: narrowing a run does not make entries stale."""
    toy.makepyfile(test_user=TESTS)
    xfails = toy.makefile(".txt", xf="test_bad   known\n")
    result = toy.runpytest(
        "--anonvma-impl=toyimpl:ToyMM", f"--anonvma-xfail-file={xfails}", "-k", "test_ok",
        "test_user.py",
    )
    result.assert_outcomes(passed=1)
    assert "StaleXfailWarning" not in result.stdout.str()


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_lists_are_well_formed(name: str) -> None:
    """Each bundled list parses, every entry names its implementation's tests and has a reason
    of its own."""
    path = bundled_suite_dir() / "xfail" / f"{name}.txt"
    if not path.exists():
        pytest.skip(f"no bundled list for {name} (it is expected to pass everything)")
    entries = read_xfail_file(path)
    for entry in entries:
        assert f"[{name}-" in entry.pattern, entry
        assert not entry.reason.startswith("listed in "), f"{entry.where}: no reason given"
    assert len({e.pattern for e in entries}) == len(entries), "duplicate entries"
