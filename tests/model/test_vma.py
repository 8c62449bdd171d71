"""Unit tests of model/vma.py (mm/vma.c) with the kernel's rmap, both eras.

The harness port (conformance/test_harness_*) checks the merge logic with the harness's stubbed
rmap; these tests check what the stubs hide: real anon_vma chains and counters through merges,
splits and copies, accounting flags, close hooks, write locking, where the VMA iterator is left,
injected preallocation failure and ``anon_vma_clone`` failure (through an :class:`ExternalOps`
table), and the design hook ``merge_carry``. Expected values come from mm/vma.c (6ab2d9c7 for era
2025-03, 334fbe73 for 6.18), the RFC patch and the hazards of docs/spec.md §4, the reference
design of docs/spec.md §3.3, and where noted from the running 6.18 kernel.
(munmap and mmap_region have their own files: test_munmap.py, test_mmap.py.)
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import B, P
from vma_helpers import (
    ERAS,
    VM_RO,
    VM_RW,
    anon_at,
    lower_max_map_count,
    new_mm,
    pgoff_of,
    vma_extents,
)

from pytest_anonvma.designs import get_design
from pytest_anonvma.model.internals import HARNESS_OPS
from pytest_anonvma.model.mm import (
    vma_anon_vma,
    vma_anon_vma_flags,
    vma_clear_anon_vma,
    vma_set_anon_vma_unfaulted,
)
from pytest_anonvma.model.mm_types import (
    ANON_VMA_UNFAULTED,
    PAGE_SHIFT,
    VM_ACCOUNT,
    VM_MAYBE_GUARD,
    VM_SOFTDIRTY,
    VM_WRITE,
    VMA,
    MMStruct,
    VMOps,
)
from pytest_anonvma.model.rmap import anon_vma_fork, anon_vma_prepare
from pytest_anonvma.model.vma import (
    KERNEL_OPS,
    VMA_MERGE_ERROR_NOMEM,
    VMA_MERGE_NOMERGE,
    VMA_MERGE_START,
    VMA_MERGE_SUCCESS,
    ExternalOps,
    VmaMergeState,
    __split_vma,
    copy_vma,
    do_vmi_munmap,
    is_mergeable_anon_vma,
    mmap_region,
    set_external_ops,
    split_vma,
    validate_mm,
    vm_area_dup,
    vma_expand,
    vma_link,
    vma_merge_existing_range,
    vma_merge_extend,
    vma_merge_new_range,
    vma_modify_flags,
    vma_shrink,
    vmg_vma_state,
)

# -- merge rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
def test_softdirty_never_blocks_a_merge(era: str) -> None:
    """VM_SOFTDIRTY is ignored by is_mergeable_vma in both eras."""
    mm = new_mm(era)
    prev = anon_at(mm, 0, 2, flags=VM_RW | VM_SOFTDIRTY)
    vmg = new_range(mm, 2, 3)
    assert vma_merge_new_range(vmg) is prev
    assert vma_extents(mm) == [(0, 3)]


@pytest.mark.parametrize(("era", "merges"), [("2025-03", False), ("6.18", True)])
def test_maybe_guard_blocks_a_merge_only_before_sticky_flags(era: str, merges: bool) -> None:
    """VM_MAYBE_GUARD differs: a plain flag in v6.14, sticky in 6.18 (ignored for
    compatibility, OR-ed onto the survivor: the running kernel shows ``gu`` on the merged VMA)."""
    mm = new_mm(era, "maybe-guard")
    prev = anon_at(mm, 0, 2)
    vmg = new_range(mm, 2, 3, flags=VM_RW | VM_MAYBE_GUARD)
    merged = vma_merge_new_range(vmg)
    assert (merged is prev) is merges
    assert vmg.state == (VMA_MERGE_SUCCESS if merges else VMA_MERGE_NOMERGE)
    if merges:
        assert prev.vm_flags & VM_MAYBE_GUARD


def test_sticky_flag_survives_on_either_side_of_an_mprotect_merge() -> None:
    """6.18: whichever of prev and the modified VMA has VM_MAYBE_GUARD, the merged VMA has it."""
    for guarded in ("prev", "middle"):
        mm = new_mm("6.18", "maybe-guard")
        prev = anon_at(mm, 0, 2, flags=VM_RW | (VM_MAYBE_GUARD if guarded == "prev" else 0))
        vma = anon_at(
            mm, 2, 4, flags=VM_RW & ~VM_WRITE | (VM_MAYBE_GUARD if guarded == "middle" else 0)
        )
        merged = vma_modify_flags(mm, prev, vma, vma.vm_start, vma.vm_end, VM_RW | vma.vm_flags)
        assert merged is prev, guarded
        assert prev.vm_flags & VM_MAYBE_GUARD, guarded
        assert vma_extents(mm) == [(0, 4)]


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
    vma = anon_at(mm, 2, 4, flags=VM_RW & ~VM_WRITE)
    anon_vma_prepare(vma)
    anon_vma = vma_anon_vma(vma)
    result = vma_modify_flags(mm, prev, vma, vma.vm_start, vma.vm_end, VM_RW)
    if merges:
        assert result is prev
        assert vma_anon_vma(prev) is anon_vma and anon_vma.num_active_vmas == 1
        assert vma_extents(mm) == [(0, 4)]
        assert (mm.stats["avc_allocs"], mm.stats["avc_frees"]) == (2, 1)
    else:
        assert result is vma
        assert vma_anon_vma(prev) is None
        assert vma_extents(mm) == [(0, 2), (2, 4)]
    validate_mm(mm)


# -- what merges carry (design hook) --------------------------------------------------------------


@pytest.mark.parametrize(("design", "carried"), [("rfc-v1", 0), ("reference", ANON_VMA_UNFAULTED)])
def test_merge_existing_carries_the_flag_per_design(design: str, carried: int) -> None:
    """The mprotect hazard (docs/spec.md §4.1): a flag-only VMA mprotect'd back merges into its
    flagless prev; rfc-v1 loses the flag (dup_anon_vma moves only a real anon_vma), reference
    carries it."""
    mm = new_mm("2025-03", design)
    prev = anon_at(mm, 0, 1)
    vma = anon_at(mm, 1, 2, flags=VM_RW & ~VM_WRITE)
    vma_set_anon_vma_unfaulted(vma)
    assert vma_modify_flags(mm, prev, vma, vma.vm_start, vma.vm_end, VM_RW) is prev
    assert vma_anon_vma_flags(prev) == carried
    validate_mm(mm)


@pytest.mark.parametrize(("design", "carried"), [("rfc-v1", 0), ("reference", ANON_VMA_UNFAULTED)])
def test_expand_over_next_carries_the_flag_per_design(design: str, carried: int) -> None:
    """mmap_region filling the gap between a flagless prev and a flagged next: prev swallows
    next (vma_expand); reference carries next's flag, rfc-v1 does not."""
    mm = new_mm("2025-03", design)
    prev = anon_at(mm, 0, 1, flags=VM_RW | VM_ACCOUNT)
    nxt = anon_at(mm, 2, 3, flags=VM_RW | VM_ACCOUNT)
    vma_set_anon_vma_unfaulted(nxt)
    assert mmap_region(mm, B + P, P, VM_RW, (B + P) >> PAGE_SHIFT) == B + P
    assert vma_extents(mm) == [(0, 3)]
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
    assert vma_extents(mm) == [(0, 4), (8, 10)]
    assert vma_anon_vma_flags(prev) == carried


