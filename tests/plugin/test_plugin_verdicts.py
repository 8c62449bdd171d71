"""True verdicts for runs that go wrong: a crashed worker, a process the time limit ends, an
interrupt, and outputs that cannot be written.

Expected behaviour: issue 10 items 1 and 3. A crash or an interrupt is never counted as a pass
(the matrix, every report format, the exit status); a run that did not finish says so
("INCOMPLETE RUN", ``"complete": false``) and never exits 0; a hang that must end the process
names the test and shows the stacks on the terminal; an output folder that cannot be written is
a usage error at start, and a write that fails later loses nothing and does not exit 0.
Crashes, hangs and interrupts run in a subprocess, as a user would see them.
"""

from __future__ import annotations

from typing import Any

import pytest
from plugin_helpers import read_json

#: toy implementations that misbehave in the ways a real model can, on top of ``toyimpl``
VERDICT_TOYS = '''
import os
import signal
import time

import pytest

from toyimpl import ToyMM


class SegfaultingForkMM(ToyMM):
    """fork() dies of SIGSEGV, as a C extension would."""

    def fork(self):
        os.kill(os.getpid(), signal.SIGSEGV)


class ExitingForkMM(ToyMM):
    def fork(self):
        os._exit(1)


class SegfaultingInitMM(ToyMM):
    """Dies while a test makes it (in setup: no report of the test reaches the controller)."""

    def __init__(self):
        if os.environ.get("PYTEST_CURRENT_TEST", "").startswith("test_user.py::"):
            os.kill(os.getpid(), signal.SIGSEGV)
        super().__init__()


class InterruptingForkMM(ToyMM):
    def fork(self):
        raise KeyboardInterrupt


class ExitZeroForkMM(ToyMM):
    def fork(self):
        pytest.exit("toy: stop the run", returncode=0)


class StuckForkMM(ToyMM):
    """Stuck in one C call that neither SIGALRM nor an asynchronous exception interrupts."""

    def fork(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
'''

#: a map, a fork and a test after them, in one tier
TESTS = '''
import pytest

pytestmark = pytest.mark.anonvma_tier("guard")


def test_map(mm):
    mm.mmap(0x10000, 0x2000, 3, 0x32)


def test_fork(mm):
    mm.mmap(0x10000, 0x1000, 3, 0x32)
    mm.fork()


def test_later(mm):
    pass
'''

#: the time limit's later stages after a fraction of a second, so a hang ends quickly
QUICK_STAGES = """
from pytest_anonvma import timeouts

timeouts.GRACE, timeouts.HARD_KILL = 0.2, 0.5
"""


@pytest.fixture
def verdicts(toy: pytest.Pytester) -> pytest.Pytester:
    """The toy project with the misbehaving toys, :data:`TESTS` and quick time-limit stages."""
    toy.makepyfile(verdict_toys=VERDICT_TOYS, test_user=TESTS)
    toy.makeconftest(QUICK_STAGES)
    return toy


def run(pytester: pytest.Pytester, impl: str, *args: str) -> tuple[pytest.RunResult, Any]:
    """Run :data:`TESTS` on ``verdict_toys:IMPL`` and ``toyimpl:ToyMM`` in a subprocess with a
    JSON report; (result, report)."""
    report = pytester.path / "r.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--anonvma-impl=verdict_toys:{impl},toyimpl:ToyMM",
        f"--anonvma-report={report}", *args, "test_user.py", timeout=120,
    )
    return result, read_json(report)


def outcome_of(report: Any, test_id: str) -> tuple[str, str]:
    """(outcome, tier) of one test in a JSON report."""
    found = [(c["outcome"], c["tier"]) for c in report["cases"] if c["test_id"] == test_id]
    assert len(found) == 1, test_id
    return found[0]


