"""Generated cases: time to the first failing case on rfc-v1 (target: under 5 s), and cases per
second on the reference.

Prints, for the default seed unless ``--seed`` is given:

* ``first failure (API)``: generating cases and checking them on rfc-v1 in this process until one
  fails, then shrinking it and writing its case (split into detection and shrink); then the
  detection time over 20 consecutive seeds (median and worst);
* ``first failure (pytest)``: wall time of ``pytest -p anonvma --anonvma-impl=rfc-v1 -x`` on the
  bundled ``test_generated.py`` in a fresh interpreter, from start to exit (imports, collection,
  the first failure and its report included);
* ``reference (API)`` and ``reference (pytest)``: generated cases per second on the reference, each
  case played in lockstep with the bundled reference through every oracle.

Usage: ``python benchmarks/bench_generated.py [--seed N] [--cases N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from pytest_anonvma import registry
from pytest_anonvma.generate.check import GeneratedCaseFailure, check_generated
from pytest_anonvma.generate.generator import generate_case
from pytest_anonvma.generate.lockstep import first_failure
from pytest_anonvma.options import default_seed
from pytest_anonvma.suite import bundled_suite_dir

TARGET_SECONDS = 5.0


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


def _pytest(*args: str) -> tuple[float, str]:
    start = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-p", "anonvma", "-p", "no:cacheprovider",
               "-p", "no:benchmark", "-q", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.stdout.strip().splitlines()[-1]


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
    """Generated cases per second on the reference, in process and through pytest."""
    factory = registry.resolve("reference")
    start = time.perf_counter()
    steps = 0
    for n in range(cases):
        case = generate_case(seed, n)
        steps += len(case.steps)
        check_generated(case, factory, "reference", "reference", seed)
    seconds = time.perf_counter() - start
    print(f"reference (API):        {cases} cases ({steps} steps) in {seconds:.2f} s: "
          f"{cases / seconds:.0f} cases/s, {steps / seconds:.0f} steps/s")
    module = str(bundled_suite_dir() / "test_generated.py")
    seconds, last = _pytest("--anonvma-impl=reference", f"--anonvma-seed={seed}",
                            f"--anonvma-generated={cases}", module)
    print(f"reference (pytest):     {cases} cases in {seconds:.2f} s wall ({last}): "
          f"{cases / seconds:.0f} cases/s including start-up")


def main() -> None:
    """Parse the options and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=default_seed())
    parser.add_argument("--cases", type=int, default=500, help="cases for the rate (500)")
    options = parser.parse_args()
    print(f"seed {options.seed}")
    first_failure_api(options.seed)
    first_failure_over_seeds(options.seed, 20)
    first_failure_pytest(options.seed)
    reference_rate(options.seed, options.cases)


if __name__ == "__main__":
    main()
