"""The kernel's userland VMA tests of v6.14 (era 2025-03), ported.

Source: ``tools/testing/vma/vma.c`` of torvalds/linux at 6ab2d9c7 as modified by patch 1/2 of
"[RFC PATCH 0/2] mm: introduce anon_vma flags, reduce kernel allocs" (accessor wrappers; two
distinct fake anon_vmas in ``test_anon_vma_non_mergeable``, here two distinct dummy anon_vmas).
Each test keeps the kernel's name; every C ``ASSERT_*`` has a Python ``assert`` in the same order
(docs/harness.md counts them), and the C comments' diagrams are checked as layouts. Expected values
are the C test's own: they follow from ``mm/vma.c`` at the same commit. Tests the latest tree kept
unchanged run from :mod:`.harness_common`; the ones written here differ from their latest versions
(``vmg.middle`` for ``vma_expand``, the v6.14 anon_vma rule's setups).
"""

from __future__ import annotations

import errno

import pytest

from pytest_anonvma.harness import (
    alloc_and_link_vma,
    alloc_vma,
    cleanup_mm,
    dummy_close,
    expand_existing,
    harness_layout,
    merge_existing,
    merge_new,
    reset_dummy_anon_vma,
    vma_set_dummy_anon_vma,
    vma_write_started,
    vmg_set_range,
)
from pytest_anonvma.internals import VMAInternals

from . import harness_common as common
from .harness_common import FLAGS

pytestmark = [
    pytest.mark.anonvma_era("2025-03"),
    pytest.mark.anonvma_tier("harness"),
    pytest.mark.anonvma_needs("internals"),
]


def test_simple_merge(vma_harness: VMAInternals) -> None:
    """A new range between two compatible VMAs merges all three into [0, 0x3000) pgoff 0."""
    common.scenario_simple_merge(vma_harness)


def test_simple_modify(vma_harness: VMAInternals) -> None:
    """vma_modify_flags on the middle page splits [0, 0x3000) into three, returning the original."""
    common.scenario_simple_modify(vma_harness)


def test_simple_expand(vma_harness: VMAInternals) -> None:
    """vma_expand grows [0, 0x1000) to [0, 0x3000) (v6.14: the VMA is ``vmg.middle``)."""
    h = vma_harness
    vma = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    vmg = h.vmg(0, 0x3000, 0, 0)
    vmg.middle = vma
    assert h.vma_link(vma) == 0

    assert expand_existing(h, vmg) == 0
    assert vma.vm_start == 0
    assert vma.vm_end == 0x3000
    assert vma.vm_pgoff == 0
    assert harness_layout(h, 3) == "AAA"


def test_simple_shrink(vma_harness: VMAInternals) -> None:
    """vma_shrink cuts [0, 0x3000) down to [0, 0x1000)."""
    common.scenario_simple_shrink(vma_harness)


def test_merge_new(vma_harness: VMAInternals) -> None:
    """The A, B, C, D sequence of new-range merges: no merge, both sides, prev, next, both, next,
    both; a close hook matters only on a VMA that would be removed."""
    common.scenario_merge_new(vma_harness)


def test_vma_merge_special_flags(vma_harness: VMAInternals) -> None:
    """Each of VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP blocks new and existing merges."""
    common.scenario_vma_merge_special_flags(vma_harness)


def test_vma_merge_with_close(vma_harness: VMAInternals) -> None:
    """A VMA with a close hook is never removed by a merge: five cases."""
    common.scenario_vma_merge_with_close(vma_harness)


def test_vma_merge_new_with_close(vma_harness: VMAInternals) -> None:
    """prev and next both have close: a new range between them only extends prev."""
    common.scenario_vma_merge_new_with_close(vma_harness)


