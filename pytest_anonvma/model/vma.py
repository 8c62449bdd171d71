"""VMA merging, splitting, mapping and unmapping (mm/vma.c, with the bits of mm/mmap.c it needs).

Two eras of merge rules, chosen by ``mm.era``:

``"2025-03"``
    v6.14, ``mm/vma.c`` at commit 6ab2d9c7 (the tree the anon_vma-flags RFC applies to):
    flags must be equal except ``VM_SOFTDIRTY``; anon_vma compatibility is the old
    ``is_mergeable_anon_vma(anon_vma1, anon_vma2, vma)`` (either side without one *and* the
    neighbour's chain singular, or the same anon_vma); ``vma_expand`` grows ``vmg.middle``.
``"6.18"``
    the latest ``mm/vma.c`` (commit 334fbe73): the sticky flags (``VM_STICKY``: soft-dirty and
    ``VM_MAYBE_GUARD``) are ignored for compatibility and OR-ed onto the surviving VMA; the relaxed
    anon_vma rule (an anon_vma is handed over unless a side is a fork child); ``vma_expand`` grows
    ``vmg.target``; ``copy_vma`` merges through ``vma_merge_copied_range``.

Kernel return conventions: int functions return 0 or ``-errno``; pointer functions return the VMA,
``None`` for "no merge"/NULL, or raise ``OSError(errno)`` where the kernel returns ``ERR_PTR``.
Every merge, expand and ``copy_vma`` merge ends with ``mm.design.merge_carry(dst, *absorbed)``.

What ``mm/vma.c`` calls outside itself (``anon_vma_clone``, ``unlink_anon_vmas``, the page-table
teardown of ``unmap_vmas``/``free_pgtables``) goes through an :class:`ExternalOps` table, the
kernel's by default; the userland harness swaps in its stubs for one mm with
:func:`set_external_ops`, exactly as ``tools/testing/vma/vma_internal.h`` does for the C harness.
Mempolicies, userfaultfd contexts and anon names are not modelled: they never block a merge.

:func:`validate_mm` checks the invariants of a whole mm (the kernel's debug check, extended to
page tables and slab counters) and raises ``AssertionError`` naming the first broken one; the
project's tests call it after every operation (tests/conftest.py).
"""

from __future__ import annotations

import enum
import errno
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_anonvma.constants import ERA_6_18
from pytest_anonvma.model import rmap
from pytest_anonvma.model.memory import GUARD_MARKER, PTE, ZERO_PAGE, Folio
from pytest_anonvma.model.mm import (
    vma_anon_vma,
    vma_anon_vma_addr,
    vma_anon_vma_flags,
    vma_dup_anon_vma,
    vma_is_anonymous,
)
from pytest_anonvma.model.mm_types import (
    ANON_VMA_FLAGS_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_ACCESS_FLAGS,
    VM_ACCOUNT,
    VM_HUGETLB,
    VM_LOCKED,
    VM_LOCKED_MASK,
    VM_NORESERVE,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_SPECIAL,
    VM_STICKY,
    VM_WRITE,
    VMA,
    MMStruct,
    VMOps,
    page_align,
)

__all__ = [
    "DEFAULT_MAX_MAP_COUNT",
    "KERNEL_OPS",
    "TASK_SIZE",
    "VMA_DUMMY_VM_OPS",
    "VMA_MERGE_ERROR_NOMEM",
    "VMA_MERGE_NOMERGE",
    "VMA_MERGE_START",
    "VMA_MERGE_SUCCESS",
    "ExternalOps",
    "VmaIterator",
    "VmaMergeState",
    "VmaMergeStatus",
    "__split_vma",
    "can_vma_merge_after",
    "can_vma_merge_before",
    "copy_vma",
    "do_vmi_align_munmap",
    "do_vmi_munmap",
    "dup_anon_vma",
    "find_mergeable_anon_vma",
    "is_mergeable_anon_vma",
    "is_mergeable_anon_vma_vmg",
    "mmap_region",
    "set_external_ops",
    "split_vma",
    "validate_mm",
    "vm_area_dup",
    "vma_close",
    "vma_expand",
    "vma_link",
    "vma_merge_existing_range",
    "vma_merge_extend",
    "vma_merge_new_range",
    "vma_modify",
    "vma_modify_flags",
    "vma_shrink",
    "vma_start_write",
    "vmg_nomem",
    "vmg_vma_state",
]

#: x86-64 user address space limit as the kernel checks it in munmap
TASK_SIZE = (1 << 47) - PAGE_SIZE
#: ``sysctl_max_map_count`` default (``DEFAULT_MAX_MAP_COUNT``)
DEFAULT_MAX_MAP_COUNT = 65530
#: what ``vma_close`` leaves behind so that no hook runs twice (``vma_dummy_vm_ops``)
VMA_DUMMY_VM_OPS = VMOps("dummy")


class VmaMergeStatus(enum.Enum):
    """``enum vma_merge_state``: the outcome a merge attempt leaves in ``vmg.state``."""

    START = "VMA_MERGE_START"
    ERROR_NOMEM = "VMA_MERGE_ERROR_NOMEM"
    NOMERGE = "VMA_MERGE_NOMERGE"
    SUCCESS = "VMA_MERGE_SUCCESS"


VMA_MERGE_START = VmaMergeStatus.START
VMA_MERGE_ERROR_NOMEM = VmaMergeStatus.ERROR_NOMEM
VMA_MERGE_NOMERGE = VmaMergeStatus.NOMERGE
VMA_MERGE_SUCCESS = VmaMergeStatus.SUCCESS


