"""The kernel's userland VMA tests of the latest tree (era 6.18), ported.

Source: ``tools/testing/vma/tests/merge.c`` (with ``shared.c``), ``tests/vma.c``
(``test_copy_vma``) and ``tests/mmap.c`` of torvalds/linux at 334fbe73, paired with ``mm/vma.c``
at the same commit: sticky flags (``VM_STICKY``: soft-dirty and ``VM_MAYBE_GUARD``) never block a
merge and are OR-ed onto the surviving VMA; the relaxed anon_vma rule; ``vma_expand`` grows
``vmg.target``. ``test_merge_new`` and ``test_merge_existing`` run every sticky permutation of the
C loops as their own test (id ``sticky=...``, one digit per VMA in the C's argument order). The
``vma_flags_*`` tests of ``tests/vma.c`` check the C bitmap type ``vma_flags_t``, which a model
with integer ``vm_flags`` does not have: they are not ported (docs/harness.md). Every C
``ASSERT_*`` has a Python ``assert``; expected values are the C test's own. Each test v6.14 shares
runs its scenario from :mod:`.harness_common`, with the ``LATEST`` steps where the trees differ;
``test_anon_vma_non_mergeable`` is written here.
"""

from __future__ import annotations

import itertools

import pytest

from pytest_anonvma.harness import (
    alloc_and_link_vma,
    cleanup_mm,
    harness_layout,
    merge_existing,
    merge_new,
    vma_set_dummy_anon_vma,
    vmg_set_range_anon_vma,
)
from pytest_anonvma.internals import VMAInternals

from . import harness_common as common
from .harness_common import FLAGS

pytestmark = [
    pytest.mark.anonvma_era("6.18"),
    pytest.mark.anonvma_tier("harness"),
    pytest.mark.anonvma_needs("internals"),
]


def _sticky_ids(count: int) -> list[tuple[bool, ...]]:
    return list(itertools.product((False, True), repeat=count))


def _id(values: tuple[bool, ...]) -> str:
    return "sticky=" + "".join("1" if value else "0" for value in values)


def test_simple_merge(vma_harness: VMAInternals) -> None:
    """A new range between two compatible VMAs merges all three into [0, 0x3000) pgoff 0."""
    common.scenario_simple_merge(vma_harness)


def test_simple_modify(vma_harness: VMAInternals) -> None:
    """vma_modify_flags on the middle page splits [0, 0x3000) into three, returning the original."""
    common.scenario_simple_modify(vma_harness)


def test_simple_expand(vma_harness: VMAInternals) -> None:
    """vma_expand grows [0, 0x1000) to [0, 0x3000) (latest tree: the VMA is ``vmg.target``)."""
    common.scenario_simple_expand(vma_harness, common.LATEST)


def test_simple_shrink(vma_harness: VMAInternals) -> None:
    """vma_shrink cuts [0, 0x3000) down to [0, 0x1000)."""
    common.scenario_simple_shrink(vma_harness)


@pytest.mark.parametrize("sticky", _sticky_ids(4), ids=_id)
def test_merge_new(vma_harness: VMAInternals, sticky: tuple[bool, bool, bool, bool]) -> None:
    """The A, B, C, D new-range merge sequence with sticky flags on the new ranges and on A, B,
    C (``__test_merge_new(is_sticky, a, b, c)``): the survivor of each merge has a sticky flag
    whenever one of the VMAs or ranges it absorbed had one."""
    common.scenario_merge_new(vma_harness, *sticky)


def test_vma_merge_special_flags(vma_harness: VMAInternals) -> None:
    """Each of VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP blocks new and existing merges."""
    common.scenario_vma_merge_special_flags(vma_harness)


def test_vma_merge_with_close(vma_harness: VMAInternals) -> None:
    """A VMA with a close hook is never removed by a merge: five cases."""
    common.scenario_vma_merge_with_close(vma_harness)


def test_vma_merge_new_with_close(vma_harness: VMAInternals) -> None:
    """prev and next both have close: a new range between them only extends prev."""
    common.scenario_vma_merge_new_with_close(vma_harness)


@pytest.mark.parametrize("sticky", _sticky_ids(3), ids=_id)
def test_merge_existing(vma_harness: VMAInternals, sticky: tuple[bool, bool, bool]) -> None:
    """Right partial, right full, left partial, left full and both-sides merges of a modified
    range with sticky flags on prev, middle and next (``__test_merge_existing``), and six ranges
    inside a VMA that cannot merge."""
    common.scenario_merge_existing(vma_harness, common.LATEST, *sticky)


