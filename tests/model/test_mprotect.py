"""mprotect(2) (model/mprotect.py): argument checks, holes, accounting, split and merge, PTE
write bits, PROT_GROWS*, and a split that cannot allocate.

Expected values: mm/mprotect.c (do_mprotect_pkey, mprotect_fixup), mm/vma.c (split failure) and
the live 6.18 kernel ("live 6.18" marks a value also observed on the running kernel).
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import ANON, RW, SHARED_ANON, B, P, R, errno_of, extents, vma_at

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mm_types import (
    VM_GROWSDOWN,
    VM_MAYWRITE,
)
from pytest_anonvma.model.mprotect import do_mprotect_pkey

# -- mprotect through the contract ----------------------------------------------------------------


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


RWX = RW | av.PROT_EXEC


PROT_GROWSDOWN = 0x01000000


PROT_GROWSUP = 0x02000000


# -- mprotect: lengths, PROT_GROWS*, VMA states below the contract --------------------------------


def test_mprotect_length_zero_returns_zero(mm: ModelMM) -> None:
    """mm/mprotect.c: do_mprotect_pkey returns 0 for len 0 (after the alignment check)."""
    assert do_mprotect_pkey(mm.mm, B, 0, R) == 0


def test_mprotect_length_rounds_up(mm: ModelMM) -> None:
    """do_mprotect_pkey: len = PAGE_ALIGN(len). Live 6.18: 4097 bytes -> both pages 'r--p'."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mprotect(B, P + 1, R)
    assert extents(mm) == [(0, 2)] and vma_at(mm, 0).prot == R


def test_mprotect_wrapping_end_is_enomem(mm: ModelMM) -> None:
    """do_mprotect_pkey: end = start + len wrapping past ULONG_MAX (end <= start) -> ENOMEM
    before any change. Live 6.18: len 2**64 - start -> ENOMEM, the VMA still 'rw-p'."""
    mm.mmap(B, 2 * P, RW, ANON)
    assert errno_of(mm.mprotect, B, (1 << 64) - B, R) == errno.ENOMEM
    assert vma_at(mm, 0).prot == RW


def test_mprotect_growsup_is_einval(mm: ModelMM) -> None:
    """do_mprotect_pkey: PROT_GROWSUP needs VM_GROWSUP, which x86-64 never sets -> EINVAL.
    Live 6.18: EINVAL."""
    mm.mmap(B, 2 * P, RW, ANON)
    assert errno_of(mm.mprotect, B, P, R | PROT_GROWSUP) == errno.EINVAL
    assert vma_at(mm, 0).prot == RW


def test_mprotect_growsdown_extends_to_vma_start(mm: ModelMM) -> None:
    """do_mprotect_pkey: on a VM_GROWSDOWN VMA (MAP_GROWSDOWN), PROT_GROWSDOWN is stripped from
    prot and the range starts at the VMA start; both GROWS flags together are EINVAL.

    Live 6.18: MAP_GROWSDOWN of 4 pages, mprotect page 2 PROT_READ|PROT_GROWSDOWN -> pages 0-2
    'r--p', page 3 'rw-p'; then PROT_GROWSDOWN|PROT_GROWSUP -> EINVAL, nothing changed.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    vma = mm.mm.find_vma(B)
    assert vma is not None
    vma.vm_flags |= VM_GROWSDOWN  # what MAP_GROWSDOWN would have set
    mm.mprotect(B + 2 * P, P, R | PROT_GROWSDOWN)
    assert extents(mm) == [(0, 3), (3, 4)]
    assert [v.prot for v in mm.vmas()] == [R, RW]
    assert errno_of(mm.mprotect, B + 2 * P, P, RW | PROT_GROWSDOWN | PROT_GROWSUP) == errno.EINVAL
    assert [v.prot for v in mm.vmas()] == [R, RW]


def test_mprotect_beyond_vm_maywrite_is_eacces(mm: ModelMM) -> None:
    """do_mprotect_pkey: asking for a permission whose VM_MAY* bit is clear -> EACCES, the walk
    stopping there (a shared mapping of a file opened read-only lacks VM_MAYWRITE).

    Live 6.18: private 'r' VMA then a read-only-fd shared memfd VMA, mprotect both rw -> EACCES,
    the first 'rw-p', the second still 'r--s'.
    """
    fd = mm.memfd("m", 4 * P)
    mm.mmap(B, 2 * P, R, ANON)
    mm.mmap(B + 2 * P, 2 * P, R, av.MAP_SHARED | av.MAP_FIXED, fd)
    shared = mm.mm.find_vma(B + 2 * P)
    assert shared is not None
    shared.vm_flags &= ~VM_MAYWRITE  # as mapping an O_RDONLY fd would leave it
    assert errno_of(mm.mprotect, B, 4 * P, RW) == errno.EACCES
    assert [v.prot for v in mm.vmas()] == [RW, R]


def test_mprotect_split_failure_stops_the_walk(mm: ModelMM) -> None:
    """do_mprotect_pkey: an mprotect_fixup error ends the walk: the VMAs after the one whose
    split failed (injected preallocation failure) are not changed."""
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mmap(B + 4 * P, 2 * P, av.PROT_READ | av.PROT_EXEC, ANON)
    mm.mm.fail_prealloc = True
    assert errno_of(mm.mprotect, B + P, 5 * P, R) == errno.ENOMEM
    mm.mm.fail_prealloc = False
    assert extents(mm) == [(0, 4), (4, 6)]
    assert [v.prot for v in mm.vmas()] == [RW, av.PROT_READ | av.PROT_EXEC]


def test_mprotect_keeping_write_keeps_pte_writable(mm: ModelMM) -> None:
    """mm/mprotect.c: change_pte_range only takes write permission away when the VMA loses
    VM_WRITE; an exclusive anonymous page of a VMA that stays writable keeps a writable PTE
    (MM_CP_TRY_CHANGE_WRITABLE, can_change_pte_writable)."""
    mm.mmap(B, P, RW, ANON)
    mm.write(B, 1)
    mm.mprotect(B, P, RWX)
    assert mm.mm.ptes[B // P].writable
