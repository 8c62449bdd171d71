"""The ``soak`` command: differential fuzzing of the models against the running kernel.

``python -m pytest_anonvma soak --against live --models reference,maybe-guard,baseline
--sequences N --seed S [--start I] [--steps K] [--memory all|anonymous|private] [--out DIR]``
prints each disagreement as it is found (shrunk, as a ready-to-paste case), then one summary
line ``N sequences, M steps, K disagreements in T s (X seq/s)``. Exit status 0 without
disagreements, 1 with some, 2 for a bad option or an oracle that cannot run (one line on
stderr).

A bundled design named without an era (``reference``) is loaded on the oracle's era
(``reference@6.18`` against a 6.18 kernel): the era decides mm/vma.c rules the kernel has.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from pytest_anonvma import registry
from pytest_anonvma.contract import MM
from pytest_anonvma.generate.generator import KINDS
from pytest_anonvma.soak.report import disagreement_report, write_disagreement
from pytest_anonvma.soak.session import Disagreement, Soak, family_of

__all__ = ["DEFAULT_MODELS", "MEMORY", "add_soak_command", "resolve_models", "run_soak"]

#: the correct designs compared by default
DEFAULT_MODELS = "reference,maybe-guard,baseline"
#: ``--memory`` choices: the generator's memory kinds each allows
MEMORY: dict[str, tuple[str, ...]] = {
    "all": KINDS,
    "anonymous": ("anon", "shared-anon"),
    "private": ("anon",),
}


class UsageError(Exception):
    """A bad option value; the message is the one line printed."""


def _whole(option: str, text: str, least: int) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise UsageError(f"{option}: expected a whole number, got {text!r}") from None
    if value < least:
        raise UsageError(f"{option}: must be at least {least}, got {value}")
    return value


def _oracle(spec: str) -> Callable[[], MM]:
    if spec == "live":
        from pytest_anonvma.live import live_unavailable_reason

        reason = live_unavailable_reason()
        if reason:
            raise UsageError(f"--against live: the running kernel cannot serve: {reason}")
    try:
        return registry.resolve(spec)
    except (LookupError, TypeError) as exc:
        raise UsageError(f"--against: {exc}") from None


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
        try:
            models[name] = registry.resolve(name)
        except (LookupError, TypeError) as exc:
            raise UsageError(f"--models: {exc}") from None
    return models


def _rerun(args: argparse.Namespace, n: int) -> str:
    words = ["python", "-m", "pytest_anonvma", "soak", "--against", args.against, "--models",
             args.models, "--seed", str(args.seed), "--start", str(n), "--sequences", "1",
             "--memory", args.memory]
    if args.steps is not None:
        words += ["--steps", str(args.steps)]
    return shlex.join(words)


def run_soak(args: argparse.Namespace) -> int:
    """Run the command for parsed ``args``; returns the exit status."""
    try:
        count = _whole("--sequences", args.sequences, 1)
        seed = _whole("--seed", args.seed, 0)
        start = _whole("--start", args.start, 0)
        length = None if args.steps is None else _whole("--steps", args.steps, 1)
        if args.memory not in MEMORY:
            raise UsageError(f"--memory: expected one of {', '.join(MEMORY)}, got "
                             f"{args.memory!r}")
        oracle = _oracle(args.against)
        models = resolve_models(args.models, family_of(oracle)[1])
    except UsageError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    args.seed, args.steps = seed, length
    out = Path(args.out) if args.out else None
    soak = Soak(oracle, models, oracle_name=args.against, length=length,
                kinds=MEMORY[args.memory])

    def report(found: Disagreement) -> None:
        rerun = _rerun(args, found.n)
        print(disagreement_report(found, args.against, rerun))
        if out is not None:
            paths = write_disagreement(found, out, args.against, rerun)
            print("written: " + ", ".join(str(p) for p in paths))
        print(flush=True)

    result = soak.run(seed, count, start, report)
    print(result.summary())
    return 1 if result.disagreements else 0


def add_soak_command(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``soak`` subcommand."""
    parser = subparsers.add_parser(
        "soak",
        help="differential fuzzing: random sequences on the running kernel and the models",
        description="Play seeded random operation sequences (the generated cases' generator) "
        "on the oracle (default: the running kernel) and on each model; after every step "
        "compare outcomes, page states and protection of every address space (and the VMA "
        "layout with the model of the oracle's own design). Each disagreement is shrunk and "
        "printed as a ready-to-paste case. Exit status 1 if any.",
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
                        help="operations per sequence (default: the generator's, 10..26)")
    parser.add_argument("--memory", default="all", metavar="KIND",
                        help="memory the sequences map: all kinds (default), anonymous "
                        "(private and shared), or private anonymous only")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write each disagreement as DIR/soak-SEED-N.toml and .c")
    parser.set_defaults(func=run_soak)

