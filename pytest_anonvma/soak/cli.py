"""The ``soak`` command: differential fuzzing of the models against the running kernel.

``python -m pytest_anonvma soak --against live --models reference,maybe-guard,baseline
--sequences N --seed S [--start I] [--steps K] [--memory all|anonymous|private] [--out DIR]
[--step-timeout SECONDS]`` prints each disagreement as it is found (shrunk, as a ready-to-paste
case), then one summary line ``N sequences, M steps, K disagreements in T s (X seq/s)``, also
when the run is cut short (an interrupt, a failing oracle: one line on stderr says so first).
The exit statuses are :class:`Exit`.

A bundled design named without an era (``reference``) is loaded on the oracle's era
(``reference@6.18`` against a 6.18 kernel): the era decides mm/vma.c rules the kernel has.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import faulthandler
import os
import reprlib
import shlex
import signal
import sys
import textwrap
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from pytest_anonvma import registry
from pytest_anonvma.cases.runner import mm_era
from pytest_anonvma.conformity import not_an_address_space, shown
from pytest_anonvma.contract import MM
from pytest_anonvma.designs import DESIGNS
from pytest_anonvma.generate.generator import KINDS, MAX_STEPS, MIN_STEPS
from pytest_anonvma.outputs import unwritable
from pytest_anonvma.soak.drive import DEFAULT_STEP_TIMEOUT, FAULTS, SoakError, fault
from pytest_anonvma.soak.report import disagreement_report, write_disagreement
from pytest_anonvma.soak.session import Disagreement, Soak, SoakProgress
from pytest_anonvma.timeouts import time_limit

__all__ = ["DEFAULT_MODELS", "MEMORY", "Exit", "add_soak_command", "resolve_models",
           "run_soak"]

#: the designs compared by default: every one without known hazards (``Design.has_known_hazards``)
DEFAULT_MODELS = ",".join(name for name, cls in DESIGNS.items() if not cls.has_known_hazards)
#: ``--memory`` choices: the generator's memory kinds each allows
MEMORY: dict[str, tuple[str, ...]] = {
    "all": KINDS,
    "anonymous": ("anon", "shared-anon"),
    "private": ("anon",),
}


#: the allowed range of each whole-number option
BOUNDS: dict[str, tuple[int, int]] = {
    "--sequences": (1, 10_000_000),
    "--seed": (0, 2**64 - 1),
    "--start": (0, 2**63 - 1),
    "--steps": (1, 1000),
}
#: the allowed range of ``--step-timeout`` (seconds)
STEP_TIMEOUT_BOUNDS = (0.1, 3600.0)


class Exit(enum.IntEnum):
    """The exit statuses of the command; what each means is :data:`EXIT_MEANINGS`."""

    AGREED = 0
    DISAGREED = 1
    USAGE = 2
    ERROR = 3
    UNSAVED = 4
    INTERRUPTED = 130


#: what each exit status means (printed by --help, stated in docs/usage.md)
EXIT_MEANINGS: dict[Exit, str] = {
    Exit.AGREED: "every sequence played, no disagreement",
    Exit.DISAGREED: "disagreements found (each printed, and written with --out)",
    Exit.USAGE: "a bad option, an --out folder that cannot be written, an implementation "
    "that cannot be built or an oracle that cannot run (one line on stderr)",
    Exit.ERROR: "the run did not finish: the oracle failed or hung, a factory failed mid-run, "
    "the standard output was closed, or an internal error (one line on stderr, then the "
    "summary of what was done); also a step stuck in C code that the time limit cannot "
    "interrupt (its stacks are printed)",
    Exit.UNSAVED: "disagreements found, and writing one to --out failed (each still printed)",
    Exit.INTERRUPTED: "interrupted (SIGINT); the summary of what was done is printed",
}


class UsageError(Exception):
    """A bad option value; the message is the one line printed."""


def _unexpected(option: str, allowed: str, text: str) -> UsageError:
    return UsageError(f"{option}: expected {allowed}, got {reprlib.repr(text)}")


def _whole(option: str, text: str) -> int:
    least, most = BOUNDS[option]
    allowed = f"a whole number from {least} to {most}"
    try:
        value = int(text, 10)
    except ValueError:
        raise _unexpected(option, allowed, text) from None
    if not least <= value <= most:
        raise _unexpected(option, allowed, text)
    return value


def _seconds(option: str, text: str) -> float:
    least, most = STEP_TIMEOUT_BOUNDS
    allowed = f"seconds from {least:g} to {most:g}"
    try:
        value = float(text)
    except ValueError:
        raise _unexpected(option, allowed, text) from None
    if not least <= value <= most:  # also NaN
        raise _unexpected(option, allowed, text)
    return value


def _writable(option: str, text: str) -> Path:
    """The folder ``text``, made if needed, once a temporary file could be created in it."""
    if not text.strip():
        raise _unexpected(option, "a folder", text)
    folder = Path(text)
    why = unwritable(folder)
    if why == "not a folder":
        raise UsageError(f"{option} {text}: not a folder")
    if why is not None:
        raise UsageError(f"{option} {text}: cannot write there: {why}")
    return folder


def _resolve(option: str, spec: str) -> Callable[[], MM]:
    try:
        return registry.resolve(spec)
    except (LookupError, TypeError) as exc:
        raise UsageError(f"{option}: {exc}") from None
    except Exception as exc:  # an import that fails in its own way
        raise UsageError(f"{option} {spec}: {type(exc).__name__}: {exc}") from None


def _oracle(spec: str) -> Callable[[], MM]:
    if spec == "live":
        from pytest_anonvma.live import live_unavailable_reason

        reason = live_unavailable_reason()
        if reason:
            raise UsageError(f"--against live: the running kernel cannot serve: {reason}")
    return _resolve("--against", spec)


def _buildable(option: str, label: str, factory: Callable[[], MM],
               seconds: float) -> str | None:
    """Build and close one address space of ``factory``, its era; a UsageError naming
    ``label`` if it raises, hangs or gives something that is not an address space."""
    doing = "building an address space"
    try:
        with time_limit(seconds, f"soak: {option} {label}: {doing}"):
            mm = factory()
            problem = not_an_address_space(mm)
            if problem is not None:
                raise UsageError(f"{option} {label}: the factory returned {shown(mm)}, not an "
                                 f"address space: {problem}")
            doing, era = "closing a new address space", mm_era(mm)
            mm.close()
    except UsageError:
        raise
    except FAULTS as exc:
        raise UsageError(f"{option} {label}: {doing} {fault(exc, seconds)}") from None
    return era


def resolve_models(specs: str, era: str | None) -> dict[str, Callable[[], MM]]:
    """``--models`` (comma-separated specs) as label -> factory; a bundled design named
    without an era is taken on ``era``. Raises UsageError naming a bad spec."""
    names = [name.strip() for name in specs.split(",")]
    if not specs.strip() or any(not name for name in names):
        raise UsageError(f"--models: expected comma-separated implementations, got {specs!r}")
    models: dict[str, Callable[[], MM]] = {}
    for name in names:
        if era is not None and "@" not in name and ":" not in name:
            try:
                models[f"{name}@{era}"] = registry.resolve(f"{name}@{era}")
                continue
            except LookupError:
                pass  # not a bundled design: a registered name as it is
        models[name] = _resolve("--models", name)
    return models


def _rerun(args: argparse.Namespace, n: int) -> str:
    words = ["python", "-m", "pytest_anonvma", "soak", "--against", args.against, "--models",
             args.models, "--seed", str(args.seed), "--start", str(n), "--sequences", "1",
             "--memory", args.memory]
    if args.steps is not None:
        words += ["--steps", str(args.steps)]
    if args.step_timeout != DEFAULT_STEP_TIMEOUT:
        words += ["--step-timeout", f"{args.step_timeout:g}"]
    return shlex.join(words)


def _soak(args: argparse.Namespace) -> tuple[Soak, int, int, int]:
    """The soak the options ask for, its oracle and models checked; (soak, seed, start,
    count). Raises UsageError naming the first bad option."""
    count = _whole("--sequences", args.sequences)
    seed = _whole("--seed", args.seed)
    start = _whole("--start", args.start)
    length = None if args.steps is None else _whole("--steps", args.steps)
    seconds = _seconds("--step-timeout", args.step_timeout)
    if args.memory not in MEMORY:
        raise UsageError(f"--memory: expected one of {', '.join(MEMORY)}, got "
                         f"{args.memory!r}")
    args.out = None if args.out is None else _writable("--out", args.out)
    oracle = _oracle(args.against)
    era = _buildable("--against", args.against, oracle, seconds)
    models = resolve_models(args.models, era)
    for label, factory in models.items():
        _buildable("--models", label, factory, seconds)
    args.seed, args.steps, args.step_timeout = seed, length, seconds
    soak = Soak(oracle, models, oracle_name=args.against, length=length,
                kinds=MEMORY[args.memory], step_timeout=seconds)
    return soak, seed, start, count


def _internal(exc: Exception) -> str:
    """One line for an unexpected exception: what and where."""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {where.filename}:{where.lineno})" if where else ""
    return f"internal error: {type(exc).__name__}: {exc}{at}; please report it"


def _stopped(progress: SoakProgress, why: str) -> str:
    """The line saying a run stopped early, and how to play the rest."""
    left = progress.count - progress.sequences
    done = (f"sequences {progress.start}..{progress.current - 1} done" if progress.sequences
            else "none done")
    return (f"soak: {why}; stopped at sequence {progress.current} of seed {progress.seed} "
            f"({done}); play the rest with --start {progress.current} --sequences {left}")


class _Interrupts:
    """While active (main thread only): SIGINT raises KeyboardInterrupt, and is remembered, so
    an oracle that fails because the interrupt also reached it (a sandbox in the terminal's
    process group) still counts as the interrupt."""

    def __init__(self) -> None:
        self.seen = False
        self.active = threading.current_thread() is threading.main_thread()
        self.previous: Callable[[int, FrameType | None], Any] | int | None = None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def __enter__(self) -> _Interrupts:
        if self.active:
            self.previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def ignore(self) -> None:
        """Ignore SIGINT from now on (while the summary is printed)."""
        if self.active:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        if self.active:
            previous = signal.SIG_DFL if self.previous is None else self.previous
            signal.signal(signal.SIGINT, previous)


def _detach_stdout() -> None:
    """Point the standard output at /dev/null (its reader is gone: nothing more to flush)."""
    with contextlib.suppress(OSError, ValueError):  # not a real file (captured): leave it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _play(soak: Soak, progress: SoakProgress, report: Callable[[Disagreement], None],
          interrupts: _Interrupts) -> tuple[Exit | None, str]:
    """Run the soak; (None, "") if it finished, else the exit status and why it stopped."""
    try:
        soak.run(progress.seed, progress.count, progress.start, report, progress)
    except KeyboardInterrupt:
        return Exit.INTERRUPTED, "interrupted"
    except SoakError as exc:
        why = f"error: {exc}"
    except BrokenPipeError:
        _detach_stdout()
        why = "error: the standard output was closed (broken pipe)"
    except Exception as exc:
        why = _internal(exc)
    else:
        return None, ""
    return (Exit.INTERRUPTED, "interrupted") if interrupts.seen else (Exit.ERROR, why)


def _fatal_stacks() -> None:
    """Print the Python stacks if the process dies of a fatal signal (a model crashing in C
    code), unless something (pytest) already does: the only word such a death can leave."""
    if not faulthandler.is_enabled() and sys.__stderr__ is not None:
        with contextlib.suppress(OSError, ValueError):  # not a real file
            faulthandler.enable(file=sys.__stderr__)


def run_soak(args: argparse.Namespace) -> int:
    """Run the command for parsed ``args``; returns the exit status (:class:`Exit`)."""
    _fatal_stacks()
    with _Interrupts() as interrupts:
        try:
            soak, seed, start, count = _soak(args)
        except UsageError as exc:
            print(f"soak: {exc}", file=sys.stderr)
            return Exit.USAGE
        except KeyboardInterrupt:
            print("soak: interrupted before the first sequence", file=sys.stderr)
            return Exit.INTERRUPTED
        out: Path | None = args.out
        unsaved = 0

        def report(found: Disagreement) -> None:
            nonlocal unsaved
            rerun = _rerun(args, found.n)
            print(disagreement_report(found, args.against, rerun))
            if out is not None:
                try:
                    paths = write_disagreement(found, out, args.against, rerun)
                except OSError as exc:
                    unsaved += 1
                    print(f"soak: --out {out}: could not write {found.case.id}: {exc}",
                          file=sys.stderr, flush=True)
                else:
                    print("written: " + ", ".join(str(p) for p in paths))
            print(flush=True)

        progress = SoakProgress(seed, start, count)
        stopped, why = _play(soak, progress, report, interrupts)
        interrupts.ignore()
        if stopped is not None:
            print(_stopped(progress, why), file=sys.stderr, flush=True)
        try:
            print(progress.result().summary(), flush=True)
        except BrokenPipeError:  # the reader is gone; the status still says how it went
            _detach_stdout()
    if stopped is not None:
        return stopped
    if unsaved:
        return Exit.UNSAVED
    return Exit.DISAGREED if progress.disagreements else Exit.AGREED


def _epilog() -> str:
    lines = ["exit status:"]
    for status, meaning in EXIT_MEANINGS.items():
        lines += textwrap.wrap(meaning, 76, initial_indent=f"  {status.value:<5}",
                               subsequent_indent=" " * 7)
    return "\n".join(lines)


def add_soak_command(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``soak`` subcommand."""
    description = (
        "Play seeded random operation sequences (the generated cases' generator) on the "
        "oracle (default: the running kernel) and on each model; after every step compare "
        "outcomes, page states and protection of every address space (and the VMA layout "
        "with the model of the oracle's own design). Each disagreement is shrunk and printed "
        "as a ready-to-paste case. A model that raises, hangs (--step-timeout) or returns a "
        "value of the wrong type disagrees at that step. The last line is always the summary "
        "'N sequences, M steps, K disagreements in T s (X seq/s)'.")
    parser = subparsers.add_parser(
        "soak",
        help="differential fuzzing: random sequences on the running kernel and the models",
        description=textwrap.fill(description, 80),
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--against", default="live", metavar="IMPL",
                        help="the oracle implementation (default: live)")
    parser.add_argument("--models", default=DEFAULT_MODELS, metavar="LIST",
                        help=f"comma-separated models to compare (default: {DEFAULT_MODELS}); "
                        "a bundled design without @era runs on the oracle's era")
    parser.add_argument("--sequences", default="100", metavar="N",
                        help="how many sequences (default 100)")
    parser.add_argument("--seed", default="0", metavar="S", help="generator seed (default 0)")
    parser.add_argument("--start", default="0", metavar="I",
                        help="index of the first sequence (default 0)")
    parser.add_argument("--steps", default=None, metavar="K",
                        help="operations per sequence, from 1 to "
                        f"{BOUNDS['--steps'][1]} (default: the generator's, "
                        f"{MIN_STEPS}..{MAX_STEPS})")
    parser.add_argument("--memory", default="all", metavar="KIND",
                        help="memory the sequences map: all kinds (default), anonymous "
                        "(private and shared), or private anonymous only")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write each disagreement as DIR/soak-SEED-N.toml and .c (the "
                        "folder is made, and checked to be writable, at the start)")
    parser.add_argument("--step-timeout", default=str(DEFAULT_STEP_TIMEOUT), metavar="SECONDS",
                        help="time one step may take on one implementation, from "
                        f"{STEP_TIMEOUT_BOUNDS[0]:g} to {STEP_TIMEOUT_BOUNDS[1]:g} (default "
                        f"{DEFAULT_STEP_TIMEOUT:g}); a model over it disagrees ('timeout'), "
                        "an oracle over it ends the run")
    parser.set_defaults(func=run_soak)