def test_merge_existing(vma_harness: VMAInternals) -> None:
    """Right partial, right full, left partial, left full and both-sides merges of a modified
    range, and six ranges inside a VMA that cannot merge."""
    h = vma_harness
    vmg = h.vmg()
    vm_ops = dummy_close(h)

    # Merge right, partial span:  <-> over  VVVVNNN  ->  VNNNNNN
    vma = alloc_and_link_vma(h, 0x2000, 0x6000, 2, FLAGS)
    h.vma_set_vm_ops(vma, vm_ops)  # no impact: vma is not removed
    vma_next = alloc_and_link_vma(h, 0x6000, 0x9000, 6, FLAGS)
    h.vma_set_vm_ops(vma_next, vm_ops)  # no impact: next is not removed
    vmg_set_range(h, vmg, 0x3000, 0x6000, 3, FLAGS)
    vmg.middle = vma
    vmg.prev = vma
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    assert merge_existing(h, vmg) is vma_next
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_next.vm_start == 0x3000
    assert vma_next.vm_end == 0x9000
    assert vma_next.vm_pgoff == 3
    assert h.vma_anon_vma(vma_next) is h.dummy_anon_vma
    assert vma.vm_start == 0x2000
    assert vma.vm_end == 0x3000
    assert vma.vm_pgoff == 2
    assert vma_write_started(h, vma)
    assert vma_write_started(h, vma_next)
    assert h.map_count == 2
    assert harness_layout(h, 10) == "  VNNNNNN"
    assert cleanup_mm(h) == 2

    # Merge right, full span:  <--> over  VVVVNNN  ->  NNNNNNN
    vma = alloc_and_link_vma(h, 0x2000, 0x6000, 2, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x6000, 0x9000, 6, FLAGS)
    h.vma_set_vm_ops(vma_next, vm_ops)  # no impact: next is not removed
    vmg_set_range(h, vmg, 0x2000, 0x6000, 2, FLAGS)
    vmg.middle = vma
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    assert merge_existing(h, vmg) is vma_next
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_next.vm_start == 0x2000
    assert vma_next.vm_end == 0x9000
    assert vma_next.vm_pgoff == 2
    assert h.vma_anon_vma(vma_next) is h.dummy_anon_vma
    assert vma_write_started(h, vma_next)
    assert h.map_count == 1
    assert harness_layout(h, 10) == "  NNNNNNN"
    assert cleanup_mm(h) == 1  # vma was deleted

    # Merge left, partial span:  <-> over  PPPVVVV  ->  PPPPPPV
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    h.vma_set_vm_ops(vma_prev, vm_ops)  # no impact: prev is not removed
    vma = alloc_and_link_vma(h, 0x3000, 0x7000, 3, FLAGS)
    h.vma_set_vm_ops(vma, vm_ops)  # no impact: vma is not removed
    vmg_set_range(h, vmg, 0x3000, 0x6000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    assert merge_existing(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x6000
    assert vma_prev.vm_pgoff == 0
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert vma.vm_start == 0x6000
    assert vma.vm_end == 0x7000
    assert vma.vm_pgoff == 6
    assert vma_write_started(h, vma_prev)
    assert vma_write_started(h, vma)
    assert h.map_count == 2
    assert harness_layout(h, 10) == "PPPPPPV"
    assert cleanup_mm(h) == 2

    # Merge left, full span:  <--> over  PPPVVVV  ->  PPPPPPP
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    h.vma_set_vm_ops(vma_prev, vm_ops)  # no impact: prev is not removed
    vma = alloc_and_link_vma(h, 0x3000, 0x7000, 3, FLAGS)
    vmg_set_range(h, vmg, 0x3000, 0x7000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    assert merge_existing(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x7000
    assert vma_prev.vm_pgoff == 0
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert vma_write_started(h, vma_prev)
    assert h.map_count == 1
    assert harness_layout(h, 10) == "PPPPPPP"
    assert cleanup_mm(h) == 1  # vma was deleted

    # Merge both:  <--> over  PPPVVVVNNN  ->  PPPPPPPPPP
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    h.vma_set_vm_ops(vma_prev, vm_ops)  # no impact: prev is not removed
    vma = alloc_and_link_vma(h, 0x3000, 0x7000, 3, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x7000, 0x9000, 7, FLAGS)
    vmg_set_range(h, vmg, 0x3000, 0x7000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    assert merge_existing(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x9000
    assert vma_prev.vm_pgoff == 0
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert vma_write_started(h, vma_prev)
    assert h.map_count == 1
    assert harness_layout(h, 10) == "PPPPPPPPP"
    assert cleanup_mm(h) == 1  # vma and next were deleted

    # Ranges strictly inside vma never merge:  PPPVVVVVNNN
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x8000, 3, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x8000, 0xA000, 8, FLAGS)
    for start, end, pgoff in (
        (0x4000, 0x5000, 4),
        (0x5000, 0x6000, 5),
        (0x6000, 0x7000, 6),
        (0x4000, 0x7000, 4),
        (0x4000, 0x6000, 4),
        (0x5000, 0x6000, 5),
    ):
        vmg_set_range(h, vmg, start, end, pgoff, FLAGS)
        vmg.prev = vma
        vmg.middle = vma
        assert merge_existing(h, vmg) is None
        assert vmg.state == h.VMA_MERGE_NOMERGE
    assert harness_layout(h, 11) == "PPPVVVVVNN"
    assert cleanup_mm(h) == 3


def test_anon_vma_non_mergeable(vma_harness: VMAInternals) -> None:
    """prev and next hold distinct anon_vmas: merging both sides is refused, only prev merges,
    next is untouched."""
    h = vma_harness
    vmg = h.vmg()
    dummy_val_1 = h.new_dummy_anon_vma()  # the patch's DUMMY_ANON_VMA_VAL_1
    dummy_val_2 = h.new_dummy_anon_vma()  # DUMMY_ANON_VMA_VAL_2

    # Modified VMA:  <--> over  PPPVVVVNNN  ->  PPPPPPPNNN
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x7000, 3, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x7000, 0x9000, 7, FLAGS)
    # Singular chains on both: each merges with a NULL vmg->anon_vma, but not with the other.
    h.vma_add_dummy_avc(vma_prev)
    assert h.anon_vma_chain_is_singular(vma_prev)
    h.vma_set_anon_vma(vma_prev, h.dummy_anon_vma)
    assert h.is_mergeable_anon_vma(None, h.vma_anon_vma(vma_prev), vma_prev)
    h.vma_add_dummy_avc(vma_next)
    assert h.anon_vma_chain_is_singular(vma_next)
    h.vma_set_anon_vma(vma_next, dummy_val_1)
    assert h.is_mergeable_anon_vma(None, h.vma_anon_vma(vma_next), vma_next)
    assert not h.is_mergeable_anon_vma(h.vma_anon_vma(vma_prev), h.vma_anon_vma(vma_next), None)

    vmg_set_range(h, vmg, 0x3000, 0x7000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    assert merge_existing(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x7000
    assert vma_prev.vm_pgoff == 0
    assert vma_write_started(h, vma_prev)
    assert not vma_write_started(h, vma_next)
    assert harness_layout(h, 10) == "PPPPPPPNN"
    assert cleanup_mm(h) == 2

    # New VMA in the gap:  <--> over  PPP****NNN  ->  PPPPPPPNNN
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x7000, 0x9000, 7, FLAGS)
    h.vma_add_dummy_avc(vma_prev)
    h.vma_set_anon_vma(vma_prev, dummy_val_1)
    h.vma_add_dummy_avc(vma_next)
    h.vma_set_anon_vma(vma_next, dummy_val_2)
    vmg_set_range(h, vmg, 0x3000, 0x7000, 3, FLAGS)
    vmg.prev = vma_prev
    assert merge_new(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x7000
    assert vma_prev.vm_pgoff == 0
    assert vma_write_started(h, vma_prev)
    assert not vma_write_started(h, vma_next)
    assert harness_layout(h, 10) == "PPPPPPPNN"
    assert cleanup_mm(h) == 2


def test_dup_anon_vma(vma_harness: VMAInternals) -> None:
    """Five merges where the surviving VMA must take (clone) the anon_vma of a VMA it absorbs."""
    h = vma_harness
    vmg = h.vmg()
    reset_dummy_anon_vma(h)

    # Expanding over next (as a new-range merge does) duplicates next's anon_vma.
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    h.vma_set_anon_vma(vma_next, h.dummy_anon_vma)
    vmg_set_range(h, vmg, 0, 0x5000, 0, FLAGS)
    vmg.middle = vma_prev
    vmg.next = vma_next
    assert expand_existing(h, vmg) == 0
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma  # cloned
    assert h.vma_anon_vma(vma_prev).was_cloned
    assert harness_layout(h, 5) == "PPPPP"
    cleanup_mm(h)

    # next has the anon_vma, prev takes it:  prev extend, vma delete, next delete.
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x5000, 0x8000, 5, FLAGS)
    h.vma_add_dummy_avc(vma_next)  # so the mergeability check passes
    h.vma_set_anon_vma(vma_next, h.dummy_anon_vma)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    assert merge_existing(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x8000
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert h.vma_anon_vma(vma_prev).was_cloned
    assert harness_layout(h, 8) == "PPPPPPPP"
    cleanup_mm(h)

    # vma has the anon_vma, prev takes it:  prev extend, vma delete, next delete.
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x5000, 0x8000, 5, FLAGS)
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    assert merge_existing(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x8000
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert h.vma_anon_vma(vma_prev).was_cloned
    assert harness_layout(h, 8) == "PPPPPPPP"
    cleanup_mm(h)

    # vma has the anon_vma, prev takes it:  prev extend, vma shrink.
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x8000, 3, FLAGS)
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    assert merge_existing(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x5000
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert h.vma_anon_vma(vma_prev).was_cloned
    assert harness_layout(h, 8) == "PPPPPVVV"
    cleanup_mm(h)

    # vma has the anon_vma, next takes it:  vma shrink, next extend.
    vma = alloc_and_link_vma(h, 0, 0x5000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x5000, 0x8000, 5, FLAGS)
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma
    vmg.middle = vma
    assert merge_existing(h, vmg) is vma_next
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_next.vm_start == 0x3000
    assert vma_next.vm_end == 0x8000
    assert h.vma_anon_vma(vma_next) is h.dummy_anon_vma
    assert h.vma_anon_vma(vma_next).was_cloned
    assert harness_layout(h, 8) == "VVVNNNNN"
    cleanup_mm(h)


def test_vmi_prealloc_fail(vma_harness: VMAInternals) -> None:
    """With every tree preallocation failing, a merge returns NULL and an expand -ENOMEM, state
    ERROR_NOMEM, and the anon_vma already handed to the survivor is unlinked again."""
    h = vma_harness
    vmg = h.vmg()

    # Merging vma (with an anon_vma, to be duplicated) into prev.
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    h.fail_prealloc = True
    assert merge_existing(h, vmg) is None
    assert vmg.state == h.VMA_MERGE_ERROR_NOMEM
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma  # assigned before the failure
    assert h.dummy_anon_vma.was_cloned
    assert h.dummy_anon_vma.was_unlinked
    assert harness_layout(h, 5) == "PPPVV"  # nothing in the tree changed
    cleanup_mm(h)  # resets fail_prealloc too

    # The same through vma_expand, which new-range merges use.
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    vmg_set_range(h, vmg, 0, 0x5000, 3, FLAGS)
    vmg.middle = vma_prev
    vmg.next = vma
    h.fail_prealloc = True
    assert expand_existing(h, vmg) == -errno.ENOMEM
    assert vmg.state == h.VMA_MERGE_ERROR_NOMEM
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert h.dummy_anon_vma.was_cloned
    assert h.dummy_anon_vma.was_unlinked
    assert harness_layout(h, 5) == "PPPVV"
    cleanup_mm(h)


def test_merge_extend(vma_harness: VMAInternals) -> None:
    """vma_merge_extend of [0, 0x1000) by 0x2000 reaches [0x3000, 0x4000) and merges with it."""
    common.scenario_merge_extend(vma_harness)


def test_copy_vma(vma_harness: VMAInternals) -> None:
    """copy_vma backwards to a free spot makes a new VMA; next to a compatible VMA it merges."""
    common.scenario_copy_vma(vma_harness)


def test_expand_only_mode(vma_harness: VMAInternals) -> None:
    """``just_expand`` extends prev only, and the iterator stays at prev."""
    common.scenario_expand_only_mode(vma_harness)


def test_mmap_region_basic(vma_harness: VMAInternals) -> None:
    """Four anonymous mmap_region calls leave two VMAs with the right page offsets."""
    common.scenario_mmap_region_basic(vma_harness)


# -- beyond the C harness: the v6.14 anon_vma rule where the latest tree relaxed it -------------


def test_merge_existing_faulted_into_unfaulted(vma_harness: VMAInternals) -> None:
    """Not in the C harness. A VMA with an anon_vma (``vmg->anon_vma`` set, as
    ``VMG_VMA_STATE`` sets it) does not merge into a prev without one: v6.14's
    ``is_mergeable_anon_vma`` needs prev's chain singular, and an unfaulted prev's chain is
    empty (mm/vma.c @6ab2d9c7). The latest tree merges (test_harness_6_18)."""
    h = vma_harness
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_set_dummy_anon_vma(h, vma)
    assert h.vma_modify_flags(vma_prev, vma, 0x3000, 0x5000, FLAGS) is vma
    assert h.vma_anon_vma(vma_prev) is None
    assert not h.dummy_anon_vma.was_cloned
    assert harness_layout(h, 5) == "PPPVV"
    assert cleanup_mm(h) == 2


def test_copy_vma_faulted_next_to_unfaulted(vma_harness: VMAInternals) -> None:
    """Not in the C harness. copy_vma (mremap) of a VMA with an anon_vma next to a compatible
    prev without one makes a new VMA: the same v6.14 rule refuses the merge (mm/vma.c
    @6ab2d9c7). The latest tree merges through ``vma_merge_copied_range``."""
    h = vma_harness
    vma_prev = alloc_and_link_vma(h, 0, 0x2000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x6000, 0x8000, 6, FLAGS)
    vma_set_dummy_anon_vma(h, vma)
    vma_new = h.copy_vma(vma, 0x2000, 0x2000, 2)
    assert vma_new is not None
    assert vma_new is not vma_prev
    assert vma_new.vm_start == 0x2000
    assert vma_new.vm_end == 0x4000
    assert h.vma_anon_vma(vma_new) is h.dummy_anon_vma  # anon_vma_clone of the source
    assert h.vma_anon_vma(vma_prev) is None
    assert harness_layout(h, 8) == "PPNN  VV"
    assert cleanup_mm(h) == 3
