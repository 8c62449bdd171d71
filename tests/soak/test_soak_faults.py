"""The ``soak`` command under faults: models that raise, hang or answer nonsense, oracles that
fail, bad bounds, outputs that cannot be written, SIGINT, and the documented exit statuses.

Each fault is a reported disagreement (naming the sequence, the step and the fault) or one
line on stderr, with the summary line last on stdout: never a traceback, never a hang. The
crash, hang and interrupt cases run the command in a subprocess (``python -m pytest_anonvma``)
with the toys of ``soak_toys.py`` importable; the others run in-process (the ``soak``
fixture).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_anonvma import registry
from pytest_anonvma.__main__ import main
from pytest_anonvma.cases import CaseFailure, load_file, run_case
from pytest_anonvma.soak.cli import EXIT_MEANINGS, Exit

RunSoak = Callable[..., tuple[int, str, str]]

HERE = Path(__file__).parent
SUMMARY = re.compile(
    r"^(\d+) sequences, (\d+) steps, (\d+) disagreements in \d+\.\d s \(\d+\.\d seq/s\)$")
#: the oracle of every run here: a model, so no kernel is needed
ORACLE = ("--against", "maybe-guard")


def _summary(out: str) -> tuple[int, int, int]:
    last = out.rstrip("\n").splitlines()[-1]
    match = SUMMARY.match(last)
    assert match, f"last line is not the summary: {last!r}"
    return int(match[1]), int(match[2]), int(match[3])


def _env() -> dict[str, str]:
    """The environment of a subprocess soak: ``soak_toys`` importable."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest_anonvma", "soak", *ORACLE, *args]


def _run(tmp_path: Path, *args: str, limit: float = 60) -> tuple[int, str, str, float]:
    """Run the command in a subprocess: (exit status, stdout, stderr, seconds)."""
    began = time.monotonic()
    done = subprocess.run(_command(*args), cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=limit, check=False)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - began


def _no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def _written_cases_replay(folder: Path, count: int, toy: str | None) -> None:
    """The ``count`` cases written to ``folder`` load without a problem, pass on the oracle
    and (unless ``toy`` is None: it would hang) fail on the toy."""
    paths = sorted(folder.glob("soak-*.toml"))
    assert len(paths) == count and len(list(folder.glob("soak-*.c"))) == count
    for path in paths:
        loaded, problems = load_file(path)
        assert problems == [] and len(loaded) == 1
        run_case(loaded[0], registry.resolve("maybe-guard"), "maybe-guard")
        if toy is not None:
            with pytest.raises(CaseFailure):
                run_case(loaded[0], registry.resolve(f"soak_toys:{toy}"), toy)


def test_model_that_raises_is_a_disagreement_at_that_step(tmp_path: Path) -> None:
    """A model whose mprotect raises RuntimeError: each sequence with an mprotect is a
    ``crash`` disagreement naming the sequence, the step and the exception; exit 1. The
    written case is a real case: it passes on the oracle and fails on the toy."""
    status, out, err, _ = _run(tmp_path, "--models", "soak_toys:RaisingMprotect",
                               "--sequences", "3", "--seed", "1", "--out", "found")
    _no_traceback(out, err)
    assert (status, err) == (Exit.DISAGREED, "")
    sequences, _, disagreements = _summary(out)
    assert sequences == 3 and disagreements >= 1
    first = re.search(r"^  soak_toys:RaisingMprotect: step (\d+) 'mprotect [^']*': "
                      r"'mprotect [^']*' raised RuntimeError: toy mprotect broke$", out, re.M)
    assert first, out
    assert "  crash: 'mprotect" in out
    _written_cases_replay(tmp_path / "found", disagreements, "RaisingMprotect")


def test_model_that_exits_is_a_disagreement_not_the_end(soak: RunSoak) -> None:
    """A model calling ``sys.exit(0)`` in a step does not end the soak with status 0: it is a
    ``crash`` disagreement (SystemExit) at that step, and the soak goes on."""
    status, out, err = soak(*ORACLE, "--models", "soak_toys:ExitingMprotect", "--sequences",
                            "3", "--seed", "1")
    assert (status, err) == (Exit.DISAGREED, "")
    assert re.search(r"^  crash: 'mprotect [^']*' raised SystemExit: 0$", out, re.M), out
    assert _summary(out)[0] == 3