# -- split and modify -----------------------------------------------------------------------------


def test_modify_flags_splits_out_the_range() -> None:
    """No merge: the range is split out of its VMA, which is returned; flags are the caller's."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    anon_vma_prepare(vma)
    assert vma_modify_flags(mm, None, vma, B + P, B + 3 * P, VM_RW & ~VM_WRITE) is vma
    assert vma_extents(mm) == [(0, 1), (1, 3), (3, 4)]
    assert [v.vm_pgoff - (B >> PAGE_SHIFT) for v in mm] == [0, 1, 3]
    assert vma.vm_flags == VM_RW
    assert vma_anon_vma(vma).num_active_vmas == 3
    validate_mm(mm)


def test_modify_flags_out_of_memory() -> None:
    """With preallocation failing, a merge that would happen raises ENOMEM (ERR_PTR) and so does
    a split; nothing changes."""
    mm = new_mm()
    prev = anon_at(mm, 0, 1)
    vma = anon_at(mm, 1, 3, flags=VM_RW & ~VM_WRITE)
    mm.fail_prealloc = True
    with pytest.raises(OSError) as merge_error:
        vma_modify_flags(mm, prev, vma, vma.vm_start, vma.vm_end, VM_RW)
    with pytest.raises(OSError) as split_error:
        vma_modify_flags(mm, prev, vma, B + 2 * P, B + 3 * P, VM_RW)
    assert merge_error.value.errno == split_error.value.errno == errno.ENOMEM
    assert vma_extents(mm) == [(0, 1), (1, 3)]


def test_merge_extend_grows_a_lone_vma() -> None:
    """vma_merge_extend with nothing after the VMA expands it in place (mremap growing)."""
    mm = new_mm()
    vma = anon_at(mm, 0, 2)
    assert vma_merge_extend(vma, 2 * P) is vma
    assert vma_extents(mm) == [(0, 4)]


def test_shrink_keeps_the_start() -> None:
    """vma_shrink to a prefix; page offset unchanged."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    assert vma_shrink(mm, vma, vma.vm_start, B + P, vma.vm_pgoff) == 0
    assert vma_extents(mm) == [(0, 1)]


