"""Throughput of the live backend: operations per second through the sandbox.

Run ``python benchmarks/bench_live.py [--seconds S]``; prints one line per measurement. Each
measurement repeats its body for about ``S`` seconds (default 1) and reports the rate. The
"sequence" line is the closest stand-in for a soak sequence: a fresh sandbox, 12 operations
with the page states and the VMA list observed after each, a fork, close.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from pytest_anonvma import constants as C
from pytest_anonvma.cases.arena import ARENA_BASE
from pytest_anonvma.live import LiveMM, live_unavailable_reason

P = C.PAGE_SIZE
RW = C.PROT_READ | C.PROT_WRITE
ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_FIXED


def _rate(body: Callable[[], object], seconds: float) -> tuple[float, int]:
    """Calls per second of ``body`` over about ``seconds``."""
    body()  # warm up (first sandbox build and probe happen outside the timing)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        body()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), count


def _sequence() -> None:
    """One soak-like sequence: 12 steps, each followed by a pages and a vmas observation."""
    with LiveMM() as mm:
        steps: list[Callable[[LiveMM], object]] = [
            lambda m: m.mmap(ARENA_BASE, 8 * P, RW, ANON),
            lambda m: m.write(ARENA_BASE, 1),
            lambda m: m.mprotect(ARENA_BASE + P, P, C.PROT_READ),
            lambda m: m.madvise(ARENA_BASE + P, P, C.MADV_GUARD_INSTALL),
            lambda m: m.mprotect(ARENA_BASE + P, P, RW),
            lambda m: m.read(ARENA_BASE + 2 * P),
            lambda m: m.madvise(ARENA_BASE, 2 * P, C.MADV_DONTNEED),
            lambda m: m.munmap(ARENA_BASE + 6 * P, P),
            lambda m: m.mlock(ARENA_BASE + 3 * P, P),
            lambda m: m.munlock(ARENA_BASE + 3 * P, P),
            lambda m: m.madvise(ARENA_BASE + P, P, C.MADV_GUARD_REMOVE),
            lambda m: m.write(ARENA_BASE + 4 * P, 2),
        ]
        for step in steps:
            step(mm)
            mm.pages(ARENA_BASE, 8)
            mm.vmas()
        with mm.fork() as child:
            child.pages(ARENA_BASE, 8)
            child.vmas()


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 2 with the reason if the live backend cannot run here."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args(argv)
    reason = live_unavailable_reason()
    if reason:
        print(f"live backend unavailable: {reason}", file=sys.stderr)
        return 2
    mm = LiveMM()
    mm.mmap(ARENA_BASE, 64 * P, RW, ANON)
    mm.write(ARENA_BASE, 1)
    prots = [C.PROT_READ, RW]

    def mprotect_toggle() -> None:
        prots.reverse()
        mm.mprotect(ARENA_BASE + P, P, prots[0])

    def mmap_munmap() -> None:
        mm.mmap(ARENA_BASE + 100 * P, P, RW, ANON)
        mm.munmap(ARENA_BASE + 100 * P, P)

    measurements: list[tuple[str, Callable[[], object]]] = [
        ("read (touch, no fault)", lambda: mm.read(ARENA_BASE)),
        ("mprotect (split/merge)", mprotect_toggle),
        ("mmap + munmap (2 calls)", mmap_munmap),
        ("page (pagemap read)", lambda: mm.page(ARENA_BASE)),
        ("pages x64 (one pagemap read)", lambda: mm.pages(ARENA_BASE, 64)),
        ("vmas (smaps parse)", lambda: mm.vmas()),
        ("fork + close", lambda: mm.fork().close()),
        ("LiveMM() + close", lambda: LiveMM().close()),
        ("sequence (12 steps observed + fork)", _sequence),
    ]
    try:
        for label, body in measurements:
            rate, count = _rate(body, args.seconds)
            print(f"{label:40s} {rate:10.0f} /s   ({count} in {args.seconds:g}s)")
    finally:
        mm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
