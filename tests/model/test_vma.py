"""Unit tests of model/vma.py (mm/vma.c) with the kernel's rmap, both eras.

The harness port (conformance/test_harness_*) checks the merge logic with the harness's stubbed
rmap; these tests check what the stubs hide: real anon_vma chains and counters through merges,
splits, unmaps and copies, page tables on unmap, accounting flags, close hooks, injected
preallocation failure, and the design hook ``merge_carry``. Expected values come from mm/vma.c
(6ab2d9c7 for era 2025-03, 334fbe73 for 6.18), the RFC patch and the spec's hazards
(anonvma-spec.md section 4), and where noted from the running 6.18 kernel.
"""

from __future__ import annotations

import errno

import pytest

from pytest_anonvma.constants import (
    MADV_GUARD_INSTALL,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
)
from pytest_anonvma.designs import get_design
from pytest_anonvma.model.debug import validate_mm
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mm import (
    vma_anon_vma,
    vma_anon_vma_flags,
    vma_set_anon_vma_unfaulted,
)
from pytest_anonvma.model.mm_types import (
    ANON_VMA_UNFAULTED,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_ACCOUNT,
    VM_IO,
    VM_LOCKED,
    VM_MAYBE_GUARD,
    VM_MAYREAD,
    VM_MAYWRITE,
    VM_NORESERVE,
    VM_READ,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_WRITE,
    VMA,
    MMStruct,
    VMOps,
)
from pytest_anonvma.model.rmap import anon_vma_fork, anon_vma_prepare
from pytest_anonvma.model.vma import (
    VMA_DUMMY_VM_OPS,
    VMA_MERGE_NOMERGE,
    VMA_MERGE_SUCCESS,
    VmaMergeState,
    copy_vma,
    do_vmi_munmap,
    is_mergeable_anon_vma,
    mmap_region,
    vm_area_dup,
    vma_merge_extend,
    vma_merge_new_range,
    vma_modify_flags,
    vma_shrink,
)

P = PAGE_SIZE
B = 0x2000_0000_0000
RW = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE
ERAS = ("2025-03", "6.18")


def new_mm(
    era: str = "2025-03", design: str = "reference", parent: MMStruct | None = None
) -> MMStruct:
    """An empty mm; a fork child of ``parent`` shares its kernel."""
    return MMStruct(get_design(design), era, parent.kernel if parent is not None else None)


def anon_at(mm: MMStruct, first: int, end: int, flags: int = RW, pgoff: int | None = None) -> VMA:
    """Link an anonymous VMA over arena pages ``[first, end)`` (pgoff linear by default)."""
    start = B + first * P
    vma = VMA(start, B + end * P, start >> PAGE_SHIFT if pgoff is None else pgoff, flags, vm_mm=mm)
    mm.link(vma)
    return vma


