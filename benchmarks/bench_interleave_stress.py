"""The interleave cases on the running kernel: each bundled case's C stress reproducer
(``pytest_anonvma.interleave.stress_c``, what ``--anonvma-export-c`` writes as
``<id>.stress.c``), compiled with ``cc -O2 -pthread`` and run for a bounded time.

Each program repeats: fresh arena and setup, the threads released together, fork and check. It
must never lose a marker on the running kernel (6.18: VM_MAYBE_GUARD is set before the walk and
never cleared). Prints, per case, the iterations, the iterations per second, the markers lost and
how often each thread action succeeded; exit status 1 if a marker was lost, an expectation
failed, or a program did not build or finish (a run that did not finish is never a pass).

Usage: ``python benchmarks/bench_interleave_stress.py [--seconds N]`` (default 5 per case).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_anonvma.interleave.cases import load_interleave_file
from pytest_anonvma.interleave.stress_c import write_stress_c

CASES = Path(__file__).parents[1] / "conformance" / "interleave"


def main() -> int:
    """Build and run every stress program; 1 on any loss or failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if not args.seconds > 0:
        parser.error("--seconds must be positive")
    cc = shutil.which("cc")
    if cc is None:
        print("no C compiler (cc): nothing was run", file=sys.stderr)
        return 1
    bad = 0
    with tempfile.TemporaryDirectory(prefix="bench-stress-") as tmp:
        for path in sorted(CASES.glob("*.toml")):
            cases, problems = load_interleave_file(path)
            for problem in problems:
                print(problem, file=sys.stderr)
            bad += bool(problems)
            for case in cases:
                source = write_stress_c(case, Path(tmp))
                exe = Path(tmp) / case.id
                built = subprocess.run([cc, "-O2", "-pthread", "-o", str(exe), str(source)],
                                       capture_output=True, text=True)
                if built.returncode:
                    print(f"{case.id}: does not build:\n{built.stderr}", file=sys.stderr)
                    bad += 1
                    continue
                start = time.perf_counter()
                try:
                    ran = subprocess.run([str(exe), str(args.seconds)], capture_output=True,
                                         text=True, timeout=args.seconds * 4 + 30)
                except subprocess.TimeoutExpired:
                    print(f"{case.id}: did not finish in time", file=sys.stderr)
                    bad += 1
                    continue
                wall = time.perf_counter() - start
                lines = ran.stdout.strip().splitlines()
                head = lines[0] if lines else "(no output)"
                iterations = int(head.split()[1]) if head.startswith("iterations ") else 0
                print(f"{case.id}: {head}; {iterations / wall:,.0f} iterations/s")
                for line in lines[1:]:
                    print(f"  {line.strip()}")
                if ran.returncode:
                    print(f"{case.id}: exit status {ran.returncode}\n{ran.stderr[-2000:]}",
                          file=sys.stderr)
                    bad += 1
    print("no marker lost" if not bad else f"{bad} program(s) lost markers or failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
