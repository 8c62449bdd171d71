"""fork: duplicating an address space (kernel/fork.c ``dup_mmap``, memory.c ``copy_page_range``)."""

from __future__ import annotations

from pytest_anonvma.model.memory import copy_page_range as copy_ptes
from pytest_anonvma.model.mm import vma_clear_anon_vma
from pytest_anonvma.model.mm_types import (
    VM_DONTCOPY,
    VM_LOCKED_MASK,
    VM_WIPEONFORK,
    VMA,
    MMStruct,
)

__all__ = ["copy_page_range", "dup_mmap"]


def copy_page_range(dst_mm: MMStruct, dst_vma: VMA, src_vma: VMA) -> int:
    """Copy the page tables only if the design's ``vma_needs_copy`` says so (``copy_page_range``).

    Counts each copy in the parent's ``stats["fork_pagetable_copies"]``. Returns 0.
    """
    src_mm = src_vma.vm_mm
    assert src_mm is not None
    if not src_mm.design.vma_needs_copy(dst_vma, src_vma):
        return 0
    src_mm.stats["fork_pagetable_copies"] += 1
    copy_ptes(dst_mm, dst_vma, src_vma)
    return 0


def dup_mmap(mm: MMStruct, oldmm: MMStruct) -> int:
    """Fill the empty ``mm`` with copies of ``oldmm``'s VMAs (``dup_mmap``); 0 or -errno.

    VM_DONTCOPY VMAs are skipped; VM_WIPEONFORK ones are copied without anon_vma or page
    tables; the others get ``anon_vma_fork`` and, per ``vma_needs_copy``, their page tables.
    Children never inherit mlock.
    """
    from pytest_anonvma.model.rmap import anon_vma_fork
    from pytest_anonvma.model.vma import vm_area_dup

    for mpnt in list(oldmm):
        if mpnt.vm_flags & VM_DONTCOPY:
            continue
        tmp = vm_area_dup(mpnt)
        tmp.vm_mm = mm
        if tmp.vm_flags & VM_WIPEONFORK:
            vma_clear_anon_vma(tmp)  # a clean slate, flag bits included
        else:
            err = anon_vma_fork(tmp, mpnt)
            if err:
                return err
        tmp.vm_flags &= ~VM_LOCKED_MASK
        mm.link(tmp)
        if tmp.vm_file is not None:
            tmp.vm_file.mappers.add(mm)
        if not tmp.vm_flags & VM_WIPEONFORK:
            copy_page_range(mm, tmp, mpnt)
    return 0
