"""mlock(2), mlock2(2), munlock(2) (model/mlock.py): locking, populating, holes, ``locked_vm``
accounting, VMAs mlock leaves alone, and return values the ModelMM wrapper swallows.

Expected values: mm/mlock.c (do_mlock, apply_vma_lock_flags, mlock_fixup), mm/gup.c
(__mm_populate, populate_vma_page_range) and the live 6.18 kernel (quoted per test).
"""

from __future__ import annotations

import errno

from engine_helpers import (
    ANON,
    GUARD,
    RW,
    SHARED_ANON,
    ULONG_MAX,
    B,
    P,
    R,
    errno_of,
    extents,
    pages,
    vma_at,
)

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mlock import (
    __mlock_posix_error_return,
    apply_vma_lock_flags,
    do_mlock,
)
from pytest_anonvma.model.mm_types import (
    VM_IO,
    VM_LOCKED,
    VM_LOCKONFAULT,
)

# -- mlock through the contract -------------------------------------------------------------------


def test_mlock_sets_locked_and_populates(mm: ModelMM) -> None:
    """mlock faults everything in: write faults for private writable, read faults otherwise.

    Live 6.18: mlock of a read-only private and of a shared anonymous VMA: 0, pages 'PP'.
    """
    mm.mmap(B, 2 * P, R, ANON)
    mm.mlock(B, 2 * P)
    assert pages(mm, 0, 2) == "PP" and "VM_LOCKED" in vma_at(mm, 0).flags
    assert mm.stats()["anon_vma_allocs"] == 0  # read faults: zero page
    mm.mmap(B + 4 * P, 2 * P, RW, SHARED_ANON)
    mm.mlock(B + 4 * P, 2 * P)
    assert pages(mm, 4, 2) == "PP"
    mm.mmap(B + 8 * P, P, RW, ANON)
    mm.mlock(B + 8 * P, P)
    assert mm.mm.ptes[(B + 8 * P) // P].writable


def test_mlock_rounds_to_pages_and_splits(mm: ModelMM) -> None:
    """do_mlock rounds the range out to pages; the locked part is split off.

    munlock merges it back only under 6.18's relaxed anon_vma rule: the populate gave the
    locked part an anon_vma, and v6.14's is_mergeable_anon_vma wants the anon_vma-less
    neighbour's chain to be singular, which an empty chain is not (kernel-harness.md).
    """
    mm.mmap(B, 3 * P, RW, ANON)
    mm.mlock(B + 100, P)
    assert extents(mm) == [(0, 2), (2, 3)]
    assert "VM_LOCKED" in vma_at(mm, 0).flags and "VM_LOCKED" not in vma_at(mm, 2).flags
    assert pages(mm, 0, 3) == "PP."
    mm.munlock(B, 3 * P)
    assert extents(mm) == ([(0, 3)] if mm.era == "6.18" else [(0, 2), (2, 3)])


def test_mlock_prot_none_locks_then_enomem(mm: ModelMM) -> None:
    """populate_vma_page_range refuses PROT_NONE (-EFAULT), which mlock reports as ENOMEM.

    Live 6.18: mlock of a PROT_NONE VMA -> ENOMEM, the VMA shows 'lo'.
    """
    mm.mmap(B, 2 * P, av.PROT_NONE, ANON)
    assert errno_of(mm.mlock, B, 2 * P) == errno.ENOMEM
    assert "VM_LOCKED" in vma_at(mm, 0).flags


def test_mlock_over_guard_populates_up_to_it(mm: ModelMM) -> None:
    """The populate hits the marker (-EFAULT -> ENOMEM) after faulting the pages before it.

    Live 6.18: guard page 2 of 4, mlock all -> ENOMEM, VMA locked, pages 'PPG.'.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.madvise(B + 2 * P, P, GUARD)
    assert errno_of(mm.mlock, B, 4 * P) == errno.ENOMEM
    assert "VM_LOCKED" in vma_at(mm, 0).flags
    assert pages(mm, 0, 4) == "PPG."


def test_mlock_holes(mm: ModelMM) -> None:
    """apply_vma_lock_flags: start in a hole -> ENOMEM, nothing done; a later hole -> ENOMEM
    after the VMAs before it changed (and no populate).

    Live 6.18: mlock from a hole -> ENOMEM, no 'lo'; mlock past the VMA's end -> ENOMEM with
    'lo' on the VMA and pages '...'; munlock past the end -> ENOMEM, 'lo' gone.
    """
    mm.mmap(B + P, 3 * P, RW, ANON)
    assert errno_of(mm.mlock, B, 2 * P) == errno.ENOMEM
    assert "VM_LOCKED" not in vma_at(mm, 1).flags
    assert errno_of(mm.mlock, B + P, 8 * P) == errno.ENOMEM
    assert "VM_LOCKED" in vma_at(mm, 1).flags and pages(mm, 1, 3) == "..."
    assert errno_of(mm.munlock, B + P, 8 * P) == errno.ENOMEM
    assert "VM_LOCKED" not in vma_at(mm, 1).flags


def test_locked_vm_accounting(mm: ModelMM) -> None:
    """mlock_fixup counts newly locked pages once; munlock and munmap give them back."""
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mlock(B, 2 * P)
    mm.mlock(B, 4 * P)
    assert mm.mm.locked_vm == 4
    mm.munlock(B, P)
    assert mm.mm.locked_vm == 3
    mm.munmap(B, 4 * P)
    assert mm.mm.locked_vm == 0


# -- mlock: VMA states below the contract, return values ------------------------------------------


def test_mlock_leaves_special_vmas_alone(mm: ModelMM) -> None:
    """mm/mlock.c: mlock_fixup neither sets VM_LOCKED on nor counts a VM_SPECIAL (here VM_IO)
    VMA, and __mm_populate skips VM_IO; mlock succeeds."""
    mm.mmap(B, 2 * P, RW, ANON)
    vma = mm.mm.find_vma(B)
    assert vma is not None
    vma.vm_flags |= VM_IO  # as a driver's remap_pfn_range would set it
    mm.mlock(B, 2 * P)
    assert not vma.vm_flags & VM_LOCKED
    assert mm.mm.locked_vm == 0
    assert pages(mm, 0, 2) == ".."


def test_relocking_onfault_does_not_count_again(mm: ModelMM) -> None:
    """mm/mlock.c: mlock_fixup adds to locked_vm only pages that were not locked before
    (mlock2(MLOCK_ONFAULT) over an mlocked range changes VM_LOCKONFAULT only)."""
    mm.mmap(B, 4 * P, R, ANON)
    mm.mlock(B, 4 * P)
    assert mm.mm.locked_vm == 4
    assert apply_vma_lock_flags(mm.mm, B, 4 * P, VM_LOCKED | VM_LOCKONFAULT) == 0
    assert mm.mm.locked_vm == 4
    assert "VM_LOCKONFAULT" in vma_at(mm, 0).flags


def test_munlock_merges_what_the_walk_changed(mm: ModelMM) -> None:
    """mm/mlock.c: apply_vma_lock_flags passes the VMA it just changed as prev of the next
    mlock_fixup, so equal neighbours merge during one walk.

    Live 6.18: mlock pages 0-1, mlock2(MLOCK_ONFAULT) pages 2-3 ('lo' | 'lo lf'), munlock
    0-3 -> one VMA 0-3.
    """
    mm.mmap(B, 4 * P, R, ANON)
    mm.mlock(B, 2 * P)
    assert apply_vma_lock_flags(mm.mm, B + 2 * P, 2 * P, VM_LOCKED | VM_LOCKONFAULT) == 0
    assert extents(mm) == [(0, 2), (2, 4)]
    mm.munlock(B, 4 * P)
    assert extents(mm) == [(0, 4)]
    assert "VM_LOCKED" not in vma_at(mm, 0).flags


def test_mlock_wrapping_end_is_einval(mm: ModelMM) -> None:
    """mm/mlock.c: apply_vma_lock_flags: end = start + len wrapping (end < start) -> EINVAL,
    nothing locked. Live 6.18: mlock(B, 2**64 - B) -> EINVAL."""
    mm.mmap(B, 2 * P, R, ANON)
    assert errno_of(mm.mlock, B, (1 << 64) - B) == errno.EINVAL
    assert errno_of(mm.munlock, B, (1 << 64) - B) == errno.EINVAL
    assert "VM_LOCKED" not in vma_at(mm, 0).flags


def test_mlock_of_nothing_succeeds_in_a_hole(mm: ModelMM) -> None:
    """mm/mlock.c: apply_vma_lock_flags returns 0 for an empty range before looking for a VMA.
    Live 6.18: mlock(unmapped address, 0) -> 0."""
    mm.mlock(B + 20 * P, 0)
    mm.munlock(B + 20 * P, 0)
    assert apply_vma_lock_flags(mm.mm, B + 20 * P, 0, VM_LOCKED) == 0


def test_mlock_length_rounding_to_zero_does_nothing(mm: ModelMM) -> None:
    """mm/mlock.c: do_mlock and munlock compute PAGE_ALIGN(len + offset_in_page(start)) as an
    unsigned long: ULONG_MAX (or any length within a page of 2**64 counting the offset) wraps
    to 0, and an empty range is success with nothing changed; 2**64 - 4096 stays and wraps
    the end (EINVAL).

    Checked on live 6.18: mlock(B, ULONG_MAX), mlock(B + 100, 2**64 - 100) and
    mlock(B, 2**64 - 4095) -> 0, the VMA not locked; mlock(B, 2**64 - 4096) -> EINVAL;
    after mlock of the VMA, munlock(B, ULONG_MAX) -> 0, the VMA still locked.
    """
    mm.mmap(B, 4 * P, R, ANON)
    for start, length in ((B, ULONG_MAX), (B + 100, (1 << 64) - 100), (B, (1 << 64) - P + 1)):
        mm.mlock(start, length)
        assert "VM_LOCKED" not in vma_at(mm, 0).flags
    assert errno_of(mm.mlock, B, (1 << 64) - P) == errno.EINVAL
    mm.mlock(B, 4 * P)
    mm.munlock(B, ULONG_MAX)
    assert "VM_LOCKED" in vma_at(mm, 0).flags
    assert extents(mm) == [(0, 4)]


def test_do_mlock_returns_zero(mm: ModelMM) -> None:
    """mm/mlock.c: do_mlock returns 0 when locking and populating succeed."""
    mm.mmap(B, 2 * P, RW, ANON)
    assert do_mlock(mm.mm, B, 2 * P) == 0
    assert pages(mm, 0, 2) == "PP"


def test_mlock_posix_error_return() -> None:
    """mm/mlock.c: __mlock_posix_error_return: populate's EFAULT becomes ENOMEM and its ENOMEM
    EAGAIN (POSIX); any other error passes through."""
    assert __mlock_posix_error_return(-errno.EFAULT) == -errno.ENOMEM
    assert __mlock_posix_error_return(-errno.ENOMEM) == -errno.EAGAIN
    assert __mlock_posix_error_return(-errno.EINTR) == -errno.EINTR
