"""Faulting pages in on behalf of the kernel: populate and its checks (mm/gup.c)."""

from __future__ import annotations

import errno

from pytest_anonvma.contract import MemoryFault
from pytest_anonvma.model.memory import handle_mm_fault
from pytest_anonvma.model.mm_types import (
    PAGE_SIZE,
    VM_ACCESS_FLAGS,
    VM_IO,
    VM_LOCKONFAULT,
    VM_MAYREAD,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    VMA,
    MMStruct,
)

__all__ = ["check_vma_flags", "mm_populate", "populate_vma_page_range"]


def check_vma_flags(vma: VMA, write: bool, force: bool) -> int:
    """May GUP touch this VMA for this access (``check_vma_flags``)? 0 or -EFAULT."""
    flags = vma.vm_flags
    if flags & (VM_IO | VM_PFNMAP):
        return -errno.EFAULT
    if write:
        if not flags & VM_WRITE and not force:
            return -errno.EFAULT
    elif not flags & VM_READ and (not force or not flags & VM_MAYREAD):
        return -errno.EFAULT
    return 0


def populate_vma_page_range(mm: MMStruct, vma: VMA, start: int, end: int) -> int:
    """Fault ``[start, end)`` of ``vma`` in (``populate_vma_page_range``).

    Writable private mappings take write faults (breaking COW), others read faults. Returns the
    number of pages faulted in before a failure, or -EFAULT when the first one fails.
    """
    if vma.vm_flags & VM_LOCKONFAULT:
        return (end - start) // PAGE_SIZE
    if not vma.vm_flags & VM_ACCESS_FLAGS:
        return -errno.EFAULT  # we've never faulted in PROT_NONE pages
    write = vma.vm_flags & (VM_WRITE | VM_SHARED) == VM_WRITE
    done = 0
    for addr in range(start, end, PAGE_SIZE):
        try:
            handle_mm_fault(mm, addr, write)
        except MemoryFault:
            return done if done else -errno.EFAULT
        done += 1
    return done


def mm_populate(mm: MMStruct, start: int, length: int, ignore_errors: bool) -> int:
    """Fault in every VMA part of the range (``__mm_populate``); 0 or the first error.

    With ``ignore_errors`` (MAP_POPULATE) a failing VMA is skipped; mlock stops at it.
    """
    end = start + length
    nstart = start
    while nstart < end:
        vma = mm.find_vma(nstart)
        if vma is None or vma.vm_start >= end:
            break
        nend = min(end, vma.vm_end)
        if vma.vm_flags & (VM_IO | VM_PFNMAP):
            nstart = nend
            continue
        nstart = max(nstart, vma.vm_start)
        ret = populate_vma_page_range(mm, vma, nstart, nend)
        if ret < 0:
            if ignore_errors:
                nstart = nend
                continue
            return ret
        nstart += ret * PAGE_SIZE
    return 0
