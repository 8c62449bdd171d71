"""khugepaged (model/khugepaged.py): MADV_COLLAPSE and page-table retraction on VMA states only a
direct test reaches.

Expected values come from mm/khugepaged.c and mm/huge_memory.c as named in each docstring. The
MADV_COLLAPSE outcomes were also reproduced on the live 6.18 kernel with a ctypes script in this
process (the ``live`` implementation lacks the ``thp`` capability); each such test says so.
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import ANON, PRIVATE_FILE, RW, SHARED_FILE, B, P, pages, touch, vma_at

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.khugepaged import (
    HPAGE_PMD_NR,
    madvise_collapse,
    retractable,
    thp_vma_allowable,
)
from pytest_anonvma.model.memory import PTE
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    VM_HUGETLB,
    VM_IO,
    VM_NOHUGEPAGE,
    VM_UFFD_WP,
    VMA,
)
from pytest_anonvma.model.vma import validate_mm

NR = HPAGE_PMD_NR


def _vma_of(mm: ModelMM, page: int) -> VMA:
    vma = mm.mm.vma_lookup(B + page * P)
    assert vma is not None
    return vma


# -- khugepaged (mm/khugepaged.c, mm/huge_memory.c) -----------------------------------------------


def _memfd_mm(pages_in_file: int, prot: int = RW) -> ModelMM:
    """A 2 MiB shared memfd mapping at the (2 MiB aligned) arena start."""
    mm = ModelMM("reference")
    mm.mmap(B, NR * P, prot, SHARED_FILE, mm.memfd("f", pages_in_file * P))
    return mm


def test_uffd_wp_vma_is_not_retractable() -> None:
    """mm/khugepaged.c file_backed_vma_is_retractable: a uffd-wp registered VMA keeps its page
    tables (they may hold uffd-wp markers)."""
    mm = _memfd_mm(NR)
    assert retractable(mm.mm, B)
    _vma_of(mm, 0).vm_flags |= VM_UFFD_WP
    assert not retractable(mm.mm, B)


@pytest.mark.parametrize("flag", [VM_IO, VM_HUGETLB, VM_NOHUGEPAGE])
def test_collapse_refuses_special_hugetlb_and_nohugepage_vmas(flag: int) -> None:
    """mm/huge_memory.c __thp_vma_allowable_orders: VM_NO_KHUGEPAGED (VM_SPECIAL | VM_HUGETLB)
    and VM_NOHUGEPAGE (vma_thp_disabled) VMAs get no huge page, so madvise_collapse is EINVAL.
    Live 6.18 (ctypes): MADV_NOHUGEPAGE then MADV_COLLAPSE on a written 2 MiB block: EINVAL."""
    mm = ModelMM("reference")
    mm.mmap(B, NR * P, RW, ANON)
    mm.write(B, 1)
    vma = _vma_of(mm, 0)
    assert thp_vma_allowable(vma)
    vma.vm_flags |= flag
    assert not thp_vma_allowable(vma)
    assert madvise_collapse(mm.mm, vma, B, B + NR * P) == -errno.EINVAL
    assert pages(mm, 0, 2) == "P."


def test_collapse_of_anon_vma_ignores_its_pgoff() -> None:
    """mm/huge_memory.c thp_vma_suitable_order: the pgoff alignment test is for file VMAs only,
    so an anonymous VMA moved by mremap to an aligned address collapses although its pgoff
    still reflects the old address.
    Live 6.18 (ctypes): 512 pages at page 1, written, moved to page 1024: collapse succeeds."""
    mm = ModelMM("reference")
    mm.mmap(B + P, NR * P, RW, ANON)
    mm.write(B + P, 4)
    mm.mremap(B + P, NR * P, NR * P, av.MREMAP_MAYMOVE | av.MREMAP_FIXED, B + 2 * NR * P)
    assert (_vma_of(mm, 2 * NR).vm_pgoff - ((B >> PAGE_SHIFT) + 2 * NR)) % NR
    mm.madvise(B + 2 * NR * P, NR * P, av.MADV_COLLAPSE)
    assert pages(mm, 2 * NR, NR) == "P" * NR
    assert mm.read(B + 2 * NR * P) == 4


def test_collapse_after_fork_drops_the_parents_mapping_of_shared_pages() -> None:
    """mm/khugepaged.c collapse_huge_page (__collapse_huge_page_copy): the old small pages are
    unmapped from the collapsing mm, so a page still shared with a fork child is mapped by the
    child alone afterwards (validate_mm checks each mapcount against the PTEs); the child keeps
    the old data. Live 6.18 (ctypes): parent writes pages 0..1, forks, rewrites page 1 and
    collapses: 0; parent reads 1, 3; the child reads 1, 2."""
    mm = ModelMM("reference")
    mm.mmap(B, NR * P, RW, ANON)
    mm.write(B, 1)
    mm.write(B + P, 2)
    child = mm.fork()
    mm.write(B + P, 3)
    mm.madvise(B, NR * P, av.MADV_COLLAPSE)
    old = child.mm.ptes[B >> PAGE_SHIFT]
    assert isinstance(old, PTE) and old.folio.mapcount == 1
    assert (mm.read(B), mm.read(B + P)) == (1, 3)
    assert (child.read(B), child.read(B + P)) == (1, 2)


def test_collapsed_anon_block_is_writable() -> None:
    """mm/khugepaged.c collapse_huge_page: the new huge page is mapped writable in a VM_WRITE
    VMA (maybe_pmd_mkwrite), so a write after the collapse needs no write fault."""
    mm = ModelMM("reference")
    mm.mmap(B, NR * P, RW, ANON)
    mm.write(B, 1)
    mm.madvise(B, NR * P, av.MADV_COLLAPSE)
    first = B >> PAGE_SHIFT
    assert all(mm.mm.ptes[pfn].writable for pfn in range(first, first + NR))


def test_collapsed_file_pages_are_mapped_once() -> None:
    """mm/khugepaged.c collapse_pte_mapped_thp: the huge file folio is mapped once in the
    collapsing mm (the old small pages were unmapped first), each page counted once."""
    mm = _memfd_mm(NR)
    mm.write(B, 1)
    mm.madvise(B, NR * P, av.MADV_COLLAPSE)
    file = _vma_of(mm, 0).vm_file
    assert [file.folios[i].mapcount for i in range(NR)] == [1] * NR


def test_collapsed_read_only_shared_file_block_stays_read_only() -> None:
    """mm/khugepaged.c collapse_pte_mapped_thp: the PMD takes the VMA's protection, so a
    read-only shared mapping stays read-only. Live 6.18 (ctypes): collapse of a PROT_READ
    shared memfd block succeeds, the pages are present and a write still faults."""
    mm = _memfd_mm(NR, av.PROT_READ)
    mm.read(B)
    mm.madvise(B, NR * P, av.MADV_COLLAPSE)
    assert pages(mm, 0, 3) == "PPP"
    first = B >> PAGE_SHIFT
    assert not any(mm.mm.ptes[pfn].writable for pfn in range(first, first + NR))
    assert touch(mm, 0, write=True) == "SEGV"


def _errno_of(mm: ModelMM, first: int, count: int) -> int:
    """MADV_COLLAPSE of ``count`` pages from arena page ``first``: 0 or the errno."""
    try:
        mm.madvise(B + first * P, count * P, av.MADV_COLLAPSE)
    except OSError as err:
        return err.errno
    return 0


def test_collapse_fills_a_shmem_block_reaching_past_eof() -> None:
    """mm/khugepaged.c collapse_file: holes of the block (nr_none), past EOF too, become zeroed
    pages of the new huge page, which is then mapped whole; a fresh fault past EOF still gets
    SIGBUS (shmem_fault checks i_size). Checked on live 6.18 (ctypes): 100-page memfd mapped
    512 pages, page 0 written: collapse 0, ShmemPmdMapped 2048 kB, page 200 reads 0; a forked
    child's touch of page 200 gets SIGBUS."""
    mm = _memfd_mm(100)
    mm.write(B, 9)
    assert _errno_of(mm, 0, NR) == 0
    assert pages(mm, 0, NR) == "P" * NR
    assert (mm.read(B), mm.read(B + 200 * P)) == (9, 0)
    file = _vma_of(mm, 0).vm_file
    assert [file.folios[i].mapcount for i in (0, 99, 100, NR - 1)] == [1, 1, 1, 1]
    validate_mm(mm.mm)
    assert touch(mm.fork(), 200) == "BUS"


