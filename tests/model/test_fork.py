"""fork (model/fork.py: dup_mmap, copy_page_range), its failure and its return values.

Expected values: kernel/fork.c dup_mmap, mm/memory.c copy_page_range/vma_needs_copy, mm/rmap.c
anon_vma_fork, and the live 6.18 kernel (quoted per test).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest
from engine_helpers import ANON, DESIGNS, GUARD, RW, B, P, extents, pages, touch, vma_at

import pytest_anonvma as av
from pytest_anonvma.designs import get_design
from pytest_anonvma.model import rmap
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.fork import copy_page_range, dup_mmap
from pytest_anonvma.model.mm_types import (
    VMA,
    MMStruct,
)
from pytest_anonvma.model.rmap import anon_vma_clone
from pytest_anonvma.model.vma import vm_area_dup

# -- dup_mmap through the contract ----------------------------------------------------------------


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


# -- fork failure and return values ---------------------------------------------------------------


def test_fork_child_has_its_own_internals() -> None:
    """A fork child is a full address space: its ``internals`` is its own empty harness mm."""
    parent = ModelMM("maybe-guard")
    parent.mmap(B, P, RW, ANON)
    child = parent.fork()
    internals = child.internals
    assert internals is child.internals and internals is not parent.internals
    assert internals.era == "6.18" and internals.map_count == 0


@pytest.fixture
def failing_clone(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Make the second ``anon_vma_clone`` call fail with -ENOMEM, as a slab failure would.

    mm/rmap.c: anon_vma_clone undoes its links on failure and returns -ENOMEM. Yields the list
    of call numbers made so far.
    """
    calls: list[int] = []

    def clone(dst: VMA, src: VMA) -> int:
        calls.append(len(calls) + 1)
        if len(calls) == 2:
            return -errno.ENOMEM
        return anon_vma_clone(dst, src)

    monkeypatch.setattr(rmap, "anon_vma_clone", clone)
    yield calls


@pytest.mark.parametrize("design", DESIGNS)
def test_fork_failure_is_enomem_and_frees_the_partial_child(
    design: str, failing_clone: list[int]
) -> None:
    """An allocation failure in anon_vma_fork fails fork with ENOMEM and undoes the child.

    kernel/fork.c: dup_mmap returns anon_vma_fork's error; copy_process then drops the new mm
    (mmput -> exit_mmap), so the first VMA's child anon_vma and links are freed again. The
    parent is untouched.
    """
    mm = ModelMM(design)
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + 2 * P, P, RW, ANON)
    mm.write(B, 1)
    mm.write(B + 2 * P, 2)
    kernel = mm.mm.kernel
    before = (kernel.live_anon_vmas, kernel.live_avcs, mm.vmas())
    with pytest.raises(OSError) as info:
        mm.fork()
    assert info.value.errno == errno.ENOMEM
    assert failing_clone == [1, 2]
    assert (kernel.live_anon_vmas, kernel.live_avcs, mm.vmas()) == before
    assert (mm.read(B), mm.read(B + 2 * P)) == (1, 2)
    mm.validate()


def test_dup_mmap_and_copy_page_range_return_zero() -> None:
    """kernel/fork.c dup_mmap and mm/memory.c copy_page_range return 0 on success, whether or
    not vma_needs_copy let the page tables be copied (int functions: 0 or -errno)."""
    parent = ModelMM("rfc-v1")
    parent.mmap(B, P, RW, ANON)
    parent.mmap(B + 2 * P, P, RW, ANON)
    parent.write(B, 1)
    kernel = parent.mm.kernel
    assert dup_mmap(MMStruct(get_design("rfc-v1"), "2025-03", kernel), parent.mm) == 0
    other = MMStruct(get_design("rfc-v1"), "2025-03", kernel)
    for src in parent.mm:  # the first VMA has page tables to copy, the second has none
        dst = vm_area_dup(src)
        other.link(dst)
        assert copy_page_range(other, dst, src) == 0
    assert parent.mm.stats["fork_pagetable_copies"] == 2
