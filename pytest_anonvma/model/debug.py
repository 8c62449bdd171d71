"""Invariant checks of the simulated mm (mm/debug.c ``validate_mm`` and ``CONFIG_DEBUG_VM_RB``).

:func:`validate_mm` raises ``AssertionError`` naming the first broken invariant. The project's
tests call it after every operation (tests/conftest.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pytest_anonvma.model.memory import GUARD_MARKER, PTE, ZERO_PAGE, Folio
from pytest_anonvma.model.mm import vma_anon_vma_addr, vma_anon_vma_flags
from pytest_anonvma.model.mm_types import (
    ANON_VMA_FLAGS_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_SHARED,
    VM_WRITE,
    VMA,
    MMStruct,
)
from pytest_anonvma.model.rmap import AnonVMA

__all__ = ["validate_mm"]

TASK_SIZE = (1 << 47) - PAGE_SIZE


def _fail(mm: MMStruct, what: str) -> AssertionError:
    return AssertionError(f"validate_mm ({mm.design.name}@{mm.era}): {what}")


def _check_tree(mm: MMStruct) -> None:
    """Sorted, non-overlapping, page-aligned, non-empty VMAs inside user space, all attached."""
    prev_end = 0
    for vma in mm:
        if vma.vm_start % PAGE_SIZE or vma.vm_end % PAGE_SIZE:
            raise _fail(mm, f"{vma!r} is not page aligned")
        if not vma.vm_start < vma.vm_end <= TASK_SIZE:
            raise _fail(mm, f"{vma!r} has a bad range")
        if vma.vm_start < prev_end:
            raise _fail(mm, f"{vma!r} overlaps or precedes the VMA before it")
        if vma.vm_mm is not mm or vma.detached:
            raise _fail(mm, f"{vma!r} is in the tree but not attached to this mm")
        prev_end = vma.vm_end


def _check_anon_vma(mm: MMStruct, vma: VMA) -> None:
    """The word, the pointer and the chain agree; flags only where the design uses them."""
    flags = vma_anon_vma_flags(vma)
    addr = vma_anon_vma_addr(vma)
    if flags & ~ANON_VMA_FLAGS_MASK or (flags and not mm.design.uses_anon_vma_flags):
        raise _fail(mm, f"{vma!r}: flag bits {flags:#x} in a design without anon_vma flags")
    if flags and addr:
        raise _fail(mm, f"{vma!r}: flag bits ride a real anon_vma pointer")
    if not addr:
        if vma.anon_vma_chain:
            raise _fail(mm, f"{vma!r}: anon_vma_chain without an anon_vma")
        return
    anon_vma = mm.kernel.objects.get(addr)
    if not isinstance(anon_vma, AnonVMA) or anon_vma.freed:
        raise _fail(mm, f"{vma!r}: dangling anon_vma pointer {addr:#x}")
    if not any(avc.anon_vma is anon_vma for avc in vma.anon_vma_chain):
        raise _fail(mm, f"{vma!r}: no chain link to its own anon_vma")
    for avc in vma.anon_vma_chain:
        if avc.vma is not vma:
            raise _fail(mm, f"{vma!r}: chain link {avc!r} belongs to another VMA")
        if avc.anon_vma is None or avc not in avc.anon_vma.rb_root:
            raise _fail(mm, f"{vma!r}: chain link {avc!r} missing from its anon_vma's tree")


def _check_ptes(mm: MMStruct, mapcounts: Counter[int]) -> None:
    """Entries only inside VMAs; writable only where VM_WRITE; file pages at their offset."""
    for pfn in sorted(mm.ptes):
        entry = mm.ptes[pfn]
        addr = pfn << PAGE_SHIFT
        vma = mm.vma_lookup(addr)
        if vma is None:
            raise _fail(mm, f"page-table entry {entry!r} at {addr:#x} outside every VMA")
        if entry is GUARD_MARKER:
            continue
        if not isinstance(entry, PTE):
            raise _fail(mm, f"unknown page-table entry {entry!r} at {addr:#x}")
        folio: Folio = entry.folio
        if entry.writable and not vma.vm_flags & VM_WRITE:
            raise _fail(mm, f"writable PTE at {addr:#x} in a VMA without VM_WRITE")
        if folio.is_anon:
            mapcounts[id(folio)] += 1
            if vma.vm_flags & VM_SHARED:
                raise _fail(mm, f"anonymous page at {addr:#x} in a shared mapping")
            if entry.writable and folio.mapcount != 1:
                raise _fail(mm, f"writable PTE at {addr:#x} maps a page shared copy-on-write")
        elif folio is not ZERO_PAGE:
            index = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT)
            if vma.vm_file is None or folio.mapping is not vma.vm_file or folio.index != index:
                raise _fail(mm, f"file page at {addr:#x} is not page {index} of the VMA's file")


def _check_family(family: Sequence[MMStruct]) -> None:
    """Allocations minus frees equal live objects over a family of forked mms."""
    mm = family[0]
    kernel = mm.kernel
    live_anon = sum(1 for obj in kernel.objects.values() if isinstance(obj, AnonVMA))
    totals: Counter[str] = Counter()
    chain_links = 0
    for member in family:
        totals.update(member.stats)
        chain_links += sum(len(vma.anon_vma_chain) for vma in member)
    if totals["anon_vma_allocs"] - totals["anon_vma_frees"] != kernel.live_anon_vmas:
        raise _fail(mm, f"anon_vma allocs - frees != live ({kernel.live_anon_vmas})")
    if kernel.live_anon_vmas != live_anon:
        raise _fail(mm, f"{live_anon} anon_vmas registered, {kernel.live_anon_vmas} counted live")
    if totals["avc_allocs"] - totals["avc_frees"] != kernel.live_avcs:
        raise _fail(mm, f"anon_vma_chain allocs - frees != live ({kernel.live_avcs})")
    if chain_links != kernel.live_avcs:
        raise _fail(mm, f"{chain_links} chain links on VMAs, {kernel.live_avcs} counted live")


def validate_mm(mm: MMStruct, family: Sequence[MMStruct] | None = None) -> None:
    """Check every invariant of ``mm`` (and of its fork ``family``, default just ``mm``).

    The VMA tree; the anon_vma word, pointer and chain of every VMA; page tables (entries only
    inside VMAs, no writable PTE without VM_WRITE or on a COW-shared page, file pages at their
    file offset, anonymous mapcounts equal to the PTEs mapping them); slab counters.
    """
    members = list(family) if family is not None else [mm]
    mapcounts: Counter[int] = Counter()
    folios: dict[int, Folio] = {}
    for member in members:
        _check_tree(member)
        for vma in member:
            _check_anon_vma(member, vma)
        _check_ptes(member, mapcounts)
        for entry in member.ptes.values():
            if isinstance(entry, PTE) and entry.folio.is_anon:
                folios[id(entry.folio)] = entry.folio
    for key, folio in folios.items():
        if folio.mapcount != mapcounts[key]:
            raise _fail(mm, f"{folio!r} is mapped by {mapcounts[key]} PTEs")
    _check_family(members)