def test_collapse_refuses_a_shmem_block_with_nothing_cached() -> None:
    """mm/khugepaged.c collapse_file: an extent without a single cached page is SCAN_TRUNCATED
    (EINVAL), inside the file or wholly past its end; nothing is allocated. Checked on live
    6.18 (ctypes): a fresh 512-page memfd, and the second block of a 100-page memfd mapped
    1024 pages: EINVAL, pages stay empty."""
    mm = _memfd_mm(NR)
    assert _errno_of(mm, 0, NR) == errno.EINVAL
    assert pages(mm, 0, 3) == "..."
    assert _vma_of(mm, 0).vm_file.folios == {}
    mm = ModelMM("reference")
    mm.mmap(B, 2 * NR * P, RW, SHARED_FILE, mm.memfd("f", 100 * P))
    mm.write(B, 9)
    assert _errno_of(mm, NR, NR) == errno.EINVAL
    assert pages(mm, NR, 3) == "..."
    assert sorted(_vma_of(mm, 0).vm_file.folios) == [0]


def test_collapse_of_zero_page_block_needs_an_anon_vma() -> None:
    """mm/huge_memory.c __thp_vma_allowable_orders: an anonymous VMA without an anon_vma (only
    read faults, so only zero-page entries) is refused for a forced collapse (EINVAL) and gets
    none; with an anon_vma from a write elsewhere in the VMA the zero-page block collapses.
    Checked on live 6.18 (ctypes): EINVAL, 'P..'; then 0 with both blocks present."""
    mm = ModelMM("reference")
    mm.mmap(B, NR * P, RW, ANON)
    mm.read(B)
    assert _errno_of(mm, 0, NR) == errno.EINVAL
    assert pages(mm, 0, 3) == "P.."
    assert vma_at(mm, 0).anon_vma is None
    mm.munmap(B, NR * P)
    mm.mmap(B, 2 * NR * P, RW, ANON)
    mm.read(B)
    mm.write(B + NR * P, 1)
    assert _errno_of(mm, 0, 2 * NR) == 0
    assert pages(mm, 0, 2 * NR) == "P" * 2 * NR
    assert (mm.read(B), mm.read(B + NR * P)) == (0, 1)


