"""Exhaustive exploration of every bundled interleave case on one design (target: all of them
in under 10 s on this machine), with and without the sleep-set reduction.

For each case of ``conformance/interleave/*.toml`` it explores every interleaving (reduced), then
the naive enumeration of the same case (given up past ``--naive-limit`` executions: three
threads interleave in tens of thousands of ways), and prints the interleavings run, the
executions abandoned by the reduction, the CPU seconds and the ratio naive / reduced (both
measured in this run). Exit status 1 if the reduced exploration of all cases took more CPU time
than the target, or if a case failed on a design that must pass.

Usage: ``python benchmarks/bench_interleave.py [--design NAME]`` (default maybe-guard).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pytest_anonvma as av
from pytest_anonvma.interleave.cases import load_interleave_file
from pytest_anonvma.interleave.runner import explore_case

TARGET_SECONDS = 10.0
CASES = Path(__file__).parents[1] / "conformance" / "interleave"


def main() -> int:
    """Explore, print the figures; 1 if over the target or a case failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", default="maybe-guard")
    parser.add_argument("--naive-limit", type=int, default=2000)
    args = parser.parse_args()
    cases = []
    for path in sorted(CASES.glob("*.toml")):
        found, problems = load_interleave_file(path)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return 1
        cases += found
    print(f"design {args.design}: {len(cases)} interleave cases")
    print(f"{'case':<24} {'runs':>6} {'blocked':>8} {'naive':>7} {'s (cpu)':>8} "
          f"{'naive s':>8} {'runs ratio':>10}")
    total_cpu = total_wall = 0.0
    if not args.naive_limit > 0:
        parser.error("--naive-limit must be positive")
    failed = 0
    for case in cases:
        factory = lambda: av.load(args.design)  # noqa: E731 - one factory per case
        wall, cpu = time.perf_counter(), time.process_time()
        reduced = explore_case(case, factory, args.design)
        cpu = time.process_time() - cpu
        total_wall += time.perf_counter() - wall
        total_cpu += cpu
        naive_cpu = time.process_time()
        try:
            runs = explore_case(case, factory, args.design, reduce=False,
                                limit=args.naive_limit).interleavings
            naive, ratio = f"{runs}", f"{runs / max(reduced.interleavings, 1):.1f}"
        except RuntimeError:
            naive = f">{args.naive_limit}"
            ratio = f">{args.naive_limit / reduced.interleavings:.0f}"
        naive_cpu = time.process_time() - naive_cpu
        failed += bool(reduced.failures)
        print(f"{case.id:<24} {reduced.interleavings:>6} {reduced.blocked:>8} {naive:>7} "
              f"{cpu:>8.2f} {naive_cpu:>8.2f} {ratio:>10}"
              + ("  FAILED" if reduced.failures else ""))
    print(f"all cases, reduced: {total_cpu:.2f} s CPU ({total_wall:.2f} s wall); "
          f"target {TARGET_SECONDS:.0f} s: {total_cpu / TARGET_SECONDS:.2f} of it")
    return 1 if total_cpu > TARGET_SECONDS or failed else 0


if __name__ == "__main__":
    sys.exit(main())