@pytest.mark.parametrize("impl", ["SegfaultingForkMM", "ExitingForkMM"])
def test_crashed_worker_is_not_a_pass(verdicts: pytest.Pytester, impl: str) -> None:
    """A model whose fork() kills its xdist worker: that test is crashed in the matrix and the
    report, the others still pass, the run is incomplete and exits non-zero."""
    result, report = run(verdicts, impl, "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    name = f"verdict_toys:{impl}"
    assert outcome_of(report, f"test_fork[{name}]") == ("crashed", "guard")
    assert outcome_of(report, f"test_map[{name}]") == ("passed", "guard")
    assert outcome_of(report, "test_fork[toyimpl:ToyMM]") == ("passed", "guard")
    assert report["complete"] is False
    assert report["crashed"] == [f"test_user.py::test_fork[{name}]"]
    total = report["matrix"][name]["curated total"]
    assert (total["passed"], total["crashed"], total["conformant_percent"]) == (2, 1, 66.7)
    result.stdout.fnmatch_lines([
        "*= anonvma conformance: INCOMPLETE RUN =*",
        "INCOMPLETE RUN: 1 test(s) crashed",
        f"CRASHED test_user.py::test_fork[[]{name}[]]: worker 'gw*' crashed while running*",
        f"{name} *guard *2       0        1            0        0        0        0       66.7%",
        "report written to *r.json (INCOMPLETE RUN)",
    ])


def test_crash_before_any_report_keeps_the_tier(verdicts: pytest.Pytester) -> None:
    """A worker that dies while setting a test up sends nothing about it: the controller still
    finds its implementation and tier (from the workers' collection) and counts it crashed."""
    result, report = run(verdicts, "SegfaultingInitMM", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    for test in ("test_map", "test_fork", "test_later"):
        assert outcome_of(report, f"{test}[verdict_toys:SegfaultingInitMM]") == ("crashed", "guard")
    assert report["matrix"]["verdict_toys:SegfaultingInitMM"]["guard"]["passed"] == 0
    assert report["matrix"]["toyimpl:ToyMM"]["guard"]["passed"] == 3


def test_interrupt_is_not_a_pass(verdicts: pytest.Pytester) -> None:
    """Ctrl-C (a KeyboardInterrupt from the model) in a serial run: the test it cut short is
    interrupted, the tests never run are listed, the run exits 2 ("interrupted")."""
    result, report = run(verdicts, "InterruptingForkMM")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert outcome_of(report, "test_fork[verdict_toys:InterruptingForkMM]") == (
        "interrupted", "guard")
    assert report["complete"] is False
    assert report["stopped"] == "KeyboardInterrupt"
    assert report["never_reported"] == [
        "test_user.py::test_fork[verdict_toys:InterruptingForkMM]",
        "test_user.py::test_fork[toyimpl:ToyMM]",
        "test_user.py::test_later[verdict_toys:InterruptingForkMM]",
        "test_user.py::test_later[toyimpl:ToyMM]",
    ]
    result.stdout.fnmatch_lines([
        "*= anonvma conformance: INCOMPLETE RUN =*",
        "INCOMPLETE RUN: 1 interrupted; 4 never reported; stopped: KeyboardInterrupt",
        "INTERRUPTED test_user.py::test_fork[[]verdict_toys:InterruptingForkMM[]]: started, "
        "never finished (the run stopped: KeyboardInterrupt)",
    ])


def test_a_stopped_run_never_exits_0(verdicts: pytest.Pytester) -> None:
    """``pytest.exit(returncode=0)`` from a model ends the run early: not a green run."""
    result, report = run(verdicts, "ExitZeroForkMM")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert report["complete"] is False
    assert outcome_of(report, "test_fork[verdict_toys:ExitZeroForkMM]")[0] == "interrupted"


def test_serial_hang_in_c_says_which_test(verdicts: pytest.Pytester) -> None:
    """A serial run whose model is stuck where no exception reaches it: the process ends (exit
    3), but first the terminal shows the test, the implementation, every thread's stack and the
    matrix so far, and the report is written (incomplete), never a silent exit."""
    result, report = run(verdicts, "StuckForkMM", "--anonvma-timeout=0.3")
    assert result.ret == 3
    name = "verdict_toys:StuckForkMM"
    result.stderr.fnmatch_lines([
        f"pytest-anonvma: implementation '{name}' did not finish the call of test_fork[[]{name}[]]"
        f" within 0.3s (--anonvma-timeout=0.3) (test test_user.py::test_fork[[]{name}[]]); it "
        "could not be interrupted (stuck in C code?): ending this process (exit status 3). "
        "Stacks of every thread:",
        "*verdict_toys.py*in fork",
        "INCOMPLETE RUN: 1 test(s) crashed; 3 never reported; stopped: the time limit ended the "
        "process",
        f"CRASHED test_user.py::test_fork[[]{name}[]]: *the process was ended",
        f"{name} *guard *1       0        1            0        0        0        0       50.0%",
        "report written to *r.json (INCOMPLETE RUN)",
    ])
    assert report["complete"] is False
    assert outcome_of(report, f"test_fork[{name}]") == ("crashed", "guard")


def test_hang_in_c_under_xdist(verdicts: pytest.Pytester) -> None:
    """The same hang under ``-n 2``: the worker says which test hung before it ends; the test
    is crashed and the others run."""
    result, report = run(verdicts, "StuckForkMM", "--anonvma-timeout=0.3", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stderr.fnmatch_lines([
        "pytest-anonvma: implementation 'verdict_toys:StuckForkMM' did not finish the call of "
        "*(test test_user.py::test_fork[[]verdict_toys:StuckForkMM[]]); it could not be "
        "interrupted*",
    ])
    assert outcome_of(report, "test_fork[verdict_toys:StuckForkMM]")[0] == "crashed"
    assert outcome_of(report, "test_later[verdict_toys:StuckForkMM]")[0] == "passed"
    assert report["complete"] is False


# -- outputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--anonvma-report", "/proc/nonexistent/r.json",
         "cannot write into the folder of '/proc/nonexistent/r.json': No such file or directory"),
        ("--anonvma-report", "a-file/r.json",
         "cannot write into the folder of 'a-file/r.json': 'a-file' is not a folder"),
        ("--anonvma-report", "a-dir.json", "'a-dir.json' exists and is not a regular file"),
        ("--anonvma-export-c", "a-file/c", "cannot write into the folder 'a-file/c': Not a "
         "directory"),
        ("--anonvma-export-c", "a-file", "cannot write into the folder 'a-file': 'a-file' is not "
         "a folder"),
        ("--anonvma-export-c", "", "expected a folder, got ''"),
        ("--anonvma-save-failures", "/proc/self/saved",
         "cannot write into the folder '/proc/self/saved': No such file or directory"),
    ],
)
def test_unwritable_outputs_are_usage_errors(
    toy: pytest.Pytester, option: str, value: str, message: str
) -> None:
    """An output that cannot be written is one line at start (exit 4), before any test runs."""
    toy.makepyfile(test_user=TESTS)
    (toy.path / "a-file").write_text("")
    toy.mkdir("a-dir.json")
    result = toy.runpytest("--anonvma-impl=toyimpl:ToyMM", f"{option}={value}", "test_user.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [f"ERROR: {option}: {message}", ""] or result.errlines == [
        f"ERROR: {option}: {message}"
    ]
    assert "passed" not in result.stdout.str()


