"""Expected-failure files: format, matching, strictness, stale entries (serial and xdist), and
the bundled lists.

Expected behaviour: issue 3 ("Expected failures") and the anchors' note on syrupy's xdist bug
(a stale-entry check that silently does nothing under workers).
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
from plugin_helpers import outcomes

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.runner import CaseFailure
from pytest_anonvma.cases.steps import parse_step
from pytest_anonvma.generate.check import GeneratedCaseFailure, finding_kinds
from pytest_anonvma.generate.oracles import FINDING_KINDS, Finding
from pytest_anonvma.generate.perform import Outcome
from pytest_anonvma.inputfile import MAX_INPUT_BYTES
from pytest_anonvma.selection import BUNDLED
from pytest_anonvma.suite import bundled_suite_dir
from pytest_anonvma.xfails import (
    DocumentedFailure,
    XfailEntry,
    XfailFileError,
    documented_or_not,
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
    """Each bundled list parses, every entry names its implementation's tests, the failure it
    expects (a curated case's step line, a generated case's finding) and a reason of its own."""
    path = bundled_suite_dir() / "xfail" / f"{name}.txt"
    if not path.exists():
        pytest.skip(f"no bundled list for {name} (it is expected to pass everything)")
    entries = read_xfail_file(path)
    for entry in entries:
        assert f"[{name}-" in entry.pattern, entry
        assert not entry.reason.startswith("listed in "), f"{entry.where}: no reason given"
        kind = entry.step_line if entry.pattern.startswith("test_case[") else entry.finding
        assert kind, f"{entry.where}: does not say which failure it expects"
    assert len({e.pattern for e in entries}) == len(entries), "duplicate entries"


# -- entries that name their failure ------------------------------------------------------------

#: rfc-v1 as it is, and rfc-v1 broken in two ways the lost-marker entry must not hide
RFC_TOYS = """
import errno
from pytest_anonvma import registry

_rfc = registry.resolve("rfc-v1")


class _Wrapped:
    def __init__(self, mm=None):
        self._mm = mm if mm is not None else _rfc()

    def __getattr__(self, name):
        return getattr(self._mm, name)

    def fork(self):
        return type(self)(self._mm.fork())


class Raising(_Wrapped):
    def mprotect(self, *args):
        raise RuntimeError("toy: mprotect is broken")


class WrongErrno(_Wrapped):
    def mprotect(self, *args):
        raise OSError(errno.EPERM, "toy: not allowed")


def plain():
    return _rfc()


def raising():
    return Raising()


def wrong_errno():
    return WrongErrno()
"""

LOST_MARKER = "finding=fork-lost-guard-marker"


def test_parse_expected_failure_fields(tmp_path: Path) -> None:
    """``finding=KIND`` and ``line=N`` follow the id; the reason comes after them."""
    path = tmp_path / "x.txt"
    path.write_text(
        f"?test_generated[rfc-v1-  {LOST_MARKER}  seed-dependent\n"
        "test_case[rfc-v1-hazard-x]  line=22  # lost on merge\n"
        "test_case[rfc-v1-y]  line=7\n"
    )
    assert read_xfail_file(path) == [
        XfailEntry("test_generated[rfc-v1-", "seed-dependent", str(path), 1, False,
                   finding="fork-lost-guard-marker"),
        XfailEntry("test_case[rfc-v1-hazard-x]", "lost on merge", str(path), 2, step_line=22),
        XfailEntry("test_case[rfc-v1-y]", f"listed in {path}:3", str(path), 3, step_line=7),
    ]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("test_generated[x-  finding=lost-marker", "x.txt:1: unknown finding 'lost-marker'"),
        ("test_generated[x-  finding=", "x.txt:1: unknown finding ''"),
        ("test_case[x-y]  line=abc", "x.txt:1: line='abc' is not a line number"),
        ("test_case[x-y]  line=0", "x.txt:1: line='0' is not a line number"),
        ("test_case[x-y]  line=-3", "x.txt:1: line='-3' is not a line number"),
        ("test_case[x-y]  line=1  line=2", "x.txt:1: line= given twice"),
        (f"test_case[x-y]  line=1  {LOST_MARKER}", "x.txt:1: give finding= .* not both"),
    ],
)
def test_expected_failure_field_errors(tmp_path: Path, line: str, error: str) -> None:
    """A field that cannot be right is an error naming the file and line, not an entry that
    silently never matches."""
    path = tmp_path / "x.txt"
    path.write_text(line + "\n")
    with pytest.raises(XfailFileError, match=error):
        read_xfail_file(path)


@pytest.mark.parametrize("where", ["/dev/zero", "/dev/null", "a directory", "a fifo", "big"])
def test_xfail_file_must_be_a_small_regular_file(tmp_path: Path, where: str) -> None:
    """Devices, directories, FIFOs and files over the size limit are refused at once, with one
    line naming the file (``/dev/zero`` used to be read until memory ran out)."""
    path = Path(where)
    if where == "a directory":
        path = tmp_path
    elif where == "a fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif where == "big":
        path = tmp_path / "big.txt"
        path.write_bytes(b"# x\n" * (MAX_INPUT_BYTES // 4 + 1))
    reason = "larger than" if where == "big" else "not a regular file"
    with pytest.raises(XfailFileError, match=f"cannot read '{re.escape(str(path))}': {reason}"):
        read_xfail_file(path)


def _generated(*kinds: str) -> GeneratedCaseFailure:
    case = Case("gen-1-1-min", "about", "source", "guard", frozenset(), ())
    return GeneratedCaseFailure("report", case, finding_kinds=kinds)


@pytest.mark.parametrize(
    ("kinds", "documented"),
    [
        (("fork-lost-guard-marker",), True),
        (("crash",), False),
        (("fork-lost-guard-marker", "outcome-differs"), False),
        (("guard-marker-vanished",), False),
        ((), False),
    ],
)
def test_finding_entry_accepts_only_its_finding(kinds: tuple[str, ...], documented: bool) -> None:
    """A generated failure is the documented one only if every finding is the entry's."""
    entry = XfailEntry("test_generated[x-", "r", "xf.txt", 4, False,
                       finding="fork-lost-guard-marker")
    raised = documented_or_not(entry, _generated(*kinds))
    assert isinstance(raised, DocumentedFailure) is documented
    if not documented:
        assert str(raised) == (
            "expected-failure entry test_generated[x- (xf.txt:4) expects finding "
            f"fork-lost-guard-marker; this failure is: finding {', '.join(kinds) or '(none)'}")


