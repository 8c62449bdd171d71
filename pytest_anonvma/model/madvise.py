"""madvise(2), guard regions included (mm/madvise.c).

Every function returns 0 or a negative errno, like the kernel. ``do_madvise`` walks the VMAs of
the range (``madvise_walk_vmas``): a hole does not stop the walk but makes the call fail with
ENOMEM after every mapped part was processed; an error from one VMA stops it at once.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from pytest_anonvma.constants import (
    MADV_COLD,
    MADV_COLLAPSE,
    MADV_DOFORK,
    MADV_DONTFORK,
    MADV_DONTNEED,
    MADV_FREE,
    MADV_GUARD_INSTALL,
    MADV_GUARD_REMOVE,
    MADV_KEEPONFORK,
    MADV_NORMAL,
    MADV_PAGEOUT,
    MADV_POPULATE_READ,
    MADV_POPULATE_WRITE,
    MADV_RANDOM,
    MADV_REMOVE,
    MADV_SEQUENTIAL,
    MADV_WILLNEED,
    MADV_WIPEONFORK,
)
from pytest_anonvma.contract import MemoryFault
from pytest_anonvma.model.gup import check_vma_flags
from pytest_anonvma.model.memory import (
    GUARD_MARKER,
    PTE,
    ZERO_PAGE,
    handle_mm_fault,
    pfns_in_range,
    vma_is_anonymous,
    zap_page_range,
)
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    ULONG_MAX,
    VM_DONTCOPY,
    VM_HUGETLB,
    VM_IO,
    VM_LOCKED,
    VM_MAYWRITE,
    VM_PFNMAP,
    VM_RAND_READ,
    VM_SEQ_READ,
    VM_SHARED,
    VM_SPECIAL,
    VM_WIPEONFORK,
    VMA,
    MMStruct,
    page_align,
)

__all__ = [
    "MADVISE_BEHAVIORS",
    "do_madvise",
    "is_valid_guard_vma",
    "madvise_guard_install",
    "madvise_guard_remove",
    "madvise_populate",
    "madvise_walk_vmas",
]


#: madvise_behavior_valid: the advice values the model accepts
MADVISE_BEHAVIORS = frozenset(
    {
        MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE,
        MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_COLD,
        MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_COLLAPSE,
        MADV_GUARD_INSTALL, MADV_GUARD_REMOVE,
    }
)

#: up to three install attempts before the syscall restarts (``MAX_MADVISE_GUARD_RETRIES``)
MAX_MADVISE_GUARD_RETRIES = 3

#: a per-VMA behaviour: (mm, vma, start, end) -> 0 or -errno, may replace the VMA in the tree
VmaBehavior = Callable[[MMStruct, VMA, int, int], int]


# -- guard regions ------------------------------------------------------------------------------


def is_valid_guard_vma(vma: VMA, allow_locked: bool) -> bool:
    """May this VMA hold guard markers (``is_valid_guard_vma``, v6.15+ rules)?

    Both eras here allow file-backed and shmem VMAs (the RFC's base tree already did); install
    refuses mlocked VMAs, remove accepts them.
    """
    disallowed = VM_SPECIAL | VM_HUGETLB
    if not allow_locked:
        disallowed |= VM_LOCKED
    return not vma.vm_flags & disallowed


def _guard_install_walk(mm: MMStruct, start: int, end: int) -> tuple[int, int]:
    """One ``walk_page_range_mm`` with ``guard_install_walk_ops``: (result, nr_pages).

    Empty entries get a marker, existing markers are counted; a present page stops the walk
    with 1 (markers written before it stay), else 0.
    """
    ptes = mm.ptes
    nr_pages = 0
    for pfn in range(start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        entry = ptes.get(pfn)
        if entry is None:
            ptes[pfn] = GUARD_MARKER  # guard_install_set_pte
        elif entry is not GUARD_MARKER:
            return 1, nr_pages
        nr_pages += 1
    return 0, nr_pages


def madvise_guard_install(mm: MMStruct, vma: VMA, start: int, end: int) -> int:
    """``madvise_guard_install``: zap what is present, write markers, then the design's hook.

    The design hook before the walk is where baseline prepares an anon_vma and maybe-guard
    sets VM_MAYBE_GUARD; the one after is where the RFC sets ANON_VMA_UNFAULTED when at least
    one page now holds a marker.
    """
    if not is_valid_guard_vma(vma, allow_locked=False):
        return -errno.EINVAL
    err = mm.design.guard_install_begin(mm, vma)
    if err:
        return err
    nr_pages = 0
    for _ in range(MAX_MADVISE_GUARD_RETRIES):
        err, nr_pages = _guard_install_walk(mm, start, end)
        if err == 0:
            break
        zap_page_range(mm, start, end, zap_guards=False)  # zap_page_range_single
    mm.design.guard_install_end(mm, vma, nr_pages)
    if err > 0:
        return -errno.EINTR  # restart_syscall(): never reached without racing faults
    return 0


def madvise_guard_remove(mm: MMStruct, vma: VMA, start: int, end: int) -> int:
    """``madvise_guard_remove``: clear the markers of the range, then the design's hook."""
    if not is_valid_guard_vma(vma, allow_locked=True):
        return -errno.EINVAL
    ptes = mm.ptes
    for pfn in pfns_in_range(ptes, start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        if ptes[pfn] is GUARD_MARKER:
            del ptes[pfn]
    mm.design.guard_remove_end(mm, vma, start, end)
    return 0


# -- page-table advice --------------------------------------------------------------------------


def madvise_dontneed_free(mm: MMStruct, vma: VMA, start: int, end: int, behavior: int) -> int:
    """``madvise_dontneed_free``: DONTNEED zaps (markers stay); FREE marks anon pages lazy.

    Without memory pressure a lazily freed page keeps its contents until a write makes it
    dirty again; only reclaim (here: MADV_PAGEOUT) discards it. FREE is refused on
    non-anonymous VMAs.
    """
    if vma.vm_flags & (VM_PFNMAP | VM_LOCKED):
        return -errno.EINVAL  # madvise_dontneed_free_valid_vma
    if behavior == MADV_DONTNEED:
        zap_page_range(mm, start, end, zap_guards=False)
        return 0
    if not vma_is_anonymous(vma):
        return -errno.EINVAL  # madvise_free_single_vma
    madvise_free_pte_range(mm, start, end)
    return 0


def madvise_free_pte_range(mm: MMStruct, start: int, end: int) -> None:
    """Make the exclusive anonymous pages of the range clean, lazily freed
    (``madvise_free_pte_range`` with ``folio_mark_lazyfree``); the zero page and pages shared
    with a fork are left alone."""
    ptes = mm.ptes
    for pfn in pfns_in_range(ptes, start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        entry = ptes[pfn]
        if isinstance(entry, PTE) and entry.folio.is_anon and entry.folio.mapcount == 1:
            entry.folio.dirty = False


def can_madv_lru_vma(vma: VMA) -> bool:
    """May COLD/PAGEOUT touch this VMA (``can_madv_lru_vma``)?"""
    return not vma.vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)


def madvise_cold_or_pageout(mm: MMStruct, vma: VMA, start: int, end: int, behavior: int) -> int:
    """``madvise_cold`` / ``madvise_pageout`` on a machine without swap.

    COLD only ages pages. PAGEOUT reclaims what it can without swap among the pages this PTE
    alone maps (``shrink_folio_list``): a page-cache page is unmapped, and dropped from the page
    cache too when clean (only ever read: it reads back as zeros; a dirty shmem page cannot be
    written out and stays cached); a clean (MADV_FREE'd) anonymous page is discarded, the range
    then reads zero. Dirty anonymous pages, the zero page and shared folios stay, and markers
    are never touched.
    """
    if not can_madv_lru_vma(vma):
        return -errno.EINVAL
    if behavior == MADV_COLD:
        return 0
    ptes = mm.ptes
    for pfn in pfns_in_range(ptes, start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        entry = ptes[pfn]
        if not isinstance(entry, PTE):
            continue
        folio = entry.folio
        if (folio.is_anon and folio.dirty) or folio is ZERO_PAGE or folio.mapcount > 1:
            continue
        folio.mapcount -= 1
        del ptes[pfn]
        cache = folio.mapping.folios if folio.mapping is not None else {}
        if not folio.dirty and cache.get(folio.index) is folio:
            del cache[folio.index]
    return 0


def madvise_remove(mm: MMStruct, vma: VMA, start: int, end: int) -> int:
    """``madvise_remove``: punch a hole in the shared file behind the range."""
    from pytest_anonvma.model.shmem import shmem_fallocate_punch_hole

    if vma.vm_flags & VM_LOCKED:
        return -errno.EINVAL
    if vma.vm_file is None:
        return -errno.EINVAL
    if vma.vm_flags & (VM_SHARED | VM_MAYWRITE) != VM_SHARED | VM_MAYWRITE:
        return -errno.EACCES  # vma_is_shared_maywrite
    offset = (start - vma.vm_start) + (vma.vm_pgoff << PAGE_SHIFT)
    shmem_fallocate_punch_hole(vma.vm_file, offset, offset + (end - start))
    return 0


def madvise_collapse(mm: MMStruct, vma: VMA, start: int, end: int) -> int:
    """``madvise_collapse`` (see ``model.khugepaged``)."""
    from pytest_anonvma.model.khugepaged import madvise_collapse as collapse

    return collapse(mm, vma, start, end)


# -- advice that changes vm_flags ---------------------------------------------------------------


def madvise_update_vma(mm: MMStruct, vma: VMA, start: int, end: int, new_flags: int) -> int:
    """``madvise_update_vma``: apply new flags to ``[start, end)`` via ``vma_modify_flags``."""
    from pytest_anonvma.model.mprotect import modify_flags

    if new_flags == vma.vm_flags:
        return 0
    prev = vma if start > vma.vm_start else mm.vma_prev(vma)
    try:
        vma, new_flags = modify_flags(mm, prev, vma, start, end, new_flags)
    except OSError as exc:
        return -(exc.errno or errno.ENOMEM)
    vma.vm_flags = new_flags
    return 0


def _new_flags(vma: VMA, behavior: int) -> int:
    """The flags a flag-changing advice asks for, or -errno (``madvise_vma_behavior``'s switch)."""
    flags = vma.vm_flags
    if behavior == MADV_NORMAL:
        return flags & ~VM_RAND_READ & ~VM_SEQ_READ
    if behavior == MADV_SEQUENTIAL:
        return (flags & ~VM_RAND_READ) | VM_SEQ_READ
    if behavior == MADV_RANDOM:
        return (flags & ~VM_SEQ_READ) | VM_RAND_READ
    if behavior == MADV_DONTFORK:
        return flags | VM_DONTCOPY
    if behavior == MADV_DOFORK:
        return -errno.EINVAL if flags & VM_IO else flags & ~VM_DONTCOPY
    if behavior == MADV_WIPEONFORK:
        if vma.vm_file is not None or flags & VM_SHARED:
            return -errno.EINVAL
        return flags | VM_WIPEONFORK
    assert behavior == MADV_KEEPONFORK
    return flags & ~VM_WIPEONFORK


def madvise_vma_behavior(mm: MMStruct, vma: VMA, start: int, end: int, behavior: int) -> int:
    """Apply one advice to ``[start, end)`` inside ``vma`` (``madvise_vma_behavior``)."""
    if behavior == MADV_GUARD_INSTALL:
        return madvise_guard_install(mm, vma, start, end)
    if behavior == MADV_GUARD_REMOVE:
        return madvise_guard_remove(mm, vma, start, end)
    if behavior in (MADV_DONTNEED, MADV_FREE):
        return madvise_dontneed_free(mm, vma, start, end, behavior)
    if behavior in (MADV_COLD, MADV_PAGEOUT):
        return madvise_cold_or_pageout(mm, vma, start, end, behavior)
    if behavior == MADV_REMOVE:
        return madvise_remove(mm, vma, start, end)
    if behavior == MADV_WILLNEED:
        return 0  # readahead / swapin: nothing visible without swap
    if behavior == MADV_COLLAPSE:
        return madvise_collapse(mm, vma, start, end)
    new_flags = _new_flags(vma, behavior)
    if new_flags < 0:
        return new_flags
    err = madvise_update_vma(mm, vma, start, end, new_flags)
    return -errno.EAGAIN if err == -errno.ENOMEM else err


def madvise_walk_vmas(mm: MMStruct, start: int, end: int, visit: VmaBehavior) -> int:
    """Call ``visit`` on each VMA part of ``[start, end)`` (``madvise_walk_vmas``).

    Holes give ENOMEM at the end, after every mapped part was visited; a visit's error stops
    the walk and is returned as is.
    """
    unmapped_error = 0
    vma = mm.find_vma(start)
    while True:
        if vma is None:
            return -errno.ENOMEM
        if start < vma.vm_start:
            unmapped_error = -errno.ENOMEM
            start = vma.vm_start
            if start >= end:
                break
        part_end = min(vma.vm_end, end)
        err = visit(mm, vma, start, part_end)
        if err:
            return err
        # A visit that merged the range into the next VMA skips what it absorbed.
        survivor = mm.vma_lookup(part_end - 1)
        if survivor is not None and part_end < survivor.vm_end:
            part_end = survivor.vm_end
        if part_end >= end:
            break
        start = part_end
        vma = mm.find_vma(start)
    return unmapped_error


def madvise_populate(mm: MMStruct, start: int, end: int, write: bool) -> int:
    """``madvise_populate``: fault the range in page by page, stopping at the first failure.

    A hole gives ENOMEM, a VMA without the needed permission (or VM_IO/VM_PFNMAP) EINVAL, a
    guard marker or SIGBUS EFAULT; pages before the failure stay populated.
    """
    addr = start
    vma: VMA | None = None
    while addr < end:
        if vma is None or addr >= vma.vm_end:
            vma = mm.vma_lookup(addr)
            if vma is None:
                return -errno.ENOMEM
            if check_vma_flags(vma, write, force=False):
                return -errno.EINVAL
        try:
            handle_mm_fault(mm, addr, write)
        except MemoryFault:
            return -errno.EFAULT
        addr += PAGE_SIZE
    return 0


def do_madvise(mm: MMStruct, start: int, len_in: int, behavior: int) -> int:
    """The madvise syscall (``do_madvise``): argument checks, then populate or the VMA walk."""
    if behavior not in MADVISE_BEHAVIORS:
        return -errno.EINVAL
    if start & (PAGE_SIZE - 1):
        return -errno.EINVAL
    len_in &= ULONG_MAX
    length = page_align(len_in)
    if len_in and not length:
        return -errno.EINVAL
    end = start + length
    if end > ULONG_MAX:
        return -errno.EINVAL
    if end == start:
        return 0
    if behavior in (MADV_POPULATE_READ, MADV_POPULATE_WRITE):
        return madvise_populate(mm, start, end, behavior == MADV_POPULATE_WRITE)

    def visit(mm: MMStruct, vma: VMA, lo: int, hi: int) -> int:
        return madvise_vma_behavior(mm, vma, lo, hi, behavior)

    return madvise_walk_vmas(mm, start, end, visit)
