"""Mutation testing of the engine and design modules against the project's suite (not a test).

Every mutant (``mutate/operators.py``: flipped comparisons, negated conditions, and/or swaps,
dropped statements, replaced constants, +/- and bit-operation changes) is applied in memory,
one at a time, in a fresh process, to a snapshot of the tree taken when the run starts; the
suite (``mutate/checks.py``) runs cheapest check first against the bundled designs the module
can affect and stops at the first outcome that differs from the unmutated snapshot's. Prints
``K of N mutants killed (P%)`` and every survivor as ``file:line: operator: original ->
mutated``.

Usage::

    python benchmarks/mutation.py                       # every mutant, full suite, 2 jobs
    python benchmarks/mutation.py --sample 400 --seed 1 # a seeded sample
    python benchmarks/mutation.py --module designs/rfc_v1.py --suite corpus
    python benchmarks/mutation.py --list                # the mutants, without running them
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutate.checks import MUTATION_GENERATED, SUITES, Plan, affected_designs
from mutate.judged import JudgedFileError, Judgement, Key, key_of, load_judged
from mutate.operators import OPERATORS, Mutant, find_mutants, iter_sources
from mutate.pool import Job, Pool, elapsed, limits_from
from mutate.report import Result, summary, to_json
from mutate.snapshot import changed_files, take_snapshot

ROOT = Path(__file__).resolve().parent.parent
#: the survivors judged so far (see ``mutate/judged.py``)
JUDGED = Path(__file__).resolve().parent / "mutate" / "judged.toml"
#: the engine and design modules
DEFAULT_MODULES = ("pytest_anonvma/model/*.py", "pytest_anonvma/designs/*.py")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/mutation.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--module", action="append", default=[], metavar="PATTERN",
                        help="only files whose path or module name matches (glob or suffix; "
                        "repeatable), e.g. designs/rfc_v1.py or pytest_anonvma.model.vma")
    parser.add_argument("--operator", action="append", default=[], choices=OPERATORS,
                        help="only these operators (repeatable)")
    parser.add_argument("--sample", type=int, default=0, metavar="N",
                        help="evaluate a seeded random sample of N mutants (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers (default 2)")
    parser.add_argument("--suite", choices=SUITES, default="full",
                        help="corpus: bundled cases only; full: cases then the pytest session "
                        "(conformance/ and tests/model/) (default full)")
    parser.add_argument("--generated", type=int, default=MUTATION_GENERATED, metavar="N",
                        help="generated cases per design in the full suite: the first N of the "
                        f"default seed's (default {MUTATION_GENERATED})")
    parser.add_argument("--timeout-floor", type=float, default=10.0, metavar="SECONDS",
                        help="least time limit of a stage (default 10)")
    parser.add_argument("--timeout-factor", type=float, default=5.0, metavar="X",
                        help="a stage may take X times its baseline time (default 5)")
    parser.add_argument("--survivors-of", type=Path, metavar="JSON",
                        help="only the survivors recorded in an earlier run's --json file "
                        "(matched by file, position, operator and text)")
    parser.add_argument("--judged", type=Path, default=JUDGED, metavar="TOML",
                        help="verdicts on known survivors, printed beside them (default "
                        "benchmarks/mutate/judged.toml)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every result here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.generated < 0:
        parser.error(f"--generated must be >= 0, got {args.generated}")
    if args.sample < 0:
        parser.error(f"--sample must be >= 0, got {args.sample}")
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.timeout_floor <= 0 or args.timeout_factor <= 0:
        parser.error("--timeout-floor and --timeout-factor must be > 0")
    return args


def _matches(path: Path, root: Path, pattern: str) -> bool:
    rel = path.relative_to(root).as_posix()
    module = rel[:-3].replace("/", ".")
    return any(
        fnmatch.fnmatch(name, pattern) or name.endswith(pattern) for name in (rel, module)
    )


def _identity(mutant: Mutant) -> tuple[object, ...]:
    """What names a mutant across runs (its index may move when other code changes)."""
    return (mutant.path, mutant.line, mutant.col, mutant.operator, mutant.original,
            mutant.mutated)


def _survivors(path: Path) -> set[tuple[object, ...]]:
    """The identities of the survivors in a ``--json`` file of an earlier run."""
    try:
        results = json.loads(path.read_text())["results"]
        return {
            (r["path"], r["line"], r["col"], r["operator"], r["original"], r["mutated"])
            for r in results
            if r["status"] == "survived"
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.exit(f"mutation.py: --survivors-of {path}: not a --json result file ({exc})")


def select_mutants(args: argparse.Namespace, root: Path) -> list[Mutant]:
    """The mutants the options ask for, in deterministic order (path, then source order)."""
    files = list(iter_sources(root, DEFAULT_MODULES))
    for pattern in args.module:
        if not any(_matches(path, root, pattern) for path in files):
            sys.exit(f"mutation.py: --module {pattern!r} matches no engine or design module")
    if args.module:
        files = [p for p in files if any(_matches(p, root, pat) for pat in args.module)]
    mutants = [m for path in files for m in find_mutants(path, root)]
    if args.operator:
        mutants = [m for m in mutants if m.operator in args.operator]
    if args.survivors_of:
        wanted = _survivors(args.survivors_of)
        mutants = [m for m in mutants if _identity(m) in wanted]
    if args.sample and args.sample < len(mutants):
        chosen = sorted(random.Random(args.seed).sample(range(len(mutants)), args.sample))
        mutants = [mutants[i] for i in chosen]
    return mutants


def baselines(pool: Pool, plans: list[Plan]) -> dict[Plan, dict]:
    """The unmutated tree's answer per plan (exits if the pristine suite cannot run)."""
    answers = pool.run([Job(None, plan) for plan in plans])
    for plan, answer in zip(plans, answers, strict=True):
        if answer["status"] != "survived":
            sys.exit(f"mutation.py: the unmutated suite did not run for {plan.designs}: "
                     f"{answer['status']} at {answer['stage']}: {answer['check']}")
    return dict(zip(plans, answers, strict=True))


