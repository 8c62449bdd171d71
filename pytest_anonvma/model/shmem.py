"""shmem files: memfds and shared anonymous memory (mm/shmem.c).

A :class:`ShmemFile` is the inode and page cache of a ``memfd_create`` file (or of the hidden
``/dev/zero`` file behind a ``MAP_SHARED|MAP_ANONYMOUS`` mapping). Its pages are shared by every
mapping of it, across fork. It remembers which mms map it, so a hole punch can unmap its pages
everywhere (``unmap_mapping_range``).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from pytest_anonvma.model.mm_types import PAGE_SHIFT, PAGE_SIZE, VMOps

if TYPE_CHECKING:
    from pytest_anonvma.model.memory import Folio
    from pytest_anonvma.model.mm_types import MMStruct

__all__ = [
    "SHMEM_VM_OPS",
    "ShmemFile",
    "memfd_create",
    "shmem_fallocate_punch_hole",
    "shmem_fault",
    "shmem_zero_setup",
]

#: ``shmem_vm_ops``: a file VMA's operations (no ``close`` hook, so merges are not blocked)
SHMEM_VM_OPS = VMOps("shmem")


class ShmemFile:
    """A shmem inode with its page cache: the handle ``MM.memfd`` returns."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        #: page cache: page index in the file -> Folio
        self.folios: dict[int, Folio] = {}
        #: the mms with a VMA of this file (the model's i_mmap)
        self.mappers: weakref.WeakSet[MMStruct] = weakref.WeakSet()

    @property
    def pages(self) -> int:
        """Size in pages, rounded up (a partial last page is mapped whole)."""
        return (self.size + PAGE_SIZE - 1) >> PAGE_SHIFT

    def __repr__(self) -> str:
        return f"ShmemFile({self.name!r}, size={self.size:#x})"


def memfd_create(name: str, length: int) -> ShmemFile:
    """``memfd_create(name)`` then ``ftruncate(length)``: an empty shmem file of that size."""
    return ShmemFile(name, length)


def shmem_fault(file: ShmemFile, index: int) -> Folio | None:
    """The page at ``index``, allocated zeroed on first use; None past EOF (``shmem_fault``)."""
    from pytest_anonvma.model.memory import Folio

    if index >= file.pages:
        return None
    folio = file.folios.get(index)
    if folio is None:
        folio = Folio(is_anon=False, mapping=file, index=index)
        file.folios[index] = folio
    return folio


def shmem_zero_setup(length: int) -> ShmemFile:
    """The hidden file behind a ``MAP_SHARED|MAP_ANONYMOUS`` mapping (``shmem_zero_setup``).

    The kernel names it ``dev/zero`` (``/proc/PID/maps`` shows ``/dev/zero (deleted)``).
    """
    return ShmemFile("/dev/zero", length)


def shmem_fallocate_punch_hole(file: ShmemFile, start: int, end: int) -> None:
    """``fallocate(PUNCH_HOLE|KEEP_SIZE)`` on ``[start, end)`` bytes of the file.

    Unmaps the file's pages in every mapping first (``unmap_mapping_range`` with ``even_cows``
    false: private copies and guard markers stay), then drops them from the page cache.
    """
    from pytest_anonvma.model.memory import zap_page_range

    first, last = start >> PAGE_SHIFT, (end + PAGE_SIZE - 1) >> PAGE_SHIFT
    for mm in list(file.mappers):
        for vma in list(mm):
            if vma.vm_file is not file:
                continue
            lo = max(first, vma.vm_pgoff)
            hi = min(last, vma.vm_pgoff + vma.pages)
            if lo >= hi:
                continue
            base = vma.vm_start - (vma.vm_pgoff << PAGE_SHIFT)
            zap_page_range(
                mm, base + (lo << PAGE_SHIFT), base + (hi << PAGE_SHIFT),
                zap_guards=False, even_cows=False,
            )
    for index in [i for i in file.folios if first <= i < last]:
        del file.folios[index]
