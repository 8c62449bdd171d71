"""Core structures: the VMA, the anon_vma objects' home, and the mm (include/linux/mm_types.h).

The ``anon_vma`` field of a VMA is a *word*, as in the RFC: an address of an anon_vma object,
possibly with flag bits (``ANON_VMA_UNFAULTED``) in its low bits. Objects are registered by
address in a :class:`Kernel`, which is shared by an mm and every mm forked from it, and which
counts slab allocations the way the patch's cover letter does.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedKeyList

# The kernel's values live in pytest_anonvma.constants; the model's modules import them here.
from pytest_anonvma.constants import (  # noqa: F401
    ERAS,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_ACCESS_FLAGS,
    VM_ACCOUNT,
    VM_DONTCOPY,
    VM_DONTEXPAND,
    VM_EXEC,
    VM_FLAG_NAMES,
    VM_GROWSDOWN,
    VM_HUGETLB,
    VM_IO,
    VM_LOCKED,
    VM_LOCKED_MASK,
    VM_LOCKONFAULT,
    VM_MAYBE_GUARD,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_MIXEDMAP,
    VM_NOHUGEPAGE,
    VM_NORESERVE,
    VM_PFNMAP,
    VM_RAND_READ,
    VM_READ,
    VM_SEQ_READ,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_SPECIAL,
    VM_STICKY,
    VM_UFFD_WP,
    VM_WIPEONFORK,
    VM_WRITE,
)

if TYPE_CHECKING:
    from pytest_anonvma.designs.base import Design

#: the largest unsigned long: syscall lengths and addresses are taken modulo 2**64
ULONG_MAX = (1 << 64) - 1


def page_align(length: int) -> int:
    """``PAGE_ALIGN`` of an unsigned long: round up to a page modulo 2**64 (ULONG_MAX -> 0)."""
    return (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & ULONG_MAX

# The anon_vma word's flag bits (the RFC: bit 0 stolen from the pointer).
ANON_VMA_UNFAULTED = 0x1
ANON_VMA_FLAGS_MASK = 0x7  # anon_vma objects are at least 8-byte aligned


@functools.cache
def vm_flag_names(vm_flags: int) -> frozenset[str]:
    """The kernel names of the bits set in ``vm_flags`` (computed once per value)."""
    return frozenset(name for bit, name in VM_FLAG_NAMES.items() if vm_flags & bit)


@dataclass(eq=False)
class VMOps:
    """``struct vm_operations_struct``: only the hooks that matter to merging."""

    name: str = "anon"
    close: Any = None  # a callable(vma) or None

    def __repr__(self) -> str:
        return f"VMOps({self.name}{', close' if self.close else ''})"


@dataclass(eq=False)
class VMA:
    """``struct vm_area_struct``; ``[vm_start, vm_end)`` in bytes, ``vm_pgoff`` in pages."""

    vm_start: int
    vm_end: int
    vm_pgoff: int
    vm_flags: int
    vm_mm: MMStruct | None = None
    vm_file: Any = None
    vm_ops: VMOps | None = None
    #: the anon_vma word: object address | flag bits, 0 for none
    anon_vma: int = 0
    #: anon_vma_chain links of this VMA (``struct anon_vma_chain`` objects of model.rmap)
    anon_vma_chain: list[Any] = field(default_factory=list)
    #: harness observation: the VMA was write-locked since last asked (vma_start_write)
    write_started: bool = False
    detached: bool = True

    @property
    def pages(self) -> int:
        """Length in pages."""
        return (self.vm_end - self.vm_start) >> PAGE_SHIFT

    def __repr__(self) -> str:
        names = "|".join(sorted(n[3:].lower() for n in vm_flag_names(self.vm_flags)))
        return (
            f"VMA({self.vm_start:#x}-{self.vm_end:#x} pgoff={self.vm_pgoff:#x} {names}"
            f" av={self.anon_vma:#x})"
        )


class Kernel:
    """What a family of forked mms shares: the anon_vma "slab" and its counters."""

    def __init__(self) -> None:
        self._next_addr = 0xFFFF_8880_0000_1000
        self.objects: dict[int, Any] = {}
        self.live_anon_vmas = 0
        self.live_avcs = 0

    def register(self, obj: Any) -> int:
        """Give ``obj`` a fresh 64-byte-aligned address and record it; returns the address."""
        addr = self._next_addr
        self._next_addr += 0x40
        self.objects[addr] = obj
        return addr

    def unregister(self, addr: int) -> None:
        """Forget the object at ``addr`` (it was freed)."""
        del self.objects[addr]

    def at(self, addr: int) -> Any:
        """The object registered at ``addr`` (KeyError for a dangling pointer)."""
        return self.objects[addr]


def _vma_key(vma: VMA) -> int:
    return vma.vm_start


class MMStruct:
    """``struct mm_struct``: the VMA tree, page tables, counters and the design/era in force."""

    def __init__(self, design: Design, era: str, kernel: Kernel | None = None) -> None:
        if era not in ERAS:
            raise ValueError(f"unknown era {era!r}; known: {', '.join(ERAS)}")
        self.design = design
        self.era = era
        self.kernel = kernel if kernel is not None else Kernel()
        self.mm_mt: SortedKeyList = SortedKeyList(key=_vma_key)
        #: page tables: page frame number of the virtual page -> PTE object (model.memory)
        self.ptes: dict[int, Any] = {}
        self.stats: Counter[str] = Counter()
        #: injected failure of every tree preallocation (the harness's fail_prealloc)
        self.fail_prealloc = False
        self.locked_vm = 0

    # -- tree access (the maple tree's role) -------------------------------------------------
    @property
    def map_count(self) -> int:
        """Number of VMAs (``mm->map_count``)."""
        return len(self.mm_mt)

    def __iter__(self) -> Iterator[VMA]:
        return iter(self.mm_mt)

    def link(self, vma: VMA) -> None:
        """Insert ``vma`` into the tree (``vma_iter_store`` of a new VMA)."""
        vma.vm_mm = self
        vma.detached = False
        self.mm_mt.add(vma)

    def unlink(self, vma: VMA) -> None:
        """Remove ``vma`` from the tree (``vma_iter_clear``)."""
        self.mm_mt.remove(vma)
        vma.detached = True

    def find_vma(self, addr: int) -> VMA | None:
        """The first VMA with ``vm_end > addr`` (``find_vma``)."""
        i = self.mm_mt.bisect_key_right(addr)
        if i > 0:
            vma: VMA = self.mm_mt[i - 1]
            if vma.vm_end > addr:
                return vma
        return self.mm_mt[i] if i < len(self.mm_mt) else None

    def vma_lookup(self, addr: int) -> VMA | None:
        """The VMA containing ``addr`` or None (``vma_lookup``)."""
        vma = self.find_vma(addr)
        return vma if vma is not None and vma.vm_start <= addr else None

    def vma_prev(self, vma_or_addr: VMA | int) -> VMA | None:
        """The VMA ending at or before the given VMA's start (or address)."""
        start = vma_or_addr if isinstance(vma_or_addr, int) else vma_or_addr.vm_start
        i = self.mm_mt.bisect_key_left(start)
        return self.mm_mt[i - 1] if i > 0 else None

    def vma_next(self, vma_or_addr: VMA | int) -> VMA | None:
        """The first VMA starting at or after the given VMA's end (or address)."""
        end = vma_or_addr if isinstance(vma_or_addr, int) else vma_or_addr.vm_end
        i = self.mm_mt.bisect_key_left(end)
        return self.mm_mt[i] if i < len(self.mm_mt) else None

    def vmas_in_range(self, start: int, end: int) -> list[VMA]:
        """The VMAs overlapping ``[start, end)``, in address order."""
        first = self.find_vma(start)
        if first is None or first.vm_start >= end:
            return []
        i = self.mm_mt.index(first)
        out = []
        while i < len(self.mm_mt) and self.mm_mt[i].vm_start < end:
            out.append(self.mm_mt[i])
            i += 1
        return out