@pytest.mark.parametrize("toy", ["SpinningMprotect", "SleepingMprotect"])
def test_model_that_hangs_is_a_timeout_disagreement(tmp_path: Path, toy: str) -> None:
    """A model whose mprotect never returns (a Python loop, a blocking system call) is
    stopped by ``--step-timeout``: a ``timeout`` disagreement at that step, reported unshrunk
    (each replay would wait again), exit 1, in about a step timeout per sequence."""
    status, out, err, seconds = _run(tmp_path, "--models", f"soak_toys:{toy}", "--sequences",
                                     "2", "--seed", "1", "--step-timeout", "0.5", "--out", "hung")
    _no_traceback(out, err)
    assert (status, err) == (Exit.DISAGREED, "")
    assert _summary(out)[::2] == (2, 2)
    assert re.search(rf"^  soak_toys:{toy}: step \d+ 'mprotect [^']*': 'mprotect [^']*' did "
                     r"not finish within 0\.5 s \(--step-timeout\)$", out, re.M), out
    assert f"NOT shrunk: soak_toys:{toy} hung" in out
    assert "--step-timeout 0.5" in out  # the rerun line keeps the limit
    assert seconds < 30
    _written_cases_replay(tmp_path / "hung", 2, None)


def test_model_stuck_in_c_code_ends_the_process_with_stacks(tmp_path: Path) -> None:
    """A step that neither SIGALRM nor an asynchronous exception can interrupt (signals
    blocked, as in C code): the time limit's last stage prints the stacks and ends the process
    with exit 3 (the run did not finish) within the step timeout plus its grace periods."""
    from pytest_anonvma.timeouts import GRACE, HARD_KILL

    status, out, err, seconds = _run(tmp_path, "--models", "soak_toys:StuckMprotect",
                                     "--sequences", "1", "--seed", "1", "--step-timeout", "0.5")
    assert status == Exit.ERROR
    assert "soak: soak_toys:StuckMprotect at step" in err and "could not be interrupted" in err
    assert not SUMMARY.search(out) and seconds < 0.5 + GRACE + HARD_KILL + 15


def test_model_crashing_the_process_leaves_its_stacks(tmp_path: Path) -> None:
    """A model that crashes the process in C code (SIGSEGV) cannot be survived in-process:
    the process dies of the signal (never exit 0) and the Python stacks on stderr name the
    model's frame (faulthandler)."""
    status, _, err, _ = _run(tmp_path, "--models", "soak_toys:SegfaultingMprotect",
                             "--sequences", "1", "--seed", "1")
    assert status == -signal.SIGSEGV
    assert "Segmentation fault" in err and "soak_toys.py" in err and "mprotect" in err


def test_model_answering_the_wrong_type_is_a_disagreement_naming_the_method(
        soak: RunSoak, tmp_path: Path) -> None:
    """page() answering the state's character instead of a PageState: a ``crash``
    disagreement at the first step, naming the method, the value and the contract's type."""
    status, out, err = soak(*ORACLE, "--models", "soak_toys:StringPages", "--sequences", "1",
                            "--out", str(tmp_path))
    assert (status, err) == (Exit.DISAGREED, "")
    assert re.search(r"^  soak_toys:StringPages: step 1 '[^']*': '[^']*' raised "
                     r"ContractViolation: StringPages\.page\(\) returned '\.' \(str\); the "
                     r"contract expects a PageState", out, re.M), out
    assert _summary(out)[2] == 1
    _written_cases_replay(tmp_path, 1, "StringPages")


