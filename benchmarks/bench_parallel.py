"""Benchmark: wall time of the full default conformance suite, serial versus ``-n 2`` (not a test).

Runs ``python -m pytest -p anonvma`` (the README's command: bundled suite, ``reference``)
serially and with ``-n 2``, alternating, after one untimed warm-up run of each, and prints the
best and median wall times and the speedup. Target (issue 3): >= 1.8x on a 2-core machine.

Every run is a fresh process in a temporary directory (so no project ini or conftest is
involved). The bytecode cache stays on even if ``PYTHONDONTWRITEBYTECODE`` is set here, as in
a normal installation: without it each process, and each xdist worker, re-rewrites the asserts
of every module of the package (``--no-bytecode-cache`` measures that case).

Usage: ``python benchmarks/bench_parallel.py [--rounds N] [--impl SPEC] [--no-bytecode-cache]
[-- extra pytest args]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run_suite(args: list[str], env: dict[str, str], cwd: str) -> float:
    """Wall seconds of one pytest run. Failing tests still time the suite (exit status 1);
    any other non-zero status (usage or internal error, interruption) stops the benchmark."""
    command = [sys.executable, "-m", "pytest", "-p", "anonvma", "-q", "-p", "no:cacheprovider",
               *args]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"bench_parallel: {' '.join(command)} exited {done.returncode}:\n"
                 f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    """Parse arguments, time both modes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per mode (default 5)")
    parser.add_argument("--impl", default="reference", help="--anonvma-impl value")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE as set in the environment")
    parser.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    opts = parser.parse_args()
    env = dict(os.environ)
    if not opts.no_bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTEST_ADDOPTS", None)
    common = [f"--anonvma-impl={opts.impl}", *opts.extra]
    modes = {"serial": common, "-n 2": ["-n", "2", *common]}
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as cwd:
        for args in modes.values():
            run_suite(args, env, cwd)  # warm-up: bytecode and rewrite caches
        for _ in range(opts.rounds):
            for mode, args in modes.items():
                times[mode].append(run_suite(args, env, cwd))
    print(f"suite: pytest -p anonvma {' '.join(common)}  ({os.cpu_count()} CPUs, "
          f"{opts.rounds} rounds, bytecode cache {'off' if opts.no_bytecode_cache else 'on'})")
    for mode, samples in times.items():
        print(f"  {mode:7} best {min(samples):6.2f} s   median {statistics.median(samples):6.2f} s")
    best = min(times["serial"]) / min(times["-n 2"])
    median = statistics.median(times["serial"]) / statistics.median(times["-n 2"])
    print(f"  speedup -n 2: best {best:.2f}x   median {median:.2f}x   (target >= 1.8x)")


if __name__ == "__main__":
    main()