# -- what mm/vma.c calls outside itself ---------------------------------------------------------


@dataclass(frozen=True)
class ExternalOps:
    """The functions mm/vma.c uses from rmap and the page-table code.

    ``clear_ptes(mm, vmas, start, end)`` stands for ``unmap_vmas`` + ``free_pgtables`` over the
    detached VMAs of an unmap: zap ``[start, end)`` and unlink each VMA's anon_vmas.
    """

    anon_vma_clone: Callable[[VMA, VMA], int]
    unlink_anon_vmas: Callable[[VMA], None]
    clear_ptes: Callable[[MMStruct, Sequence[VMA], int, int], None]


def _kernel_clear_ptes(mm: MMStruct, vmas: Sequence[VMA], start: int, end: int) -> None:
    """``unmap_vmas`` then ``free_pgtables``: page tables of the range go, then the anon_vmas."""
    from pytest_anonvma.model.memory import zap_page_range

    zap_page_range(mm, start, end, zap_guards=True)
    for vma in vmas:
        rmap.unlink_anon_vmas(vma)


#: the kernel's own implementations (the default for every mm)
KERNEL_OPS = ExternalOps(rmap.anon_vma_clone, rmap.unlink_anon_vmas, _kernel_clear_ptes)

_EXTERNAL_OPS: weakref.WeakKeyDictionary[MMStruct, ExternalOps] = weakref.WeakKeyDictionary()


def set_external_ops(mm: MMStruct, ops: ExternalOps | None) -> None:
    """Use ``ops`` instead of the kernel's rmap/page-table functions for ``mm`` (None: restore)."""
    if ops is None:
        _EXTERNAL_OPS.pop(mm, None)
    else:
        _EXTERNAL_OPS[mm] = ops


def _ops(mm: MMStruct) -> ExternalOps:
    return _EXTERNAL_OPS.get(mm, KERNEL_OPS)


# -- small helpers -------------------------------------------------------------------------------


def _mm(vma: VMA) -> MMStruct:
    assert vma.vm_mm is not None, f"{vma!r} has no mm"
    return vma.vm_mm


def _sticky_era(mm: MMStruct) -> bool:
    return mm.era == ERA_6_18


def _ignore_merge_flags(mm: MMStruct) -> int:
    """Flags that never block a merge: ``VM_SOFTDIRTY`` (v6.14) or ``VMA_IGNORE_MERGE_FLAGS``."""
    return VM_STICKY if _sticky_era(mm) else VM_SOFTDIRTY


def _sticky_flags(mm: MMStruct, vm_flags: int) -> int:
    """The sticky bits of ``vm_flags`` in eras that have sticky flags, else 0."""
    return vm_flags & VM_STICKY if _sticky_era(mm) else 0


def vma_pages(vma: VMA) -> int:
    """Length in pages (mirrors ``vma_pages``)."""
    return (vma.vm_end - vma.vm_start) >> PAGE_SHIFT


def vma_pgoff_offset(vma: VMA, addr: int) -> int:
    """The page offset ``addr`` has in ``vma`` (mirrors ``vma_pgoff_offset``, mm/vma.h)."""
    return vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT)


def vma_start_write(vma: VMA) -> None:
    """Write-lock a VMA; the harness observes it (mirrors ``vma_start_write``)."""
    vma.write_started = True


def vma_close(vma: VMA) -> None:
    """Run the close hook once, then neutralise vm_ops (mirrors ``vma_close``)."""
    if vma.vm_ops is not None and vma.vm_ops.close is not None:
        vma.vm_ops.close(vma)
        vma.vm_ops = VMA_DUMMY_VM_OPS


def vma_iter_prealloc(mm: MMStruct) -> bool:
    """Does a maple-tree preallocation fail? Only when injected (``vma_iter_prealloc``)."""
    return mm.fail_prealloc


def _set_range(vma: VMA, start: int, end: int, pgoff: int) -> None:
    """``vma_set_range``, re-keying a linked VMA whose start moves (the tree is keyed by start)."""
    mm = vma.vm_mm
    rekey = mm is not None and not vma.detached and vma.vm_start != start
    if rekey:
        assert mm is not None
        mm.mm_mt.remove(vma)
    vma.vm_start, vma.vm_end, vma.vm_pgoff = start, end, pgoff
    if rekey:
        assert mm is not None
        mm.mm_mt.add(vma)


def vm_area_dup(vma: VMA) -> VMA:
    """A detached copy sharing file and ops, raw anon_vma word included (``vm_area_dup``, fork.c).

    The copy has an empty anon_vma_chain: ``anon_vma_clone`` fills it.
    """
    new = VMA(
        vma.vm_start,
        vma.vm_end,
        vma.vm_pgoff,
        vma.vm_flags,
        vm_mm=vma.vm_mm,
        vm_file=vma.vm_file,
        vm_ops=vma.vm_ops,
    )
    vma_dup_anon_vma(new, vma)
    return new


def vm_area_free(vma: VMA) -> None:
    """Forget a VMA struct (mirrors ``vm_area_free``)."""
    vma.detached = True


def vma_link(mm: MMStruct, vma: VMA) -> int:
    """Insert a new VMA into the tree (mirrors ``vma_link``)."""
    if vma_iter_prealloc(mm):
        return -errno.ENOMEM
    vma_start_write(vma)
    mm.link(vma)
    return 0


# -- the merge state ----------------------------------------------------------------------------