def test_model_whose_close_raises_is_a_disagreement(soak: RunSoak, tmp_path: Path) -> None:
    """Fork children that raise when closed: a ``crash`` disagreement ``close() raised``
    at the sequence's last step, shrunk to a sequence with a fork; the case written states
    the oracle's page states, and fails on the toy when the runner closes the child."""
    status, out, err = soak(*ORACLE, "--models", "soak_toys:ChildCloseRaises",
                            "--sequences", "2", "--seed", "1", "--out", str(tmp_path))
    assert (status, err) == (Exit.DISAGREED, "")
    assert "crash: close() raised RuntimeError: toy child close broke" in out
    assert "\nfork as " in out
    _written_cases_replay(tmp_path, _summary(out)[2], "ChildCloseRaises")


@pytest.mark.parametrize(
    ("toy", "cause"),
    [
        ("factory_raises", "building an address space raised RuntimeError: toy factory broke"),
        ("factory_of_nothing", "the factory returned None (NoneType), not an address space"),
    ],
)
@pytest.mark.parametrize("option", ["--models", "--against"])
def test_factory_that_cannot_build_is_one_line_at_start(soak: RunSoak, toy: str, cause: str,
                                                        option: str) -> None:
    """A model or oracle whose factory raises or gives something that is not an address
    space: exit 2 before any sequence, one line naming the option, the spec and the cause."""
    other = "--against" if option == "--models" else "--models"
    status, out, err = soak(other, "maybe-guard", option, f"soak_toys:{toy}")
    assert (status, out) == (Exit.USAGE, "")
    assert err.count("\n") == 1 and err.startswith(f"soak: {option} soak_toys:{toy}: {cause}")


@pytest.mark.parametrize(
    ("toy", "cause"),
    [
        ("RaisingMprotect", r"raised RuntimeError: toy mprotect broke"),
        ("SpinningMprotect", r"did not finish within 0\.5 s \(--step-timeout\)"),
        ("StringPages", r"raised ContractViolation: StringPages\.page\(\) returned"),
    ],
)
def test_oracle_that_fails_ends_the_run_with_one_line_and_the_summary(
        soak: RunSoak, toy: str, cause: str) -> None:
    """The oracle's failure is no disagreement: exit 3, one line naming the oracle, the step
    and the cause and how to play the rest, then the summary of what was done."""
    status, out, err = soak("--against", f"soak_toys:{toy}", "--models", "maybe-guard",
                            "--sequences", "3", "--seed", "1", "--step-timeout", "0.5")
    assert status == Exit.ERROR
    assert err.count("\n") == 1, err
    assert re.match(rf"soak: error: the oracle soak_toys:{toy} at step \d+ '[^']*': {cause}",
                    err), err
    assert "; stopped at sequence 0 of seed 1 (none done); play the rest with --start 0 " \
        "--sequences 3" in err
    assert _summary(out) == (0, 0, 0)


