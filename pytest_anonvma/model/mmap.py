"""mmap(2), munmap(2) and address-space placement (mm/mmap.c).

Placement is the kernel's top-down allocator without randomisation: the highest gap below
``MMAP_BASE`` that fits (``unmapped_area_topdown``), anonymous mappings given no hint whose
length is a multiple of 2 MiB aligned to 2 MiB (``thp_get_unmapped_area``).
"""

from __future__ import annotations

import errno

from pytest_anonvma.constants import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
)
from pytest_anonvma.model.gup import mm_populate
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    ULONG_MAX,
    VM_LOCKED,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_NORESERVE,
    VM_SHARED,
    MMStruct,
    page_align,
)
from pytest_anonvma.model.mprotect import calc_vm_prot_bits
from pytest_anonvma.model.shmem import SHMEM_VM_OPS, ShmemFile, shmem_zero_setup

__all__ = [
    "MMAP_BASE",
    "MMAP_MIN_ADDR",
    "TASK_SIZE",
    "do_mmap",
    "file_mmap_ok",
    "get_unmapped_area",
    "round_hint_to_min",
    "sys_munmap",
    "unmapped_area_topdown",
]

#: x86-64 with 4-level page tables: the top of user space (``TASK_SIZE``)
TASK_SIZE = (1 << 47) - PAGE_SIZE
#: ``mmap_base`` without randomisation: TASK_SIZE less the 128 MiB minimum stack gap
MMAP_BASE = TASK_SIZE - (128 << 20)
#: ``mmap_min_addr``: the lowest address the allocator hands out
MMAP_MIN_ADDR = 0x10000
PMD_SIZE = 2 << 20
MAP_TYPE = 0x0F
MAP_SHARED_VALIDATE = 0x03
#: ``MAX_LFS_FILESIZE`` on 64-bit: the largest size of a regular file (a memfd)
MAX_LFS_FILESIZE = (1 << 63) - 1


def unmapped_area_topdown(mm: MMStruct, length: int, low: int, high: int) -> int:
    """The highest address ``a`` with ``[a, a+length)`` free inside ``[low, high)``, or -ENOMEM."""
    tree = mm.mm_mt
    end = high
    i = tree.bisect_key_left(high)
    while i > 0:
        i -= 1
        vma = tree[i]
        if vma.vm_end < end and end - max(vma.vm_end, low) >= length:
            return end - length
        end = min(end, vma.vm_start)
        if end - low < length:
            return -errno.ENOMEM
    return end - length if end - low >= length else -errno.ENOMEM


def _thp_get_unmapped_area(mm: MMStruct, length: int) -> int:
    """Place a PMD-multiple anonymous mapping on a PMD boundary (``__thp_get_unmapped_area``)."""
    addr = unmapped_area_topdown(mm, length + PMD_SIZE, MMAP_MIN_ADDR, MMAP_BASE)
    if addr < 0:
        return unmapped_area_topdown(mm, length, MMAP_MIN_ADDR, MMAP_BASE)
    off_sub = -addr & (PMD_SIZE - 1)
    return addr + PMD_SIZE if off_sub == 0 else addr + off_sub


def get_unmapped_area(
    mm: MMStruct, file: ShmemFile | None, addr: int, length: int, flags: int
) -> int:
    """Choose (or check) where a mapping goes (``__get_unmapped_area``); address or -errno.

    MAP_FIXED takes ``addr`` as is; otherwise a free hint is honoured (x86-64's
    ``arch_get_unmapped_area_topdown`` checks it against TASK_SIZE only: ``mmap_min_addr`` is
    applied to mmap hints by ``round_hint_to_min``), else the top-down search runs, 2 MiB
    aligned for anonymous private mappings without a hint.
    """
    if length > TASK_SIZE:
        return -errno.ENOMEM
    if flags & MAP_FIXED:
        if addr > TASK_SIZE - length:
            return -errno.ENOMEM
        if addr & (PAGE_SIZE - 1):
            return -errno.EINVAL
        return addr
    if addr:
        if addr <= TASK_SIZE - length:  # mmap_address_hint_valid
            found = mm.find_vma(addr)
            if found is None or addr + length <= found.vm_start:
                return addr
    elif file is None and not flags & MAP_SHARED and length % PMD_SIZE == 0:
        return _thp_get_unmapped_area(mm, length)
    return unmapped_area_topdown(mm, length, MMAP_MIN_ADDR, MMAP_BASE)