def test_precise_entry_refuses_other_exceptions() -> None:
    """Any exception that is not a generated or curated case's failure (a crash in the test, a
    timeout) is not the documented failure, whatever the entry names."""
    for entry in (XfailEntry("t", "r", "f", 1, finding="crash"),
                  XfailEntry("t", "r", "f", 1, step_line=3)):
        raised = documented_or_not(entry, RuntimeError("boom\nmore"))
        assert not isinstance(raised, DocumentedFailure)
        assert str(raised).endswith("this failure is: RuntimeError: boom")


def test_line_entry_accepts_only_its_step() -> None:
    """A curated failure is the documented one only at the entry's step line."""
    entry = XfailEntry("test_case[x-y]", "r", "xf.txt", 2, step_line=22)
    at = parse_step("in child: pages 0..1 = . G", 22)
    assert isinstance(documented_or_not(entry, CaseFailure("r", "y", "x", at)), DocumentedFailure)
    other = parse_step("mprotect 1 1 r", 15)
    raised = documented_or_not(entry, CaseFailure("r", "y", "x", other))
    assert str(raised).endswith(
        "expects the failing step at line 22; this failure is: the failing step at line 15 "
        "(mprotect 1 1 r)")
    raised = documented_or_not(entry, CaseFailure("r", "y", "x", None))
    assert str(raised).endswith("this failure is: a failure outside the case's steps")


def test_line_entry_refuses_a_crash_at_its_own_step() -> None:
    """The implementation raising (or breaking the contract) at the documented step is not the
    documented failure: the entry documents a wrong result, not a crash."""
    entry = XfailEntry("test_case[x-y]", "r", "xf.txt", 2, step_line=22)
    at = parse_step("in child: pages 0..1 = . G", 22)
    raised = documented_or_not(entry, CaseFailure("r", "y", "x", at, raised=True))
    assert not isinstance(raised, DocumentedFailure)
    assert str(raised).endswith(
        "this failure is: the implementation broke the contract at line 22 "
        "(in child: pages 0..1 = . G)")


