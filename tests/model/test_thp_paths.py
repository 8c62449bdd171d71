"""Paths of khugepaged (MADV_COLLAPSE, retraction), gup (populate) and validate_mm that only a
direct test reaches: flags the contract cannot set, return values, and corrupted mm states.

Expected values come from the kernel sources named in each docstring. The MADV_COLLAPSE
outcomes were also reproduced on the live 6.18 kernel with a ctypes script in this process (the
``live`` implementation lacks the ``thp`` capability); each such test says so.
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import ANON, RW, B, P, pages, touch, vma_at

import pytest_anonvma as av
from pytest_anonvma.model.debug import validate_mm
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.gup import check_vma_flags, mm_populate, populate_vma_page_range
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
    VM_LOCKED,
    VM_LOCKONFAULT,
    VM_MAYREAD,
    VM_NOHUGEPAGE,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_UFFD_WP,
    VM_WRITE,
    VMA,
    MMStruct,
)
from pytest_anonvma.model.rmap import AnonVMA

SHARED = av.MAP_SHARED | av.MAP_FIXED
PRIVATE_FILE = av.MAP_PRIVATE | av.MAP_FIXED
NR = HPAGE_PMD_NR
#: x86-64 TASK_SIZE_MAX (arch/x86/include/asm/page_64_types.h): 2^47 minus one page
TASK_SIZE = (1 << 47) - P


def _vma_of(mm: ModelMM, page: int) -> VMA:
    vma = mm.mm.vma_lookup(B + page * P)
    assert vma is not None
    return vma


def _two_faulted_vmas() -> ModelMM:
    """Pages 0..1 and 8..9 of the arena: two VMAs, each written, so each has its anon_vma."""
    mm = ModelMM("reference")
    for first in (0, 8):
        mm.mmap(B + first * P, 2 * P, RW, ANON)
        mm.write(B + first * P, 1)
    return mm


# -- validate_mm (mm/debug.c): each check fires on the corruption it names ---------------------


def test_validate_mm_rejects_a_vma_ending_past_task_size() -> None:
    """mm/debug.c validate_mm: every VMA lies below TASK_SIZE (x86-64: 2^47 - 4096), so one
    ending at 2^47 is a bad range while one ending at TASK_SIZE is fine."""
    mm = ModelMM("reference")
    mm.mmap(TASK_SIZE - P, P, RW, ANON)
    validate_mm(mm.mm)
    mm.mm.mm_mt[0].vm_end = TASK_SIZE + P
    with pytest.raises(AssertionError, match="bad range"):
        validate_mm(mm.mm)


def test_validate_mm_accepts_a_vma_at_address_zero() -> None:
    """mm/debug.c validate_mm: page 0 is a valid VMA start (mmap_min_addr is a policy, and with
    vm.mmap_min_addr = 0 a privileged process may map it); the tree check starts from 0."""
    mm = ModelMM("reference")
    mm.mmap(B, P, RW, ANON)
    vma = mm.mm.mm_mt[0]
    mm.mm.unlink(vma)
    vma.vm_start, vma.vm_end, vma.vm_pgoff = 0, P, 0
    mm.mm.link(vma)
    validate_mm(mm.mm)


def test_validate_mm_rejects_a_word_naming_another_vmas_anon_vma() -> None:
    """mm/rmap.c anon_vma_prepare/anon_vma_chain_link: a VMA's own anon_vma is always on its
    chain; pointing the word at another VMA's anon_vma breaks that."""
    mm = _two_faulted_vmas()
    first, second = mm.mm.mm_mt[0], mm.mm.mm_mt[1]
    assert first.anon_vma != second.anon_vma
    first.anon_vma = second.anon_vma
    with pytest.raises(AssertionError, match="no chain link to its own anon_vma"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_a_chain_link_of_another_vma() -> None:
    """mm/rmap.c anon_vma_chain_link: each anon_vma_chain on a VMA's list points back at it."""
    mm = _two_faulted_vmas()
    mm.mm.mm_mt[0].anon_vma_chain[0].vma = mm.mm.mm_mt[1]
    with pytest.raises(AssertionError, match="belongs to another VMA"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_a_chain_link_missing_from_the_interval_tree() -> None:
    """mm/rmap.c anon_vma_chain_link: a chain link is also in its anon_vma's interval tree."""
    mm = _two_faulted_vmas()
    avc = mm.mm.mm_mt[0].anon_vma_chain[0]
    del avc.anon_vma.rb_root[avc]
    with pytest.raises(AssertionError, match="missing from its anon_vma's tree"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_an_unknown_page_table_entry() -> None:
    """A page-table slot holds a present PTE or a marker, nothing else (mm/memory.c)."""
    mm = _two_faulted_vmas()
    mm.mm.ptes[(B >> PAGE_SHIFT) + 1] = object()
    with pytest.raises(AssertionError, match="unknown page-table entry"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_an_anonymous_page_in_a_shared_mapping() -> None:
    """mm/memory.c do_shared_fault: a MAP_SHARED mapping maps page-cache pages only, never an
    anonymous (COW) page."""
    mm = _two_faulted_vmas()
    mm.mm.mm_mt[0].vm_flags |= VM_SHARED
    with pytest.raises(AssertionError, match=r"anonymous page at .* in a shared mapping"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_a_writable_pte_on_a_cow_shared_page() -> None:
    """mm/memory.c copy_present_pte: fork write-protects a private page in both mms, so a
    writable PTE may only map a page with a single mapping."""
    mm = _two_faulted_vmas()
    child = mm.fork()
    family = [mm.mm, child.mm]
    validate_mm(mm.mm, family)
    mm.mm.ptes[B >> PAGE_SHIFT].writable = True
    with pytest.raises(AssertionError, match="maps a page shared copy-on-write"):
        validate_mm(mm.mm, family)


def test_validate_mm_rejects_a_file_page_at_the_wrong_offset() -> None:
    """mm/memory.c __do_fault: the page at address A of a file VMA is page
    vm_pgoff + (A - vm_start) / PAGE_SIZE of its file; swapping two PTEs breaks it."""
    mm = ModelMM("reference")
    mm.mmap(B, 2 * P, RW, SHARED, mm.memfd("f", 2 * P))
    mm.write(B, 1)
    mm.write(B + P, 2)
    ptes, first = mm.mm.ptes, B >> PAGE_SHIFT
    ptes[first], ptes[first + 1] = ptes[first + 1], ptes[first]
    with pytest.raises(AssertionError, match="is not page 0 of the VMA's file"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_an_anon_vma_nobody_counted() -> None:
    """mm/rmap.c anon_vma_alloc/anon_vma_free: every anon_vma in the slab was counted live."""
    mm = _two_faulted_vmas()
    mm.mm.kernel.register(AnonVMA())
    with pytest.raises(AssertionError, match="3 anon_vmas registered, 2 counted live"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_chain_allocations_without_live_links() -> None:
    """mm/rmap.c anon_vma_chain_alloc/free: allocations minus frees are the live chain links."""
    mm = _two_faulted_vmas()
    mm.mm.stats["avc_allocs"] += 1
    with pytest.raises(AssertionError, match="anon_vma_chain allocs - frees != live"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_live_links_on_no_vma() -> None:
    """mm/rmap.c: each live anon_vma_chain sits on one VMA's chain."""
    mm = _two_faulted_vmas()
    mm.mm.stats["avc_allocs"] += 1
    mm.mm.kernel.live_avcs += 1
    with pytest.raises(AssertionError, match="2 chain links on VMAs, 3 counted live"):
        validate_mm(mm.mm)


# -- gup: check_vma_flags, populate_vma_page_range, __mm_populate (mm/gup.c) --------------------


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


# -- khugepaged (mm/khugepaged.c, mm/huge_memory.c) --------------------------------------------


def _memfd_mm(pages_in_file: int, prot: int = RW) -> ModelMM:
    """A 2 MiB shared memfd mapping at the (2 MiB aligned) arena start."""
    mm = ModelMM("reference")
    mm.mmap(B, NR * P, prot, SHARED, mm.memfd("f", pages_in_file * P))
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
    mm.mmap(B, 2 * NR * P, RW, SHARED, mm.memfd("f", 100 * P))
    mm.write(B, 9)
    assert _errno_of(mm, NR, NR) == errno.EINVAL
    assert pages(mm, NR, 3) == "..."
    assert sorted(_vma_of(mm, 0).vm_file.folios) == [0]


def test_collapse_of_zero_page_block_needs_an_anon_vma() -> None:
    """mm/khugepaged.c collapse_huge_page -> hugepage_vma_revalidate: an anonymous VMA without
    an anon_vma (only read faults, so only zero-page entries) is SCAN_PAGE_ANON (EINVAL) and
    gets none; with an anon_vma from a write elsewhere in the VMA the zero-page block
    collapses. Checked on live 6.18 (ctypes): EINVAL, 'P..'; then 0 with both blocks present."""
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
    mm.mmap(B, 2 * NR * P, RW, SHARED, mm.memfd("s", 2 * NR * P))
    mm.write(B, 1)
    mm.write(B + NR * P, 2)
    mm.madvise(B + P, P, av.MADV_GUARD_INSTALL)
    assert _errno_of(mm, 0, 2 * NR) == errno.EINVAL
    assert pages(mm, 0, 3) == ".G."
    assert pages(mm, NR, NR) == "P" * NR
