"""The kernel's merge tests, ported: ``tools/testing/vma/tests/merge.c`` (latest tree, era 6.18)
and the same tests of v6.14's ``tools/testing/vma/vma.c`` (era 2025-03).

Sources: torvalds/linux at 334fbe73 (``tests/merge.c`` with ``shared.c``) and at 6ab2d9c7 as
modified by patch 1/2 of "[RFC PATCH 0/2] mm: introduce anon_vma flags, reduce kernel allocs",
each paired with ``mm/vma.c`` at the same commit. Each test runs once per tree, the era in its id
(``test_merge_new[reference-2025-03]``); its body is the scenario of the same name in
:mod:`pytest_anonvma.harness.scenarios.merge`, where every C ``ASSERT_*`` has an ``assert`` in
the same order (docs/harness.md counts them). The latest tree's ``test_merge_new`` and
``test_merge_existing`` loop over sticky flags (``VM_STICKY``: soft-dirty and
``VM_MAYBE_GUARD``); here each permutation is a test of its own (id ``6.18-sticky=...``, one
digit per VMA in the C's argument order), and v6.14, which has no sticky flags, runs once.
"""

from __future__ import annotations

import itertools

import pytest

from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.harness.scenarios import merge
from pytest_anonvma.harness.trees import LATEST, TREES, V6_14, Tree

pytestmark = [
    pytest.mark.anonvma_era(*TREES),
    pytest.mark.anonvma_tier("harness"),
    pytest.mark.anonvma_needs("internals"),
]


def sticky_params(count: int) -> list[object]:
    """``(harness_era, sticky)``: v6.14 once with no sticky flags, then every permutation of
    ``count`` sticky flags on the latest tree (``sticky=`` one digit each, in the C's order)."""
    params = [pytest.param(V6_14.era, (False,) * count, id=V6_14.era)]
    for sticky in itertools.product((False, True), repeat=count):
        digits = "".join("1" if value else "0" for value in sticky)
        params.append(pytest.param(LATEST.era, sticky, id=f"{LATEST.era}-sticky={digits}"))
    return params


def test_simple_merge(vma_harness: VMAInternals) -> None:
    """A new range between two compatible VMAs merges all three into [0, 0x3000) pgoff 0."""
    merge.scenario_simple_merge(vma_harness)


def test_simple_modify(vma_harness: VMAInternals) -> None:
    """vma_modify_flags on the middle page splits [0, 0x3000) into three, returning the original."""
    merge.scenario_simple_modify(vma_harness)


def test_simple_expand(vma_harness: VMAInternals, harness_tree: Tree) -> None:
    """vma_expand grows [0, 0x1000) to [0, 0x3000) (``vmg.middle`` in v6.14, ``vmg.target`` in
    the latest tree)."""
    merge.scenario_simple_expand(vma_harness, harness_tree)


def test_simple_shrink(vma_harness: VMAInternals) -> None:
    """vma_shrink cuts [0, 0x3000) down to [0, 0x1000)."""
    merge.scenario_simple_shrink(vma_harness)


@pytest.mark.parametrize(("harness_era", "sticky"), sticky_params(4), indirect=["harness_era"])
def test_merge_new(vma_harness: VMAInternals, sticky: tuple[bool, bool, bool, bool]) -> None:
    """The A, B, C, D sequence of new-range merges: no merge, both sides, prev, next, both, next,
    both; a close hook matters only on a VMA that would be removed. With sticky flags on the new
    ranges and on A, B, C (``__test_merge_new(is_sticky, a, b, c)``), the survivor of each merge
    is sticky whenever one of the VMAs or ranges it absorbed was."""
    merge.scenario_merge_new(vma_harness, *sticky)


def test_vma_merge_special_flags(vma_harness: VMAInternals) -> None:
    """Each of VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP blocks new and existing merges."""
    merge.scenario_vma_merge_special_flags(vma_harness)


def test_vma_merge_with_close(vma_harness: VMAInternals) -> None:
    """A VMA with a close hook is never removed by a merge: five cases."""
    merge.scenario_vma_merge_with_close(vma_harness)


def test_vma_merge_new_with_close(vma_harness: VMAInternals) -> None:
    """prev and next both have close: a new range between them only extends prev."""
    merge.scenario_vma_merge_new_with_close(vma_harness)


@pytest.mark.parametrize(("harness_era", "sticky"), sticky_params(3), indirect=["harness_era"])
def test_merge_existing(
    vma_harness: VMAInternals, harness_tree: Tree, sticky: tuple[bool, bool, bool]
) -> None:
    """Right partial, right full, left partial, left full and both-sides merges of a modified
    range (with sticky flags on prev, middle and next: ``__test_merge_existing``), and six ranges
    inside a VMA that cannot merge."""
    merge.scenario_merge_existing(vma_harness, harness_tree, *sticky)


def test_anon_vma_non_mergeable(vma_harness: VMAInternals, harness_tree: Tree) -> None:
    """prev and next hold distinct anon_vmas: merging both sides is refused, only prev merges,
    next is untouched."""
    merge.scenario_anon_vma_non_mergeable(vma_harness, harness_tree)


def test_dup_anon_vma(vma_harness: VMAInternals, harness_tree: Tree) -> None:
    """Five merges where the surviving VMA must take (clone) the anon_vma of a VMA it absorbs."""
    merge.scenario_dup_anon_vma(vma_harness, harness_tree)


def test_vmi_prealloc_fail(vma_harness: VMAInternals, harness_tree: Tree) -> None:
    """With every tree preallocation failing, a merge returns NULL and an expand -ENOMEM, state
    ERROR_NOMEM, and the anon_vma already handed to the survivor is unlinked again."""
    merge.scenario_vmi_prealloc_fail(vma_harness, harness_tree)


def test_merge_extend(vma_harness: VMAInternals) -> None:
    """vma_merge_extend of [0, 0x1000) by 0x2000 reaches [0x3000, 0x4000) and merges with it."""
    merge.scenario_merge_extend(vma_harness)


def test_expand_only_mode(vma_harness: VMAInternals) -> None:
    """``just_expand`` extends prev only, and the iterator stays at prev."""
    merge.scenario_expand_only_mode(vma_harness)


def test_merge_existing_faulted_into_unfaulted(
    vma_harness: VMAInternals, harness_tree: Tree
) -> None:
    """Not in the C harness: a VMA with an anon_vma modified next to a compatible prev without
    one; v6.14's anon_vma rule refuses the merge, the latest tree's merges."""
    merge.scenario_merge_existing_faulted_into_unfaulted(vma_harness, harness_tree)
