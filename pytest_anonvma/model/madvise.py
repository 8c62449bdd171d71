"""madvise(2), guard regions included (mm/madvise.c).

Every function returns 0 or a negative errno, like the kernel. The ``*_steps`` functions are the
operations as atomic steps between lock points (:mod:`pytest_anonvma.model.stepping`); the
syscall is :func:`do_madvise`, the same steps run to the end. ``do_madvise`` walks the VMAs of
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
    handle_mm_fault_steps,
    pfns_in_range,
    zap_page_range,
)
from pytest_anonvma.model.mm import vma_is_anonymous
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
from pytest_anonvma.model.stepping import (
    MMAP_WRITE,
    LockStep,
    Steps,
    page_tables,
    run_steps,
    table_spans,
)

__all__ = [
    "MADVISE_BEHAVIORS",
    "MMAP_WRITE_ADVICE",
    "do_madvise",
    "do_madvise_steps",
    "is_valid_guard_vma",
    "madvise_guard_install_steps",
    "madvise_guard_remove_steps",
    "madvise_populate_steps",
    "madvise_vma_behavior",
    "madvise_vma_behavior_steps",
    "madvise_walk_vmas_steps",
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

#: ``-ERESTARTNOINTR``: the kernel-internal errno that makes a syscall restart transparently
ERESTARTNOINTR = 513

#: a per-VMA behaviour, stepped: (mm, vma, start, end) -> 0 or -errno; may replace the VMA
VmaBehaviorSteps = Callable[[MMStruct, VMA, int, int], "Steps[int]"]


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
    """One page table's part of ``walk_page_range_mm`` with ``guard_install_walk_ops``:
    (result, nr_pages).

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


def madvise_guard_install_steps(mm: MMStruct, vma: VMA, start: int, end: int) -> Steps[int]:
    """``madvise_guard_install``: the design's hook, the walk (one step per page table, up to
    :data:`MAX_MADVISE_GUARD_RETRIES` attempts, each raced one zapped), the design's hook.

    The hook before the walk is where baseline prepares an anon_vma and maybe-guard sets
    VM_MAYBE_GUARD; the one after is where the RFC sets ANON_VMA_UNFAULTED when at least one page
    now holds a marker. Attempts all raced by faults return ``-ERESTARTNOINTR``: the syscall
    restarts (``restart_syscall``).
    """
    if not is_valid_guard_vma(vma, allow_locked=False):
        return -errno.EINVAL
    first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
    design = mm.design
    yield LockStep(f"madvise_guard_install: before the walk ({design.install_begin_does})",
                   "mm->page_table_lock", words=True)
    err = design.guard_install_begin(mm, vma)
    if err:
        return err
    nr_pages = 0
    for attempt in range(1, MAX_MADVISE_GUARD_RETRIES + 1):
        nr_pages = 0
        for lo, hi in table_spans(first, last):
            yield LockStep(f"madvise_guard_install: walk, attempt {attempt}", "PTL",
                           tables=page_tables(lo, hi), pages=(lo, hi), adds_markers=True)
            err, walked = _guard_install_walk(mm, lo << PAGE_SHIFT, hi << PAGE_SHIFT)
            nr_pages += walked
            if err:
                break
        if err == 0:
            break
        yield LockStep("madvise_guard_install: zap_page_range_single (raced by a fault)", "PTL",
                       tables=page_tables(first, last), pages=(first, last))
        zap_page_range(mm, start, end, zap_guards=False)
    yield LockStep(f"madvise_guard_install: after the walk ({design.install_end_does})",
                   "mm->page_table_lock", words=True)
    design.guard_install_end(mm, vma, nr_pages)
    if err > 0:
        return -ERESTARTNOINTR
    return 0


def madvise_guard_remove_steps(mm: MMStruct, vma: VMA, start: int, end: int) -> Steps[int]:
    """``madvise_guard_remove``: the design's hook, the walk clearing the range's markers (one
    step per page table), the design's hook (where the RFC clears the flag of a whole VMA)."""
    if not is_valid_guard_vma(vma, allow_locked=True):
        return -errno.EINVAL
    first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
    design = mm.design
    yield LockStep(f"madvise_guard_remove: before the walk ({design.remove_begin_does})",
                   "mm->page_table_lock", words=True)
    ticket = design.guard_remove_begin(mm, vma)
    ptes = mm.ptes
    for lo, hi in table_spans(first, last):
        yield LockStep("madvise_guard_remove: walk", "PTL", tables=page_tables(lo, hi),
                       pages=(lo, hi), drops_markers=True)
        for pfn in pfns_in_range(ptes, lo, hi):
            if ptes[pfn] is GUARD_MARKER:
                del ptes[pfn]
    yield LockStep(f"madvise_guard_remove: after the walk ({design.remove_end_does})",
                   "mm->page_table_lock", words=True)
    design.guard_remove_end(mm, vma, start, end, ticket)
    return 0


# -- page-table advice --------------------------------------------------------------------------


