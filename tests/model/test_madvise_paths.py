"""Paths of model/madvise.py and model/memory.py the contract alone cannot reach or see.

These tests drive the kernel-mirroring functions directly: guard advice on VM_SPECIAL and
hugetlb VMAs (no contract mapping makes one), the 0 / -errno results of the per-VMA handlers and
of ``do_madvise`` (the contract's ``madvise`` only raises on a negative result), the end-of-range
overflow check, ``is_guard_pte_marker``, and the write bit of the PTE a write fault leaves.
Expected values: mm/madvise.c and mm/memory.c as cited per test; the overflow errno was also
checked on the live 6.18 kernel.
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import ANON, GUARD, RW, UNGUARD, B, P, R, pages

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.madvise import do_madvise, is_valid_guard_vma, madvise_vma_behavior
from pytest_anonvma.model.memory import GUARD_MARKER, PTE, handle_mm_fault, is_guard_pte_marker
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    VM_DONTCOPY,
    VM_DONTEXPAND,
    VM_HUGETLB,
    VM_IO,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VMA,
)

SHARED_FILE = av.MAP_SHARED | av.MAP_FIXED
PRIVATE_FILE = av.MAP_PRIVATE | av.MAP_FIXED
#: the flags that make ``is_valid_guard_vma`` refuse a VMA whatever the lock state
FORBIDDEN = {
    "VM_IO": VM_IO,
    "VM_PFNMAP": VM_PFNMAP,
    "VM_MIXEDMAP": VM_MIXEDMAP,
    "VM_DONTEXPAND": VM_DONTEXPAND,
    "VM_HUGETLB": VM_HUGETLB,
}


def _vma(mm: ModelMM, page: int) -> VMA:
    """The model VMA holding the arena page."""
    vma = mm.mm.vma_lookup(B + page * P)
    assert vma is not None
    return vma


@pytest.mark.parametrize("flag", FORBIDDEN.values(), ids=list(FORBIDDEN))
def test_guard_advice_refuses_special_and_hugetlb_vmas(mm: ModelMM, flag: int) -> None:
    """mm/madvise.c: is_valid_guard_vma refuses VM_SPECIAL (VM_IO, VM_PFNMAP, VM_MIXEDMAP,
    VM_DONTEXPAND) and VM_HUGETLB VMAs for install and remove alike: both advices fail with
    EINVAL and no marker is written or cleared."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B, P, GUARD)
    vma = _vma(mm, 0)
    assert is_valid_guard_vma(vma, allow_locked=True)
    vma.vm_flags |= flag
    assert not is_valid_guard_vma(vma, allow_locked=False)
    assert not is_valid_guard_vma(vma, allow_locked=True)
    assert do_madvise(mm.mm, B, 2 * P, GUARD) == -errno.EINVAL
    assert do_madvise(mm.mm, B, 2 * P, UNGUARD) == -errno.EINVAL
    assert pages(mm, 0, 2) == "G."


def _memfd_vma(mm: ModelMM) -> None:
    """A shared memfd mapping of two written pages at arena page 4."""
    file = mm.memfd("f", 2 * P)
    mm.mmap(B + 4 * P, 2 * P, RW, SHARED_FILE, file=file)
    mm.write(B + 4 * P, 1)
    mm.write(B + 5 * P, 1)


#: advice, arena page it applies to, page-table picture of pages 0..1 and 4..5 after it
HANDLER_CASES = [
    (GUARD, 0, "GP.PP"),
    (UNGUARD, 0, ".P.PP"),
    (av.MADV_DONTNEED, 1, "...PP"),
    (av.MADV_FREE, 1, ".P.PP"),
    (av.MADV_PAGEOUT, 1, ".P.PP"),
    (av.MADV_COLD, 1, ".P.PP"),
    (av.MADV_WILLNEED, 1, ".P.PP"),
    (av.MADV_REMOVE, 4, ".P..P"),
    (av.MADV_DONTFORK, 1, ".P.PP"),
    (av.MADV_NORMAL, 1, ".P.PP"),
]


