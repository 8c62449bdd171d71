"""The RFC's anon_vma-word accessors, at the mm/vma.c level (era 2025-03).

Expected values come from patch 1/2 of "[RFC PATCH 0/2] mm: introduce anon_vma flags, reduce
kernel allocs" (Lorenzo Stoakes, 5 March 2025): ``vma_anon_vma`` masks ``ANON_VMA_FLAG_MASK``
off the word, ``vma_anon_vma_flags`` returns only those bits, ``vma_set_anon_vma`` and
``vma_clear_anon_vma`` write the pointer (or 0) without flags, ``vma_dup_anon_vma`` copies the raw
word, ``vma_maybe_has_pagetables`` is "word non-zero", and ``vma_set_anon_vma_unfaulted`` /
``vma_clear_anon_vma_unfaulted`` change the word only while no real anon_vma is set. The split
test follows ``vm_area_init_from`` (kernel/fork.c, which the patch makes copy the raw word); the
merge test follows ``dup_anon_vma`` and ``is_mergeable_anon_vma``, which the patch makes look at
the masked pointer only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_anonvma.harness import alloc_and_link_vma, alloc_vma, cleanup_mm, harness_layout
from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.harness.scenarios import FLAGS
from pytest_anonvma.harness.trees import V6_14
from pytest_anonvma.model.mm_types import ANON_VMA_UNFAULTED, VM_WRITE

pytestmark = [
    pytest.mark.anonvma_era(V6_14.era),
    pytest.mark.anonvma_tier("harness"),
    pytest.mark.anonvma_needs("internals"),
]


def test_unfaulted_flag_is_masked_off_the_pointer(vma_harness: VMAInternals) -> None:
    """A flag-only word: no anon_vma, flag bits ANON_VMA_UNFAULTED, may have page tables."""
    h = vma_harness
    vma = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    h.vma_set_anon_vma_unfaulted(vma)
    assert h.vma_anon_vma(vma) is None
    assert h.vma_anon_vma_flags(vma) == ANON_VMA_UNFAULTED
    assert h.vma_maybe_has_pagetables(vma)


def test_real_anon_vma_has_no_flag_bits(vma_harness: VMAInternals) -> None:
    """A pointer-only word: the anon_vma comes back whole and the flag bits are 0."""
    h = vma_harness
    vma = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert h.vma_anon_vma_flags(vma) == 0
    assert h.vma_maybe_has_pagetables(vma)


def test_set_anon_vma_clears_flags(vma_harness: VMAInternals) -> None:
    """Setting a real anon_vma replaces the UNFAULTED flag (a fault after a guard install)."""
    h = vma_harness
    vma = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    h.vma_set_anon_vma_unfaulted(vma)
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert h.vma_anon_vma_flags(vma) == 0


def test_set_unfaulted_leaves_a_real_anon_vma_alone(vma_harness: VMAInternals) -> None:
    """With a real anon_vma set, ``vma_set_anon_vma_unfaulted`` changes nothing."""
    h = vma_harness
    vma = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    h.vma_set_anon_vma_unfaulted(vma)
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert h.vma_anon_vma_flags(vma) == 0


def _cleared(h: VMAInternals, clear: Callable[[Any], None]) -> tuple[Any, Any]:
    """A flag-only VMA and a VMA with a real anon_vma, each passed to ``clear``."""
    flagged = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    h.vma_set_anon_vma_unfaulted(flagged)
    clear(flagged)
    faulted = alloc_vma(h, 0x1000, 0x2000, 1, FLAGS)
    h.vma_set_anon_vma(faulted, h.dummy_anon_vma)
    clear(faulted)
    return flagged, faulted


def test_clear_unfaulted(vma_harness: VMAInternals) -> None:
    """``vma_clear_anon_vma_unfaulted`` drops a flag-only word and keeps a real anon_vma."""
    h = vma_harness
    flagged, faulted = _cleared(h, h.vma_clear_anon_vma_unfaulted)
    assert h.vma_anon_vma_flags(flagged) == 0
    assert not h.vma_maybe_has_pagetables(flagged)
    assert h.vma_anon_vma(faulted) is h.dummy_anon_vma


def test_clear_anon_vma_clears_pointer_and_flags(vma_harness: VMAInternals) -> None:
    """``vma_clear_anon_vma`` leaves nothing: no anon_vma, no flags, no page tables to copy."""
    h = vma_harness
    flagged, faulted = _cleared(h, h.vma_clear_anon_vma)
    assert h.vma_anon_vma_flags(flagged) == 0
    assert not h.vma_maybe_has_pagetables(flagged)
    assert h.vma_anon_vma(faulted) is None
    assert not h.vma_maybe_has_pagetables(faulted)


def test_dup_keeps_flags(vma_harness: VMAInternals) -> None:
    """``vma_dup_anon_vma`` copies the raw word: flags and pointer alike."""
    h = vma_harness
    src = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    dst = alloc_vma(h, 0x1000, 0x2000, 1, FLAGS)
    h.vma_set_anon_vma_unfaulted(src)
    h.vma_dup_anon_vma(dst, src)
    assert h.vma_anon_vma(dst) is None
    assert h.vma_anon_vma_flags(dst) == ANON_VMA_UNFAULTED
    assert h.vma_maybe_has_pagetables(dst)

    h.vma_set_anon_vma(src, h.dummy_anon_vma)
    h.vma_dup_anon_vma(dst, src)
    assert h.vma_anon_vma(dst) is h.dummy_anon_vma
    assert h.vma_anon_vma_flags(dst) == 0


def test_empty_word_has_no_pagetables(vma_harness: VMAInternals) -> None:
    """A new VMA: no anon_vma, no flags, ``vma_maybe_has_pagetables`` false."""
    h = vma_harness
    vma = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    assert h.vma_anon_vma(vma) is None
    assert h.vma_anon_vma_flags(vma) == 0
    assert not h.vma_maybe_has_pagetables(vma)


def test_split_keeps_unfaulted_flag(vma_harness: VMAInternals) -> None:
    """Splitting a flag-only VMA in three (vma_modify_flags of its middle page) leaves the flag
    on all three parts."""
    h = vma_harness
    vma = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    h.vma_set_anon_vma_unfaulted(vma)
    assert h.vma_modify_flags(vma, vma, 0x1000, 0x2000, FLAGS & ~VM_WRITE) is vma
    assert harness_layout(h, 3) == "ABC"
    for part in h.vmas():
        assert h.vma_anon_vma(part) is None
        assert h.vma_anon_vma_flags(part) == ANON_VMA_UNFAULTED
    assert cleanup_mm(h) == 3


def test_merge_compatibility_ignores_the_flag(vma_harness: VMAInternals) -> None:
    """A flag-only VMA merges into a flagless prev (both masked pointers NULL) and no anon_vma
    is handed over: ``dup_anon_vma`` moves only a real one."""
    h = vma_harness
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS & ~VM_WRITE)
    h.vma_set_anon_vma_unfaulted(vma)
    assert h.vma_modify_flags(vma_prev, vma, 0x3000, 0x5000, FLAGS) is vma_prev
    assert vma_prev.vm_end == 0x5000
    assert h.vma_anon_vma(vma_prev) is None
    assert not h.dummy_anon_vma.was_cloned
    assert harness_layout(h, 5) == "PPPPP"
    assert cleanup_mm(h) == 1
