"""mremap(2) (mm/mremap.c): shrink, expand in place, move (MAYMOVE, FIXED, DONTUNMAP).

Follows the 6.18 structure (``struct vma_remap_struct``): the behaviour is v6.14's for a single
VMA; the 6.18 era adds ``remap_move``, a MREMAP_FIXED move of equal length whose source may span
several VMAs (gaps kept). A move copies the VMA (``copy_vma``, which may merge into a neighbour)
and moves the page tables, guard markers included.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pytest_anonvma.constants import (
    ERA_6_18,
    MAP_FIXED,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
)
from pytest_anonvma.model.gup import mm_populate
from pytest_anonvma.model.memory import drop_entry, pfns_in_range
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_ACCOUNT,
    VM_DONTEXPAND,
    VM_LOCKED,
    VM_LOCKED_MASK,
    VM_MAYSHARE,
    VM_PFNMAP,
    VM_SHARED,
    VMA,
    MMStruct,
    page_align,
)
from pytest_anonvma.model.mmap import TASK_SIZE, get_unmapped_area

__all__ = ["VmaRemap", "do_mremap", "move_page_tables", "move_vma", "vma_expandable"]


@dataclass
class VmaRemap:
    """``struct vma_remap_struct``: one mremap request as it is worked through."""

    mm: MMStruct
    addr: int
    old_len: int
    new_len: int
    flags: int
    new_addr: int
    vma: VMA | None = None
    populate_expand: bool = False

    @property
    def delta(self) -> int:
        """|new_len - old_len| (``vrm_set_delta``)."""
        return abs(self.new_len - self.old_len)

    def implies_new_addr(self) -> bool:
        """FIXED or DONTUNMAP: the result is at a new address (``vrm_implies_new_addr``)."""
        return bool(self.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))

    def move_only(self) -> bool:
        """A fixed move of equal length (``vrm_move_only``)."""
        return bool(self.flags & MREMAP_FIXED) and self.old_len == self.new_len


def _overlaps(vrm: VmaRemap) -> bool:
    """Do source and destination ranges overlap (``vrm_overlaps``)?"""
    return vrm.addr < vrm.new_addr + vrm.new_len and vrm.new_addr < vrm.addr + vrm.old_len


def check_mremap_params(vrm: VmaRemap) -> int:
    """Syscall-level checks before any VMA is looked at (``check_mremap_params``)."""
    if vrm.flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP):
        return -errno.EINVAL
    if vrm.addr & (PAGE_SIZE - 1):
        return -errno.EINVAL
    if not vrm.new_len or vrm.new_len > TASK_SIZE:
        return -errno.EINVAL
    if not vrm.implies_new_addr():
        return 0
    if vrm.new_addr > TASK_SIZE - vrm.new_len or vrm.new_addr & (PAGE_SIZE - 1):
        return -errno.EINVAL
    if not vrm.flags & MREMAP_MAYMOVE:
        return -errno.EINVAL
    if vrm.flags & MREMAP_DONTUNMAP and vrm.old_len != vrm.new_len:
        return -errno.EINVAL
    if _overlaps(vrm):
        return -errno.EINVAL
    return 0


def check_prep_vma(vrm: VmaRemap) -> int:
    """Checks against the source VMA (``check_prep_vma`` / v6.14 ``vma_to_resize``)."""
    vma = vrm.vma
    if vma is None:
        return -errno.EFAULT
    if not vrm.implies_new_addr():
        vrm.new_addr = vrm.addr
    if vrm.new_len <= vrm.old_len and not vrm.implies_new_addr():
        return 0  # shrink or no-op: nothing new gets mapped
    old_len = vrm.old_len
    if not old_len and not vma.vm_flags & (VM_SHARED | VM_MAYSHARE):
        return -errno.EINVAL  # "duplicating" a private mapping
    if vrm.flags & MREMAP_DONTUNMAP and vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        return -errno.EINVAL
    if vrm.new_len < old_len:
        old_len = vrm.new_len  # a shrink may cross VMA ends in the unmapped tail
    if old_len > vma.vm_end - vrm.addr:
        return -errno.EFAULT
    if vrm.new_len == old_len:
        return 0
    if vma.vm_flags & VM_LOCKED:
        vrm.populate_expand = True
    if vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        return -errno.EFAULT
    return 0


def vma_expandable(mm: MMStruct, vma: VMA, delta: int) -> bool:
    """Is ``[vm_end, vm_end + delta)`` free and in range (``vma_expandable``)?"""
    end = vma.vm_end + delta
    found = mm.find_vma(vma.vm_end)
    if found is not None and found.vm_start < end:
        return False
    return get_unmapped_area(mm, None, vma.vm_start, end - vma.vm_start, MAP_FIXED) >= 0


def _set_new_addr(vrm: VmaRemap) -> int:
    """Pick (or check) the destination (``vrm_set_new_addr``); 0 or -errno."""
    vma = vrm.vma
    assert vma is not None
    map_flags = MAP_FIXED if vrm.flags & MREMAP_FIXED else 0
    if vma.vm_flags & VM_MAYSHARE:
        map_flags |= MAP_SHARED
    hint = vrm.new_addr if vrm.implies_new_addr() else 0
    res = get_unmapped_area(vrm.mm, vma.vm_file, hint, vrm.new_len, map_flags)
    if res < 0:
        return res
    vrm.new_addr = res
    return 0


def move_page_tables(mm: MMStruct, old_addr: int, new_addr: int, length: int) -> int:
    """Move the entries of ``[old_addr, old_addr+length)`` to ``new_addr`` (``move_page_tables``).

    Markers move with the pages. Returns the length moved (all of it: the model cannot fail).
    """
    ptes = mm.ptes
    shift = (new_addr - old_addr) >> PAGE_SHIFT
    first = old_addr >> PAGE_SHIFT
    last = first + (length >> PAGE_SHIFT)
    moved = [(pfn, ptes.pop(pfn)) for pfn in pfns_in_range(ptes, first, last)]
    for pfn, entry in moved:
        old = ptes.get(pfn + shift)
        if old is not None:
            drop_entry(old)
        ptes[pfn + shift] = entry
    return length


def _unmap_source(vrm: VmaRemap, vma: VMA, addr: int, length: int, vm_flags: int) -> None:
    """Unmap the moved-from range, keeping VM_ACCOUNT on what remains (``unmap_source_vma``)."""
    from pytest_anonvma.model.vma import do_vmi_munmap

    mm = vrm.mm
    accountable = bool(vm_flags & VM_ACCOUNT) and not vrm.flags & MREMAP_DONTUNMAP
    vm_start, vm_end = vma.vm_start, vma.vm_end
    if accountable:
        vma.vm_flags &= ~VM_ACCOUNT
    if do_vmi_munmap(mm, addr, length):
        return
    if accountable:
        if vm_start < addr:
            prev = mm.vma_prev(addr)
            assert prev is not None
            prev.vm_flags |= VM_ACCOUNT
        if vm_end > addr + length:
            nxt = mm.vma_next(addr + length)
            assert nxt is not None
            nxt.vm_flags |= VM_ACCOUNT


def _dontunmap_complete(vrm: VmaRemap, vma: VMA, new_vma: VMA) -> None:
    """The old VMA stays, unlocked, emptied; its anon_vma links go if all of it moved."""
    from pytest_anonvma.model.rmap import unlink_anon_vmas

    start, end = vrm.addr, vrm.addr + vrm.old_len
    vma.vm_flags &= ~VM_LOCKED_MASK
    if new_vma is not vma and start == vma.vm_start and end == vma.vm_end:
        unlink_anon_vmas(vma)


def vrm_stat_account(vrm: VmaRemap, vma: VMA, nbytes: int) -> None:
    """Charge ``nbytes`` to locked_vm if ``vma`` is VM_LOCKED (``vrm_stat_account``)."""
    if vma.vm_flags & VM_LOCKED:
        vrm.mm.locked_vm += nbytes >> PAGE_SHIFT


def move_vma(vrm: VmaRemap) -> int:
    """Copy the VMA to ``new_addr``, move its page tables, unmap the source (``move_vma``)."""
    from pytest_anonvma.model.vma import copy_vma

    vma = vrm.vma
    assert vma is not None
    mm = vrm.mm
    vm_flags = vma.vm_flags
    new_pgoff = vma.vm_pgoff + ((vrm.addr - vma.vm_start) >> PAGE_SHIFT)
    new_vma = copy_vma(vma, vrm.new_addr, vrm.new_len, new_pgoff)
    if new_vma is None:
        return -errno.ENOMEM
    if new_vma.vm_start <= vrm.addr < new_vma.vm_end:
        vma = new_vma  # copy_vma merged the source into the copy (*vmap = new_vma)
    move_page_tables(mm, vrm.addr, vrm.new_addr, vrm.old_len)
    # a DONTUNMAP move charges locked_vm too: the source keeps its share (dontunmap_complete)
    vrm_stat_account(vrm, vma, vrm.new_len)
    if vrm.flags & MREMAP_DONTUNMAP:
        _dontunmap_complete(vrm, vma, new_vma)
    else:
        _unmap_source(vrm, vma, vrm.addr, vrm.old_len, vm_flags)
    return vrm.new_addr


def shrink_vma(vrm: VmaRemap, final: bool) -> int:
    """Unmap the tail ``[addr + new_len, addr + old_len)`` (``shrink_vma``); 0 or -errno.

    Unless the shrink is the whole operation (``final``), reload the source VMA for the move.
    """
    from pytest_anonvma.model.vma import do_vmi_munmap

    err = int(do_vmi_munmap(vrm.mm, vrm.addr + vrm.new_len, vrm.delta))
    if err or final:
        return err
    vrm.vma = vrm.mm.vma_lookup(vrm.addr)
    return 0 if vrm.vma is not None else -errno.EFAULT


def mremap_to(vrm: VmaRemap) -> int:
    """Move to an explicit or required new address (``mremap_to``); address or -errno."""
    from pytest_anonvma.model.vma import do_vmi_munmap

    mm = vrm.mm
    if vrm.flags & MREMAP_FIXED:
        err = int(do_vmi_munmap(mm, vrm.new_addr, vrm.new_len))
        if err:
            return err
        vrm.vma = mm.vma_lookup(vrm.addr)
        if vrm.vma is None:
            return -errno.EFAULT
    if vrm.new_len < vrm.old_len:
        err = shrink_vma(vrm, final=False)
        if err:
            return err
        vrm.old_len = vrm.new_len
    err = _set_new_addr(vrm)
    if err:
        return err
    return move_vma(vrm)


def expand_vma(vrm: VmaRemap) -> int:
    """Grow in place if the tail is free, else move when allowed (``expand_vma``)."""
    from pytest_anonvma.model.vma import vma_merge_extend

    vma = vrm.vma
    assert vma is not None
    if vma.vm_end - vrm.addr == vrm.old_len and vma_expandable(vrm.mm, vma, vrm.delta):
        merged = vma_merge_extend(vma, vrm.delta)
        if merged is None:
            return -errno.ENOMEM
        vrm.vma = merged
        vrm_stat_account(vrm, merged, vrm.delta)
        return vrm.addr
    if not vrm.flags & MREMAP_MAYMOVE:
        return -errno.ENOMEM
    err = _set_new_addr(vrm)
    if err:
        return err
    return move_vma(vrm)


def mremap_at(vrm: VmaRemap) -> int:
    """Resize without a required new address (``mremap_at``)."""
    if vrm.old_len == vrm.new_len:
        return vrm.addr
    if vrm.old_len > vrm.new_len:
        return shrink_vma(vrm, final=True) or vrm.addr
    return expand_vma(vrm)


def remap_move(vrm: VmaRemap) -> int:
    """6.18: move every VMA of ``[addr, addr + old_len)``, keeping the gaps (``remap_move``).

    ``vma_multi_allowed`` refuses only uffd-armed VMAs and files with their own placement, which
    the model does not have, so every VMA may take part.
    """
    mm = vrm.mm
    start, end = vrm.addr, vrm.addr + vrm.old_len
    target_addr = vrm.new_addr
    res = -errno.EFAULT
    seen_vma = False
    last_end = start
    vma = mm.find_vma(start)
    while vma is not None and vma.vm_start < end:
        addr = max(vma.vm_start, start)
        length = min(end, vma.vm_end) - addr
        if not seen_vma and start < vma.vm_start:
            return -errno.EFAULT
        offset = vma.vm_start - last_end if seen_vma else 0
        last_end = vma.vm_end
        vrm.vma, vrm.addr = vma, addr
        vrm.new_addr = target_addr + offset
        vrm.old_len = vrm.new_len = length
        res_vma = check_prep_vma(vrm)
        if not res_vma:
            res_vma = mremap_to(vrm)
        if res_vma < 0:
            return res_vma
        if not seen_vma:
            res = res_vma
        seen_vma = True
        target_addr = res_vma + vrm.new_len
        # the iterator resumes after the VMA just moved and stops at ``end``: a DONTUNMAP move
        # next to its source merges the two, which is not visited again
        vma = mm.find_vma(last_end) if last_end < end else None
    return res


def do_mremap(
    mm: MMStruct, addr: int, old_len: int, new_len: int, flags: int, new_addr: int
) -> int:
    """The mremap syscall (``do_mremap``); the resulting address or -errno."""
    vrm = VmaRemap(mm, addr, page_align(old_len), page_align(new_len), flags, new_addr)
    res = check_mremap_params(vrm)
    if res:
        return res
    if mm.era == ERA_6_18 and vrm.move_only():
        res = remap_move(vrm)
    else:
        vrm.vma = mm.vma_lookup(vrm.addr)
        res = check_prep_vma(vrm)
        if not res:
            res = mremap_to(vrm) if vrm.implies_new_addr() else mremap_at(vrm)
    if res >= 0 and vrm.populate_expand:
        mm_populate(mm, vrm.new_addr + vrm.old_len, vrm.delta, ignore_errors=True)
    return res