@pytest.mark.parametrize(
    ("advice", "page", "after"), HANDLER_CASES, ids=[str(c[0]) for c in HANDLER_CASES]
)
def test_per_vma_handlers_return_zero(mm: ModelMM, advice: int, page: int, after: str) -> None:
    """mm/madvise.c: madvise_vma_behavior returns 0 when the advice succeeded on the VMA
    (madvise_guard_install, madvise_guard_remove, madvise_dontneed_free, madvise_cold /
    madvise_pageout, madvise_willneed, madvise_remove, madvise_update_vma all return 0), and the
    advice took effect on that page only (guard: a marker on an empty page; remove: the hole
    punch unmaps the file page)."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B + P, 1)
    if advice == UNGUARD:
        mm.madvise(B, P, GUARD)
    _memfd_vma(mm)
    vma = _vma(mm, page)
    addr = B + page * P
    assert madvise_vma_behavior(mm.mm, vma, addr, addr + P, advice) == 0
    assert pages(mm, 0, 2) + "." + pages(mm, 4, 2) == after


def test_madvise_update_vma_sets_the_flag(mm: ModelMM) -> None:
    """mm/madvise.c: madvise_update_vma (through madvise_vma_behavior) returns 0 after
    vma_modify_flags split the range out and set VM_DONTCOPY on it alone."""
    mm.mmap(B, 4 * P, RW, ANON)
    assert madvise_vma_behavior(mm.mm, _vma(mm, 0), B + P, B + 2 * P, av.MADV_DONTFORK) == 0
    assert _vma(mm, 1).vm_flags & VM_DONTCOPY
    assert not _vma(mm, 0).vm_flags & VM_DONTCOPY
    assert not _vma(mm, 2).vm_flags & VM_DONTCOPY


#: advice over a fresh two-page anonymous VMA, and the page-table picture after it
WHOLE_RANGE = [
    (av.MADV_DONTNEED, ".."),
    (av.MADV_POPULATE_READ, "PP"),
    (av.MADV_POPULATE_WRITE, "PP"),
    (GUARD, "GG"),
]


@pytest.mark.parametrize(("advice", "after"), WHOLE_RANGE, ids=[str(c[0]) for c in WHOLE_RANGE])
def test_do_madvise_returns_zero_on_success(mm: ModelMM, advice: int, after: str) -> None:
    """mm/madvise.c: do_madvise returns 0 when every VMA of a hole-free range took the advice,
    populate included (madvise_populate returns 0 once the range is faulted in)."""
    mm.mmap(B, 2 * P, RW, ANON)
    assert do_madvise(mm.mm, B, 2 * P, advice) == 0
    assert pages(mm, 0, 2) == after


def test_zero_length_succeeds_without_a_vma(mm: ModelMM) -> None:
    """mm/madvise.c: do_madvise returns 0 for end == start before looking up any VMA, so a
    zero-length advice on unmapped memory succeeds (live 6.18: madvise(addr, 0) returns 0 on an
    unmapped address)."""
    assert do_madvise(mm.mm, B + 8 * P, 0, av.MADV_DONTNEED) == 0
    assert do_madvise(mm.mm, B + 8 * P, 0, av.MADV_POPULATE_READ) == 0
    mm.madvise(B + 8 * P, 0, GUARD)
    assert pages(mm, 8, 1) == "."


@pytest.mark.parametrize("length", [P, 2 * P])
def test_range_past_the_top_of_the_address_space_is_einval(mm: ModelMM, length: int) -> None:
    """mm/madvise.c: madvise_checks/do_madvise reject a range whose end wraps past the last
    address (end < start) with EINVAL, not the ENOMEM of an unmapped range (live 6.18: EINVAL
    for both lengths at address 2**64 - 4096)."""
    with pytest.raises(OSError) as info:
        mm.madvise(2**64 - P, length, av.MADV_DONTNEED)
    assert info.value.errno == errno.EINVAL


def test_is_guard_pte_marker(mm: ModelMM) -> None:
    """mm/memory.c (swapops.h): is_guard_pte_marker is true for a guard marker only, not for a
    present PTE."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B, P, GUARD)
    mm.write(B + P, 1)
    ptes = mm.mm.ptes
    assert ptes[B >> PAGE_SHIFT] is GUARD_MARKER
    assert is_guard_pte_marker(ptes[B >> PAGE_SHIFT]) is True
    assert is_guard_pte_marker(ptes[(B + P) >> PAGE_SHIFT]) is False


def _shared_first_write(mm: ModelMM) -> None:
    mm.mmap(B, P, RW, SHARED_FILE, file=mm.memfd("f", P))


def _private_file_first_write(mm: ModelMM) -> None:
    mm.mmap(B, P, RW, PRIVATE_FILE, file=mm.memfd("f", P))


def _shared_read_only_pte(mm: ModelMM) -> None:
    mm.mmap(B, P, R, SHARED_FILE, file=mm.memfd("f", P))
    mm.read(B)
    mm.mprotect(B, P, RW)


def _anon_write_protected_pte(mm: ModelMM) -> None:
    mm.mmap(B, P, RW, ANON)
    mm.write(B, 3)
    mm.mprotect(B, P, R)
    mm.mprotect(B, P, RW)


def _zero_page(mm: ModelMM) -> None:
    mm.mmap(B, P, RW, ANON)
    mm.read(B)


WRITE_FAULTS = {
    "do_shared_fault": _shared_first_write,
    "do_cow_fault": _private_file_first_write,
    "wp_page_shared": _shared_read_only_pte,
    "wp_page_reuse": _anon_write_protected_pte,
    "wp_page_copy": _zero_page,
}


@pytest.mark.parametrize("setup", WRITE_FAULTS.values(), ids=list(WRITE_FAULTS))
def test_write_fault_leaves_a_writable_pte(mm: ModelMM, setup: object) -> None:
    """mm/memory.c: a write fault ends with a writable PTE (finish_fault / wp_page_reuse use
    maybe_mkwrite on a VM_WRITE VMA; otherwise the CPU would fault again on the same store):
    first write to a shared file page (do_shared_fault), to a private file page (do_cow_fault),
    and a write to a read-only PTE of a shared mapping (wp_page_shared), of an exclusive
    anonymous page (wp_page_reuse) and of the zero page (wp_page_copy)."""
    setup(mm)  # type: ignore[operator]
    pte = handle_mm_fault(mm.mm, B, True)
    assert isinstance(pte, PTE)
    assert mm.mm.ptes[B >> PAGE_SHIFT] is pte
    assert pte.writable
