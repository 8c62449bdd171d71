"""Benchmark of the model engine beside the running kernel (not a test; prints figures).

One run prints:

* microseconds per operation of the mix {mprotect 2 pages read-only, guard-install 1 page,
  guard-remove 1 page, mprotect back} on a 64-page VMA, for each bundled design, beside the
  running kernel doing the same mix (``guard_mix.c`` compiled with ``cc`` when present, else
  the same calls through ctypes);
* the per-operation cost of that mix in an address space of 100, 1,000 and 10,000 VMAs;
* the memory of one VMA of the model (tracemalloc, averaged over 10,000 VMAs).

Targets (issue 2): model <= 20x the kernel, growth 100 -> 10,000 VMAs <= 2x, <= 1 KiB per VMA.
Usage: ``python benchmarks/bench_model.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest_anonvma.constants as av
from pytest_anonvma.model.engine import ModelMM

P = av.PAGE_SIZE
ANON = av.MAP_PRIVATE | av.MAP_ANONYMOUS | av.MAP_FIXED
RW = av.PROT_READ | av.PROT_WRITE
ARENA = 0x2000_0000_0000
DESIGNS = ("baseline", "rfc-v1", "reference", "maybe-guard")
HERE = Path(__file__).resolve().parent

Mix = Callable[[int], None]


def model_mix(mm: ModelMM, base: int) -> Mix:
    """The mix on the model VMA at ``base``, repeated ``rounds`` times."""

    def run(rounds: int) -> None:
        for _ in range(rounds):
            mm.mprotect(base + 10 * P, 2 * P, av.PROT_READ)
            mm.madvise(base + 20 * P, P, av.MADV_GUARD_INSTALL)
            mm.madvise(base + 20 * P, P, av.MADV_GUARD_REMOVE)
            mm.mprotect(base + 10 * P, 2 * P, RW)

    return run


def time_per_op(mix: Mix, rounds: int) -> float:
    """Best of three timings of ``rounds`` mixes, in microseconds per operation."""
    mix(max(1, rounds // 10))  # warm up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        mix(rounds)
        best = min(best, time.perf_counter() - start)
    return best * 1e6 / (rounds * 4)


def address_space(design: str, nr_vmas: int) -> tuple[ModelMM, int]:
    """A model mm with ``nr_vmas`` 64-page VMAs one page apart; returns it and a middle VMA."""
    mm = ModelMM(design)
    for i in range(nr_vmas):
        mm.mmap(ARENA + i * 65 * P, 64 * P, RW, ANON)
    return mm, ARENA + (nr_vmas // 2) * 65 * P


def kernel_c(rounds: int) -> float | None:
    """The mix in C, if a compiler is available: microseconds per operation."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "guard_mix")
        subprocess.run([cc, "-O2", "-o", exe, str(HERE / "guard_mix.c")], check=True)
        out = subprocess.run([exe, str(rounds)], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def kernel_ctypes(rounds: int) -> float:
    """The mix through ctypes (the fallback without a C compiler)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    for name in ("mprotect", "madvise"):
        getattr(libc, name).argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    base = libc.mmap(None, 64 * P, RW, av.MAP_PRIVATE | av.MAP_ANONYMOUS, -1, 0)

    def run(n: int) -> None:
        for _ in range(n):
            if (
                libc.mprotect(base + 10 * P, 2 * P, av.PROT_READ)
                or libc.madvise(base + 20 * P, P, av.MADV_GUARD_INSTALL)
                or libc.madvise(base + 20 * P, P, av.MADV_GUARD_REMOVE)
                or libc.mprotect(base + 10 * P, 2 * P, RW)
            ):
                raise OSError(ctypes.get_errno(), "guard mix failed on the kernel")

    return time_per_op(run, rounds)


def bytes_per_vma(design: str, nr_vmas: int = 10_000) -> float:
    """Traced allocation growth of mapping ``nr_vmas`` separate VMAs, per VMA."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    mm, _ = address_space(design, nr_vmas)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del mm
    return (after - before) / nr_vmas


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="mixes per timing (default 2000)")
    args = parser.parse_args(argv)
    rounds = args.rounds

    kernel = kernel_c(rounds * 50)
    how = "C loop"
    if kernel is None:
        kernel, how = kernel_ctypes(rounds), "ctypes"
    print(f"guard mix on a 64-page VMA, {rounds} rounds, best of 3 (us per operation)")
    print(f"  kernel ({how:7})  {kernel:8.3f}")
    for design in DESIGNS:
        mm, base = address_space(design, 1)
        us = time_per_op(model_mix(mm, base), rounds)
        print(f"  {design:15}  {us:8.3f}   {us / kernel:6.1f}x kernel")

    print("\nper-operation cost by address-space size (reference, us per operation)")
    costs = {}
    for nr_vmas in (100, 1_000, 10_000):
        mm, base = address_space("reference", nr_vmas)
        costs[nr_vmas] = time_per_op(model_mix(mm, base), rounds)
        print(f"  {nr_vmas:6} VMAs  {costs[nr_vmas]:8.3f}")
    print(f"  growth 100 -> 10,000 VMAs: {costs[10_000] / costs[100]:.2f}x")

    print("\nmemory per VMA (tracemalloc, 10,000 VMAs)")
    for design in DESIGNS:
        print(f"  {design:15}  {bytes_per_vma(design):8.0f} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
