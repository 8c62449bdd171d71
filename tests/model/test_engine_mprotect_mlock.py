"""mprotect(2), mlock(2), munlock(2) (model/mprotect.py, model/mlock.py).

Expected values: mm/mprotect.c (do_mprotect_pkey, mprotect_fixup), mm/mlock.c (do_mlock,
apply_vma_lock_flags, mlock_fixup), mm/gup.c (__mm_populate, populate_vma_page_range) and the
live 6.18 kernel (quoted per test).
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import (
    ANON,
    GUARD,
    RW,
    SHARED_ANON,
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


def test_mprotect_argument_checks(mm: ModelMM) -> None:
    """Unaligned start or unknown prot bits: EINVAL; PROT_SEM is accepted; length 0: no-op.

    Live 6.18: EINVAL, EINVAL (prot 0x10), 0 (PROT_READ|PROT_SEM), 0 (length 0).
    """
    mm.mmap(B, 2 * P, RW, ANON)
    assert errno_of(mm.mprotect, B + 1, P, R) == errno.EINVAL
    assert errno_of(mm.mprotect, B, P, 0x10) == errno.EINVAL
    mm.mprotect(B, 0, av.PROT_NONE)
    assert vma_at(mm, 0).prot == RW
    mm.mprotect(B, P, R | 0x8)
    assert vma_at(mm, 0).prot == R
    assert errno_of(mm.mprotect, B, P, R | 0x01000000) == errno.EINVAL  # PROT_GROWSDOWN


def test_mprotect_hole_at_start_changes_nothing(mm: ModelMM) -> None:
    """do_mprotect_pkey: the first VMA must contain start, else ENOMEM before any change.

    Live 6.18: VMAs 1-2 and 4-5, mprotect 0-5 read-only -> ENOMEM, both still rw.
    """
    mm.mmap(B + P, 2 * P, RW, ANON)
    mm.mmap(B + 4 * P, 2 * P, RW, ANON)
    assert errno_of(mm.mprotect, B, 6 * P, R) == errno.ENOMEM
    assert [v.prot for v in mm.vmas()] == [RW, RW]


def test_mprotect_hole_in_middle_is_partial(mm: ModelMM) -> None:
    """A later hole stops the walk there with ENOMEM; VMAs before it were changed.

    Live 6.18: mprotect 1-5 read-only -> ENOMEM, VMA 1-2 'r--p', VMA 4-5 still 'rw-p'.
    """
    mm.mmap(B + P, 2 * P, RW, ANON)
    mm.mmap(B + 4 * P, 2 * P, RW, ANON)
    assert errno_of(mm.mprotect, B + P, 5 * P, R) == errno.ENOMEM
    assert [v.prot for v in mm.vmas()] == [R, RW]


def test_mprotect_account_rules(mm: ModelMM) -> None:
    """mprotect_fixup: read-only drops VM_ACCOUNT only from an anon VMA without anon_vma;
    making a private mapping writable charges it unless VM_NORESERVE.

    Live 6.18: unfaulted rw -> r: 'rd' (no ac); faulted rw -> r: 'rd ac'; r -> rw: 'rd wr ac';
    MAP_NORESERVE r -> rw: 'rd wr nr'.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mprotect(B, 2 * P, R)
    assert "VM_ACCOUNT" not in vma_at(mm, 0).flags
    mm.mprotect(B, 2 * P, RW)
    assert "VM_ACCOUNT" in vma_at(mm, 0).flags
    mm.write(B, 1)
    mm.mprotect(B, 2 * P, R)
    assert "VM_ACCOUNT" in vma_at(mm, 0).flags
    mm.mmap(B + 4 * P, 2 * P, R, ANON | av.MAP_NORESERVE)
    mm.mprotect(B + 4 * P, 2 * P, RW)
    assert {"VM_NORESERVE"} <= vma_at(mm, 4).flags and "VM_ACCOUNT" not in vma_at(mm, 4).flags
    mm.mmap(B + 8 * P, 2 * P, RW, SHARED_ANON)
    assert "VM_ACCOUNT" not in vma_at(mm, 8).flags


def test_mprotect_split_and_merge(mm: ModelMM) -> None:
    """vma_modify_flags splits a middle range out and merges it back when restored."""
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mprotect(B + P, 2 * P, R)
    assert extents(mm) == [(0, 1), (1, 3), (3, 4)]
    mm.mprotect(B + P, 2 * P, RW)
    assert extents(mm) == [(0, 4)]


def test_mprotect_write_protects_ptes(mm: ModelMM) -> None:
    """change_protection: a page written before mprotect(PROT_READ) can no longer be written."""
    mm.mmap(B, P, RW, ANON)
    mm.write(B, 3)
    mm.mprotect(B, P, R)
    with pytest.raises(av.SegmentationFault):
        mm.write(B, 4)
    mm.mprotect(B, P, RW)
    mm.write(B, 4)
    assert mm.read(B) == 4


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


def test_split_failure_errnos(mm: ModelMM) -> None:
    """A VMA split that cannot allocate (injected preallocation failure): mprotect and mlock
    pass ENOMEM through, madvise turns it into EAGAIN (madvise_vma_behavior: "madvise()
    returns EAGAIN if kernel resources, such as slab, are temporarily unavailable")."""
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mm.fail_prealloc = True
    assert errno_of(mm.mprotect, B + P, P, R) == errno.ENOMEM
    assert errno_of(mm.mlock, B + P, P) == errno.ENOMEM
    assert errno_of(mm.madvise, B + P, P, av.MADV_DONTFORK) == errno.EAGAIN
    mm.mm.fail_prealloc = False
    assert extents(mm) == [(0, 4)] and vma_at(mm, 0).prot == RW