def test_anon_vma_non_mergeable(vma_harness: VMAInternals) -> None:
    """prev and next hold distinct anon_vmas: merging both sides is refused, only prev merges,
    next is untouched."""
    h = vma_harness
    vmg = h.vmg()
    dummy_anon_vma_2 = h.new_dummy_anon_vma()

    # Modified VMA:  <--> over  PPPVVVVNNN  ->  PPPPPPPNNN
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x7000, 3, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x7000, 0x9000, 7, FLAGS)
    # Singular chains on both: each merges with a NULL vmg->anon_vma, but not with the other.
    vmg_set_range_anon_vma(h, vmg, 0x3000, 0x7000, 3, FLAGS, None)
    vmg.prev = vma_prev
    vmg.middle = vma
    vma_set_dummy_anon_vma(h, vma_prev)
    vma_set_dummy_anon_vma(h, vma_next, dummy_anon_vma_2)
    common.assert_merges_into_prev_only(h, vmg, merge_existing, vma_prev, vma_next)
    assert harness_layout(h, 10) == "PPPPPPPNN"
    assert cleanup_mm(h) == 2

    # New VMA in the gap:  <--> over  PPP****NNN  ->  PPPPPPPNNN
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x7000, 0x9000, 7, FLAGS)
    vmg_set_range_anon_vma(h, vmg, 0x3000, 0x7000, 3, FLAGS, None)
    vmg.prev = vma_prev
    vma_set_dummy_anon_vma(h, vma_prev)
    vma_set_dummy_anon_vma(h, vma_next, dummy_anon_vma_2)
    h.vmg_set_anon_vma(vmg, None)
    common.assert_merges_into_prev_only(h, vmg, merge_new, vma_prev, vma_next)
    assert harness_layout(h, 10) == "PPPPPPPNN"
    assert cleanup_mm(h) == 2


def test_dup_anon_vma(vma_harness: VMAInternals) -> None:
    """Five merges where the surviving VMA must take (clone) the anon_vma of a VMA it absorbs."""
    common.scenario_dup_anon_vma(vma_harness, common.LATEST)


def test_vmi_prealloc_fail(vma_harness: VMAInternals) -> None:
    """With every tree preallocation failing, a merge returns NULL and an expand -ENOMEM, state
    ERROR_NOMEM, and the anon_vma already handed to the survivor is unlinked again."""
    common.scenario_vmi_prealloc_fail(vma_harness, common.LATEST)


def test_merge_extend(vma_harness: VMAInternals) -> None:
    """vma_merge_extend of [0, 0x1000) by 0x2000 reaches [0x3000, 0x4000) and merges with it."""
    common.scenario_merge_extend(vma_harness)


def test_expand_only_mode(vma_harness: VMAInternals) -> None:
    """``just_expand`` extends prev only, and the iterator stays at prev."""
    common.scenario_expand_only_mode(vma_harness)


def test_copy_vma(vma_harness: VMAInternals) -> None:
    """copy_vma backwards to a free spot makes a new VMA; next to a compatible VMA it merges
    (``tests/vma.c``)."""
    common.scenario_copy_vma(vma_harness)


def test_mmap_region_basic(vma_harness: VMAInternals) -> None:
    """Four anonymous mmap_region calls leave two VMAs with the right page offsets
    (``tests/mmap.c``)."""
    common.scenario_mmap_region_basic(vma_harness)


# -- beyond the C harness: the relaxed anon_vma rule -------------------------------------------


def test_merge_existing_faulted_into_unfaulted(vma_harness: VMAInternals) -> None:
    """Not in the C harness. A VMA with an anon_vma merges into a compatible prev without one,
    which takes the anon_vma (``is_mergeable_anon_vma`` case 1, mm/vma.c @334fbe73). Seen on the
    running 6.18 kernel: mprotect of a written page next to an untouched page of the same flags
    (MAP_NORESERVE, so no VM_ACCOUNT difference) leaves one VMA. v6.14 refuses (v6_14 module)."""
    h = vma_harness
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_set_dummy_anon_vma(h, vma)
    assert h.vma_modify_flags(vma_prev, vma, 0x3000, 0x5000, FLAGS) is vma_prev
    assert vma_prev.vm_end == 0x5000
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert h.dummy_anon_vma.was_cloned
    assert harness_layout(h, 5) == "PPPPP"
    assert cleanup_mm(h) == 1


def test_copy_vma_faulted_next_to_unfaulted(vma_harness: VMAInternals) -> None:
    """Not in the C harness. copy_vma (mremap) of a VMA with an anon_vma next to a compatible
    prev without one expands prev, which takes the source's anon_vma (``vma_merge_copied_range``
    and ``vma_expand``'s ``dup_anon_vma`` from ``copied_from``, mm/vma.c @334fbe73)."""
    h = vma_harness
    vma_prev = alloc_and_link_vma(h, 0, 0x2000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x6000, 0x8000, 6, FLAGS)
    vma_set_dummy_anon_vma(h, vma)
    vma_new = h.copy_vma(vma, 0x2000, 0x2000, 2)
    assert vma_new is vma_prev
    assert vma_prev.vm_end == 0x4000
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert h.dummy_anon_vma.was_cloned
    assert harness_layout(h, 8) == "PPPP  VV"
    assert cleanup_mm(h) == 2