@dataclass
class VmaIterator:
    """``struct vma_iterator``: only its position matters to the model (``vma_iter_addr``)."""

    mm: MMStruct
    addr: int = 0


@dataclass(eq=False)
class VmaMergeState:
    """``struct vma_merge_struct`` (the "vmg"): a proposed range and the VMAs around it.

    The kernel's ``__remove_middle``/``__remove_next``/``__adjust_middle_start``/
    ``__adjust_next_start`` are ``remove_middle``/``remove_next``/``adjust_middle_start``/
    ``adjust_next_start`` here. ``anon_vma`` is the masked anon_vma address (0 for none).
    """

    mm: MMStruct
    vmi: VmaIterator = field(init=False)
    start: int = 0
    end: int = 0
    pgoff: int = 0
    flags: int = 0
    file: Any = None
    anon_vma: int = 0
    prev: VMA | None = None
    middle: VMA | None = None
    next: VMA | None = None
    target: VMA | None = None
    #: 6.18: the VMA ``copy_vma`` copies from (``vma_merge_copied_range``)
    copied_from: VMA | None = None
    state: VmaMergeStatus = VMA_MERGE_START
    just_expand: bool = False
    give_up_on_oom: bool = False
    remove_middle: bool = False
    remove_next: bool = False
    adjust_middle_start: bool = False
    adjust_next_start: bool = False

    def __post_init__(self) -> None:
        self.vmi = VmaIterator(self.mm, self.start)


def vmg_vma_state(mm: MMStruct, prev: VMA | None, vma: VMA, start: int, end: int) -> VmaMergeState:
    """A vmg describing ``[start, end)`` of the existing ``vma`` (mirrors ``VMG_VMA_STATE``)."""
    return VmaMergeState(
        mm,
        start=start,
        end=end,
        pgoff=vma_pgoff_offset(vma, start),
        flags=vma.vm_flags,
        file=vma.vm_file,
        anon_vma=vma_anon_vma_addr(vma),
        prev=prev,
        middle=vma,
    )


def vmg_nomem(vmg: VmaMergeState) -> bool:
    """Did the merge fail for lack of memory (mirrors ``vmg_nomem``)?"""
    return vmg.state is VMA_MERGE_ERROR_NOMEM


# -- mergeability -------------------------------------------------------------------------------


def is_mergeable_vma(vmg: VmaMergeState, merge_next: bool) -> bool:
    """Flags (bar ignored ones) and file equal to the neighbour's (mirrors ``is_mergeable_vma``)."""
    vma = vmg.next if merge_next else vmg.prev
    assert vma is not None
    if (vma.vm_flags ^ vmg.flags) & ~_ignore_merge_flags(vmg.mm):
        return False
    return vma.vm_file is vmg.file


def is_mergeable_anon_vma(anon_vma1: int, anon_vma2: int, vma: VMA | None) -> bool:
    """v6.14 rule (mirrors ``is_mergeable_anon_vma`` at 6ab2d9c7).

    Either side without an anon_vma is fine when ``vma`` (the neighbour) is None or has a singular
    chain (not a fork child); otherwise both must be the same anon_vma.
    """
    if (not anon_vma1 or not anon_vma2) and (vma is None or len(vma.anon_vma_chain) == 1):
        return True
    return anon_vma1 == anon_vma2


def vma_is_fork_child(vma: VMA | None) -> bool:
    """Has an anon_vma and a non-singular chain (mirrors ``vma_is_fork_child``, 6.18)."""
    return vma is not None and bool(vma_anon_vma_addr(vma)) and len(vma.anon_vma_chain) != 1


def is_mergeable_anon_vma_vmg(vmg: VmaMergeState, merge_next: bool) -> bool:
    """The relaxed 6.18 rule (mirrors ``is_mergeable_anon_vma(vmg, merge_next)`` at 334fbe73).

    Case 1: only the proposed range (``vmg.anon_vma``) has one: it is handed over unless the
    source or the VMA copied from is a fork child. Case 2: only the neighbour has one: fine unless
    it is a fork child. Case 3: otherwise they must be the same.
    """
    tgt = vmg.next if merge_next else vmg.prev
    assert tgt is not None
    src = vmg.middle
    tgt_anon = vma_anon_vma_addr(tgt)
    src_anon = vmg.anon_vma
    if not tgt_anon and src_anon:
        return not vma_is_fork_child(src) and not vma_is_fork_child(vmg.copied_from)
    if tgt_anon and not src_anon:
        return not vma_is_fork_child(tgt)
    return src_anon == tgt_anon


def _anon_vma_ok(vmg: VmaMergeState, merge_next: bool) -> bool:
    if _sticky_era(vmg.mm):
        return is_mergeable_anon_vma_vmg(vmg, merge_next)
    neighbour = vmg.next if merge_next else vmg.prev
    assert neighbour is not None
    return is_mergeable_anon_vma(vmg.anon_vma, vma_anon_vma_addr(neighbour), neighbour)


def can_vma_merge_before(vmg: VmaMergeState) -> bool:
    """The range can merge in front of ``vmg.next`` (mirrors ``can_vma_merge_before``)."""
    assert vmg.next is not None
    pglen = (vmg.end - vmg.start) >> PAGE_SHIFT
    return (
        is_mergeable_vma(vmg, merge_next=True)
        and _anon_vma_ok(vmg, merge_next=True)
        and vmg.next.vm_pgoff == vmg.pgoff + pglen
    )


