"""Benchmark: wall time of the full default conformance suite, serial versus ``-n 2`` (not a test).

Runs ``python -m pytest -p anonvma`` (the README's command: bundled suite, ``reference``)
serially, with ``-n 2`` and collect-only, alternating, after one untimed warm-up run of each,
and prints the best and median wall times and the speedup. Target (issue 3): >= 1.8x on a
2-core machine. The collect-only time is the part every xdist worker repeats (interpreter and
plugin start-up, collection); it bounds the speedup (Amdahl), which is printed too.

It also prints two ceilings measured in the same run:

* the machine's: the speedup of two CPU-bound Python processes run side by side over one alone
  (about 2x on an idle 2-core machine; less when other work shares the CPUs, and then no pytest
  run can do better);
* xdist's, for a suite of this shape: a control suite of as many tests as ours, each burning the
  CPU time our tests take on average, run plain (``-p no:anonvma``) serially and with ``-n 2``.
  xdist's own per-test cost (every report serialised by the worker and handled by the controller,
  which shares the same two CPUs) weighs on both suites alike; the CPU seconds each mode spends
  are printed too.

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
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass
class Run:
    """One pytest run: wall seconds, CPU seconds of its whole process tree, tests passed."""

    wall: float
    cpu: float
    passed: int


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suite(args: list[str], env: dict[str, str], cwd: str, plugin: str = "anonvma") -> Run:
    """Time one pytest run (``-p PLUGIN``). Failing tests still time the suite (exit status 1);
    any other non-zero status (usage or internal error, interruption) stops the benchmark."""
    command = [sys.executable, "-m", "pytest", "-p", plugin, "-q", "-p", "no:cacheprovider",
               *args]
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"bench_parallel: {' '.join(command)} exited {done.returncode}:\n"
                 f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    passed = re.search(r"(\d+) passed", done.stdout)
    return Run(elapsed, _children_cpu() - cpu, int(passed.group(1)) if passed else 0)


#: the control suite: N tests, each a loop of a fixed number of rounds
CONTROL = """import pytest


@pytest.mark.parametrize("n", range({count}))
def test_burn(n):
    total = 0
    for i in range({rounds}):
        total += i
"""


def loop_rounds(seconds: float) -> int:
    """How many rounds of the control test's loop take ``seconds`` of CPU here (calibrated)."""
    rounds = 1_000_000
    start = time.process_time()
    total = 0
    for i in range(rounds):
        total += i
    return max(1, int(rounds * seconds / (time.process_time() - start)))


def control_speedup(count: int, seconds: float, env: dict[str, str], cwd: str,
                    rounds: int) -> tuple[float, float]:
    """Best serial and ``-n 2`` wall times of ``count`` plain tests of ``seconds`` CPU each."""
    path = os.path.join(cwd, "test_control.py")
    with open(path, "w") as out:
        out.write(CONTROL.format(count=count, rounds=loop_rounds(seconds)))
    serial = min(run_suite([path], env, cwd, "no:anonvma").wall for _ in range(rounds))
    pair = min(run_suite(["-n", "2", path], env, cwd, "no:anonvma").wall for _ in range(rounds))
    os.remove(path)
    return serial, pair


#: a CPU-bound Python process of about a second
BURN = "n = 0\nfor i in range(20_000_000):\n    n += i\n"


def parallel_capacity() -> float:
    """How much faster two CPU-bound processes finish side by side than one after the other."""
    command = [sys.executable, "-c", BURN]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    alone = time.perf_counter() - start
    start = time.perf_counter()
    pair = [subprocess.Popen(command) for _ in range(2)]
    for proc in pair:
        proc.wait()
    together = time.perf_counter() - start
    return 2 * alone / together


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
    modes["collect only"] = ["--co", *common]
    runs: dict[str, list[Run]] = {mode: [] for mode in modes}
    capacity = parallel_capacity()
    with tempfile.TemporaryDirectory() as cwd:
        for args in modes.values():
            run_suite(args, env, cwd)  # warm-up: bytecode and rewrite caches
        for _ in range(opts.rounds):
            for mode, args in modes.items():
                runs[mode].append(run_suite(args, env, cwd))
        serial_run = min(runs["serial"], key=lambda run: run.wall)
        per_test = (serial_run.wall - min(r.wall for r in runs["collect only"])) / max(
            serial_run.passed, 1)
        control = control_speedup(serial_run.passed, per_test, env, cwd, opts.rounds)
    capacity_after = parallel_capacity()
    times = {mode: [run.wall for run in samples] for mode, samples in runs.items()}
    print(f"suite: pytest -p anonvma {' '.join(common)}  ({os.cpu_count()} CPUs, "
          f"{opts.rounds} rounds, bytecode cache {'off' if opts.no_bytecode_cache else 'on'})")
    for mode, samples in times.items():
        middle = statistics.median(samples)
        print(f"  {mode:12} best {min(samples):6.2f} s   median {middle:6.2f} s")
    fixed, whole = min(times["collect only"]), min(times["serial"])
    bound = whole / (fixed + (whole - fixed) / 2)
    print(f"  start-up and collection, repeated by every xdist worker: {fixed:.2f} s of "
          f"{whole:.2f} s; -n 2 speedup bound (Amdahl, controller start-up not counted): "
          f"{bound:.2f}x")
    best = min(times["serial"]) / min(times["-n 2"])
    median = statistics.median(times["serial"]) / statistics.median(times["-n 2"])
    print(f"  speedup -n 2: best {best:.2f}x   median {median:.2f}x   (target >= 1.8x)")
    cpu = {mode: statistics.median(run.cpu for run in runs[mode]) for mode in ("serial", "-n 2")}
    print(f"  CPU seconds (median, all processes): serial {cpu['serial']:.2f}   "
          f"-n 2 {cpu['-n 2']:.2f}")
    print(f"  machine ceiling: two CPU-bound processes run {capacity:.2f}x faster side by side "
          f"({capacity_after:.2f}x after the runs)")
    print(f"  xdist ceiling: {serial_run.passed} plain tests of {per_test * 1000:.1f} ms CPU each "
          f"(this suite's mean): serial {control[0]:.2f} s, -n 2 {control[1]:.2f} s, speedup "
          f"{control[0] / control[1]:.2f}x")


if __name__ == "__main__":
    main()