def round_hint_to_min(hint: int) -> int:
    """Round an mmap hint down to a page, a nonzero one up to ``mmap_min_addr``
    (``round_hint_to_min``)."""
    hint &= ~(PAGE_SIZE - 1)
    if hint and hint < MMAP_MIN_ADDR:
        return MMAP_MIN_ADDR
    return hint


def file_mmap_ok(pgoff: int, length: int) -> bool:
    """Does ``[pgoff, pgoff + length)`` fit a regular file's largest size (``file_mmap_ok``)?"""
    return pgoff <= (MAX_LFS_FILESIZE - length) >> PAGE_SHIFT


def do_mmap(
    mm: MMStruct,
    addr: int,
    length: int,
    prot: int,
    flags: int,
    file: ShmemFile | None,
    offset: int,
) -> int:
    """The mmap syscall (``ksys_mmap_pgoff`` -> ``do_mmap`` -> ``mmap_region``, then populate).

    Returns the address or -errno. Only shmem files (memfds) exist in the model and they are
    opened read-write, so the file-permission errors of the kernel cannot arise.
    """
    from pytest_anonvma.model.vma import mmap_region

    if offset & (PAGE_SIZE - 1):
        return -errno.EINVAL
    pgoff = offset >> PAGE_SHIFT
    if flags & MAP_ANONYMOUS:
        file = None  # MAP_ANONYMOUS ignores the fd
    elif file is None:
        return -errno.EBADF  # fd -1 without MAP_ANONYMOUS
    if not length:
        return -errno.EINVAL
    if flags & MAP_FIXED_NOREPLACE:
        flags |= MAP_FIXED
    if not flags & MAP_FIXED:
        addr = round_hint_to_min(addr)
    length = page_align(length)
    if not length:
        return -errno.ENOMEM
    vm_flags = calc_vm_prot_bits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC

    addr = get_unmapped_area(mm, file, addr, length, flags)
    if addr < 0:
        return addr
    if flags & MAP_FIXED_NOREPLACE:
        found = mm.find_vma(addr)
        if found is not None and found.vm_start < addr + length:
            return -errno.EEXIST

    map_type = flags & MAP_TYPE
    if file is not None:
        if not file_mmap_ok(pgoff, length):
            return -errno.EOVERFLOW
        if map_type not in (MAP_SHARED, MAP_SHARED_VALIDATE, MAP_PRIVATE):
            return -errno.EINVAL
        if map_type != MAP_PRIVATE:
            vm_flags |= VM_SHARED | VM_MAYSHARE
    elif map_type == MAP_SHARED:
        pgoff = 0
        vm_flags |= VM_SHARED | VM_MAYSHARE
        file = shmem_zero_setup(length)
    elif map_type == MAP_PRIVATE:
        pgoff = addr >> PAGE_SHIFT
    else:
        return -errno.EINVAL
    if flags & MAP_NORESERVE:
        vm_flags |= VM_NORESERVE  # overcommit is heuristic (0): honoured

    ret: int = mmap_region(
        mm, addr, length, vm_flags, pgoff, file, SHMEM_VM_OPS if file is not None else None
    )
    if ret < 0:
        return ret
    if file is not None:
        file.mappers.add(mm)
    if vm_flags & VM_LOCKED or flags & MAP_POPULATE:
        mm_populate(mm, addr, length, ignore_errors=True)
    return addr


def sys_munmap(mm: MMStruct, addr: int, length: int) -> int:
    """The munmap syscall (``__vm_munmap`` -> ``do_vmi_munmap``); 0 or -errno."""
    from pytest_anonvma.model.vma import do_vmi_munmap

    return int(do_vmi_munmap(mm, addr, length & ULONG_MAX))