def can_vma_merge_after(vmg: VmaMergeState) -> bool:
    """The range can merge behind ``vmg.prev`` (mirrors ``can_vma_merge_after``)."""
    assert vmg.prev is not None
    return (
        is_mergeable_vma(vmg, merge_next=False)
        and _anon_vma_ok(vmg, merge_next=False)
        and vmg.prev.vm_pgoff + vma_pages(vmg.prev) == vmg.pgoff
    )


def can_vma_merge_left(vmg: VmaMergeState) -> bool:
    """``prev`` ends where the range starts and is compatible (``can_vma_merge_left``)."""
    return vmg.prev is not None and vmg.prev.vm_end == vmg.start and can_vma_merge_after(vmg)


def can_vma_merge_right(vmg: VmaMergeState, can_merge_left: bool) -> bool:
    """``next`` starts where the range ends and is compatible, also with ``prev`` if merging both
    (mirrors ``can_vma_merge_right``)."""
    nxt = vmg.next
    if nxt is None or vmg.end != nxt.vm_start or not can_vma_merge_before(vmg):
        return False
    if not can_merge_left:
        return True
    assert vmg.prev is not None
    prev_anon, next_anon = vma_anon_vma_addr(vmg.prev), vma_anon_vma_addr(nxt)
    return not prev_anon or not next_anon or prev_anon == next_anon


def can_merge_remove_vma(vma: VMA) -> bool:
    """A VMA with a close hook may not be removed by a merge (``can_merge_remove_vma``)."""
    return vma.vm_ops is None or vma.vm_ops.close is None


# -- validate_mm (CONFIG_DEBUG_VM_MAPLE_TREE, CONFIG_DEBUG_VM_RB) ------------------------------


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
    if not isinstance(anon_vma, rmap.AnonVMA) or anon_vma.freed:
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
    live_anon = sum(1 for obj in kernel.objects.values() if isinstance(obj, rmap.AnonVMA))
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


# -- committing a merge -------------------------------------------------------------------------


def dup_anon_vma(dst: VMA, src: VMA) -> tuple[int, VMA | None]:
    """Hand ``src``'s anon_vma to a ``dst`` that has none (mirrors ``dup_anon_vma``).

    Returns ``(error, dup)``: ``dup`` is ``dst`` when it was given the anon_vma (so a failed merge
    can unlink it again), else None.
    """
    if vma_anon_vma_addr(src) and not vma_anon_vma_addr(dst):
        vma_dup_anon_vma(dst, src)
        ret = _ops(_mm(dst)).anon_vma_clone(dst, src)
        if ret:
            return ret, None
        return 0, dst
    return 0, None


def _vmg_adjust_set_range(vmg: VmaMergeState) -> None:
    """Move the start of the VMA that shrinks (mirrors ``vmg_adjust_set_range``)."""
    if vmg.adjust_middle_start:
        adjust = vmg.middle
        assert adjust is not None
        pgoff = adjust.vm_pgoff + ((vmg.end - adjust.vm_start) >> PAGE_SHIFT)
    elif vmg.adjust_next_start:
        adjust = vmg.next
        assert adjust is not None
        pgoff = adjust.vm_pgoff - ((adjust.vm_start - vmg.end) >> PAGE_SHIFT)
    else:
        return
    _set_range(adjust, vmg.end, adjust.vm_end, pgoff)


def _remove_merged(vma: VMA, remove: VMA) -> None:
    """``vma_complete`` for a VMA swallowed by ``vma``: out of the tree, chains unlinked.

    v6.14 calls ``anon_vma_merge`` (same anon_vma asserted), 6.18 ``unlink_anon_vmas``.
    """
    mm = _mm(vma)
    mm.unlink(remove)
    if vma_anon_vma_addr(remove):
        if not _sticky_era(mm):
            assert vma_anon_vma_addr(vma) == vma_anon_vma_addr(remove), "anon_vma_merge mismatch"
        _ops(mm).unlink_anon_vmas(remove)
    vm_area_free(remove)


def commit_merge(vmg: VmaMergeState) -> int:
    """Apply a decided merge to the tree (mirrors ``commit_merge``); 0 or -ENOMEM.

    Nothing changes when the tree preallocation fails.
    """
    if vmg.adjust_next_start:
        vma = vmg.middle
        assert vma is not None and vmg.next is not None
        vmg.vmi.addr = vmg.end
    else:
        vma = vmg.target
        assert vma is not None
        vmg.vmi.addr = vmg.start
    if vma_iter_prealloc(vmg.mm):
        return -errno.ENOMEM
    _set_range(vma, vmg.start, vmg.end, vmg.pgoff)
    _vmg_adjust_set_range(vmg)
    for victim, remove in ((vmg.middle, vmg.remove_middle), (vmg.next, vmg.remove_next)):
        if remove and victim is not None:
            _remove_merged(vma, victim)
    return 0


def _carry(vmg: VmaMergeState, dst: VMA, absorbed: Sequence[VMA | None]) -> None:
    vmg.mm.design.merge_carry(dst, *(vma for vma in absorbed if vma is not None))


