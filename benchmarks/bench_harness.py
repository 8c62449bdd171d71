"""Wall time of the whole kernel-harness port against ``reference`` (target: under 2 s of tests).

Runs the harness modules of the bundled conformance suite in-process with pytest, on both eras
of the reference design by default, the way a user would
(``pytest -p anonvma --anonvma-impl=reference,reference@6.18``), and prints the session's wall
time, the time spent in the tests themselves (setup + call + teardown of each test, as pytest
measures it) and the slowest tests.

Usage: ``python benchmarks/bench_harness.py [--impl NAMES] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict

import pytest

from pytest_anonvma.suite import bundled_suite_dir

#: the harness port's modules in the bundled suite
MODULES = "test_harness_*.py"
TARGET_SECONDS = 2.0


class _Timer:
    """A pytest plugin adding up the durations of every test phase."""

    def __init__(self) -> None:
        self.per_test: dict[str, float] = defaultdict(float)
        self.outcomes: dict[str, int] = defaultdict(int)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.per_test[report.nodeid] += report.duration
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[report.outcome] += 1


def run_once(impl: str) -> tuple[float, _Timer, int]:
    """One pytest session over the harness port: (wall seconds, timer, exit code)."""
    timer = _Timer()
    paths = [str(path) for path in sorted(bundled_suite_dir().glob(MODULES))]
    args = [*paths, "-qq", "-p", "no:cacheprovider", f"--anonvma-impl={impl}", "-o", "addopts="]
    start = time.perf_counter()
    code = pytest.main(args, plugins=[timer])
    return time.perf_counter() - start, timer, int(code)


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 1 if a run failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--impl",
        default="reference,reference@6.18",
        help="implementations, comma-separated (default: reference on both eras)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="sessions to run (default 3)")
    options = parser.parse_args(argv)
    if options.repeat < 1:
        parser.error("--repeat: must be at least 1")
    walls: list[float] = []
    tests: list[float] = []
    timer = _Timer()
    for _ in range(options.repeat):
        wall, timer, code = run_once(options.impl)
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            print(f"harness run against {options.impl!r} failed (exit code {code})")
            return 1
        walls.append(wall)
        tests.append(sum(timer.per_test.values()))
    ran = timer.outcomes.get("passed", 0) + timer.outcomes.get("failed", 0)
    print(
        f"harness port against {options.impl!r}: {ran} tests run, "
        f"{timer.outcomes.get('skipped', 0)} skipped (other era), {options.repeat} sessions"
    )
    print(f"  session wall time  median {statistics.median(walls):.3f} s  (min {min(walls):.3f} s)")
    in_tests = statistics.median(tests)
    verdict = "met" if in_tests < TARGET_SECONDS else "MISSED"
    print(
        f"  time in the tests  median {in_tests:.3f} s  (target < {TARGET_SECONDS:g} s: {verdict})"
    )
    slowest = sorted(timer.per_test.items(), key=lambda item: -item[1])[:3]
    for nodeid, seconds in slowest:
        print(f"  slowest: {seconds * 1000:7.1f} ms  {nodeid.rsplit('/', 1)[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
