"""Operations as atomic steps between the kernel's lock points (the interleave tier).

An operation that runs concurrently with others under a shared lock (guard install and remove,
page faults, MADV_DONTNEED/FREE zaps, khugepaged's retraction) is written once, as a generator:
before each atomic step it yields a :class:`LockStep` naming the step, the lock held while it
runs and what it reads or writes, then performs it. The single-threaded call is the same
generator run to the end (:func:`run_steps`); the explorer of :mod:`pytest_anonvma.interleave`
runs several such generators in every order the locks allow.

Every stepped operation yields before it reads any shared state, so priming a generator (running
it to its first yield) does nothing another thread could observe or invalidate.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar

from pytest_anonvma.constants import PTRS_PER_PTE

__all__ = [
    "MMAP_NONE",
    "MMAP_READ",
    "MMAP_WRITE",
    "VMA_WORDS",
    "LockStep",
    "Steps",
    "page_table_of",
    "page_tables",
    "run_steps",
    "table_spans",
]

#: how an operation holds ``mmap_lock``: shared (madvise, faults), exclusive (mmap, munmap,
#: mprotect, mremap, fork, mlock), or not at all (khugepaged's retraction)
MMAP_READ = "read"
MMAP_WRITE = "write"
MMAP_NONE = "none"
#: the resource standing for every VMA's anon_vma word and vm_flags: a step that reads or
#: writes either names it (one resource for all VMAs: coarse, and so always sound)
VMA_WORDS = "vma-words"

T = TypeVar("T")
#: a stepped operation: yields a LockStep before each atomic step, returns the call's result
Steps = Generator["LockStep", None, T]


@dataclass(frozen=True)
class LockStep:
    """The atomic step an operation is about to take.

    ``what`` names the kernel function and phase (``madvise_guard_install: walk PTEs 0..3``),
    ``lock`` the lock held while it runs (``PTL``, ``mm->page_table_lock``, ``mmap_lock
    (write)``...), ``mmap`` how the whole operation holds ``mmap_lock`` (:data:`MMAP_READ`...).
    ``tables`` (page-table indices, page number // 512), ``words`` (whether it reads or writes a
    VMA's anon_vma word or flags) and ``file`` (a page cache it changes) are what it touches:
    two steps of different threads commute unless they touch something in common. ``pages``
    (virtual page numbers ``[first, last)``) is the only range whose page-table entries it
    may change; ``adds_markers`` says it may write guard markers there (a guard install's walk)
    and ``drops_markers`` that it may clear them by design (a guard remove's walk), so a marker
    it clears is not lost.
    """

    what: str
    lock: str
    mmap: str = MMAP_READ
    tables: tuple[int, ...] = ()
    words: bool = False
    file: str | None = None
    pages: tuple[int, int] | None = None
    adds_markers: bool = False
    drops_markers: bool = False

    def resources(self) -> frozenset[object]:
        """What the step touches, as hashable keys (an exclusive ``mmap_lock`` step: ``{"*"}``)."""
        if self.mmap == MMAP_WRITE:
            return frozenset({"*"})
        keys: set[object] = {("pt", table) for table in self.tables}
        if self.words:
            keys.add(VMA_WORDS)
        if self.file is not None:
            keys.add(("file", self.file))
        return frozenset(keys)


def page_table_of(pfn: int) -> int:
    """The index of the PTE table mapping virtual page ``pfn``."""
    return pfn // PTRS_PER_PTE


def page_tables(first: int, last: int) -> tuple[int, ...]:
    """The PTE tables mapping the virtual pages ``[first, last)``, in order."""
    if last <= first:
        return ()
    return tuple(range(page_table_of(first), page_table_of(last - 1) + 1))


def table_spans(first: int, last: int) -> list[tuple[int, int]]:
    """``[first, last)`` cut at page-table boundaries: one (first, last) span per table walked
    (``walk_pmd_range`` takes one PTE lock per table)."""
    spans = []
    while first < last:
        end = min(last, (page_table_of(first) + 1) * PTRS_PER_PTE)
        spans.append((first, end))
        first = end
    return spans


def run_steps(steps: Steps[T]) -> T:
    """Run a stepped operation to its end, with nothing in between: the single-threaded call."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