def vma_merge_existing_range(vmg: VmaMergeState) -> VMA | None:
    """Merge ``[vmg.start, vmg.end)`` of ``vmg.middle`` into its neighbours if the changed range
    allows it (mirrors ``vma_merge_existing_range``).

    The caller sets ``middle`` and ``prev``; ``next`` is found here. Returns the merged VMA or None
    with ``vmg.state`` NOMERGE or ERROR_NOMEM.
    """
    mm = vmg.mm
    middle, prev = vmg.middle, vmg.prev
    assert middle is not None, "vma_merge_existing_range needs vmg.middle"
    start, end = vmg.start, vmg.end
    sticky = _sticky_flags(mm, vmg.flags)
    left_side = start == middle.vm_start
    right_side = end == middle.vm_end
    vmg.state = VMA_MERGE_NOMERGE

    if vmg.flags & VM_SPECIAL or (not left_side and not right_side):
        return None

    merge_left = left_side and can_vma_merge_left(vmg)
    nxt: VMA | None = None
    merge_right = False
    if right_side:
        after = mm.vma_next(middle)
        nxt = vmg.next = after if after is not None and after.vm_start == middle.vm_end else None
        merge_right = can_vma_merge_right(vmg, merge_left)

    if merge_left:
        assert prev is not None
        vmg.vmi.addr = prev.vm_start
    elif not merge_right:
        return None

    merge_both = merge_left and merge_right
    vmg.remove_middle = left_side and right_side
    if vmg.remove_middle and not can_merge_remove_vma(middle):
        return None
    vmg.remove_next = merge_both
    if vmg.remove_next and nxt is not None and not can_merge_remove_vma(nxt):
        vmg.remove_next = merge_right = merge_both = False

    vma_start_write(middle)
    if merge_right:
        assert nxt is not None
        vma_start_write(nxt)
        vmg.target = nxt
        sticky |= _sticky_flags(mm, nxt.vm_flags)
    if merge_left:
        assert prev is not None
        vma_start_write(prev)
        vmg.target = prev
        sticky |= _sticky_flags(mm, prev.vm_flags)

    absorbed: list[VMA | None] = [middle]
    if merge_both:
        assert prev is not None and nxt is not None
        vmg.start, vmg.end, vmg.pgoff = prev.vm_start, nxt.vm_end, prev.vm_pgoff
        absorbed.append(nxt)
        err, anon_dup = dup_anon_vma(prev, nxt if vma_anon_vma_addr(nxt) else middle)
    elif merge_left:
        assert prev is not None
        vmg.start, vmg.pgoff = prev.vm_start, prev.vm_pgoff
        if not vmg.remove_middle:
            vmg.adjust_middle_start = True
        err, anon_dup = dup_anon_vma(prev, middle)
    else:  # merge_right
        assert nxt is not None
        pglen = (vmg.end - vmg.start) >> PAGE_SHIFT
        if vmg.remove_middle:
            vmg.end, vmg.pgoff = nxt.vm_end, nxt.vm_pgoff - pglen
        else:  # middle shrinks, next grows down
            vmg.adjust_next_start = True
            vmg.start, vmg.end, vmg.pgoff = middle.vm_start, start, middle.vm_pgoff
        err, anon_dup = dup_anon_vma(nxt, middle)

    if err or commit_merge(vmg):
        vmg.vmi.addr = start
        if anon_dup is not None:
            _ops(mm).unlink_anon_vmas(anon_dup)
        if not vmg.give_up_on_oom:
            vmg.state = VMA_MERGE_ERROR_NOMEM
        return None

    target = vmg.target
    assert target is not None
    target.vm_flags |= sticky
    _carry(vmg, target, absorbed)
    vmg.state = VMA_MERGE_SUCCESS
    return target


def _expand_subject(vmg: VmaMergeState) -> VMA | None:
    """The VMA ``vma_expand`` grows: ``vmg.middle`` in v6.14, ``vmg.target`` in 6.18."""
    return vmg.target if _sticky_era(vmg.mm) else vmg.middle


def vma_merge_new_range(vmg: VmaMergeState) -> VMA | None:
    """Merge a new range ``[vmg.start, vmg.end)`` with ``vmg.prev``/``vmg.next`` by expanding one
    of them (mirrors ``vma_merge_new_range``). Returns the expanded VMA or None.
    """
    prev, nxt, end = vmg.prev, vmg.next, vmg.end
    vmg.state = VMA_MERGE_NOMERGE
    if vmg.flags & VM_SPECIAL or (prev is None and nxt is None):
        return None

    can_merge_left = can_vma_merge_left(vmg)
    can_merge_right = not vmg.just_expand and can_vma_merge_right(vmg, can_merge_left)
    subject: VMA | None = None
    if can_merge_right:
        assert nxt is not None
        vmg.end = nxt.vm_end
        subject = nxt
    if can_merge_left:
        assert prev is not None
        vmg.start, vmg.pgoff = prev.vm_start, prev.vm_pgoff
        subject = prev
        if can_merge_right and nxt is not None and not can_merge_remove_vma(nxt):
            vmg.end = end
        if not vmg.just_expand:
            vmg.vmi.addr = prev.vm_start
    if subject is None:
        return None
    if _sticky_era(vmg.mm):
        vmg.target = subject
    else:
        vmg.middle = subject
    if vma_expand(vmg) == 0:
        vmg.state = VMA_MERGE_SUCCESS
        return subject
    return None