# -- copy_vma -------------------------------------------------------------------------------------


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


def _clone_fails(dst: VMA, src: VMA) -> int:
    """``anon_vma_clone`` failing an allocation: it leaves ``dst`` without an anon_vma."""
    vma_clear_anon_vma(dst)
    return -errno.ENOMEM


def fail_clones(mm: MMStruct) -> None:
    """Make every ``anon_vma_clone`` of ``mm`` fail with -ENOMEM; the rest stays the kernel's."""
    set_external_ops(
        mm, ExternalOps(_clone_fails, KERNEL_OPS.unlink_anon_vmas, KERNEL_OPS.clear_ptes)
    )


def faulted_neighbours(mm: MMStruct) -> tuple[VMA, VMA, VMA]:
    """Unfaulted RW prev [0, 1), RO middle [1, 2), faulted RW next [2, 3)."""
    prev, middle, nxt = anon_at(mm, 0, 1), anon_at(mm, 1, 2, flags=VM_RO), anon_at(mm, 2, 3)
    anon_vma_prepare(nxt)
    return prev, middle, nxt


# -- external operations, linking, the merge state ------------------------------------------------


def test_set_external_ops_none_restores_the_kernel_rmap() -> None:
    """After the harness's stubs are removed again, a split clones the anon_vma chain for real
    (anon_vma_clone allocates one link per split, as in test_vma's munmap-middle case)."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    anon_vma_prepare(vma)
    set_external_ops(mm, HARNESS_OPS)
    set_external_ops(mm, None)
    assert do_vmi_munmap(mm, B + P, 2 * P) == 0
    assert (mm.stats["avc_allocs"], mm.stats["avc_frees"]) == (3, 1)


def test_vma_link_preallocates_then_write_locks() -> None:
    """vma_link: -ENOMEM without touching the VMA when the tree preallocation fails; otherwise
    the VMA is write-locked (vma_start_write) and stored."""
    mm = new_mm()
    vma = VMA(B, B + P, pgoff_of(0), VM_RW, vm_mm=mm)
    mm.fail_prealloc = True
    assert vma_link(mm, vma) == -errno.ENOMEM
    assert list(mm) == [] and not vma.write_started
    mm.fail_prealloc = False
    assert vma_link(mm, vma) == 0
    assert list(mm) == [vma] and vma.write_started


def test_merge_state_fields_default_to_zero() -> None:
    """A vmg given only its mm is all zeros, like the C struct built with designated
    initialisers (VMG_STATE / the harness's vmg with no range): no range, no flags, no VMAs."""
    vmg = VmaMergeState(new_mm())
    assert (vmg.start, vmg.end, vmg.pgoff, vmg.flags, vmg.anon_vma) == (0, 0, 0, 0, 0)
    assert vmg.vmi.addr == 0 and vmg.state is VMA_MERGE_START
    assert vmg.prev is vmg.middle is vmg.next is vmg.target is None


# -- anon_vma_clone failing -----------------------------------------------------------------------


def test_failed_clone_aborts_an_existing_range_merge() -> None:
    """v6.14 mprotect making middle like both neighbours: prev (no anon_vma) must take next's
    anon_vma (dup_anon_vma); when anon_vma_clone fails, vma_merge_existing_range aborts with
    VMA_MERGE_ERROR_NOMEM, vma_modify returns ERR_PTR(-ENOMEM), and nothing changed."""
    mm = new_mm()
    prev, middle, _ = faulted_neighbours(mm)
    fail_clones(mm)
    with pytest.raises(OSError) as error:
        vma_modify_flags(mm, prev, middle, middle.vm_start, middle.vm_end, VM_RW)
    assert error.value.errno == errno.ENOMEM
    assert vma_extents(mm) == [(0, 1), (1, 2), (2, 3)]
    assert vma_anon_vma(prev) is None


def test_failed_clone_in_vma_expand_is_no_merge() -> None:
    """vma_merge_new_range filling the gap between an unfaulted prev and a faulted next: the
    iterator moves to prev (vma_prev) before vma_expand, whose dup_anon_vma fails; vma_expand
    returns the error before committing, so nothing merges, the state stays NOMERGE and the
    iterator is left at prev (no reset in vma_merge_new_range)."""
    mm = new_mm()
    prev = anon_at(mm, 0, 1)
    nxt = anon_at(mm, 2, 3)
    anon_vma_prepare(nxt)
    fail_clones(mm)
    vmg = VmaMergeState(mm, start=B + P, end=B + 2 * P, pgoff=pgoff_of(1), flags=VM_RW)
    vmg.prev, vmg.next = prev, nxt
    assert vma_merge_new_range(vmg) is None
    assert vmg.state is VMA_MERGE_NOMERGE
    assert vmg.vmi.addr == prev.vm_start
    assert vma_extents(mm) == [(0, 1), (2, 3)]
    assert vma_anon_vma(prev) is None


def test_failed_clone_fails_a_split() -> None:
    """__split_vma returns anon_vma_clone's error before changing anything: munmap of the
    middle of a faulted VMA fails with -ENOMEM and the VMA is whole."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    anon_vma_prepare(vma)
    fail_clones(mm)
    assert do_vmi_munmap(mm, B + P, 2 * P) == -errno.ENOMEM
    assert list(mm) == [vma] and vma_extents(mm) == [(0, 4)]


def test_failed_clone_fails_copy_vma() -> None:
    """copy_vma with nothing to merge with: anon_vma_clone failing makes it return NULL and
    nothing is mapped at the destination."""
    mm = new_mm()
    src = anon_at(mm, 0, 2)
    anon_vma_prepare(src)
    fail_clones(mm)
    assert copy_vma(src, B + 8 * P, 2 * P, src.vm_pgoff) is None
    assert vma_extents(mm) == [(0, 2)]


# -- merges: locks, iterator, what survives -------------------------------------------------------


@pytest.mark.parametrize("era", ["2025-03", "6.18"])
def test_vma_expand_write_locks_the_next_it_removes(era: str) -> None:
    """vma_expand swallowing next write-locks it (vma_start_write(next)) as well as the VMA it
    grows."""
    mm = new_mm(era)
    prev, nxt = anon_at(mm, 0, 1), anon_at(mm, 2, 3)
    vmg = VmaMergeState(mm, start=B + P, end=B + 2 * P, pgoff=pgoff_of(1), flags=VM_RW)
    vmg.prev, vmg.next = prev, nxt
    assert vma_merge_new_range(vmg) is prev
    assert vma_extents(mm) == [(0, 3)]
    assert prev.write_started and nxt.write_started


def test_commit_merge_positions_the_iterator_at_the_new_range() -> None:
    """commit_merge configures the iterator to the range it stores: vmg->start, or vmg->end
    when next's start is adjusted (vma_iter_config)."""
    mm = new_mm()
    nxt = anon_at(mm, 2, 4)
    vmg = VmaMergeState(mm, start=B + P, end=B + 2 * P, pgoff=pgoff_of(1), flags=VM_RW)
    vmg.next = nxt
    vmg.vmi.addr = B  # at or before the gap, as vma_merge_new_range requires
    assert vma_merge_new_range(vmg) is nxt
    assert vma_extents(mm) == [(1, 4)] and vmg.vmi.addr == B + P

    mm = new_mm()
    middle = anon_at(mm, 0, 4)
    nxt = anon_at(mm, 4, 6, flags=VM_RO)
    vmg = vmg_vma_state(mm, middle, middle, B + 2 * P, B + 4 * P)
    vmg.flags = VM_RO
    vmg.vmi.addr = B  # within middle, as vma_merge_existing_range requires
    assert vma_merge_existing_range(vmg) is nxt
    assert vma_extents(mm) == [(0, 2), (2, 6)] and vmg.vmi.addr == B + 2 * P


def test_failed_existing_merge_resets_the_iterator() -> None:
    """vma_merge_existing_range's abort path puts the iterator back at the range's start
    (vma_iter_set(vmi, start)) after commit_merge failed to preallocate."""
    mm = new_mm()
    prev = anon_at(mm, 0, 2)
    vma = anon_at(mm, 2, 4, flags=VM_RO)
    vmg = vmg_vma_state(mm, prev, vma, vma.vm_start, vma.vm_end)
    vmg.flags = VM_RW
    mm.fail_prealloc = True
    assert vma_merge_existing_range(vmg) is None
    assert vmg.state is VMA_MERGE_ERROR_NOMEM
    assert vmg.vmi.addr == vma.vm_start
    assert vma_extents(mm) == [(0, 2), (2, 4)]


def test_unremovable_middle_aborts_with_the_iterator_at_prev() -> None:
    """vma_merge_existing_range moves the iterator to prev (vma_prev) once it can merge left,
    then gives up without resetting it when the whole middle would have to go but has a close
    hook (can_merge_remove_vma): NULL, state NOMERGE, nothing changed."""
    mm = new_mm()
    prev = anon_at(mm, 0, 2, pgoff=0)
    middle = anon_at(mm, 2, 4, flags=VM_RO, pgoff=2)
    prev.vm_file = middle.vm_file = "file"
    middle.vm_ops = VMOps("closing", close=lambda vma: None)
    vmg = vmg_vma_state(mm, prev, middle, middle.vm_start, middle.vm_end)
    vmg.flags = VM_RW
    assert vma_merge_existing_range(vmg) is None
    assert vmg.state is VMA_MERGE_NOMERGE
    assert vmg.vmi.addr == prev.vm_start
    assert vma_extents(mm) == [(0, 2), (2, 4)]


@pytest.mark.parametrize(("design", "carried"), [("rfc-v1", 0), ("reference", ANON_VMA_UNFAULTED)])
def test_three_way_merge_carries_next_flag_per_design(design: str, carried: int) -> None:
    """mprotect merging prev, middle and a flagged next into prev: the reference design ORs the
    flags of every absorbed VMA, next's included (docs/spec.md §3.3); rfc-v1 keeps only what
    dup_anon_vma hands over, which is no flag."""
    mm = new_mm("2025-03", design)
    prev, middle, nxt = anon_at(mm, 0, 1), anon_at(mm, 1, 2, flags=VM_RO), anon_at(mm, 2, 3)
    vma_set_anon_vma_unfaulted(nxt)
    assert vma_modify_flags(mm, prev, middle, middle.vm_start, middle.vm_end, VM_RW) is prev
    assert vma_extents(mm) == [(0, 3)]
    assert vma_anon_vma_flags(prev) == carried


def test_merge_extend_of_a_fork_child_takes_an_unfaulted_next() -> None:
    """6.18: vma_merge_extend clears vmg.middle (the VMA only fills the vmg), so a fork child
    growing up to an unfaulted compatible next merges with it too: is_mergeable_anon_vma case 1
    checks vma_is_fork_child of the source, here NULL."""
    parent = new_mm("6.18")
    pvma = anon_at(parent, 0, 2)
    anon_vma_prepare(pvma)
    child = new_mm("6.18", parent=parent)
    cvma = vm_area_dup(pvma)
    cvma.vm_mm = child
    child.link(cvma)
    anon_vma_fork(cvma, pvma)
    anon_at(child, 4, 6)
    assert vma_merge_extend(cvma, 2 * P) is cvma
    assert vma_extents(child) == [(0, 6)]


# -- vma_expand's out-of-memory report ------------------------------------------------------------


@pytest.mark.parametrize(
    ("give_up", "state"), [(False, VMA_MERGE_ERROR_NOMEM), (True, VMA_MERGE_START)]
)
def test_vma_expand_out_of_memory_report(give_up: bool, state: object) -> None:
    """vma_expand failing to preallocate returns -ENOMEM; it reports VMA_MERGE_ERROR_NOMEM in
    vmg->state unless the caller set give_up_on_oom (6.18)."""
    mm = new_mm("6.18")
    prev = anon_at(mm, 0, 2)
    vmg = VmaMergeState(mm, start=prev.vm_start, end=B + 4 * P, pgoff=prev.vm_pgoff, flags=VM_RW)
    vmg.target, vmg.give_up_on_oom = prev, give_up
    mm.fail_prealloc = True
    assert vma_expand(vmg) == -errno.ENOMEM
    assert vmg.state is state
    assert vma_extents(mm) == [(0, 2)]


def test_copy_vma_link_failure_undoes_everything() -> None:
    """6.18 copy_vma of a faulted VMA next to an unfaulted prev with preallocation failing:
    vma_expand had given prev the copied VMA's anon_vma (dup_anon_vma of copied_from) and
    unlinks it again when commit_merge fails; the fallback new VMA gets a cloned chain, cannot
    be linked, and is closed and unlinked (copy_vma's error path). Nothing is left behind."""
    mm = new_mm("6.18")
    prev = anon_at(mm, 0, 2)
    src = anon_at(mm, 8, 10, pgoff=pgoff_of(2))
    anon_vma_prepare(src)
    anon_vma = vma_anon_vma(src)
    mm.fail_prealloc = True
    assert copy_vma(src, B + 2 * P, 2 * P, src.vm_pgoff) is None
    assert vma_extents(mm) == [(0, 2), (8, 10)]
    assert vma_anon_vma(prev) is None
    assert anon_vma.num_active_vmas == 1
    assert mm.stats["avc_allocs"] - mm.stats["avc_frees"] == 1


def test_copy_vma_link_failure_closes_the_copy() -> None:
    """copy_vma's vma_link failure path runs vma_close on the new VMA (a file VMA's close hook
    sees the copy at the destination, never the source)."""
    mm = new_mm()
    closed: list[tuple[int, int]] = []
    src = anon_at(mm, 0, 2)
    src.vm_file = "file"
    src.vm_ops = VMOps("counting", close=lambda vma: closed.append((vma.vm_start, vma.vm_end)))
    mm.fail_prealloc = True
    assert copy_vma(src, B + 8 * P, 2 * P, src.vm_pgoff) is None
    assert closed == [(B + 8 * P, B + 10 * P)]
    assert vma_extents(mm) == [(0, 2)]


# -- vma_shrink, split ----------------------------------------------------------------------------


def test_vma_shrink_preallocates_then_write_locks() -> None:
    """vma_shrink: -ENOMEM and no change when preallocation fails; else write-locked and cut."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    mm.fail_prealloc = True
    assert vma_shrink(mm, vma, vma.vm_start, B + P, vma.vm_pgoff) == -errno.ENOMEM
    assert vma_extents(mm) == [(0, 4)] and not vma.write_started
    mm.fail_prealloc = False
    assert vma_shrink(mm, vma, vma.vm_start, B + P, vma.vm_pgoff) == 0
    assert vma_extents(mm) == [(0, 1)] and vma.write_started


@pytest.mark.parametrize("new_below", [False, True])
def test_split_write_locks_both_parts(new_below: bool) -> None:
    """__split_vma write-locks the VMA and the new one (vma_start_write on both)."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    assert split_vma(mm, vma, B + P, new_below) == 0
    assert vma_extents(mm) == [(0, 1), (1, 4)]
    assert all(part.write_started for part in mm)


def test_split_vma_obeys_max_map_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """split_vma refuses with -ENOMEM at sysctl_max_map_count; __split_vma bypasses the check."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    lower_max_map_count(monkeypatch, mm)
    assert split_vma(mm, vma, B + P, False) == -errno.ENOMEM
    assert vma_extents(mm) == [(0, 4)]
    assert __split_vma(mm, vma, B + P, False) == 0
    assert vma_extents(mm) == [(0, 1), (1, 4)]


def test_modify_of_a_head_fails_when_the_end_split_fails() -> None:
    """vma_modify of [vm_start, mid) with nothing to merge splits at the end; that split
    failing makes it return ERR_PTR(-ENOMEM), the VMA unchanged."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    mm.fail_prealloc = True
    with pytest.raises(OSError) as error:
        vma_modify_flags(mm, None, vma, vma.vm_start, B + P, VM_RO)
    assert error.value.errno == errno.ENOMEM
    assert vma_extents(mm) == [(0, 4)]


# -- the VMA tree (MMStruct) ----------------------------------------------------------------------


def test_link_attaches_and_unlink_detaches() -> None:
    """Linking a VMA makes it this mm's and attached; unlinking detaches it (vma_link /
    vma_mark_attached, vma_iter_clear / vma_mark_detached, mm/vma.c)."""
    mm = MMStruct(get_design("reference"), "2025-03")
    vma = VMA(B, B + P, B // P, VM_RW)
    mm.link(vma)
    assert vma.vm_mm is mm and not vma.detached
    mm.unlink(vma)
    assert vma.detached and mm.map_count == 0


def test_vmas_in_range_without_vmas() -> None:
    """No VMA overlaps a range past the last VMA, or any range of an empty mm."""
    mm = MMStruct(get_design("reference"), "2025-03")
    assert mm.vmas_in_range(B, B + P) == []
    mm.link(VMA(B, B + P, B // P, VM_RW))
    assert mm.vmas_in_range(B + 2 * P, B + 3 * P) == []
    assert mm.vmas_in_range(B - P, B) == []
    assert len(mm.vmas_in_range(B - P, B + 3 * P)) == 1


def test_mm_struct_rejects_an_unknown_era() -> None:
    """An mm follows one of the known eras' mm/vma.c rules; another is a ValueError naming it."""
    with pytest.raises(ValueError, match="1999"):
        MMStruct(get_design("reference"), "1999")


def new_range(mm: MMStruct, first: int, end: int, flags: int = VM_RW) -> VmaMergeState:
    """A vmg for a new anonymous range over arena pages ``[first, end)``, prev/next filled in."""
    start = B + first * P
    vmg = VmaMergeState(mm, start=start, end=B + end * P, pgoff=start >> PAGE_SHIFT, flags=flags)
    vmg.prev, vmg.next = mm.vma_prev(start), mm.vma_next(start)
    return vmg
