"""The kernel's userland VMA tests of v6.14 (era 2025-03), ported.

Source: ``tools/testing/vma/vma.c`` of torvalds/linux at 6ab2d9c7 as modified by patch 1/2 of
"[RFC PATCH 0/2] mm: introduce anon_vma flags, reduce kernel allocs" (accessor wrappers; two
distinct fake anon_vmas in ``test_anon_vma_non_mergeable``, here two distinct dummy anon_vmas).
Each test keeps the kernel's name; every C ``ASSERT_*`` has a Python ``assert`` in the same order
(docs/harness.md counts them), and the C comments' diagrams are checked as layouts. Expected values
are the C test's own: they follow from ``mm/vma.c`` at the same commit. Each test the latest tree
shares runs its scenario from :mod:`.harness_common`, with the ``V6_14`` steps where the trees
differ; ``test_anon_vma_non_mergeable`` (the v6.14 anon_vma rule's setup) is written here.
"""

from __future__ import annotations

import pytest

from pytest_anonvma.harness import (
    alloc_and_link_vma,
    cleanup_mm,
    harness_layout,
    merge_existing,
    merge_new,
    vma_set_dummy_anon_vma,
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
    common.scenario_simple_expand(vma_harness, common.V6_14)


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
    common.scenario_merge_existing(vma_harness, common.V6_14)


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
    common.assert_merges_into_prev_only(h, vmg, merge_existing, vma_prev, vma_next)
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
    common.assert_merges_into_prev_only(h, vmg, merge_new, vma_prev, vma_next)
    assert harness_layout(h, 10) == "PPPPPPPNN"
    assert cleanup_mm(h) == 2


def test_dup_anon_vma(vma_harness: VMAInternals) -> None:
    """Five merges where the surviving VMA must take (clone) the anon_vma of a VMA it absorbs."""
    common.scenario_dup_anon_vma(vma_harness, common.V6_14)


def test_vmi_prealloc_fail(vma_harness: VMAInternals) -> None:
    """With every tree preallocation failing, a merge returns NULL and an expand -ENOMEM, state
    ERROR_NOMEM, and the anon_vma already handed to the survivor is unlinked again."""
    common.scenario_vmi_prealloc_fail(vma_harness, common.V6_14)


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
