"""THP collapse and page-table retraction (mm/khugepaged.c).

``retract_page_tables`` frees the PTE table of every VMA mapping a file range that was just
collapsed into a huge page, skipping VMAs that may hold page-table state the file cannot
restore: the design decides which (``Design.retract_allowed``). A retracted table loses
whatever it held, guard markers included.
"""

from __future__ import annotations

import errno

from pytest_anonvma.model.memory import (
    GUARD_MARKER,
    PTE,
    Folio,
    pfns_in_range,
    zap_page_range,
)
from pytest_anonvma.model.mm import vma_anon_vma, vma_is_anonymous
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    VM_HUGETLB,
    VM_NOHUGEPAGE,
    VM_SHARED,
    VM_SPECIAL,
    VM_UFFD_WP,
    VM_WRITE,
    VMA,
    MMStruct,
)
from pytest_anonvma.model.shmem import ShmemFile
from pytest_anonvma.model.stepping import (
    MMAP_NONE,
    MMAP_WRITE,
    LockStep,
    Steps,
    page_tables,
    run_steps,
)

__all__ = [
    "HPAGE_PMD_NR",
    "HPAGE_PMD_SIZE",
    "file_backed_vma_is_retractable",
    "madvise_collapse",
    "madvise_collapse_steps",
    "retract_page_tables_steps",
    "retractable",
]

HPAGE_PMD_NR = 512
HPAGE_PMD_SIZE = HPAGE_PMD_NR << PAGE_SHIFT


def file_backed_vma_is_retractable(vma: VMA) -> bool:
    """No uffd-wp and the design's anon_vma / flag test (``file_backed_vma_is_retractable``)."""
    if vma.vm_flags & VM_UFFD_WP:
        return False
    assert vma.vm_mm is not None
    return vma.vm_mm.design.retract_allowed(vma)


def _pmd_addr(vma: VMA, pgoff: int) -> int | None:
    """Where file page ``pgoff`` would start a PMD-mapped huge page in ``vma``, if it fits."""
    addr = vma.vm_start + ((pgoff - vma.vm_pgoff) << PAGE_SHIFT)
    if addr % HPAGE_PMD_SIZE or addr < vma.vm_start or vma.vm_end < addr + HPAGE_PMD_SIZE:
        return None
    return addr


def retractable(mm: MMStruct, addr: int) -> bool:
    """Would ``retract_page_tables`` free the page table covering ``addr``?

    Only for a file VMA containing the whole 2 MiB block around ``addr`` with the file offset
    aligned like the address (so a collapsed file huge page could be PMD-mapped there).
    """
    vma = mm.vma_lookup(addr)
    if vma is None or vma.vm_file is None:
        return False
    haddr = addr & ~(HPAGE_PMD_SIZE - 1)
    pgoff = vma.vm_pgoff + ((haddr - vma.vm_start) >> PAGE_SHIFT)
    if haddr < vma.vm_start or pgoff % HPAGE_PMD_NR or _pmd_addr(vma, pgoff) is None:
        return False
    return file_backed_vma_is_retractable(vma)


def retract_page_tables_steps(file: ShmemFile, pgoff: int) -> Steps[None]:
    """Free the page tables mapping ``[pgoff, pgoff + 512)`` of ``file`` wherever allowed: one
    step per mapping VMA, under the i_mmap lock and the table's PMD lock and PTL, where the
    design's test (``file_backed_vma_is_retractable``) is asked again under the locks."""
    for mm in list(file.mappers):
        for vma in list(mm):
            if vma.vm_file is not file:
                continue
            addr = _pmd_addr(vma, pgoff)
            if addr is None:
                continue
            first = addr >> PAGE_SHIFT
            yield LockStep(
                f"retract_page_tables: free the table if retractable ({mm.design.retract_checks})",
                "i_mmap_rwsem (read) + PMD lock + PTL", MMAP_NONE,
                tables=page_tables(first, first + HPAGE_PMD_NR), words=True, file=file.name,
                pages=(first, first + HPAGE_PMD_NR))
            if file_backed_vma_is_retractable(vma):
                zap_page_range(mm, addr, addr + HPAGE_PMD_SIZE, zap_guards=True)


def thp_vma_allowable(vma: VMA) -> bool:
    """Could this VMA hold a PMD-mapped huge page at all (``thp_vma_allowable_order``, forced)?"""
    if vma.vm_flags & (VM_SPECIAL | VM_HUGETLB | VM_NOHUGEPAGE):
        return False
    last = vma.vm_end - HPAGE_PMD_SIZE
    haddr = last & ~(HPAGE_PMD_SIZE - 1)
    if haddr < vma.vm_start:
        return False
    if vma.vm_file is None:
        # __thp_vma_allowable_orders: an anonymous VMA that never got a real anon_vma is
        # refused outside smaps and the page fault (the RFC's flag-only word is no anon_vma)
        return vma_anon_vma(vma) is not None
    return (vma.vm_pgoff - (vma.vm_start >> PAGE_SHIFT)) % HPAGE_PMD_NR == 0


#: ``enum scan_result`` values the model produces (mm/khugepaged.c)
SCAN_SUCCEED = "succeed"
SCAN_FAIL = "fail"
SCAN_PMD_NONE = "pmd_none"
SCAN_PTE_NON_PRESENT = "pte_non_present"
SCAN_TRUNCATED = "truncated"
#: failures after which ``madvise_collapse`` goes on to the next block; any other stops it
SCAN_CONTINUE = frozenset({SCAN_PTE_NON_PRESENT})