def extents(mm: MMStruct) -> list[tuple[int, int]]:
    """The VMAs as arena page ranges."""
    return [((v.vm_start - B) // P, (v.vm_end - B) // P) for v in mm]


def new_range(mm: MMStruct, first: int, end: int, flags: int = RW) -> VmaMergeState:
    """A vmg for a new anonymous range over arena pages ``[first, end)``, prev/next filled in."""
    start = B + first * P
    vmg = VmaMergeState(mm, start=start, end=B + end * P, pgoff=start >> PAGE_SHIFT, flags=flags)
    vmg.prev, vmg.next = mm.vma_prev(start), mm.vma_next(start)
    return vmg


# -- merge rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
def test_softdirty_never_blocks_a_merge(era: str) -> None:
    """VM_SOFTDIRTY is ignored by is_mergeable_vma in both eras."""
    mm = new_mm(era)
    prev = anon_at(mm, 0, 2, flags=RW | VM_SOFTDIRTY)
    vmg = new_range(mm, 2, 3)
    assert vma_merge_new_range(vmg) is prev
    assert extents(mm) == [(0, 3)]


@pytest.mark.parametrize(("era", "merges"), [("2025-03", False), ("6.18", True)])
def test_maybe_guard_blocks_a_merge_only_before_sticky_flags(era: str, merges: bool) -> None:
    """VM_MAYBE_GUARD differs: a plain flag in v6.14, sticky in 6.18 (ignored for
    compatibility, OR-ed onto the survivor: the running kernel shows ``gu`` on the merged VMA)."""
    mm = new_mm(era, "maybe-guard")
    prev = anon_at(mm, 0, 2)
    vmg = new_range(mm, 2, 3, flags=RW | VM_MAYBE_GUARD)
    merged = vma_merge_new_range(vmg)
    assert (merged is prev) is merges
    assert vmg.state == (VMA_MERGE_SUCCESS if merges else VMA_MERGE_NOMERGE)
    if merges:
        assert prev.vm_flags & VM_MAYBE_GUARD


def test_sticky_flag_survives_on_either_side_of_an_mprotect_merge() -> None:
    """6.18: whichever of prev and the modified VMA has VM_MAYBE_GUARD, the merged VMA has it."""
    for guarded in ("prev", "middle"):
        mm = new_mm("6.18", "maybe-guard")
        prev = anon_at(mm, 0, 2, flags=RW | (VM_MAYBE_GUARD if guarded == "prev" else 0))
        vma = anon_at(
            mm, 2, 4, flags=RW & ~VM_WRITE | (VM_MAYBE_GUARD if guarded == "middle" else 0)
        )
        merged = vma_modify_flags(mm, prev, vma, vma.vm_start, vma.vm_end, RW | vma.vm_flags)
        assert merged is prev, guarded
        assert prev.vm_flags & VM_MAYBE_GUARD, guarded
        assert extents(mm) == [(0, 4)]


@pytest.mark.parametrize("era", ERAS)
def test_fork_child_neighbour_is_not_merged_with(era: str) -> None:
    """A neighbour whose chain is not singular (a fork child) does not take a new range:
    list_is_singular in v6.14, vma_is_fork_child in 6.18."""
    parent = new_mm(era)
    pvma = anon_at(parent, 0, 2)
    anon_vma_prepare(pvma)
    child = new_mm(era, parent=parent)
    cvma = vm_area_dup(pvma)
    cvma.vm_mm = child
    child.link(cvma)
    anon_vma_fork(cvma, pvma)
    vmg = new_range(child, 2, 3)
    assert vma_merge_new_range(vmg) is None
    assert vmg.state == VMA_MERGE_NOMERGE


def test_is_mergeable_anon_vma_v6_14() -> None:
    """The v6.14 rule: a side without an anon_vma is fine against a singular-chain neighbour (or
    none given); two anon_vmas must be the same."""
    mm = new_mm()
    single = anon_at(mm, 0, 1)
    anon_vma_prepare(single)
    empty = anon_at(mm, 2, 3)
    addr = vma_anon_vma(single).addr
    assert is_mergeable_anon_vma(0, addr, single)
    assert is_mergeable_anon_vma(addr, addr, empty)
    assert is_mergeable_anon_vma(0, 0, empty)  # both NULL: equal
    assert not is_mergeable_anon_vma(addr, 0, empty)  # empty chain is not singular
    assert not is_mergeable_anon_vma(addr, addr + 0x40, None)


@pytest.mark.parametrize(("era", "merges"), [("2025-03", False), ("6.18", True)])
def test_faulted_vma_into_unfaulted_prev(era: str, merges: bool) -> None:
    """mprotect-style merge of a VMA with an anon_vma into an unfaulted prev: refused by v6.14,
    done by 6.18 (is_mergeable_anon_vma case 1; the running 6.18 kernel merges an mprotect'd
    written page into an untouched neighbour). prev then holds the anon_vma through a link of
    its own and the absorbed VMA's link is freed."""
    mm = new_mm(era)
    prev = anon_at(mm, 0, 2)
    vma = anon_at(mm, 2, 4, flags=RW & ~VM_WRITE)
    anon_vma_prepare(vma)
    anon_vma = vma_anon_vma(vma)
    result = vma_modify_flags(mm, prev, vma, vma.vm_start, vma.vm_end, RW)
    if merges:
        assert result is prev
        assert vma_anon_vma(prev) is anon_vma and anon_vma.num_active_vmas == 1
        assert extents(mm) == [(0, 4)]
        assert (mm.stats["avc_allocs"], mm.stats["avc_frees"]) == (2, 1)
    else:
        assert result is vma
        assert vma_anon_vma(prev) is None
        assert extents(mm) == [(0, 2), (2, 4)]
    validate_mm(mm)


# -- what merges carry (design hook) ------------------------------------------------------------


@pytest.mark.parametrize(("design", "carried"), [("rfc-v1", 0), ("reference", ANON_VMA_UNFAULTED)])
def test_merge_existing_carries_the_flag_per_design(design: str, carried: int) -> None:
    """The spec's mprotect hazard: a flag-only VMA mprotect'd back merges into its flagless prev;
    rfc-v1 loses the flag (dup_anon_vma moves only a real anon_vma), reference carries it."""
    mm = new_mm("2025-03", design)
    prev = anon_at(mm, 0, 1)
    vma = anon_at(mm, 1, 2, flags=RW & ~VM_WRITE)
    vma_set_anon_vma_unfaulted(vma)
    assert vma_modify_flags(mm, prev, vma, vma.vm_start, vma.vm_end, RW) is prev
    assert vma_anon_vma_flags(prev) == carried
    validate_mm(mm)


@pytest.mark.parametrize(("design", "carried"), [("rfc-v1", 0), ("reference", ANON_VMA_UNFAULTED)])
def test_expand_over_next_carries_the_flag_per_design(design: str, carried: int) -> None:
    """mmap_region filling the gap between a flagless prev and a flagged next: prev swallows
    next (vma_expand); reference carries next's flag, rfc-v1 does not."""
    mm = new_mm("2025-03", design)
    prev = anon_at(mm, 0, 1, flags=RW | VM_ACCOUNT)
    nxt = anon_at(mm, 2, 3, flags=RW | VM_ACCOUNT)
    vma_set_anon_vma_unfaulted(nxt)
    assert mmap_region(mm, B + P, P, RW, (B + P) >> PAGE_SHIFT) == B + P
    assert extents(mm) == [(0, 3)]
    assert vma_anon_vma_flags(prev) == carried


@pytest.mark.parametrize(("design", "carried"), [("rfc-v1", 0), ("reference", ANON_VMA_UNFAULTED)])
def test_copy_vma_merge_carries_the_flag_per_design(design: str, carried: int) -> None:
    """mremap moving a flagged unfaulted VMA next to a compatible prev: copy_vma merges into
    prev (the source takes the destination's pgoff); reference carries the flag."""
    mm = new_mm("2025-03", design)
    prev = anon_at(mm, 0, 2)
    src = anon_at(mm, 8, 10)
    vma_set_anon_vma_unfaulted(src)
    assert copy_vma(src, B + 2 * P, 2 * P, 0) is prev
    assert extents(mm) == [(0, 4), (8, 10)]
    assert vma_anon_vma_flags(prev) == carried


# -- split and modify ---------------------------------------------------------------------------


def test_modify_flags_splits_out_the_range() -> None:
    """No merge: the range is split out of its VMA, which is returned; flags are the caller's."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    anon_vma_prepare(vma)
    assert vma_modify_flags(mm, None, vma, B + P, B + 3 * P, RW & ~VM_WRITE) is vma
    assert extents(mm) == [(0, 1), (1, 3), (3, 4)]
    assert [v.vm_pgoff - (B >> PAGE_SHIFT) for v in mm] == [0, 1, 3]
    assert vma.vm_flags == RW
    assert vma_anon_vma(vma).num_active_vmas == 3
    validate_mm(mm)


def test_modify_flags_out_of_memory() -> None:
    """With preallocation failing, a merge that would happen raises ENOMEM (ERR_PTR) and so does
    a split; nothing changes."""
    mm = new_mm()
    prev = anon_at(mm, 0, 1)
    vma = anon_at(mm, 1, 3, flags=RW & ~VM_WRITE)
    mm.fail_prealloc = True
    with pytest.raises(OSError) as merge_error:
        vma_modify_flags(mm, prev, vma, vma.vm_start, vma.vm_end, RW)
    with pytest.raises(OSError) as split_error:
        vma_modify_flags(mm, prev, vma, B + 2 * P, B + 3 * P, RW)
    assert merge_error.value.errno == split_error.value.errno == errno.ENOMEM
    assert extents(mm) == [(0, 1), (1, 3)]


def test_merge_extend_grows_a_lone_vma() -> None:
    """vma_merge_extend with nothing after the VMA expands it in place (mremap growing)."""
    mm = new_mm()
    vma = anon_at(mm, 0, 2)
    assert vma_merge_extend(vma, 2 * P) is vma
    assert extents(mm) == [(0, 4)]


def test_shrink_keeps_the_start() -> None:
    """vma_shrink to a prefix; page offset unchanged."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    assert vma_shrink(mm, vma, vma.vm_start, B + P, vma.vm_pgoff) == 0
    assert extents(mm) == [(0, 1)]


# -- munmap -------------------------------------------------------------------------------------


def test_munmap_argument_errors() -> None:
    """Unaligned start or empty length: -EINVAL; nothing mapped there: 0."""
    mm = new_mm()
    assert do_vmi_munmap(mm, B + 1, P) == -errno.EINVAL
    assert do_vmi_munmap(mm, B, 0) == -errno.EINVAL
    assert do_vmi_munmap(mm, B, P) == 0


def test_munmap_middle_splits_and_drops_one_link() -> None:
    """Unmapping the middle of a faulted VMA splits it twice (two links cloned) and unlinks the
    middle part's link; the anon_vma stays for the two ends."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    anon_vma_prepare(vma)
    anon_vma = vma_anon_vma(vma)
    assert do_vmi_munmap(mm, B + P, 2 * P) == 0
    assert extents(mm) == [(0, 1), (3, 4)]
    assert anon_vma.num_active_vmas == 2 and not anon_vma.freed
    assert (mm.stats["avc_allocs"], mm.stats["avc_frees"]) == (3, 1)
    validate_mm(mm)


def test_munmap_closes_each_vma_once_and_unlocks() -> None:
    """remove_vma runs the close hook once (vma_close then neutralises vm_ops); unmapping a
    VM_LOCKED VMA gives back its pages in locked_vm."""
    mm = new_mm()
    closed: list[VMA] = []
    vma = anon_at(mm, 0, 2, flags=RW | VM_LOCKED)
    vma.vm_ops = VMOps("counting", close=closed.append)
    mm.locked_vm = 2
    assert do_vmi_munmap(mm, B, 2 * P) == 0
    assert closed == [vma]
    assert vma.vm_ops is VMA_DUMMY_VM_OPS
    assert mm.locked_vm == 0 and extents(mm) == []


@pytest.mark.parametrize("design", ["rfc-v1", "maybe-guard"])
def test_munmap_clears_page_tables_and_markers(design: str) -> None:
    """munmap drops present pages and guard markers of the range, and only those."""
    with ModelMM(design) as m:
        m.mmap(B, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        for page in range(4):
            m.write(B + page * P, 1)
        m.madvise(B + P, P, MADV_GUARD_INSTALL)
        m.munmap(B + P, 2 * P)
        assert not [pfn for pfn in m.mm.ptes if B // P + 1 <= pfn < B // P + 3]
        assert m.page(B).char + m.page(B + 3 * P).char == "PP"
        validate_mm(m.mm)


# -- mmap_region --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "accounted"),
    [(RW, True), (RW | VM_NORESERVE, False), (RW | VM_SHARED, False), (RW & ~VM_WRITE, False)],
    ids=["private-writable", "noreserve", "shared", "read-only"],
)
def test_mmap_region_accounting_and_softdirty(flags: int, accounted: bool) -> None:
    """VM_ACCOUNT only for private writable mappings without VM_NORESERVE
    (accountable_mapping); every new VMA gets VM_SOFTDIRTY (__mmap_complete)."""
    mm = new_mm()
    assert mmap_region(mm, B, 2 * P, flags, B >> PAGE_SHIFT) == B
    (vma,) = list(mm)
    assert bool(vma.vm_flags & VM_ACCOUNT) is accounted
    assert vma.vm_flags & VM_SOFTDIRTY


def test_mmap_region_locked_accounting() -> None:
    """A VM_LOCKED mapping counts in locked_vm; VM_SPECIAL ones drop VM_LOCKED instead."""
    mm = new_mm()
    mmap_region(mm, B, 2 * P, RW | VM_LOCKED, B >> PAGE_SHIFT)
    assert mm.locked_vm == 2
    mmap_region(mm, B + 4 * P, P, RW | VM_LOCKED | VM_IO, (B >> PAGE_SHIFT) + 4)
    assert mm.locked_vm == 2
    special = mm.vma_lookup(B + 4 * P)
    assert special is not None and not special.vm_flags & VM_LOCKED


@pytest.mark.parametrize("era", ERAS)
def test_map_fixed_over_the_middle_remerges(era: str) -> None:
    """MAP_FIXED of the same protection over the middle of a written VMA: the old pages and
    guard markers of the middle go, and the three parts merge back into one VMA (seen on the
    running 6.18 kernel: one rw-p VMA, pages 1-2 empty, 0 and 3 present)."""
    design = "maybe-guard" if era == "6.18" else "reference"
    with ModelMM(design, era) as m:
        rw = PROT_READ | PROT_WRITE
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
        m.mmap(B, 4 * P, rw, flags)
        for page in range(4):
            m.write(B + page * P, 1)
        m.madvise(B + P, P, MADV_GUARD_INSTALL)
        m.mmap(B + P, 2 * P, rw, flags)
        assert [(v.start, v.end) for v in m.vmas()] == [(B, B + 4 * P)]
        assert "".join(m.page(B + page * P).char for page in range(4)) == "P..P"
        validate_mm(m.mm)


def test_mmap_region_prealloc_failure() -> None:
    """With preallocation failing: a replacement needing a split fails before any change; one
    needing none has already cleared the old VMA's page tables when the new VMA cannot be
    stored, so the kernel leaves the hole (vms_abort_munmap_vmas)."""
    mm = new_mm()
    anon_at(mm, 0, 4)
    mm.fail_prealloc = True
    assert mmap_region(mm, B + P, P, RW, (B >> PAGE_SHIFT) + 1) == -errno.ENOMEM
    assert extents(mm) == [(0, 4)]
    mm.fail_prealloc = False
    other = new_mm()
    anon_at(other, 0, 2, flags=RW & ~VM_WRITE)
    other.fail_prealloc = True
    assert mmap_region(other, B, 2 * P, RW, B >> PAGE_SHIFT) == -errno.ENOMEM
    assert extents(other) == []


# -- copy_vma -----------------------------------------------------------------------------------


def test_copy_vma_of_an_unfaulted_anonymous_vma_takes_the_destination_pgoff() -> None:
    """An anonymous VMA without an anon_vma gets the page offset of its new address."""
    mm = new_mm()
    src = anon_at(mm, 0, 2, pgoff=7)
    new = copy_vma(src, B + 8 * P, 2 * P, 7)
    assert new is not None and new is not src
    assert new.vm_pgoff == (B + 8 * P) >> PAGE_SHIFT


def test_copy_vma_of_a_faulted_vma_clones_its_chain() -> None:
    """A faulted VMA keeps the given page offset and its copy links to the same anon_vma."""
    mm = new_mm()
    src = anon_at(mm, 0, 2)
    anon_vma_prepare(src)
    new = copy_vma(src, B + 8 * P, 2 * P, src.vm_pgoff)
    assert new is not None and new.vm_pgoff == src.vm_pgoff
    assert vma_anon_vma(new) is vma_anon_vma(src)
    assert vma_anon_vma(src).num_active_vmas == 2
    validate_mm(mm)


def test_copy_vma_refuses_an_occupied_destination() -> None:
    """copy_vma onto a mapped range returns NULL (the caller has unmapped it first)."""
    mm = new_mm()
    src = anon_at(mm, 0, 2)
    anon_at(mm, 4, 6)
    assert copy_vma(src, B + 3 * P, 2 * P, 0) is None
