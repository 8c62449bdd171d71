"""Reading a sandbox's mm from /proc: ``smaps`` into VMAInfo, ``pagemap`` entries into PageState.

``smaps`` gives what ``maps`` gives (boundaries, protection, offset, path) plus ``VmFlags``, the
kernel's two-letter names of ``vma->vm_flags`` (``show_smap_vma_flags`` in fs/proc/task_mmu.c).
Pagemap bits are those documented in Documentation/admin-guide/mm/pagemap.rst.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

from pytest_anonvma.constants import PAGE_SHIFT, PROT_EXEC, PROT_READ, PROT_WRITE
from pytest_anonvma.contract import PageState, VMAInfo

__all__ = [
    "PM_FILE",
    "PM_GUARD_REGION",
    "PM_PRESENT",
    "PM_SWAP",
    "SMAPS_FLAGS",
    "MapsEntry",
    "file_name",
    "page_state",
    "parse_smaps",
    "read_pagemap",
    "vma_info",
]

#: pagemap entry bits
PM_GUARD_REGION = 1 << 58
PM_FILE = 1 << 61
PM_SWAP = 1 << 62
PM_PRESENT = 1 << 63

#: smaps VmFlags mnemonic -> kernel flag name (the contract's names, ``vm_flag_names``)
SMAPS_FLAGS: dict[str, str] = {
    "rd": "VM_READ",
    "wr": "VM_WRITE",
    "ex": "VM_EXEC",
    "sh": "VM_SHARED",
    "mr": "VM_MAYREAD",
    "mw": "VM_MAYWRITE",
    "me": "VM_MAYEXEC",
    "ms": "VM_MAYSHARE",
    "gd": "VM_GROWSDOWN",
    "pf": "VM_PFNMAP",
    "gu": "VM_MAYBE_GUARD",
    "lo": "VM_LOCKED",
    "io": "VM_IO",
    "sr": "VM_SEQ_READ",
    "rr": "VM_RAND_READ",
    "dc": "VM_DONTCOPY",
    "de": "VM_DONTEXPAND",
    "lf": "VM_LOCKONFAULT",
    "ac": "VM_ACCOUNT",
    "nr": "VM_NORESERVE",
    "ht": "VM_HUGETLB",
    "sf": "VM_SYNC",
    "ar": "VM_ARCH_1",
    "wf": "VM_WIPEONFORK",
    "dd": "VM_DONTDUMP",
    "sd": "VM_SOFTDIRTY",
    "mm": "VM_MIXEDMAP",
    "hg": "VM_HUGEPAGE",
    "nh": "VM_NOHUGEPAGE",
    "mg": "VM_MERGEABLE",
    "um": "VM_UFFD_MISSING",
    "uw": "VM_UFFD_WP",
    "ui": "VM_UFFD_MINOR",
    "ss": "VM_SHADOW_STACK",
    "sl": "VM_SEALED",
    "dp": "VM_DROPPABLE",
}

_MEMFD_PREFIX = "/memfd:"
_DELETED = " (deleted)"


class MapsEntry(NamedTuple):
    """One VMA as smaps prints it; ``offset`` in bytes, ``path`` as printed (may be empty)."""

    start: int
    end: int
    perms: str
    offset: int
    inode: int
    path: str
    vmflags: tuple[str, ...]


def _entry(header: str, vmflags: str) -> MapsEntry:
    """One entry from its maps header line and the text after ``VmFlags:``."""
    fields = header.split(None, 5)
    start, _, end = fields[0].partition("-")
    return MapsEntry(int(start, 16), int(end, 16), fields[1], int(fields[2], 16), int(fields[4]),
                     fields[5] if len(fields) > 5 else "", tuple(vmflags.split()))


def parse_smaps(text: str) -> Iterator[MapsEntry]:
    """Parse ``/proc/PID/smaps`` text into entries, in address order.

    Each entry is a maps header line, field lines, and a ``VmFlags:`` line; splitting at the
    VmFlags lines leaves each entry's header as the first line after the previous one's flags.
    """
    chunks = text.split("\nVmFlags:")
    header = chunks[0]
    for chunk in chunks[1:]:
        vmflags, _, rest = chunk.partition("\n")
        yield _entry(header.partition("\n")[0], vmflags)
        header = rest


def file_name(path: str) -> str | None:
    """The contract's ``VMAInfo.file``: the memfd name, another file's path, None if anonymous.

    Shared anonymous mappings show ``/dev/zero (deleted)`` (the kernel's internal shmem file) and
    are ``/dev/zero``, as the contract says; pseudo-names such as ``[heap]`` or ``[anon:...]``
    count as anonymous.
    """
    if not path or path.startswith("["):
        return None
    if path.endswith(_DELETED):
        path = path[: -len(_DELETED)]
    if path.startswith(_MEMFD_PREFIX):
        return path[len(_MEMFD_PREFIX):]
    return path


def vma_info(entry: MapsEntry) -> VMAInfo:
    """The contract's view of one smaps entry (anon_vma fields stay at their 'absent' values).

    A mnemonic this table does not know is kept as ``smaps:<mnemonic>`` rather than dropped.
    """
    prot = 0
    for char, bit in (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)):
        if char in entry.perms:
            prot |= bit
    file = file_name(entry.path)
    flags = frozenset(SMAPS_FLAGS.get(m, f"smaps:{m}") for m in entry.vmflags)
    return VMAInfo(
        start=entry.start,
        end=entry.end,
        prot=prot,
        flags=flags,
        pgoff=entry.offset >> PAGE_SHIFT if file is not None else 0,
        file=file,
    )


def page_state(entry: int) -> PageState:
    """Decode one pagemap entry.

    A guard marker is a non-present swap-type entry with PM_GUARD_REGION (and PM_SWAP) set: GUARD.
    A present page, or a page swapped out (PM_SWAP without the guard bit: its data exists and a
    touch swaps it back in without a signal), is PRESENT. Anything else is NONE.
    """
    if entry & PM_GUARD_REGION:
        return PageState.GUARD
    if entry & (PM_PRESENT | PM_SWAP):
        return PageState.PRESENT
    return PageState.NONE


def read_pagemap(fd: int, addr: int, npages: int = 1) -> list[int]:
    """Raw pagemap entries for ``npages`` pages from the page holding ``addr``."""
    data = os.pread(fd, 8 * npages, (addr >> PAGE_SHIFT) * 8)
    if len(data) != 8 * npages:
        raise OSError(f"short pagemap read at {addr:#x}: {len(data)} of {8 * npages} bytes")
    return [int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data), 8)]