def test_collapsed_read_only_anon_block_stays_read_only() -> None:
    """mm/khugepaged.c collapse_huge_page: 6.18 collapses a block without writable PTEs, and
    maybe_pmd_mkwrite makes the huge page writable only in a VM_WRITE VMA (validate_mm checks
    no writable PTE sits in a VMA without VM_WRITE). Checked on live 6.18 (ctypes): written,
    mprotect PROT_READ, collapse 0 with AnonHugePages 2048 kB."""
    mm = ModelMM("reference")
    mm.mmap(B, NR * P, RW, ANON)
    mm.write(B, 1)
    mm.mprotect(B, NR * P, av.PROT_READ)
    assert _errno_of(mm, 0, NR) == 0
    assert pages(mm, 0, NR) == "P" * NR
    first = B >> PAGE_SHIFT
    assert not any(mm.mm.ptes[pfn].writable for pfn in range(first, first + NR))
    validate_mm(mm.mm)
    assert (mm.read(B), touch(mm, 1, write=True)) == (1, "SEGV")


def test_failed_anon_block_ends_the_collapse_walk() -> None:
    """mm/khugepaged.c madvise_collapse: a block without a page table (SCAN_PMD_NONE) is not a
    result the walk goes on after, so the populated block behind it stays small. Checked on
    live 6.18 (ctypes): 1024-page VMA, page 512 written: EINVAL, pages 512..514 'P..'."""
    mm = ModelMM("reference")
    mm.mmap(B, 2 * NR * P, RW, ANON)
    mm.write(B + NR * P, 1)
    assert _errno_of(mm, 0, 2 * NR) == errno.EINVAL
    assert pages(mm, NR, 3) == "P.."


def test_file_collapse_walk_stops_at_a_private_copy_but_not_at_a_marker() -> None:
    """mm/khugepaged.c collapse_pte_mapped_thp + madvise_collapse: a private copy left in the
    table is SCAN_FAIL (the walk stops: the next block stays small); a guard marker is
    SCAN_PTE_NON_PRESENT (the walk goes on: the next block collapses). Checked on live 6.18
    (ctypes): private memfd, page 0 written, page 512 read: EINVAL, 512..514 'P..'; shared
    memfd, pages 0 and 512 written, page 1 guarded: EINVAL, 0..2 '.G.', 512.. all present."""
    mm = ModelMM("reference")
    mm.mmap(B, 2 * NR * P, RW, PRIVATE_FILE, mm.memfd("p", 2 * NR * P))
    mm.write(B, 1)
    mm.read(B + NR * P)
    assert _errno_of(mm, 0, 2 * NR) == errno.EINVAL
    assert pages(mm, NR, 3) == "P.."
    mm = ModelMM("reference")
    mm.mmap(B, 2 * NR * P, RW, SHARED_FILE, mm.memfd("s", 2 * NR * P))
    mm.write(B, 1)
    mm.write(B + NR * P, 2)
    mm.madvise(B + P, P, av.MADV_GUARD_INSTALL)
    assert _errno_of(mm, 0, 2 * NR) == errno.EINVAL
    assert pages(mm, 0, 3) == ".G."
    assert pages(mm, NR, NR) == "P" * NR


def test_collapse_refused_up_front_without_an_anon_vma() -> None:
    """__thp_vma_allowable_orders runs before madvise_collapse looks at any block: a range
    holding no whole block (so nothing to scan) is still EINVAL on an anonymous VMA without an
    anon_vma, and 0 once a write gave it one. Checked on live 6.18: EINVAL, then 0."""
    mm = ModelMM("maybe-guard", "6.18")
    mm.mmap(B, 2 * NR * P, RW, ANON)
    mm.read(B + NR * P)
    assert _errno_of(mm, 0, 10) == errno.EINVAL
    mm.write(B + NR * P, 1)
    assert _errno_of(mm, 0, 10) == 0


def test_collapse_of_a_range_starting_past_a_block_boundary_is_einval() -> None:
    """madvise_collapse counts the whole blocks of [start, end) as (hend - hstart) >> PMD_SHIFT
    in unsigned arithmetic: a range inside one block that does not start at its boundary
    wraps that count, so the call can only fail (EINVAL), even with an anon_vma. Checked on live
    6.18: pages 1..10 of a written VMA give EINVAL, pages 0..9 give 0."""
    mm = ModelMM("reference")
    mm.mmap(B, 2 * NR * P, RW, ANON)
    mm.write(B + NR * P, 1)
    assert _errno_of(mm, 1, 10) == errno.EINVAL
    assert _errno_of(mm, 0, 10) == 0
