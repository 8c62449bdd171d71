"""mprotect(2) (mm/mprotect.c): ``do_mprotect_pkey``, ``mprotect_fixup``, ``change_protection``."""

from __future__ import annotations

import errno

from pytest_anonvma.constants import ERA_6_18, PROT_EXEC, PROT_READ, PROT_WRITE
from pytest_anonvma.model.gup import populate_vma_page_range
from pytest_anonvma.model.memory import PTE, pfns_in_range
from pytest_anonvma.model.mm import vma_anon_vma_addr, vma_is_anonymous
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    ULONG_MAX,
    VM_ACCESS_FLAGS,
    VM_ACCOUNT,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_HUGETLB,
    VM_LOCKED,
    VM_NORESERVE,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    VMA,
    MMStruct,
    page_align,
)

__all__ = [
    "calc_vm_prot_bits",
    "change_protection",
    "do_mprotect_pkey",
    "modify_flags",
    "mprotect_fixup",
]

PROT_SEM = 0x8
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000


def calc_vm_prot_bits(prot: int) -> int:
    """PROT_* to VM_READ/WRITE/EXEC (``calc_vm_prot_bits``)."""
    return (
        (VM_READ if prot & PROT_READ else 0)
        | (VM_WRITE if prot & PROT_WRITE else 0)
        | (VM_EXEC if prot & PROT_EXEC else 0)
    )


def modify_flags(
    mm: MMStruct, prev: VMA | None, vma: VMA, start: int, end: int, newflags: int
) -> tuple[VMA, int]:
    """``vma_modify_flags`` as its callers use it: (the VMA now covering the range, its flags).

    In 6.18 the flags are an in/out parameter: after a merge the caller keeps the merged VMA's
    flags, which carry the sticky flags (VM_MAYBE_GUARD) OR-ed in from the absorbed VMAs.
    Raises ``OSError`` like ``vma_modify_flags``.
    """
    from pytest_anonvma.model.vma import vma_modify_flags

    result = vma_modify_flags(mm, prev, vma, start, end, newflags)
    if result is not vma and mm.era == ERA_6_18:
        newflags = result.vm_flags
    return result, newflags


def change_protection(mm: MMStruct, vma: VMA, start: int, end: int) -> None:
    """Write-protect present PTEs of a range that lost VM_WRITE (``change_protection``).

    PTEs never gain the write bit here: the next write fault reuses or copies the page.
    """
    if vma.vm_flags & VM_WRITE:
        return
    ptes = mm.ptes
    for pfn in pfns_in_range(ptes, start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        entry = ptes[pfn]
        if isinstance(entry, PTE):
            entry.writable = False


def mprotect_fixup(
    mm: MMStruct, prev: VMA | None, vma: VMA, start: int, end: int, newflags: int
) -> tuple[int, VMA]:
    """Apply ``newflags`` to ``[start, end)`` of ``vma`` (``mprotect_fixup``).

    Returns (0 or -errno, the VMA now covering the range). Making a private mapping writable
    charges it (VM_ACCOUNT); making an anonymous VMA without an anon_vma read-only uncharges it.
    """
    oldflags = vma.vm_flags
    if newflags == oldflags:
        return 0, vma
    if newflags & VM_WRITE:
        if not oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            newflags |= VM_ACCOUNT
    elif oldflags & VM_ACCOUNT and vma_is_anonymous(vma) and not vma_anon_vma_addr(vma):
        newflags &= ~VM_ACCOUNT
    try:
        vma, newflags = modify_flags(mm, prev, vma, start, end, newflags)
    except OSError as exc:
        return -(exc.errno or errno.ENOMEM), vma
    vma.vm_flags = newflags
    change_protection(mm, vma, start, end)
    if oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED) == VM_LOCKED and newflags & VM_WRITE:
        populate_vma_page_range(mm, vma, start, end)
    return 0, vma


def do_mprotect_pkey(mm: MMStruct, start: int, length: int, prot: int) -> int:
    """The mprotect syscall (``do_mprotect_pkey``); 0 or -errno.

    A hole at the start fails with ENOMEM before any change; a later hole stops the walk there
    with ENOMEM, the VMAs before it already changed.
    """
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP)
    if grows == PROT_GROWSDOWN | PROT_GROWSUP:
        return -errno.EINVAL
    if start & (PAGE_SIZE - 1):
        return -errno.EINVAL
    length &= ULONG_MAX
    if not length:
        return 0
    length = page_align(length)
    end = start + length
    if end <= start or end > ULONG_MAX:
        return -errno.ENOMEM
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):
        return -errno.EINVAL  # arch_validate_prot

    vma = mm.find_vma(start)
    if vma is None or vma.vm_start >= end:
        return -errno.ENOMEM
    if grows & PROT_GROWSDOWN:
        if not vma.vm_flags & VM_GROWSDOWN:
            return -errno.EINVAL
        start = vma.vm_start
    elif vma.vm_start > start:
        return -errno.ENOMEM
    elif grows & PROT_GROWSUP:
        return -errno.EINVAL  # no VM_GROWSUP on x86-64

    prev = mm.vma_prev(vma) if start <= vma.vm_start else vma
    nstart = start
    tmp = vma.vm_start
    error = 0
    cur: VMA | None = vma
    while cur is not None and cur.vm_start < end:
        if cur.vm_start != tmp:
            error = -errno.ENOMEM
            break
        newflags = calc_vm_prot_bits(prot) | (cur.vm_flags & ~VM_ACCESS_FLAGS)
        # newflags >> 4 shifts VM_MAY* onto VM_*: asking for more than allowed.
        if newflags & ~(newflags >> 4) & VM_ACCESS_FLAGS:
            error = -errno.EACCES
            break
        tmp = min(cur.vm_end, end)
        error, cur = mprotect_fixup(mm, prev, cur, nstart, tmp, newflags)
        if error:
            break
        prev = cur
        tmp = nstart = cur.vm_end  # vma_iter_end: a merge may have grown past the range
        cur = mm.vma_next(cur)
    if not error and tmp < end:
        error = -errno.ENOMEM
    return error
