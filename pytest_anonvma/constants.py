"""The kernel's values and name tables, each written once (Linux x86-64).

The mmap/mprotect/madvise/mremap constants of the contract, the ``vm_flags`` bits of
include/linux/mm.h with their names, the page-table sizes the model and the soak share, and the
kernel eras a model follows.
"""

from __future__ import annotations

PAGE_SIZE = 4096
PAGE_SHIFT = 12

PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_FIXED_NOREPLACE = 0x100000

MADV_NORMAL = 0
MADV_RANDOM = 1
MADV_SEQUENTIAL = 2
MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_REMOVE = 9
MADV_DONTFORK = 10
MADV_DOFORK = 11
MADV_WIPEONFORK = 18
MADV_KEEPONFORK = 19
MADV_COLD = 20
MADV_PAGEOUT = 21
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
MADV_COLLAPSE = 25
MADV_GUARD_INSTALL = 102
MADV_GUARD_REMOVE = 103

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4

# vm_flags bits (include/linux/mm.h; values as on x86-64 where the kernel fixes them).
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYREAD = 0x10
VM_MAYWRITE = 0x20
VM_MAYEXEC = 0x40
VM_MAYSHARE = 0x80
VM_GROWSDOWN = 0x100
VM_UFFD_MISSING = 0x200
VM_PFNMAP = 0x400
VM_MAYBE_GUARD = 0x800
VM_UFFD_WP = 0x1000
VM_LOCKED = 0x2000
VM_IO = 0x4000
VM_SEQ_READ = 0x8000
VM_RAND_READ = 0x10000
VM_DONTCOPY = 0x20000
VM_DONTEXPAND = 0x40000
VM_LOCKONFAULT = 0x80000
VM_ACCOUNT = 0x100000
VM_NORESERVE = 0x200000
VM_HUGETLB = 0x400000
VM_WIPEONFORK = 0x2000000
VM_DONTDUMP = 0x4000000
VM_SOFTDIRTY = 0x8000000
VM_MIXEDMAP = 0x10000000
VM_HUGEPAGE = 0x20000000
VM_NOHUGEPAGE = 0x40000000
VM_MERGEABLE = 0x80000000

VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP
VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT
VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC
#: flags that, in the sticky-flag era (6.18), never block a merge and are OR-ed onto the survivor
VM_STICKY = VM_SOFTDIRTY | VM_MAYBE_GUARD

#: each single ``vm_flags`` bit and its kernel name (``VMAInfo.flags``, the ``vma ... flag`` step)
VM_FLAG_NAMES: dict[int, str] = {
    value: name
    for name, value in sorted(globals().items())
    if name.startswith("VM_")
    and isinstance(value, int)
    and value
    and value & (value - 1) == 0
}

#: ``fault_around_bytes`` (64 KiB, the default) in pages, and ``PTRS_PER_PTE`` on x86-64
FAULT_AROUND_PAGES = 16
PTRS_PER_PTE = 512

#: the era of the RFC's base (March 2025): v6.14's merge rules of mm/vma.c
ERA_2025_03 = "2025-03"
#: the era of v6.18: sticky VM flags (``VM_STICKY``) and the relaxed anon_vma merge rule
ERA_6_18 = "6.18"
#: every kernel era a model may follow (``MM.era``), oldest first
ERAS = (ERA_2025_03, ERA_6_18)

__all__ = [name for name in dir() if name.isupper()]