def test_differential_restatement_is_not_another_finding() -> None:
    """The reference comparison of the same child pages is the invariant's finding again;
    a comparison of other states is a finding of its own (kinds: oracles.FINDING_KINDS)."""
    child_g = parse_step("in child: pages 5 = G")
    child_g2 = parse_step("in child: pages 5..6 = G G")
    parent_p = parse_step("pages 5 = P")
    lost = Finding("invariant", "lost", (child_g,), kind="fork-lost-guard-marker")
    same = Finding("differential", "differ", (child_g2,), kind="page-states-differ")
    other = Finding("differential", "differ", (parent_p,), kind="page-states-differ")
    errno = Finding("differential", "gave EPERM", expected=Outcome(), kind="outcome-differs")
    crash = Finding("crash", "raised")
    assert finding_kinds([lost, same]) == ("fork-lost-guard-marker",)
    assert finding_kinds([lost, same, other]) == ("fork-lost-guard-marker", "page-states-differ")
    assert finding_kinds([lost, errno]) == ("fork-lost-guard-marker", "outcome-differs")
    assert finding_kinds([crash]) == ("crash",)
    assert {"fork-lost-guard-marker", "page-states-differ", "crash"} <= set(FINDING_KINDS)


def test_finding_entry_fails_crashes_and_other_errnos(toy: pytest.Pytester) -> None:
    """Under ``finding=fork-lost-guard-marker``, rfc-v1's own generated failures are xfailed,
    while rfc-v1 raising RuntimeError, or giving EPERM where the kernel succeeds (mprotect of
    a private anonymous mapping), fails: every one of its failing cases, with the entry named."""
    toy.makepyfile(rfctoys=RFC_TOYS)
    xfails = toy.makefile(".txt", xf="\n".join(
        f"?test_generated[rfctoys:{name}-  {LOST_MARKER}  lost markers"
        for name in ("plain", "raising", "wrong_errno")) + "\n")
    result = toy.runpytest(
        "-p", "anonvma", "-rA", "--anonvma-impl=rfctoys:plain,rfctoys:raising,rfctoys:wrong_errno",
        f"--anonvma-xfail-file={xfails}", "--anonvma-generated=12", "-k", "test_generated",
    )
    found = outcomes(result)
    by_impl: dict[str, set[str]] = {}
    for nodeid, word in found.items():
        by_impl.setdefault(nodeid.split("[rfctoys:")[1].split("-gen-")[0], set()).add(word)
    assert by_impl["plain"] == {"XFAIL", "XPASS"}
    assert "FAILED" in by_impl["raising"] and "FAILED" in by_impl["wrong_errno"]
    out = result.stdout.str()
    crashes = out.count(f"expected-failure entry test_generated[rfctoys:raising- ({xfails}:2) "
                        "expects finding fork-lost-guard-marker; this failure is: finding crash")
    assert crashes == sum(1 for nodeid, word in found.items()
                          if "rfctoys:raising-" in nodeid and word == "FAILED") > 0
    assert "this failure is: finding outcome-differs" in out
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_line_entry_fails_a_crash_at_another_step(toy: pytest.Pytester) -> None:
    """A strict ``line=`` entry xfails the case failing at that step, and fails a crash at an
    earlier step or a failure at another line."""
    toy.makepyfile(rfctoys=RFC_TOYS)
    xfails = toy.makefile(".txt", xf=textwrap.dedent(
        """\
        test_case[rfctoys:plain-hazard-mprotect-merge-both]    line=42  right step
        test_case[rfctoys:plain-hazard-mprotect-merge-left]    line=23  wrong step
        test_case[rfctoys:raising-hazard-mprotect-merge-both]  line=42  crash before it
        """))
    result = toy.runpytest(
        "-p", "anonvma", "-rA", "--anonvma-impl=rfctoys:plain,rfctoys:raising",
        f"--anonvma-xfail-file={xfails}", "-k", "hazard-mprotect-merge-both or "
        "plain-hazard-mprotect-merge-left",
    )
    assert outcomes(result) == {
        "test_cases.py::test_case[rfctoys:plain-hazard-mprotect-merge-left]": "FAILED",
        "test_cases.py::test_case[rfctoys:plain-hazard-mprotect-merge-both]": "XFAIL",
        "test_cases.py::test_case[rfctoys:raising-hazard-mprotect-merge-both]": "FAILED",
    }
    out = result.stdout.str()
    assert ("expects the failing step at line 23; this failure is: the failing step at line 22"
            in out)
    assert ("expects the failing step at line 42; this failure is: the implementation broke the "
            "contract at line 36") in out


def test_bundled_lists_expect_exactly_the_bundled_failures(toy: pytest.Pytester) -> None:
    """rfc-v1 and baseline fail only as their bundled lists say: every listed curated case fails
    at its listed line and every generated failure has the documented finding."""
    result = toy.runpytest(
        "-p", "anonvma", "--anonvma-impl=rfc-v1,baseline", "--anonvma-generated=40",
        "-k", "test_case or test_generated",
    )
    counts = result.parseoutcomes()
    assert "failed" not in counts and counts["xfailed"] > 19, result.stdout.str()