def _collapse_anon(mm: MMStruct, vma: VMA, haddr: int) -> str:
    """``hpage_collapse_scan_pmd`` + ``collapse_huge_page``: copy the block into fresh pages.

    Zero-page and empty entries count as none (any number of them for MADV_COLLAPSE); a guard
    marker fails the swap-in of non-present entries.
    """
    first = haddr >> PAGE_SHIFT
    present = pfns_in_range(mm.ptes, first, first + HPAGE_PMD_NR)
    entries = [mm.ptes[pfn] for pfn in present]
    if not entries:
        return SCAN_PMD_NONE  # find_pmd_or_thp_or_none (the model keeps no empty tables)
    if GUARD_MARKER in entries:
        return SCAN_FAIL  # __collapse_huge_page_swapin: the marker's fault fails
    writable = bool(vma.vm_flags & VM_WRITE)  # maybe_pmd_mkwrite
    for pfn in range(first, first + HPAGE_PMD_NR):
        old = mm.ptes.get(pfn)
        data = bytearray(old.folio.data) if isinstance(old, PTE) else None
        if isinstance(old, PTE):
            old.folio.mapcount -= 1
        folio = Folio(data, is_anon=True)
        folio.mapcount = 1
        mm.ptes[pfn] = PTE(folio, writable)
    return SCAN_SUCCEED


def _collapse_file(mm: MMStruct, vma: VMA, haddr: int) -> Steps[str]:
    """``collapse_file`` + ``retract_page_tables`` + ``collapse_pte_mapped_thp`` for shmem.

    The new huge page covers the whole block: holes, past EOF too, become zeroed pages of it.
    ``madvise_collapse`` drops ``mmap_lock`` around the first two and takes it again for the
    third.
    """
    file = vma.vm_file
    assert isinstance(file, ShmemFile)
    pgoff = vma.vm_pgoff + ((haddr - vma.vm_start) >> PAGE_SHIFT)
    first = haddr >> PAGE_SHIFT
    tables = page_tables(first, first + HPAGE_PMD_NR)
    yield LockStep("collapse_file: unmap the small pages, fill the huge page",
                   "page cache lock + PTL", MMAP_NONE, tables=tables, file=file.name,
                   pages=(first, first + HPAGE_PMD_NR))
    block = range(pgoff, pgoff + HPAGE_PMD_NR)
    if not any(index in file.folios for index in block):
        return SCAN_TRUNCATED  # collapse_file: the extent is one hole
    # The small pages leave every mapping (try_to_unmap); private copies and markers stay.
    for other in list(file.mappers):
        for ovma in list(other):
            oaddr = _pmd_addr(ovma, pgoff) if ovma.vm_file is file else None
            if oaddr is not None:
                zap_page_range(
                    other, oaddr, oaddr + HPAGE_PMD_SIZE, zap_guards=False, even_cows=False
                )
    for index in block:
        if index not in file.folios:
            file.folios[index] = Folio(is_anon=False, mapping=file, index=index)
    yield from retract_page_tables_steps(file, pgoff)
    yield LockStep("collapse_pte_mapped_thp: map the huge page", "mmap_lock (read) + PTL",
                   tables=tables, pages=(first, first + HPAGE_PMD_NR))
    # collapse_pte_mapped_thp: a table still holding entries cannot take the PMD mapping.
    left = next(pfns_in_range(mm.ptes, first, first + HPAGE_PMD_NR), None)
    if left is not None:
        return SCAN_PTE_NON_PRESENT if mm.ptes[left] is GUARD_MARKER else SCAN_FAIL
    for index, pfn in enumerate(range(first, first + HPAGE_PMD_NR), start=pgoff):
        folio = file.folios[index]
        folio.mapcount += 1
        mm.ptes[pfn] = PTE(folio, bool(vma.vm_flags & VM_SHARED and vma.vm_flags & VM_WRITE))
    return SCAN_SUCCEED


def madvise_collapse_steps(mm: MMStruct, vma: VMA, start: int, end: int) -> Steps[int]:
    """``madvise_collapse``: collapse every whole aligned 2 MiB block of the range; 0 or -errno.

    A block failing other than by a non-present entry ends the walk: later blocks stay as
    they are. An anonymous block is one step under the exclusive ``mmap_lock``
    (``collapse_huge_page``); a file block is the steps of :func:`_collapse_file`.
    """
    if not thp_vma_allowable(vma):
        return -errno.EINVAL
    hstart = (start + HPAGE_PMD_SIZE - 1) & ~(HPAGE_PMD_SIZE - 1)
    hend = end & ~(HPAGE_PMD_SIZE - 1)
    if hstart > hend:
        # a range inside one block that starts past its boundary: the kernel's count of
        # blocks wraps (unsigned) and can never be met
        return -errno.EINVAL
    failed = False
    for haddr in range(hstart, hend, HPAGE_PMD_SIZE):
        if vma_is_anonymous(vma):
            yield LockStep("collapse_huge_page", "mmap_lock (write)", MMAP_WRITE)
            result = _collapse_anon(mm, vma, haddr)
        else:
            result = yield from _collapse_file(mm, vma, haddr)
        if result == SCAN_SUCCEED:
            continue
        failed = True
        if result not in SCAN_CONTINUE:
            break
    return -errno.EINVAL if failed else 0


def madvise_collapse(mm: MMStruct, vma: VMA, start: int, end: int) -> int:
    """:func:`madvise_collapse_steps` run to its end."""
    return run_steps(madvise_collapse_steps(mm, vma, start, end))
