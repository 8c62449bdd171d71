"""mlock(2) and munlock(2) (mm/mlock.c).

The model's process may lock without limit (CAP_IPC_LOCK, as the live tests run as root).
"""

from __future__ import annotations

import errno

from pytest_anonvma.model.gup import mm_populate
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    ULONG_MAX,
    VM_HUGETLB,
    VM_LOCKED,
    VM_LOCKED_MASK,
    VM_SPECIAL,
    VMA,
    MMStruct,
    page_align,
)
from pytest_anonvma.model.mprotect import modify_flags

__all__ = ["apply_vma_lock_flags", "do_mlock", "mlock_fixup", "sys_munlock"]



def mlock_fixup(
    mm: MMStruct, prev: VMA | None, vma: VMA, start: int, end: int, newflags: int
) -> tuple[int, VMA]:
    """Set the lock flags of ``[start, end)`` (``mlock_fixup``); (0 or -errno, the VMA).

    VM_SPECIAL and hugetlb VMAs are silently left alone.
    """
    oldflags = vma.vm_flags
    if newflags == oldflags or oldflags & (VM_SPECIAL | VM_HUGETLB):
        return 0, vma
    try:
        vma, newflags = modify_flags(mm, prev, vma, start, end, newflags)
    except OSError as exc:
        return -(exc.errno or errno.ENOMEM), vma
    nr_pages = (end - start) >> PAGE_SHIFT
    if not newflags & VM_LOCKED:
        nr_pages = -nr_pages
    elif oldflags & VM_LOCKED:
        nr_pages = 0
    mm.locked_vm += nr_pages
    vma.vm_flags = newflags
    return 0, vma


def apply_vma_lock_flags(mm: MMStruct, start: int, length: int, flags: int) -> int:
    """Walk the range setting ``flags`` (``apply_vma_lock_flags``); 0 or -errno.

    ``start`` must be inside a VMA (else ENOMEM, nothing done); a later hole stops the walk
    with ENOMEM after the VMAs before it were changed.
    """
    end = start + length
    if end > ULONG_MAX:
        return -errno.EINVAL
    if end == start:
        return 0
    vma = mm.vma_lookup(start)
    if vma is None:
        return -errno.ENOMEM
    prev = mm.vma_prev(vma) if start == vma.vm_start else vma
    nstart = start
    tmp = vma.vm_start
    cur: VMA | None = vma
    while cur is not None and cur.vm_start < end:
        if cur.vm_start != tmp:
            return -errno.ENOMEM
        newflags = (cur.vm_flags & ~VM_LOCKED_MASK) | flags
        tmp = min(cur.vm_end, end)
        error, cur = mlock_fixup(mm, prev, cur, nstart, tmp, newflags)
        if error:
            return error
        prev = cur
        tmp = nstart = cur.vm_end
        cur = mm.vma_next(cur)
    if tmp < end:
        return -errno.ENOMEM
    return 0


def _page_range(start: int, length: int) -> tuple[int, int]:
    """Round the range out to whole pages, as mlock and munlock do; the length is an unsigned
    long, so a length within a page of ULONG_MAX wraps to 0 (nothing to do)."""
    length = page_align(length + (start & (PAGE_SIZE - 1)))
    return start & ~(PAGE_SIZE - 1), length


def __mlock_posix_error_return(retval: int) -> int:
    """POSIX wants EAGAIN/ENOMEM the other way round (``__mlock_posix_error_return``)."""
    if retval == -errno.EFAULT:
        return -errno.ENOMEM
    if retval == -errno.ENOMEM:
        return -errno.EAGAIN
    return retval


def do_mlock(mm: MMStruct, start: int, length: int) -> int:
    """The mlock syscall (``do_mlock``): set VM_LOCKED, then fault everything in."""
    start, length = _page_range(start, length)
    error = apply_vma_lock_flags(mm, start, length, VM_LOCKED)
    if error:
        return error
    error = mm_populate(mm, start, length, ignore_errors=False)
    if error:
        return __mlock_posix_error_return(error)
    return 0


def sys_munlock(mm: MMStruct, start: int, length: int) -> int:
    """The munlock syscall: clear VM_LOCKED over the range."""
    start, length = _page_range(start, length)
    return apply_vma_lock_flags(mm, start, length, 0)