#: a disk that fills up while the run goes on (os.replace is the report's last step)
DISK_FULL = """
import errno
import os


def disk_full(src, dst):
    raise OSError(errno.ENOSPC, "No space left on device")


os.replace = disk_full
"""


def test_report_that_cannot_be_written_loses_nothing(toy: pytest.Pytester) -> None:
    """The disk fills up before the report is written: the matrix and summary are printed,
    one line names the failure, no file is left, and the run does not exit 0."""
    toy.makepyfile(test_user=TESTS)
    toy.makeconftest(DISK_FULL)
    out = toy.mkdir("out")
    result = toy.runpytest_subprocess(
        "-p", "no:cacheprovider", "--anonvma-impl=toyimpl:ToyMM",
        f"--anonvma-report={out}/r.html", "test_user.py",
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines([
        "toyimpl:ToyMM *guard *3       0        0            0        0        0        0"
        "      100.0%",
        f"could not write the report '{out}/r.html' (--anonvma-report): No space left on device",
        "*= 3 passed in *",
    ])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert list(out.iterdir()) == []


#: the export folder, checked at start, becomes a file before the tests run
EXPORT_LOST = """
from pathlib import Path


def pytest_collection_finish(session):
    folder = Path("c-out")
    folder.rmdir()
    folder.write_text("")
"""


def test_export_that_fails_is_not_a_model_failure(pytester: pytest.Pytester) -> None:
    """A bundled case passes on the reference although its C export fails: the case's verdict
    is the model's, the lost file is listed at the end, and the run does not exit 0."""
    pytester.makeconftest(EXPORT_LOST)
    result = pytester.runpytest(
        "-p", "anonvma", "--anonvma-impl=reference", "--anonvma-generated=0",
        "--anonvma-export-c=c-out", "-k", "hazard-mprotect-merge-left",
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines([
        "reference *guard *1       0        0            0        0        0        0      100.0%",
        "could not write 1 file(s):",
        "*test_case[[]reference-hazard-mprotect-merge-left[]]: could not save the C reproducer "
        "of hazard-mprotect-merge-left: *c-out*",
    ])


#: a model whose layout is always empty: every generated case fails
EMPTY_LAYOUT = """
from pytest_anonvma.registry import resolve


def make():
    mm = resolve("reference")()
    mm.vmas = lambda: []
    return mm
"""


def test_failed_save_never_hides_the_failure(pytester: pytest.Pytester) -> None:
    """A generated case fails and its save fails too: the failure is the case's own, with a
    line saying what could not be saved."""
    pytester.makepyfile(empty_layout=EMPTY_LAYOUT)
    pytester.syspathinsert()
    pytester.makeconftest(EXPORT_LOST.replace("c-out", "saved"))
    result = pytester.runpytest(
        "-p", "anonvma", "--anonvma-impl=empty_layout:make", "--anonvma-generated=1",
        "--anonvma-save-failures=saved", "--anonvma-export-c=saved", "-k", "test_generated",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "generated case gen-*-0 (seed *) failed on 'empty_layout:make'*",
        "rerun: pytest -p anonvma --anonvma-impl=empty_layout:make *",
        "could not save the shortest failing case: File exists (saved)",
        "could not save the C reproducer: File exists (saved)",
    ])
