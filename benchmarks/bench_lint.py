"""Lint time against corpus size: ``python -m pytest_anonvma lint`` must stay linear (target:
20,000 cases in under 2 s).

Writes ``--cases`` small cases (default 20,000: map, guard, touch, check; each with an id of its
own) into a temporary folder, all in one file by default (``--per-file N``: N cases a file),
times :func:`pytest_anonvma.cases.lint.lint` on them and on a tenth of them in the same run, and
prints both times (wall and CPU: on a shared machine the CPU time is the one to compare with the
target), the cases per CPU second and the ratio of the two CPU times (10 for linear work).

Usage: ``python benchmarks/bench_lint.py [--cases N] [--per-file N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pytest_anonvma.cases.lint import lint
from pytest_anonvma.inputfile import MAX_INPUT_BYTES

TARGET_SECONDS = 2.0

CASE = """[[case]]
id = "bench-{n}"
about = "Lint benchmark."
source = "bench"
tier = "guard"
needs = ["pages"]
steps = '''
mmap {page} 2 rw anon
guard {page} 1
read {page} -> SIGSEGV
pages {page}..{last} = G .
'''
"""


def write_corpus(folder: Path, cases: int, per_file: int) -> int:
    """``cases`` small valid cases as case files in ``folder``; the files' count."""
    per_file = per_file or cases
    files = 0
    for first in range(0, cases, per_file):
        body = "\n".join(CASE.format(n=n, page=n % 1000, last=n % 1000 + 1)
                         for n in range(first, min(first + per_file, cases)))
        if len(body.encode()) > MAX_INPUT_BYTES:
            raise SystemExit(f"{per_file} cases a file exceed the input size limit "
                             f"({MAX_INPUT_BYTES:,} bytes): use a smaller --per-file")
        (folder / f"cases-{files:04d}.toml").write_text(body, encoding="utf-8")
        files += 1
    return files


def timed_lint(cases: int, per_file: int) -> float:
    """Seconds to lint ``cases`` cases (writing them is not timed)."""
    with tempfile.TemporaryDirectory(prefix="bench-lint-") as tmp:
        files = write_corpus(Path(tmp), cases, per_file)
        start, cpu = time.perf_counter(), time.process_time()
        problems, valid = lint([tmp])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if problems or valid != cases:
        raise SystemExit(f"lint found {len(problems)} problem(s), e.g. {problems[:1]}; "
                         f"{valid} valid case(s) of {cases}")
    print(f"  {cases:>7,} cases in {files:>5,} file(s): {seconds:6.2f} s wall, {cpu:6.2f} s CPU "
          f"({cases / cpu:,.0f} cases per CPU second)")
    return cpu


def main() -> None:
    """Time both sizes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--per-file", type=int, default=0, help="cases a file (0: one file)")
    args = parser.parse_args()
    print(f"lint ({args.per_file or 'all'} cases a file):")
    small = timed_lint(args.cases // 10, args.per_file)
    large = timed_lint(args.cases, args.per_file)
    verdict = "meets" if large < TARGET_SECONDS else "misses"
    print(f"  ratio {large / small:.1f} for 10x the cases (10 is linear); {args.cases:,} cases "
          f"in {large:.2f} CPU s {verdict} the target of {TARGET_SECONDS:g} s")


if __name__ == "__main__":
    main()
