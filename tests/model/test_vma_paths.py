"""Paths of model/vma.py (mm/vma.c) that the merge tests and the harness port leave unchecked.

Failure paths (tree preallocation failing via ``mm.fail_prealloc``, ``anon_vma_clone`` failing
through an :class:`ExternalOps` table, ``vm.max_map_count`` lowered), write locking, where the
VMA iterator is left, the order of close hooks and page-table teardown in a MAP_FIXED
replacement, lock accounting of replaced VMAs, and munmap's argument checks. Expected values come
from mm/vma.c (each test names the function; v6.14 rules for era 2025-03, 334fbe73 for 6.18),
the spec's reference design (anonvma-spec.md section 3) and, where noted, the running kernel.
"""

from __future__ import annotations

import errno

import pytest
from test_vma import RW, B, P, anon_at, extents, new_mm

from pytest_anonvma.internals import HARNESS_OPS
from pytest_anonvma.model import vma as vmac
from pytest_anonvma.model.mm import (
    vma_anon_vma,
    vma_anon_vma_flags,
    vma_clear_anon_vma,
    vma_set_anon_vma_unfaulted,
)
from pytest_anonvma.model.mm_types import (
    ANON_VMA_UNFAULTED,
    PAGE_SHIFT,
    VM_LOCKED,
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
    ExternalOps,
    VmaMergeState,
    __split_vma,
    copy_vma,
    do_vmi_munmap,
    mmap_region,
    set_external_ops,
    split_vma,
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

RO = RW & ~VM_WRITE
#: x86-64 TASK_SIZE_MAX: (1 << 47) - PAGE_SIZE (arch/x86/include/asm/page_64_types.h)
X86_64_TASK_SIZE = (1 << 47) - P


def pgoff_of(page: int) -> int:
    """The linear page offset of arena page ``page``."""
    return (B + page * P) >> PAGE_SHIFT


def _clone_fails(dst: VMA, src: VMA) -> int:
    """``anon_vma_clone`` failing an allocation: it leaves ``dst`` without an anon_vma."""
    vma_clear_anon_vma(dst)
    return -errno.ENOMEM


def fail_clones(mm: MMStruct) -> None:
    """Make every ``anon_vma_clone`` of ``mm`` fail with -ENOMEM; the rest stays the kernel's."""
    set_external_ops(
        mm, ExternalOps(_clone_fails, KERNEL_OPS.unlink_anon_vmas, KERNEL_OPS.clear_ptes)
    )


def lower_max_map_count(monkeypatch: pytest.MonkeyPatch, mm: MMStruct) -> None:
    """Set ``vm.max_map_count`` (the model's ``DEFAULT_MAX_MAP_COUNT``) to the mm's VMA count."""
    monkeypatch.setattr(vmac, "DEFAULT_MAX_MAP_COUNT", mm.map_count)


def faulted_neighbours(mm: MMStruct) -> tuple[VMA, VMA, VMA]:
    """Unfaulted RW prev [0, 1), RO middle [1, 2), faulted RW next [2, 3)."""
    prev, middle, nxt = anon_at(mm, 0, 1), anon_at(mm, 1, 2, flags=RO), anon_at(mm, 2, 3)
    anon_vma_prepare(nxt)
    return prev, middle, nxt


# -- munmap arguments ---------------------------------------------------------------------------


def test_munmap_rejects_ranges_beyond_task_size() -> None:
    """do_vmi_munmap: -EINVAL if start > TASK_SIZE or len > TASK_SIZE - start, with x86-64's
    TASK_SIZE (1 << 47) - PAGE_SIZE. The running kernel agrees: munmap of the page just below
    TASK_SIZE is fine, munmap(TASK_SIZE, 4096), munmap(1 << 47, 4096) and a length running one
    page past TASK_SIZE are EINVAL."""
    mm = new_mm()
    assert do_vmi_munmap(mm, X86_64_TASK_SIZE - P, P) == 0
    assert do_vmi_munmap(mm, X86_64_TASK_SIZE, P) == -errno.EINVAL
    assert do_vmi_munmap(mm, 1 << 47, P) == -errno.EINVAL
    assert do_vmi_munmap(mm, B, X86_64_TASK_SIZE - B) == 0
    assert do_vmi_munmap(mm, B, X86_64_TASK_SIZE - B + P) == -errno.EINVAL


# -- external operations, linking, the merge state ----------------------------------------------


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
    vma = VMA(B, B + P, pgoff_of(0), RW, vm_mm=mm)
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


# -- anon_vma_clone failing ---------------------------------------------------------------------


def test_failed_clone_aborts_an_existing_range_merge() -> None:
    """v6.14 mprotect making middle like both neighbours: prev (no anon_vma) must take next's
    anon_vma (dup_anon_vma); when anon_vma_clone fails, vma_merge_existing_range aborts with
    VMA_MERGE_ERROR_NOMEM, vma_modify returns ERR_PTR(-ENOMEM), and nothing changed."""
    mm = new_mm()
    prev, middle, _ = faulted_neighbours(mm)
    fail_clones(mm)
    with pytest.raises(OSError) as error:
        vma_modify_flags(mm, prev, middle, middle.vm_start, middle.vm_end, RW)
    assert error.value.errno == errno.ENOMEM
    assert extents(mm) == [(0, 1), (1, 2), (2, 3)]
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
    vmg = VmaMergeState(mm, start=B + P, end=B + 2 * P, pgoff=pgoff_of(1), flags=RW)
    vmg.prev, vmg.next = prev, nxt
    assert vma_merge_new_range(vmg) is None
    assert vmg.state is VMA_MERGE_NOMERGE
    assert vmg.vmi.addr == prev.vm_start
    assert extents(mm) == [(0, 1), (2, 3)]
    assert vma_anon_vma(prev) is None


def test_failed_clone_fails_a_split() -> None:
    """__split_vma returns anon_vma_clone's error before changing anything: munmap of the
    middle of a faulted VMA fails with -ENOMEM and the VMA is whole."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    anon_vma_prepare(vma)
    fail_clones(mm)
    assert do_vmi_munmap(mm, B + P, 2 * P) == -errno.ENOMEM
    assert list(mm) == [vma] and extents(mm) == [(0, 4)]


def test_failed_clone_fails_copy_vma() -> None:
    """copy_vma with nothing to merge with: anon_vma_clone failing makes it return NULL and
    nothing is mapped at the destination."""
    mm = new_mm()
    src = anon_at(mm, 0, 2)
    anon_vma_prepare(src)
    fail_clones(mm)
    assert copy_vma(src, B + 8 * P, 2 * P, src.vm_pgoff) is None
    assert extents(mm) == [(0, 2)]


# -- merges: locks, iterator, what survives ----------------------------------------------------


@pytest.mark.parametrize("era", ["2025-03", "6.18"])
def test_vma_expand_write_locks_the_next_it_removes(era: str) -> None:
    """vma_expand swallowing next write-locks it (vma_start_write(next)) as well as the VMA it
    grows."""
    mm = new_mm(era)
    prev, nxt = anon_at(mm, 0, 1), anon_at(mm, 2, 3)
    vmg = VmaMergeState(mm, start=B + P, end=B + 2 * P, pgoff=pgoff_of(1), flags=RW)
    vmg.prev, vmg.next = prev, nxt
    assert vma_merge_new_range(vmg) is prev
    assert extents(mm) == [(0, 3)]
    assert prev.write_started and nxt.write_started


def test_commit_merge_positions_the_iterator_at_the_new_range() -> None:
    """commit_merge configures the iterator to the range it stores: vmg->start, or vmg->end
    when next's start is adjusted (vma_iter_config)."""
    mm = new_mm()
    nxt = anon_at(mm, 2, 4)
    vmg = VmaMergeState(mm, start=B + P, end=B + 2 * P, pgoff=pgoff_of(1), flags=RW)
    vmg.next = nxt
    vmg.vmi.addr = B  # at or before the gap, as vma_merge_new_range requires
    assert vma_merge_new_range(vmg) is nxt
    assert extents(mm) == [(1, 4)] and vmg.vmi.addr == B + P

    mm = new_mm()
    middle = anon_at(mm, 0, 4)
    nxt = anon_at(mm, 4, 6, flags=RO)
    vmg = vmg_vma_state(mm, middle, middle, B + 2 * P, B + 4 * P)
    vmg.flags = RO
    vmg.vmi.addr = B  # within middle, as vma_merge_existing_range requires
    assert vma_merge_existing_range(vmg) is nxt
    assert extents(mm) == [(0, 2), (2, 6)] and vmg.vmi.addr == B + 2 * P


def test_failed_existing_merge_resets_the_iterator() -> None:
    """vma_merge_existing_range's abort path puts the iterator back at the range's start
    (vma_iter_set(vmi, start)) after commit_merge failed to preallocate."""
    mm = new_mm()
    prev = anon_at(mm, 0, 2)
    vma = anon_at(mm, 2, 4, flags=RO)
    vmg = vmg_vma_state(mm, prev, vma, vma.vm_start, vma.vm_end)
    vmg.flags = RW
    mm.fail_prealloc = True
    assert vma_merge_existing_range(vmg) is None
    assert vmg.state is VMA_MERGE_ERROR_NOMEM
    assert vmg.vmi.addr == vma.vm_start
    assert extents(mm) == [(0, 2), (2, 4)]


def test_unremovable_middle_aborts_with_the_iterator_at_prev() -> None:
    """vma_merge_existing_range moves the iterator to prev (vma_prev) once it can merge left,
    then gives up without resetting it when the whole middle would have to go but has a close
    hook (can_merge_remove_vma): NULL, state NOMERGE, nothing changed."""
    mm = new_mm()
    prev = anon_at(mm, 0, 2, pgoff=0)
    middle = anon_at(mm, 2, 4, flags=RO, pgoff=2)
    prev.vm_file = middle.vm_file = "file"
    middle.vm_ops = VMOps("closing", close=lambda vma: None)
    vmg = vmg_vma_state(mm, prev, middle, middle.vm_start, middle.vm_end)
    vmg.flags = RW
    assert vma_merge_existing_range(vmg) is None
    assert vmg.state is VMA_MERGE_NOMERGE
    assert vmg.vmi.addr == prev.vm_start
    assert extents(mm) == [(0, 2), (2, 4)]


@pytest.mark.parametrize(("design", "carried"), [("rfc-v1", 0), ("reference", ANON_VMA_UNFAULTED)])
def test_three_way_merge_carries_next_flag_per_design(design: str, carried: int) -> None:
    """mprotect merging prev, middle and a flagged next into prev: the reference design ORs the
    flags of every absorbed VMA, next's included (spec section 3); rfc-v1 keeps only what
    dup_anon_vma hands over, which is no flag."""
    mm = new_mm("2025-03", design)
    prev, middle, nxt = anon_at(mm, 0, 1), anon_at(mm, 1, 2, flags=RO), anon_at(mm, 2, 3)
    vma_set_anon_vma_unfaulted(nxt)
    assert vma_modify_flags(mm, prev, middle, middle.vm_start, middle.vm_end, RW) is prev
    assert extents(mm) == [(0, 3)]
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
    assert extents(child) == [(0, 6)]


# -- vma_expand's out-of-memory report ----------------------------------------------------------


@pytest.mark.parametrize(
    ("give_up", "state"), [(False, VMA_MERGE_ERROR_NOMEM), (True, VMA_MERGE_START)]
)
def test_vma_expand_out_of_memory_report(give_up: bool, state: object) -> None:
    """vma_expand failing to preallocate returns -ENOMEM; it reports VMA_MERGE_ERROR_NOMEM in
    vmg->state unless the caller set give_up_on_oom (6.18)."""
    mm = new_mm("6.18")
    prev = anon_at(mm, 0, 2)
    vmg = VmaMergeState(mm, start=prev.vm_start, end=B + 4 * P, pgoff=prev.vm_pgoff, flags=RW)
    vmg.target, vmg.give_up_on_oom = prev, give_up
    mm.fail_prealloc = True
    assert vma_expand(vmg) == -errno.ENOMEM
    assert vmg.state is state
    assert extents(mm) == [(0, 2)]


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
    assert extents(mm) == [(0, 2), (8, 10)]
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
    assert extents(mm) == [(0, 2)]


# -- vma_shrink, split ---------------------------------------------------------------------------


def test_vma_shrink_preallocates_then_write_locks() -> None:
    """vma_shrink: -ENOMEM and no change when preallocation fails; else write-locked and cut."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    mm.fail_prealloc = True
    assert vma_shrink(mm, vma, vma.vm_start, B + P, vma.vm_pgoff) == -errno.ENOMEM
    assert extents(mm) == [(0, 4)] and not vma.write_started
    mm.fail_prealloc = False
    assert vma_shrink(mm, vma, vma.vm_start, B + P, vma.vm_pgoff) == 0
    assert extents(mm) == [(0, 1)] and vma.write_started


@pytest.mark.parametrize("new_below", [False, True])
def test_split_write_locks_both_parts(new_below: bool) -> None:
    """__split_vma write-locks the VMA and the new one (vma_start_write on both)."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    assert split_vma(mm, vma, B + P, new_below) == 0
    assert extents(mm) == [(0, 1), (1, 4)]
    assert all(part.write_started for part in mm)


def test_split_vma_obeys_max_map_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """split_vma refuses with -ENOMEM at sysctl_max_map_count; __split_vma bypasses the check."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    lower_max_map_count(monkeypatch, mm)
    assert split_vma(mm, vma, B + P, False) == -errno.ENOMEM
    assert extents(mm) == [(0, 4)]
    assert __split_vma(mm, vma, B + P, False) == 0
    assert extents(mm) == [(0, 1), (1, 4)]


def test_modify_of_a_head_fails_when_the_end_split_fails() -> None:
    """vma_modify of [vm_start, mid) with nothing to merge splits at the end; that split
    failing makes it return ERR_PTR(-ENOMEM), the VMA unchanged."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    mm.fail_prealloc = True
    with pytest.raises(OSError) as error:
        vma_modify_flags(mm, None, vma, vma.vm_start, B + P, RO)
    assert error.value.errno == errno.ENOMEM
    assert extents(mm) == [(0, 4)]


# -- munmap ---------------------------------------------------------------------------------------


def test_munmap_obeys_max_map_count_only_when_splitting_in_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """vms_gather_munmap_vmas: at sysctl_max_map_count, an unmap that would leave one more VMA
    (a hole in the middle) is -ENOMEM; cutting the tail is allowed (map_count may exceed the
    limit only temporarily)."""
    mm = new_mm()
    anon_at(mm, 0, 4)
    lower_max_map_count(monkeypatch, mm)
    assert do_vmi_munmap(mm, B + P, P) == -errno.ENOMEM
    assert extents(mm) == [(0, 4)]
    assert do_vmi_munmap(mm, B + 3 * P, P) == 0
    assert extents(mm) == [(0, 3)]


def test_munmap_fails_when_the_start_split_fails() -> None:
    """A failed split of the first VMA ends the unmap with -ENOMEM (do_vmi_align_munmap returns
    vms_gather_munmap_vmas's error); the tail stays mapped."""
    mm = new_mm()
    anon_at(mm, 0, 4)
    mm.fail_prealloc = True
    assert do_vmi_munmap(mm, B + 2 * P, 2 * P) == -errno.ENOMEM
    assert extents(mm) == [(0, 4)]


def test_munmap_reattaches_when_the_end_split_fails() -> None:
    """The unmap of a whole VMA and the head of the next: the first is detached, the split of the
    second fails, and reattach_vmas puts the first back; -ENOMEM, nothing changed."""
    mm = new_mm()
    first = anon_at(mm, 0, 2)
    second = anon_at(mm, 2, 4, flags=RO)
    mm.fail_prealloc = True
    assert do_vmi_munmap(mm, B, 3 * P) == -errno.ENOMEM
    assert list(mm) == [first, second] and not first.detached
    assert extents(mm) == [(0, 2), (2, 4)]


def test_munmap_of_a_tail_keeps_a_new_head() -> None:
    """vms_gather_munmap_vmas splits the first VMA with new_below = 1: the head that stays
    mapped is the new VMA and the original, now the tail, is detached and freed."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    assert do_vmi_munmap(mm, B + 2 * P, 2 * P) == 0
    (head,) = list(mm)
    assert head is not vma and vma.detached
    assert extents(mm) == [(0, 2)]


def test_munmap_write_locks_what_it_detaches() -> None:
    """vms_gather_munmap_vmas write-locks each VMA before detaching it (vma_start_write)."""
    mm = new_mm()
    vma = anon_at(mm, 0, 2)
    assert do_vmi_munmap(mm, B, 2 * P) == 0
    assert vma.write_started and vma.detached


# -- mmap_region replacing mappings -----------------------------------------------------------


def test_map_fixed_clears_page_tables_once() -> None:
    """vms_clear_ptes runs once per unmap (clear_ptes is reset): a MAP_FIXED replacement clears
    them in vms_clean_up_area and not again in vms_complete_munmap_vmas."""
    mm = new_mm()
    calls: list[tuple[int, int]] = []

    def clear_ptes(mm: MMStruct, vmas: object, start: int, end: int) -> None:
        calls.append((start, end))

    set_external_ops(
        mm, ExternalOps(KERNEL_OPS.anon_vma_clone, KERNEL_OPS.unlink_anon_vmas, clear_ptes)
    )
    anon_at(mm, 0, 2)
    assert mmap_region(mm, B, 2 * P, RW, pgoff_of(0)) == B
    assert calls == [(B, B + 2 * P)]


def test_map_fixed_closes_the_old_vma_before_the_new_one_exists() -> None:
    """__mmap_setup calls vms_clean_up_area (page tables, then close hooks of the replaced VMAs)
    before the new VMA is merged or created: the close hook sees an empty range."""
    mm = new_mm()
    seen: list[VMA | None] = []
    old = anon_at(mm, 0, 2)
    old.vm_file = "file"
    old.vm_ops = VMOps("probe", close=lambda vma: seen.append(mm.vma_lookup(B)))
    assert mmap_region(mm, B, 2 * P, RW, pgoff_of(0)) == B
    assert seen == [None]
    assert len(list(mm)) == 1


def test_map_fixed_over_a_locked_vma_gives_back_its_pages() -> None:
    """Replacing a VM_LOCKED VMA: vms_complete_munmap_vmas subtracts its pages from locked_vm;
    the new VMA is write-locked before it is stored (__mmap_new_vma)."""
    mm = new_mm()
    old = anon_at(mm, 0, 2, flags=RW | VM_LOCKED)
    mm.locked_vm = 2
    assert mmap_region(mm, B, 2 * P, RW, pgoff_of(0)) == B
    (new,) = list(mm)
    assert new is not old and new.write_started
    assert mm.locked_vm == 0


def test_failed_map_fixed_leaves_the_hole_and_unlocks() -> None:
    """The new VMA cannot be stored after the old one's page tables were cleared:
    vms_abort_munmap_vmas completes the unmap (vms_complete_munmap_vmas), so the hole stays and
    locked_vm drops by the old VMA's pages."""
    mm = new_mm()
    anon_at(mm, 0, 2, flags=RW | VM_LOCKED)
    mm.locked_vm = 2
    mm.fail_prealloc = True
    assert mmap_region(mm, B, 2 * P, RW, pgoff_of(0)) == -errno.ENOMEM
    assert extents(mm) == [] and mm.locked_vm == 0


def test_map_fixed_fails_at_max_map_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """MAP_FIXED into the middle of a VMA at sysctl_max_map_count: vms_gather_munmap_vmas
    refuses and __mmap_region returns its -ENOMEM without mapping anything."""
    mm = new_mm()
    anon_at(mm, 0, 4)
    lower_max_map_count(monkeypatch, mm)
    assert mmap_region(mm, B + P, P, RO, pgoff_of(1)) == -errno.ENOMEM
    assert extents(mm) == [(0, 4)]