def madvise_dontneed_free_steps(
    mm: MMStruct, vma: VMA, start: int, end: int, behavior: int
) -> Steps[int]:
    """``madvise_dontneed_free``: DONTNEED zaps (markers stay); FREE marks anon pages lazy; one
    step per page table (``zap_pte_range`` / ``madvise_free_pte_range`` under its PTL).

    Without memory pressure a lazily freed page keeps its contents until a write makes it
    dirty again; only reclaim (here: MADV_PAGEOUT) discards it. FREE is refused on
    non-anonymous VMAs.
    """
    if vma.vm_flags & (VM_PFNMAP | VM_LOCKED):
        return -errno.EINVAL  # madvise_dontneed_free_valid_vma
    dontneed = behavior == MADV_DONTNEED
    if not dontneed and not vma_is_anonymous(vma):
        return -errno.EINVAL  # madvise_free_single_vma
    what = "zap_pte_range (MADV_DONTNEED)" if dontneed else "madvise_free_pte_range"
    for lo, hi in table_spans(start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        yield LockStep(what, "PTL", tables=page_tables(lo, hi), pages=(lo, hi))
        if dontneed:
            zap_page_range(mm, lo << PAGE_SHIFT, hi << PAGE_SHIFT, zap_guards=False)
        else:
            madvise_free_pte_range(mm, lo << PAGE_SHIFT, hi << PAGE_SHIFT)
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


def _other_advice_steps(mm: MMStruct, vma: VMA, start: int, end: int, behavior: int) -> Steps[int]:
    """The page-table advice taken as one step under the range's PTLs: COLD, PAGEOUT, REMOVE
    (a hole punch, which also unmaps the file range from other mappings) and WILLNEED."""
    first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
    file = vma.vm_file.name if vma.vm_file is not None else None
    yield LockStep(f"madvise advice {behavior}", "PTL", tables=page_tables(first, last),
                   pages=(first, last), file=file)
    if behavior in (MADV_COLD, MADV_PAGEOUT):
        return madvise_cold_or_pageout(mm, vma, start, end, behavior)
    if behavior == MADV_REMOVE:
        return madvise_remove(mm, vma, start, end)
    return 0  # MADV_WILLNEED: readahead / swapin: nothing visible without swap


def madvise_vma_behavior_steps(
    mm: MMStruct, vma: VMA, start: int, end: int, behavior: int
) -> Steps[int]:
    """Apply one advice to ``[start, end)`` inside ``vma`` (``madvise_vma_behavior``)."""
    from pytest_anonvma.model.khugepaged import madvise_collapse_steps

    if behavior == MADV_GUARD_INSTALL:
        return (yield from madvise_guard_install_steps(mm, vma, start, end))
    if behavior == MADV_GUARD_REMOVE:
        return (yield from madvise_guard_remove_steps(mm, vma, start, end))
    if behavior in (MADV_DONTNEED, MADV_FREE):
        return (yield from madvise_dontneed_free_steps(mm, vma, start, end, behavior))
    if behavior in (MADV_COLD, MADV_PAGEOUT, MADV_REMOVE, MADV_WILLNEED):
        return (yield from _other_advice_steps(mm, vma, start, end, behavior))
    if behavior == MADV_COLLAPSE:
        return (yield from madvise_collapse_steps(mm, vma, start, end))
    new_flags = _new_flags(vma, behavior)
    if new_flags < 0:
        return new_flags
    err = madvise_update_vma(mm, vma, start, end, new_flags)
    return -errno.EAGAIN if err == -errno.ENOMEM else err


def madvise_vma_behavior(mm: MMStruct, vma: VMA, start: int, end: int, behavior: int) -> int:
    """:func:`madvise_vma_behavior_steps` run to its end."""
    return run_steps(madvise_vma_behavior_steps(mm, vma, start, end, behavior))


def madvise_walk_vmas_steps(
    mm: MMStruct, start: int, end: int, visit: VmaBehaviorSteps
) -> Steps[int]:
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
        err = yield from visit(mm, vma, start, part_end)
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


def madvise_populate_steps(mm: MMStruct, start: int, end: int, write: bool) -> Steps[int]:
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
            yield from handle_mm_fault_steps(mm, addr, write)
        except MemoryFault:
            return -errno.EFAULT
        addr += PAGE_SIZE
    return 0


#: advice that changes vm_flags, taken under the exclusive mmap_lock (``madvise_need_mmap_write``)
MMAP_WRITE_ADVICE = frozenset(
    {MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK,
     MADV_KEEPONFORK}
)


def do_madvise_steps(mm: MMStruct, start: int, len_in: int, behavior: int) -> Steps[int]:
    """The madvise syscall (``do_madvise``): argument checks, ``mmap_lock``, then populate or
    the VMA walk; a guard install all of whose attempts were raced restarts the syscall."""
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
    if behavior in MMAP_WRITE_ADVICE:
        yield LockStep(f"madvise advice {behavior}", "mmap_lock (write)", MMAP_WRITE)
        return run_steps(_madvise_locked(mm, start, end, behavior))
    while True:
        yield LockStep("madvise: mmap_read_lock, find_vma", "mmap_lock (read)")
        err = yield from _madvise_locked(mm, start, end, behavior)
        if err != -ERESTARTNOINTR:
            return err


def _madvise_locked(mm: MMStruct, start: int, end: int, behavior: int) -> Steps[int]:
    """The part of ``do_madvise`` under ``mmap_lock``: populate, or the walk of the VMAs."""
    if behavior in (MADV_POPULATE_READ, MADV_POPULATE_WRITE):
        return (yield from madvise_populate_steps(mm, start, end,
                                                  behavior == MADV_POPULATE_WRITE))

    def visit(mm: MMStruct, vma: VMA, lo: int, hi: int) -> Steps[int]:
        return madvise_vma_behavior_steps(mm, vma, lo, hi, behavior)

    return (yield from madvise_walk_vmas_steps(mm, start, end, visit))


def do_madvise(mm: MMStruct, start: int, len_in: int, behavior: int) -> int:
    """:func:`do_madvise_steps` run to its end: the single-threaded syscall."""
    return run_steps(do_madvise_steps(mm, start, len_in, behavior))