def main(argv: list[str] | None = None) -> int:
    """Run the mutation test on a snapshot of the tree; print the summary."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="anonvma-mutation-") as scratch:
        snapshot = take_snapshot(ROOT, Path(scratch))
        sys.path.insert(0, str(snapshot))
        return run(args, snapshot)


def read_judged(path: Path, root: Path) -> dict[Key, Judgement]:
    """The judged file's verdicts (exits with one line if it is malformed); warns of entries
    that name no mutant of the tree any more (the code moved or changed: judge it again)."""
    try:
        judged = load_judged(path)
    except JudgedFileError as exc:
        sys.exit(f"mutation.py: --judged: {exc}")
    known = {key_of(m) for file in iter_sources(root, DEFAULT_MODULES)
             for m in find_mutants(file, root)}
    for file, line, col, operator, original in sorted(set(judged) - known):
        print(f"warning: {path.name}: {file}:{line}:{col} {operator} {original!r} names no "
              "mutant of the tree (stale entry)", file=sys.stderr)
    return judged


def run(args: argparse.Namespace, snapshot: Path) -> int:
    """List or evaluate the selected mutants of ``snapshot`` (a copy of the tree)."""
    mutants = select_mutants(args, snapshot)
    judged = read_judged(args.judged, snapshot)
    if args.list:
        for mutant in mutants:
            print(mutant.describe())
        print(f"{len(mutants)} mutants")
        return 0
    started = time.monotonic()
    plans = {
        module: Plan(affected_designs(module), args.suite, str(snapshot), args.generated)
        for module in sorted({m.module for m in mutants})
    }
    pool = Pool(args.jobs, [str(snapshot)])
    base = baselines(pool, sorted(set(plans.values()), key=lambda p: p.designs))
    for plan, answer in base.items():
        expected = sum(len(ids) for ids in answer["failing"].values())
        times = ", ".join(f"{s} {t:.2f}s" for s, t in answer["durations"].items())
        print(f"baseline {','.join(plan.designs)}: {expected} failing checks ({times})")

    jobs = []
    for mutant in mutants:
        plan = plans[mutant.module]
        answer = base[plan]
        limits = limits_from(answer["durations"], args.timeout_floor, args.timeout_factor)
        jobs.append(Job(mutant, plan, answer["failing"], limits))

    def progress(done: int, answer: dict) -> None:
        if not args.quiet and (done % 50 == 0 or done == len(jobs)):
            print(f"  {done}/{len(jobs)} evaluated ({elapsed(started)})", file=sys.stderr)

    answers = pool.run(jobs, progress)
    results = [Result.of(m, a) for m, a in zip(mutants, answers, strict=True)]
    scope = f"sample of {args.sample} (seed {args.seed})" if args.sample else "all mutants"
    modules = len({m.path for m in mutants})
    print(f"mutation run: {len(mutants)} mutants ({scope}) of {modules} modules; "
          f"suite {args.suite}; {args.jobs} jobs; {elapsed(started)} wall")
    print(summary(results, judged))
    changed = changed_files(ROOT, snapshot)
    if changed:
        print(f"note: {len(changed)} file(s) changed in the tree during the run; the figures "
              f"are for the snapshot taken at its start: {', '.join(changed)}")
    if args.json:
        meta = {"scope": scope, "suite": args.suite, "jobs": args.jobs,
                "wall_seconds": round(time.monotonic() - started, 1)}
        args.json.write_text(json.dumps(to_json(results, meta), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