def test_internal_error_is_one_line_with_its_place(soak: RunSoak,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug of the soak itself: exit 3, one line naming the exception and where it was
    raised, then the summary; the disagreements reported before it stay reported."""
    from pytest_anonvma.soak.session import Soak

    def broken(*args: object) -> None:
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(Soak, "explain", broken)
    status, out, err = soak(*ORACLE, "--models", "soak_toys:ForgetfulFork", "--seed", "1")
    assert status == Exit.ERROR
    assert re.fullmatch(r"soak: internal error: ZeroDivisionError: injected \(at .*"
                        r"test_soak_faults\.py:\d+\); please report it; stopped at sequence "
                        r"\d+ of seed 1 \(.*\); play the rest with --start \d+ --sequences "
                        r"\d+\n", err), err
    assert _summary(out)[2] == 0


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--steps", "1e8", "a whole number from 1 to 1000"),
        ("--steps", "100000000", "a whole number from 1 to 1000"),
        ("--sequences", "100000000", "a whole number from 1 to 10000000"),
        ("--sequences", "-3", "a whole number from 1 to 10000000"),
        ("--seed", str(2**64), "a whole number from 0 to 18446744073709551615"),
        ("--start", "9" * 5000, "a whole number from 0 to 9223372036854775807"),
        ("--step-timeout", "0", "seconds from 0.1 to 3600"),
        ("--step-timeout", "1e10", "seconds from 0.1 to 3600"),
        ("--step-timeout", "nan", "seconds from 0.1 to 3600"),
        ("--step-timeout", "inf", "seconds from 0.1 to 3600"),
        ("--step-timeout", "soon", "seconds from 0.1 to 3600"),
    ],
)
def test_out_of_range_is_one_line_naming_the_option_and_range(
        soak: RunSoak, option: str, value: str, allowed: str) -> None:
    """Counts and times are bounded: exit 2, one line naming the option and its range."""
    status, out, err = soak(*ORACLE, option, value)
    assert (status, out) == (Exit.USAGE, "")
    assert err.count("\n") == 1 and err.startswith(f"soak: {option}: expected {allowed}, got ")
    assert len(err) < 200  # a huge value is shown shortened


@pytest.mark.parametrize(
    ("option", "value"),
    [("--steps", "1"), ("--steps", "1000"), ("--sequences", "1"), ("--seed", str(2**64 - 1)),
     ("--start", str(2**63 - 1)), ("--step-timeout", "0.1"), ("--step-timeout", "3600")],
)
def test_bounds_are_inclusive(soak: RunSoak, option: str, value: str) -> None:
    """The ends of each range are accepted (the run starts and plays its sequence)."""
    status, out, err = soak(*ORACLE, "--models", "maybe-guard", "--sequences", "1", "--steps",
                            "1", option, value)
    assert status != Exit.USAGE and err == "", err
    assert _summary(out)[0] == 1


def test_steps_1e8_in_a_subprocess(tmp_path: Path) -> None:
    """The same from the command line: no traceback, exit 2, promptly."""
    status, out, err, seconds = _run(tmp_path, "--steps", "1e8")
    assert (status, out) == (Exit.USAGE, "")
    assert err == "soak: --steps: expected a whole number from 1 to 1000, got '1e8'\n"
    assert seconds < 30


@pytest.mark.parametrize("where", ["under-a-file", "a-file", "proc", "empty"])
def test_unwritable_out_is_a_usage_error_at_start(soak: RunSoak, tmp_path: Path,
                                                  where: str) -> None:
    """An ``--out`` folder that cannot be made or written: exit 2 before any sequence, one
    line naming --out (checked by making the folder and a temporary file in it)."""
    blocker = tmp_path / "file"
    blocker.write_text("mine\n")
    out_dir = {"under-a-file": str(blocker / "sub"), "a-file": str(blocker),
               "proc": "/proc/self/soak-out", "empty": ""}[where]
    status, out, err = soak(*ORACLE, "--models", "soak_toys:ForgetfulFork", "--out", out_dir)
    assert (status, out) == (Exit.USAGE, "")
    assert err.count("\n") == 1 and err.startswith("soak: --out"), err
    assert blocker.read_text() == "mine\n"  # nothing the user wrote is touched


def test_out_is_made_and_left_clean(soak: RunSoak, tmp_path: Path) -> None:
    """A writable ``--out`` is made at start; the probe file does not stay behind."""
    target = tmp_path / "a" / "b"
    status, _, _ = soak(*ORACLE, "--models", "maybe-guard", "--sequences", "1", "--out",
                        str(target))
    assert status == Exit.AGREED
    assert target.is_dir() and list(target.iterdir()) == []


def test_failed_write_still_reports_the_disagreement(soak: RunSoak, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing a disagreement fails after the start (a full disk): it is still printed, one
    line names the file and the error, nothing partial is left, and the exit status is 4
    (disagreements found, and some not written)."""
    from pytest_anonvma.soak import report

    def full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report.os, "replace", full)
    status, out, err = soak(*ORACLE, "--models", "soak_toys:ForgetfulFork", "--sequences",
                            "2", "--seed", "1", "--out", str(tmp_path / "found"))
    assert status == Exit.UNSAVED
    disagreements = _summary(out)[2]
    assert disagreements >= 1 and out.count("DISAGREEMENT on sequence") == disagreements
    lines = err.splitlines()
    assert len(lines) == disagreements
    assert all(re.fullmatch(r"soak: --out .*found: could not write soak-1-\d+: \[Errno 28\] "
                            r"No space left on device", line) for line in lines), err
    assert list((tmp_path / "found").iterdir()) == []