def vma_expand(vmg: VmaMergeState) -> int:
    """Grow a VMA to ``[vmg.start, vmg.end)``, swallowing ``vmg.next`` if that is where it ends
    (mirrors ``vma_expand``). The VMA is ``vmg.middle`` in v6.14, ``vmg.target`` in 6.18.
    Returns 0 or -ENOMEM (``vmg.state`` ERROR_NOMEM, a duplicated anon_vma unlinked again).
    """
    mm = vmg.mm
    subject = _expand_subject(vmg)
    assert subject is not None, "vma_expand needs the VMA to expand"
    nxt = vmg.next
    vma_start_write(subject)
    remove_next = nxt is not None and nxt is not subject and vmg.end == nxt.vm_end
    sticky = _sticky_flags(mm, vmg.flags) | _sticky_flags(mm, subject.vm_flags)
    err, anon_dup = 0, None
    if remove_next:
        assert nxt is not None
        vma_start_write(nxt)
        err, anon_dup = dup_anon_vma(subject, nxt)
    if not err and vmg.copied_from is not None:
        err, copied_dup = dup_anon_vma(subject, vmg.copied_from)
        anon_dup = anon_dup or copied_dup
    if err:
        return err
    if remove_next:
        assert nxt is not None
        vmg.remove_next = True
        sticky |= _sticky_flags(mm, nxt.vm_flags)
    vmg.target = subject
    if commit_merge(vmg):
        if anon_dup is not None:
            _ops(mm).unlink_anon_vmas(anon_dup)
        if not vmg.give_up_on_oom:
            vmg.state = VMA_MERGE_ERROR_NOMEM
        return -errno.ENOMEM
    subject.vm_flags |= sticky
    _carry(vmg, subject, [nxt if remove_next else None, vmg.copied_from])
    return 0


def vma_shrink(mm: MMStruct, vma: VMA, start: int, end: int, pgoff: int) -> int:
    """Cut a VMA down to ``[start, end)`` at one end (mirrors ``vma_shrink``); 0 or -ENOMEM.

    Page tables of the cut part are the caller's business, as in the kernel.
    """
    if vma_iter_prealloc(mm):
        return -errno.ENOMEM
    vma_start_write(vma)
    _set_range(vma, start, end, pgoff)
    return 0


# -- splitting and modifying --------------------------------------------------------------------


def __split_vma(mm: MMStruct, vma: VMA, addr: int, new_below: bool) -> int:
    """Split ``vma`` at ``addr``, the new VMA taking the lower part if ``new_below``
    (mirrors ``__split_vma``).

    The new VMA gets the raw anon_vma word (flags kept) and a clone of the anon_vma chain.
    """
    assert vma.vm_start < addr < vma.vm_end, f"split of {vma!r} at {addr:#x}"
    new = vm_area_dup(vma)
    if new_below:
        new.vm_end = addr
    else:
        new.vm_start = addr
        new.vm_pgoff += (addr - vma.vm_start) >> PAGE_SHIFT
    if vma_iter_prealloc(mm):
        return -errno.ENOMEM
    err = _ops(mm).anon_vma_clone(new, vma)
    if err:
        return err
    vma_start_write(vma)
    vma_start_write(new)
    if new_below:
        _set_range(vma, addr, vma.vm_end, vma.vm_pgoff + ((addr - new.vm_start) >> PAGE_SHIFT))
    else:
        vma.vm_end = addr
    mm.link(new)
    return 0


def split_vma(mm: MMStruct, vma: VMA, addr: int, new_below: bool) -> int:
    """``__split_vma`` unless the mm is at ``sysctl_max_map_count`` (mirrors ``split_vma``)."""
    if mm.map_count >= DEFAULT_MAX_MAP_COUNT:
        return -errno.ENOMEM
    return __split_vma(mm, vma, addr, new_below)


def vma_modify(vmg: VmaMergeState) -> VMA:
    """Merge the changed range if possible, else split it out of its VMA (mirrors ``vma_modify``).

    Returns the merged VMA, or ``vmg.middle`` trimmed to ``[start, end)``; raises
    ``OSError(ENOMEM)`` (``ERR_PTR``) when the merge ran out of memory or a split failed.
    """
    vma = vmg.middle
    assert vma is not None
    start, end = vmg.start, vmg.end
    merged = vma_merge_existing_range(vmg)
    if merged is not None:
        return merged
    if vmg_nomem(vmg):
        raise OSError(errno.ENOMEM, "vma_modify: merge out of memory")
    if vma.vm_start < start:
        err = split_vma(vmg.mm, vma, start, True)
        if err:
            raise OSError(-err, "vma_modify: split failed")
    if vma.vm_end > end:
        err = split_vma(vmg.mm, vma, end, False)
        if err:
            raise OSError(-err, "vma_modify: split failed")
    return vma


def vma_modify_flags(
    mm: MMStruct, prev: VMA | None, vma: VMA, start: int, end: int, new_flags: int
) -> VMA:
    """``vma_modify`` with new flags for ``[start, end)`` of ``vma`` (mirrors ``vma_modify_flags``).

    The flags themselves are the caller's to set on the result, as in the kernel. A merge returns
    a neighbour (never ``vma``); in 6.18 the merged VMA's ``vm_flags`` then already carry the OR
    of the sticky flags, which the kernel hands back to the caller to keep.
    """
    vmg = vmg_vma_state(mm, prev, vma, start, end)
    vmg.flags = new_flags
    return vma_modify(vmg)


def vma_merge_extend(vma: VMA, delta: int) -> VMA | None:
    """Grow ``vma`` by ``delta`` bytes, merging with what follows if possible
    (mirrors ``vma_merge_extend``)."""
    mm = _mm(vma)
    vmg = vmg_vma_state(mm, vma, vma, vma.vm_end, vma.vm_end + delta)
    vmg.next = mm.vma_next(vma)
    vmg.middle = None
    return vma_merge_new_range(vmg)


