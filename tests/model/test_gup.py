"""gup (model/gup.py, mm/gup.c): check_vma_flags, populate_vma_page_range and __mm_populate on
VMA states the contract cannot set up. Expected values: mm/gup.c as cited per test.
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import ANON, RW, B, P

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.gup import check_vma_flags, mm_populate, populate_vma_page_range
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    VM_IO,
    VM_LOCKED,
    VM_LOCKONFAULT,
    VM_MAYREAD,
    VM_PFNMAP,
    VM_READ,
    VM_WRITE,
    VMA,
    MMStruct,
)

# -- gup: check_vma_flags, populate_vma_page_range, __mm_populate (mm/gup.c) ----------------------


def _bare_vma(flags: int) -> VMA:
    return VMA(B, B + P, B >> PAGE_SHIFT, flags)


@pytest.mark.parametrize("special", [VM_IO, VM_PFNMAP])
def test_check_vma_flags_refuses_io_and_pfnmap(special: int) -> None:
    """mm/gup.c check_vma_flags: VM_IO or VM_PFNMAP alone makes any access -EFAULT."""
    vma = _bare_vma(VM_READ | VM_WRITE | VM_MAYREAD | special)
    assert check_vma_flags(vma, write=False, force=False) == -errno.EFAULT
    assert check_vma_flags(vma, write=True, force=False) == -errno.EFAULT


def test_check_vma_flags_forced_read_needs_may_read() -> None:
    """mm/gup.c check_vma_flags: a forced read of an unreadable VMA is fine with VM_MAYREAD and
    -EFAULT without it; a readable VMA returns 0."""
    assert check_vma_flags(_bare_vma(VM_MAYREAD), write=False, force=True) == 0
    assert check_vma_flags(_bare_vma(0), write=False, force=True) == -errno.EFAULT
    assert check_vma_flags(_bare_vma(VM_READ | VM_MAYREAD), write=False, force=False) == 0


def _populate_mm(*vmas: tuple[int, int, int]) -> MMStruct:
    """An mm with anonymous VMAs at (first page, count, prot) of the arena."""
    mm = ModelMM("reference")
    for first, count, prot in vmas:
        mm.mmap(B + first * P, count * P, prot, ANON)
    return mm.mm


def _picture(mm: MMStruct, count: int) -> str:
    return "".join("P" if (B >> PAGE_SHIFT) + i in mm.ptes else "." for i in range(count))


def test_populate_lock_on_fault_faults_nothing() -> None:
    """mm/gup.c populate_vma_page_range: a VM_LOCKONFAULT VMA reports every page done without
    faulting any in."""
    mm = _populate_mm((0, 4, RW))
    vma = mm.mm_mt[0]
    vma.vm_flags |= VM_LOCKED | VM_LOCKONFAULT
    assert populate_vma_page_range(mm, vma, B, B + 4 * P) == 4
    assert _picture(mm, 4) == "...."


def test_mm_populate_stops_at_a_trailing_hole() -> None:
    """mm/gup.c __mm_populate: no VMA left in the range ends the walk; the result is 0."""
    mm = _populate_mm((0, 2, RW))
    assert mm_populate(mm, B, 4 * P, ignore_errors=False) == 0
    assert _picture(mm, 4) == "PP.."


def test_mm_populate_starts_at_the_first_vma_after_a_hole() -> None:
    """mm/gup.c __mm_populate: a range starting in a hole populates from the next VMA's start."""
    mm = _populate_mm((2, 2, RW))
    assert mm_populate(mm, B, 4 * P, ignore_errors=False) == 0
    assert _picture(mm, 4) == "..PP"


@pytest.mark.parametrize("prot", [RW, av.PROT_NONE])
def test_mm_populate_skips_io_vmas(prot: int) -> None:
    """mm/gup.c __mm_populate: VM_IO / VM_PFNMAP VMAs are skipped before any check, not
    faulted in (a PROT_NONE one does not fail the walk either)."""
    mm = _populate_mm((0, 2, prot), (2, 2, av.PROT_READ))
    mm.mm_mt[0].vm_flags |= VM_IO
    assert mm_populate(mm, B, 4 * P, ignore_errors=False) == 0
    assert _picture(mm, 4) == "..PP"


def test_mm_populate_ignore_errors_goes_on_after_a_failing_vma() -> None:
    """mm/gup.c __mm_populate: a PROT_NONE VMA fails with -EFAULT; MAP_POPULATE's
    ignore_errors skips it and populates the next VMA, mlock's walk stops there."""
    mm = _populate_mm((0, 2, av.PROT_NONE), (2, 2, RW))
    assert mm_populate(mm, B, 4 * P, ignore_errors=False) == -errno.EFAULT
    assert _picture(mm, 4) == "...."
    assert mm_populate(mm, B, 4 * P, ignore_errors=True) == 0
    assert _picture(mm, 4) == "..PP"
