"""Generated cases: time to the first failing case on rfc-v1 (target: under 5 s), and cases per
second on the reference.

Prints, for the default seed unless ``--seed`` is given:

* ``first failure (API)``: generating cases and checking them on rfc-v1 in this process until one
  fails, then shrinking it and writing its case (split into detection and shrink); then the
  detection time over 20 consecutive seeds (median and worst);
* ``first failure (pytest)``: wall time of ``pytest -p anonvma --anonvma-impl=rfc-v1 -x`` on the
  bundled ``test_generated.py`` in a fresh interpreter, from start to exit (imports, collection,
  the first failure and its report included);
* ``reference (API)`` and ``reference (pytest)``: generated cases and steps per second on the
  reference, each case played in lockstep with the bundled reference through every oracle;
* ``step / model operation``: the cost of one generated step through pytest -- the wall time of
  ``pytest -p anonvma --anonvma-impl=reference -k test_generated`` with ``--step-cases``
  generated cases minus the same run with none (best of ``--rounds`` each, alternating), divided
  by the steps its JSON report records -- over the cost of one operation of the guard mix
  through the public contract (``benchmarks/bench_model.py``'s mix on ``av.load("reference")``),
  both measured in this run (target <= 10x).

Usage: ``python benchmarks/bench_generated.py [--seed N] [--cases N] [--step-cases N]
[--rounds N] [--only-step-cost]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_model import model_mix, time_per_op

import pytest_anonvma as av
from pytest_anonvma import registry
from pytest_anonvma.generate.check import GeneratedCaseFailure, case_actions, check_generated
from pytest_anonvma.generate.generator import generate_case
from pytest_anonvma.generate.lockstep import first_failure
from pytest_anonvma.options import default_seed
from pytest_anonvma.suite import bundled_suite_dir

TARGET_SECONDS = 5.0
#: the most one generated step through pytest may cost, in guard-mix operations
TARGET_STEP_RATIO = 10.0


def first_failure_api(seed: int) -> None:
    """Cases in order on rfc-v1 until one fails; detection, then shrink and report."""
    factory = registry.resolve("rfc-v1")
    start = time.perf_counter()
    n = 0
    while first_failure(generate_case(seed, n).steps, factory) is None:
        n += 1
    detected = time.perf_counter() - start
    try:
        check_generated(generate_case(seed, n), factory, "rfc-v1", "rfc-v1", seed)
    except GeneratedCaseFailure as failure:
        steps = len(failure.case.steps)
    total = time.perf_counter() - start
    verdict = "ok" if total < TARGET_SECONDS else "OVER TARGET"
    print(f"first failure (API):    case gen-{seed}-{n} failed after {detected:.3f} s; shrunk to "
          f"{steps} steps and printed at {total:.3f} s (target < {TARGET_SECONDS:g} s: "
          f"{verdict})")


def _pytest(*args: str, cwd: str | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-p", "anonvma", "-p", "no:cacheprovider",
               "-p", "no:benchmark", "-q", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    lines = done.stdout.strip().splitlines() or [f"exit status {done.returncode}"]
    if done.returncode not in (0, 1):
        sys.exit(f"bench_generated: {' '.join(command)} exited {done.returncode}:\n"
                 f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - start, lines[-1]


def first_failure_over_seeds(seed: int, seeds: int) -> None:
    """Detection time on rfc-v1 for ``seeds`` consecutive seeds: how lucky one seed is."""
    factory = registry.resolve("rfc-v1")
    times, indexes = [], []
    for each in range(seed, seed + seeds):
        start = time.perf_counter()
        n = 0
        while first_failure(generate_case(each, n).steps, factory) is None:
            n += 1
        times.append(time.perf_counter() - start)
        indexes.append(n)
    print(f"first failure (API), {seeds} seeds: median {statistics.median(times):.3f} s, worst "
          f"{max(times):.3f} s; failing case index median {statistics.median(indexes):g}, worst "
          f"{max(indexes)}")


def first_failure_pytest(seed: int) -> None:
    """A fresh pytest on rfc-v1 stopping at the first failure."""
    module = str(bundled_suite_dir() / "test_generated.py")
    seconds, last = _pytest("--anonvma-impl=rfc-v1", f"--anonvma-seed={seed}", "-x", module)
    verdict = "ok" if seconds < TARGET_SECONDS else "OVER TARGET"
    print(f"first failure (pytest): {seconds:.2f} s from start to exit ({last}; target < "
          f"{TARGET_SECONDS:g} s: {verdict})")


def reference_rate(seed: int, cases: int) -> None:
    """Generated cases and steps per second on the reference, in process and through pytest."""
    factory = registry.resolve("reference")
    generated = [generate_case(seed, n) for n in range(cases)]
    start = time.perf_counter()
    steps = 0
    for case in generated:
        steps += len(case_actions(case))
        check_generated(case, factory, "reference", "reference", seed)
    seconds = time.perf_counter() - start
    print(f"reference (API):        {cases} cases ({steps} steps) in {seconds:.2f} s: "
          f"{cases / seconds:.0f} cases/s, {steps / seconds:.0f} steps/s")
    module = str(bundled_suite_dir() / "test_generated.py")
    seconds, last = _pytest("--anonvma-impl=reference", f"--anonvma-seed={seed}",
                            f"--anonvma-generated={cases}", module)
    print(f"reference (pytest):     {cases} cases in {seconds:.2f} s wall ({last}): "
          f"{cases / seconds:.0f} cases/s including start-up")


def guard_mix_us(rounds: int = 2000) -> float:
    """Microseconds per operation of the guard mix on ``av.load("reference")``."""
    mm = av.load("reference")
    base = mm.mmap(None, 64 * av.PAGE_SIZE, av.PROT_READ | av.PROT_WRITE,
                   av.MAP_PRIVATE | av.MAP_ANONYMOUS)
    return time_per_op(model_mix(mm, base), rounds)  # type: ignore[arg-type]


def step_cost(seed: int, cases: int, rounds: int) -> None:
    """One generated step through pytest (with, minus without, generated cases, per step the
    JSON report records) over one guard-mix operation through the contract."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        common = ["--anonvma-impl=reference", f"--anonvma-seed={seed}", "-k", "test_generated",
                  f"--anonvma-report={report}"]
        walls: dict[int, list[float]] = {0: [], cases: []}  # the run with cases last
        for _ in range(rounds):
            for count in walls:
                walls[count].append(_pytest(*common, f"--anonvma-generated={count}",
                                            cwd=tmp)[0])
        recorded = [c.get("steps") for c in json.loads(report.read_text())["cases"]
                    if "test_generated[" in c["test_id"]]
    steps = sum(n for n in recorded if n)
    if len(recorded) != cases or not steps:
        sys.exit(f"bench_generated: the JSON report records {len(recorded)} generated cases "
                 f"({steps} steps), not {cases}")
    per_step = (min(walls[cases]) - min(walls[0])) / steps * 1e6
    mix = guard_mix_us()
    ratio = per_step / mix
    verdict = "ok" if ratio <= TARGET_STEP_RATIO else "OVER TARGET"
    print(f"step / model operation: {cases} cases, {steps} steps: {per_step:.1f} us per step "
          f"through pytest (best of {rounds}: {min(walls[cases]):.2f} s - "
          f"{min(walls[0]):.2f} s without cases); guard mix {mix:.2f} us per operation: "
          f"{ratio:.1f}x (target <= {TARGET_STEP_RATIO:g}x: {verdict}); load average "
          f"{os.getloadavg()[0]:.2f}")


def main() -> None:
    """Parse the options and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=default_seed())
    parser.add_argument("--cases", type=int, default=500, help="cases for the rate (500)")
    parser.add_argument("--step-cases", type=int, default=200,
                        help="generated cases for the step cost (200)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="pytest runs with and without cases for the step cost (3)")
    parser.add_argument("--only-step-cost", action="store_true",
                        help="print only the step cost and the in-process rate")
    options = parser.parse_args()
    if options.step_cases < 1 or options.rounds < 1 or options.cases < 1:
        parser.error("--cases, --step-cases and --rounds must be >= 1")
    print(f"seed {options.seed}")
    if not options.only_step_cost:
        first_failure_api(options.seed)
        first_failure_over_seeds(options.seed, 20)
        first_failure_pytest(options.seed)
    reference_rate(options.seed, options.cases)
    step_cost(options.seed, options.step_cases, options.rounds)


if __name__ == "__main__":
    main()