def copy_vma(vma: VMA, addr: int, length: int, pgoff: int) -> VMA | None:
    """Copy ``vma`` to ``[addr, addr + length)`` for an mremap move, merging if possible
    (mirrors ``copy_vma``). Returns the new or merged VMA, or None (NULL) on failure.

    An unfaulted anonymous source takes the page offset of its destination. When the result
    covers the source's old start, the source itself was merged into it (the kernel's
    ``*vmap = new_vma`` case): the caller continues with the result.
    """
    mm = _mm(vma)
    if vma_is_anonymous(vma) and not vma_anon_vma_addr(vma):
        pgoff = addr >> PAGE_SHIFT
    found = mm.find_vma(addr)
    if found is not None and found.vm_start < addr + length:
        return None
    vmg = vmg_vma_state(mm, None, vma, addr, addr + length)
    vmg.prev = mm.vma_prev(addr)
    vmg.pgoff = pgoff
    vmg.next = mm.vma_next(addr)
    vmg.middle = None
    if _sticky_era(mm):
        vmg.copied_from = vma  # vma_merge_copied_range
    new_vma = vma_merge_new_range(vmg)
    if new_vma is not None:
        if not _sticky_era(mm):
            mm.design.merge_carry(new_vma, vma)
        return new_vma
    new_vma = vm_area_dup(vma)
    _set_range(new_vma, addr, addr + length, pgoff)
    if _ops(mm).anon_vma_clone(new_vma, vma):
        return None
    if vma_link(mm, new_vma):
        vma_close(new_vma)
        _ops(mm).unlink_anon_vmas(new_vma)
        return None
    return new_vma


# -- find_mergeable_anon_vma (used by anon_vma_prepare) -----------------------------------------


def anon_vma_compatible(a: VMA, b: VMA) -> bool:
    """Adjacent, same file, flags differing only in access (and ignored) bits, pgoff linear
    (mirrors ``anon_vma_compatible``)."""
    ignore = VM_ACCESS_FLAGS | _ignore_merge_flags(_mm(a))
    return (
        a.vm_end == b.vm_start
        and a.vm_file is b.vm_file
        and not (a.vm_flags ^ b.vm_flags) & ~ignore
        and b.vm_pgoff == a.vm_pgoff + ((b.vm_start - a.vm_start) >> PAGE_SHIFT)
    )


def reusable_anon_vma(old: VMA, a: VMA, b: VMA) -> rmap.AnonVMA | None:
    """``old``'s anon_vma if ``a``/``b`` are compatible and ``old`` is not a fork child
    (mirrors ``reusable_anon_vma``)."""
    if anon_vma_compatible(a, b):
        anon_vma = vma_anon_vma(old)
        if anon_vma is not None and len(old.anon_vma_chain) == 1:
            return anon_vma
    return None


def find_mergeable_anon_vma(vma: VMA) -> rmap.AnonVMA | None:
    """A neighbour's anon_vma ``anon_vma_prepare`` may share: next first, then prev
    (mirrors ``find_mergeable_anon_vma``)."""
    mm = _mm(vma)
    nxt = mm.vma_next(vma)
    if nxt is not None:
        anon_vma = reusable_anon_vma(nxt, vma, nxt)
        if anon_vma is not None:
            return anon_vma
    prev = mm.vma_prev(vma)
    if prev is not None:
        return reusable_anon_vma(prev, prev, vma)
    return None


# -- munmap -------------------------------------------------------------------------------------


@dataclass
class VmaMunmapState:
    """``struct vma_munmap_struct``: the VMAs detached for an unmap and their page counts."""

    mm: MMStruct
    start: int
    end: int
    vmas: list[VMA] = field(default_factory=list)
    prev: VMA | None = None
    next: VMA | None = None
    nr_pages: int = 0
    locked_vm: int = 0
    nr_accounted: int = 0
    clear_ptes: bool = False


def _reattach(vms: VmaMunmapState) -> None:
    """Put detached VMAs back (mirrors ``reattach_vmas``)."""
    for vma in vms.vmas:
        vms.mm.link(vma)
    vms.vmas.clear()
    vms.nr_pages = vms.locked_vm = vms.nr_accounted = 0


def vms_gather_munmap_vmas(vms: VmaMunmapState, first: VMA) -> int:
    """Split the VMAs straddling the range and detach the ones inside it
    (mirrors ``vms_gather_munmap_vmas``); 0 or -errno with the VMAs reattached.

    Detached VMAs leave the tree at once here (the maple tree keeps them until the range is
    overwritten): nothing between gathering and completion looks them up.
    """
    mm = vms.mm
    if vms.start > first.vm_start:
        if vms.end < first.vm_end and mm.map_count >= DEFAULT_MAX_MAP_COUNT:
            return -errno.ENOMEM
        error = __split_vma(mm, first, vms.start, True)
        if error:
            return error
    vms.prev = mm.vma_prev(vms.start)
    for vma in mm.vmas_in_range(vms.start, vms.end):
        if vma.vm_end > vms.end:
            error = __split_vma(mm, vma, vms.end, False)
            if error:
                _reattach(vms)
                return error
        vma_start_write(vma)
        mm.unlink(vma)
        vms.vmas.append(vma)
        pages = vma_pages(vma)
        vms.nr_pages += pages
        if vma.vm_flags & VM_LOCKED:
            vms.locked_vm += pages
        if vma.vm_flags & VM_ACCOUNT:
            vms.nr_accounted += pages
    vms.next = mm.vma_next(vms.end)
    vms.clear_ptes = True
    return 0


def vms_clear_ptes(vms: VmaMunmapState) -> None:
    """Zap the range and free the page tables and anon_vmas of the detached VMAs, once
    (mirrors ``vms_clear_ptes``)."""
    if not vms.clear_ptes:
        return
    _ops(vms.mm).clear_ptes(vms.mm, vms.vmas, vms.start, vms.end)
    vms.clear_ptes = False


