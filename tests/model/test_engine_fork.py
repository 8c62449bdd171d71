"""fork (model/fork.py: dup_mmap, copy_page_range).

Expected values: kernel/fork.c dup_mmap, mm/memory.c copy_page_range/vma_needs_copy, mm/rmap.c
anon_vma_fork, and the live 6.18 kernel (quoted per test).
"""

from __future__ import annotations

from engine_helpers import ANON, GUARD, RW, B, P, extents, pages, touch, vma_at

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM


def test_dontcopy_vmas_are_not_copied(mm: ModelMM) -> None:
    """VM_DONTCOPY VMAs are skipped by dup_mmap.

    Live 6.18: DONTFORK on pages 0-1 of 4: the child has only VMA 2-4.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.madvise(B, 2 * P, av.MADV_DONTFORK)
    mm.madvise(B + P, P, GUARD)
    child = mm.fork()
    assert extents(child) == [(2, 4)]
    assert touch(child, 0) == "SEGV"


def test_wipeonfork_vmas_are_copied_empty(mm: ModelMM) -> None:
    """VM_WIPEONFORK: the VMA is copied (flags kept) without anon_vma or page tables.

    Live 6.18: page 0 written, guard page 1, WIPEONFORK: child VMA 0-4 still 'wf' (and 'gu'
    under maybe-guard), pages '....', page 0 reads 0.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.madvise(B, 4 * P, av.MADV_WIPEONFORK)
    mm.madvise(B + P, P, GUARD)
    mm.write(B, 3)
    child = mm.fork()
    assert extents(child) == [(0, 4)]
    info = vma_at(child, 0)
    assert "VM_WIPEONFORK" in info.flags and info.anon_vma is None
    assert ("VM_MAYBE_GUARD" in info.flags) == (mm.design == "maybe-guard")
    assert pages(child, 0, 4) == "...."
    assert child.read(B) == 0
    assert mm.read(B) == 3


def test_fork_clears_mlock_in_the_child(mm: ModelMM) -> None:
    """dup_mmap clears VM_LOCKED_MASK on the child's VMAs."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mlock(B, 2 * P)
    child = mm.fork()
    assert "VM_LOCKED" not in vma_at(child, 0).flags
    assert "VM_LOCKED" in vma_at(mm, 0).flags


def test_anon_vma_fork_gives_the_child_its_own_anon_vma(mm: ModelMM) -> None:
    """anon_vma_fork: the child links to the parent's anon_vma and gets a new one (2 links)."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B, 1)
    child = mm.fork()
    parent_info, child_info = vma_at(mm, 0), vma_at(child, 0)
    assert child_info.anon_vma is not None and child_info.anon_vma != parent_info.anon_vma
    assert child.stats()["anon_vma_allocs"] == 1 and child.stats()["avc_allocs"] == 2
    assert len(child.mm.mm_mt[0].anon_vma_chain) == 2


def test_unfaulted_vmas_are_not_copied(mm: ModelMM) -> None:
    """vma_needs_copy: no anon_vma, no flag: the child refaults lazily; nothing is counted."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.read(B)
    child = mm.fork()
    assert mm.stats()["fork_pagetable_copies"] == 0
    assert pages(child, 0, 2) == ".."
    assert child.read(B) == 0


def test_child_evolves_independently(mm: ModelMM) -> None:
    """After fork the two mms have separate VMA trees and page tables."""
    mm.mmap(B, 4 * P, RW, ANON)
    mm.madvise(B + P, P, GUARD)
    child = mm.fork()
    child.munmap(B, 2 * P)
    child.madvise(B + 3 * P, P, GUARD)
    assert extents(mm) == [(0, 4)] and pages(mm, 0, 4) == ".G.."
    assert extents(child) == [(2, 4)]
    mm.madvise(B + P, P, av.MADV_GUARD_REMOVE)
    assert pages(child, 2, 2) == ".G"


def test_grandchild_shares_the_kernel_and_closing_frees_everything(mm: ModelMM) -> None:
    """Forked mms share one kernel (anon_vma slab); closing all of them frees every object."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B, 1)
    child = mm.fork()
    grandchild = child.fork()
    assert grandchild.mm.kernel is mm.mm.kernel
    assert grandchild.read(B) == 1
    for space in (grandchild, child, mm):
        space.close()
    assert mm.mm.kernel.live_anon_vmas == 0 and mm.mm.kernel.live_avcs == 0