def _wait_for(process: subprocess.Popen[str], text: str, times: int = 1,
              limit: float = 60) -> str:
    """Read the process's stdout until ``text`` was seen ``times`` times; what was read."""
    assert process.stdout is not None
    seen, deadline = "", time.monotonic() + limit
    while seen.count(text) < times:
        line = process.stdout.readline()
        assert line and time.monotonic() < deadline, f"no {text!r} in {seen!r}"
        seen += line
    return seen


@pytest.mark.parametrize("toy", ["ForgetfulFork", "SleepingMprotect"])
def test_sigint_prints_the_progress_and_exits_130(tmp_path: Path, toy: str) -> None:
    """SIGINT after the soak started (it reported a disagreement), while it plays on or while
    a model step blocks: the line saying where it stopped and how to play the rest, the
    summary of what was done, exit 130; no traceback."""
    sleeping = tmp_path / "sleeping"
    process = subprocess.Popen(
        _command("--models", f"soak_toys:{toy}", "--sequences", "1000000", "--seed", "1",
                 "--step-timeout", "600"),
        cwd=tmp_path, env={**_env(), "SOAK_TOYS_SLEEPING": str(sleeping)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if toy == "ForgetfulFork":
            head = _wait_for(process, "DISAGREEMENT on sequence", 2)  # the first is counted
        else:  # no output while the step blocks: the toy says when it has begun
            head, deadline = "", time.monotonic() + 60
            while not sleeping.exists():
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out = head + out
    _no_traceback(out, err)
    assert process.returncode == Exit.INTERRUPTED
    match = re.fullmatch(r"soak: interrupted; stopped at sequence (\d+) of seed 1 \((.*)\); "
                         r"play the rest with --start (\d+) --sequences (\d+)\n", err)
    assert match, err
    sequences, _, disagreements = _summary(out)
    stopped = int(match[1])
    assert stopped == sequences == int(match[3]) and int(match[4]) == 1_000_000 - stopped
    # the sequence being reported when the interrupt came is not counted: it is replayed
    assert out.count("DISAGREEMENT on sequence") in (disagreements, disagreements + 1)
    assert disagreements >= (1 if toy == "ForgetfulFork" else 0)


def test_closed_stdout_stops_the_run_with_one_line(tmp_path: Path) -> None:
    """The reader of the output goes away (``soak ... | head -1``): one line on stderr says
    so and where the run stopped, exit 3 (it did not finish); no traceback."""
    process = subprocess.Popen(
        _command("--models", "soak_toys:ForgetfulFork", "--sequences", "1000", "--seed", "1"),
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    try:
        assert process.stdout.readline().startswith("DISAGREEMENT on sequence")
        process.stdout.close()
        err = process.stderr.read()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == Exit.ERROR
    assert re.fullmatch(r"soak: error: the standard output was closed \(broken pipe\); "
                        r"stopped at sequence \d+ of seed 1 .*\n", err), err


def test_exit_statuses_are_distinct_and_documented(
        capsys: pytest.CaptureFixture[str]) -> None:
    """One status per meaning, each listed in ``--help`` and in docs/usage.md's soak section."""
    assert len({int(status) for status in Exit}) == len(Exit)
    assert set(EXIT_MEANINGS) == set(Exit)
    with pytest.raises(SystemExit) as done:
        main(["soak", "--help"])
    assert done.value.code == 0
    soak_help = capsys.readouterr().out
    usage = (HERE.parents[1] / "docs" / "usage.md").read_text()
    section = usage.split("## The soak command", 1)[1].split("\n## ", 1)[0]
    for status in Exit:
        assert re.search(rf"^  {status.value} +\S", soak_help, re.M), soak_help
        assert f"| {status.value} |" in section