def vms_clean_up_area(vms: VmaMunmapState) -> None:
    """Clear page tables and close the detached VMAs before a new mapping replaces them
    (mirrors ``vms_clean_up_area``)."""
    if not vms.nr_pages:
        return
    vms_clear_ptes(vms)
    for vma in vms.vmas:
        vma_close(vma)


def vms_complete_munmap_vmas(vms: VmaMunmapState) -> None:
    """Finish an unmap: accounting, page tables, close hooks, free
    (mirrors ``vms_complete_munmap_vmas``)."""
    vms.mm.locked_vm -= vms.locked_vm
    if not vms.nr_pages:
        return
    vms_clear_ptes(vms)
    for vma in vms.vmas:
        remove_vma(vma)


def remove_vma(vma: VMA) -> None:
    """Close a VMA and free it (mirrors ``remove_vma``)."""
    vma_close(vma)
    vm_area_free(vma)


def do_vmi_align_munmap(mm: MMStruct, vma: VMA, start: int, end: int) -> int:
    """Unmap the page-aligned ``[start, end)``, ``vma`` being the first VMA overlapping it
    (mirrors ``do_vmi_align_munmap``); 0 or -errno."""
    vms = VmaMunmapState(mm, start, end)
    error = vms_gather_munmap_vmas(vms, vma)
    if error:
        return error
    vms_complete_munmap_vmas(vms)
    return 0


def do_vmi_munmap(mm: MMStruct, start: int, length: int) -> int:
    """munmap a range (mirrors ``do_vmi_munmap``): -EINVAL for a bad range, 0 when nothing is
    mapped there."""
    if start % PAGE_SIZE or start > TASK_SIZE or length > TASK_SIZE - start:
        return -errno.EINVAL
    end = start + page_align(length)
    if end == start:
        return -errno.EINVAL
    vma = mm.find_vma(start)
    if vma is None or vma.vm_start >= end:
        return 0
    return do_vmi_align_munmap(mm, vma, start, end)


# -- mmap_region --------------------------------------------------------------------------------


def accountable_mapping(vm_flags: int) -> bool:
    """Private writable, not NORESERVE: charged to overcommit (mirrors ``accountable_mapping``;
    hugetlbfs files, which the kernel exempts, are not modelled)."""
    return vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE) == VM_WRITE


def _vms_abort_munmap_vmas(vms: VmaMunmapState) -> None:
    """Undo a MAP_FIXED replacement that failed (mirrors ``vms_abort_munmap_vmas``): reattach the
    old VMAs if their page tables are intact, else leave the hole, as the kernel does."""
    if not vms.nr_pages:
        return
    if vms.clear_ptes:
        _reattach(vms)
        return
    vms_complete_munmap_vmas(vms)


def mmap_region(
    mm: MMStruct,
    addr: int,
    length: int,
    vm_flags: int,
    pgoff: int,
    file: Any = None,
    vm_ops: VMOps | None = None,
) -> int:
    """Map ``[addr, addr + length)`` with ``vm_flags``, replacing what is there (MAP_FIXED
    semantics), merging with neighbours if possible (mirrors ``mmap_region``/``__mmap_region``).

    ``vm_flags`` are the final VMA flags from ``do_mmap``; ``VM_ACCOUNT`` is added for accountable
    mappings and ``VM_SOFTDIRTY`` on completion, as the kernel does. For a file mapping, ``file``
    is the file and ``vm_ops`` what its ``mmap`` hook installs (for ``MAP_SHARED|MAP_ANONYMOUS``
    pass the shmem file ``shmem_zero_setup`` would create). Returns ``addr`` or ``-errno``.
    """
    end = addr + length
    vms = VmaMunmapState(mm, addr, end)
    first = mm.find_vma(addr)
    if first is not None and first.vm_start < end:
        error = vms_gather_munmap_vmas(vms, first)
        if error:
            return error
        prev, nxt = vms.prev, vms.next
    else:
        prev, nxt = mm.vma_prev(addr), mm.vma_next(addr)

    if accountable_mapping(vm_flags):
        vm_flags |= VM_ACCOUNT

    vms_clean_up_area(vms)

    vma: VMA | None = None
    if prev is not None or nxt is not None:
        vmg = VmaMergeState(
            mm, start=addr, end=end, pgoff=pgoff, flags=vm_flags, file=file, prev=prev, next=nxt
        )
        vma = vma_merge_new_range(vmg)
    if vma is None:
        vma = VMA(addr, end, pgoff, vm_flags, vm_mm=mm)
        if vma_iter_prealloc(mm):
            _vms_abort_munmap_vmas(vms)
            return -errno.ENOMEM
        if file is not None:
            vma.vm_file = file
            vma.vm_ops = vm_ops
        vma_start_write(vma)
        mm.link(vma)

    _mmap_complete(vms, vma, length >> PAGE_SHIFT)
    return addr


def _mmap_complete(vms: VmaMunmapState, vma: VMA, pglen: int) -> None:
    """Drop the replaced VMAs, lock accounting, soft-dirty (mirrors ``__mmap_complete``)."""
    mm = vms.mm
    vms_complete_munmap_vmas(vms)
    if vma.vm_flags & VM_LOCKED:
        if vma.vm_flags & (VM_SPECIAL | VM_HUGETLB):
            vma.vm_flags &= ~VM_LOCKED_MASK
        else:
            mm.locked_vm += pglen
    vma.vm_flags |= VM_SOFTDIRTY
