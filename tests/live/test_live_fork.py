"""Fork on the live backend: guard markers, faults and shared memory in parent and child.

Expected values are kernel semantics: kernel/fork.c dup_mmap (VM_DONTCOPY VMAs are skipped,
VM_WIPEONFORK ones copied empty), mm/memory.c copy_page_range / vma_needs_copy (page tables,
markers included, are copied when the VMA has an anon_vma or, on 6.18, VM_MAYBE_GUARD),
MAP_SHARED semantics (both processes see one page cache page).
"""

from __future__ import annotations

import os
import signal

import pytest
from live_helpers import ANON, RW, P, addr

from pytest_anonvma import constants as C
from pytest_anonvma.contract import PageState, SegmentationFault
from pytest_anonvma.live import LiveMM, SandboxDied


def test_child_is_a_separate_process_with_the_same_layout(mm: LiveMM) -> None:
    """dup_mmap copies every VMA (same boundaries and flags)."""
    mm.mmap(addr(0), 4 * P, RW, ANON)
    mm.mprotect(addr(1), P, C.PROT_READ)
    with mm.fork() as child:
        assert child.pid != mm.pid
        assert child.vmas() == mm.vmas()
        assert (child.design, child.capabilities) == (mm.design, mm.capabilities)


def test_markers_fault_in_parent_and_child(mm: LiveMM) -> None:
    """The child inherits the markers (fork copies the page tables of a guarded VMA) and both
    processes take SIGSEGV on them; unmapped pages fault in both too."""
    mm.mmap(addr(0), 3 * P, RW, ANON)
    mm.madvise(addr(1), P, C.MADV_GUARD_INSTALL)
    with mm.fork() as child:
        for space in (mm, child):
            assert space.page(addr(1)) is PageState.GUARD
            with pytest.raises(SegmentationFault):
                space.read(addr(1))
            with pytest.raises(SegmentationFault):
                space.write(addr(5), 1)
            assert space.read(addr(0)) == 0


def test_private_memory_is_copy_on_write(mm: LiveMM) -> None:
    """After fork, a private page is shared copy-on-write: each side's later write is its own."""
    mm.mmap(addr(0), P, RW, ANON)
    mm.write(addr(0), 1)
    with mm.fork() as child:
        assert child.read(addr(0)) == 1
        child.write(addr(0), 2)
        mm.write(addr(0), 3)
        assert (mm.read(addr(0)), child.read(addr(0))) == (3, 2)


def test_memfd_shared_mapping_is_shared_across_fork(mm: LiveMM) -> None:
    """MAP_SHARED of a memfd: parent and child map the same shmem pages both ways, and a memfd
    created before the fork can be mapped afresh in the child (it inherits the descriptor)."""
    f = mm.memfd("shared", 2 * P)
    mm.mmap(addr(0), 2 * P, RW, C.MAP_SHARED | C.MAP_FIXED, file=f)
    mm.write(addr(0), 0x11)
    with mm.fork() as child:
        assert child.read(addr(0)) == 0x11
        child.write(addr(1), 0x22)
        assert mm.read(addr(1)) == 0x22
        child.mmap(addr(4), P, C.PROT_READ, C.MAP_SHARED | C.MAP_FIXED, file=f)
        assert child.read(addr(4)) == 0x11
        late = child.memfd("late", P)
        with pytest.raises(ValueError, match="'late' was not created"):
            mm.mmap(addr(8), P, RW, C.MAP_SHARED | C.MAP_FIXED, file=late)


def test_wipeonfork_and_dontfork(mm: LiveMM) -> None:
    """dup_mmap: a VM_DONTCOPY VMA (MADV_DONTFORK) is absent in the child; a VM_WIPEONFORK VMA
    (MADV_WIPEONFORK) is present but empty, so its markers are gone and it reads zero."""
    mm.mmap(addr(0), P, RW, ANON)
    mm.mmap(addr(2), 2 * P, RW, ANON)
    mm.madvise(addr(0), P, C.MADV_DONTFORK)
    mm.write(addr(2), 5)
    mm.madvise(addr(3), P, C.MADV_GUARD_INSTALL)
    mm.madvise(addr(2), 2 * P, C.MADV_WIPEONFORK)
    with mm.fork() as child:
        starts = [v.start for v in child.vmas()]
        assert starts == [addr(2)]
        assert child.pages(addr(2), 2) == [PageState.NONE, PageState.NONE]
        assert child.read(addr(2)) == 0
        assert child.read(addr(3)) == 0
        with pytest.raises(SegmentationFault):
            child.read(addr(0))
    assert mm.page(addr(3)) is PageState.GUARD


def test_mprotect_merge_keeps_guard_flag_and_child_faults(mm: LiveMM) -> None:
    """The mprotect-merge hazard (docs/spec.md §4.1): on 6.18 VM_MAYBE_GUARD is sticky and OR-ed
    onto the merged VMA (mm/vma.c), so vma_needs_copy copies the markers and the child faults."""
    mm.mmap(addr(0), 2 * P, RW, ANON)
    mm.mprotect(addr(1), P, C.PROT_READ)
    mm.madvise(addr(1), P, C.MADV_GUARD_INSTALL)
    mm.mprotect(addr(1), P, RW)
    [merged] = mm.vmas()
    assert (merged.start, merged.end) == (addr(0), addr(2))
    assert "VM_MAYBE_GUARD" in merged.flags
    with mm.fork() as child:
        with pytest.raises(SegmentationFault):
            child.read(addr(1))
        assert "VM_MAYBE_GUARD" in child.vmas()[0].flags


def test_fork_of_a_fork_and_closing_the_parent_first(mm: LiveMM) -> None:
    """Forked sandboxes are independent processes: closing (killing) the parent leaves the child
    and grandchild running with their own copies."""
    mm.mmap(addr(0), P, RW, ANON)
    mm.write(addr(0), 4)
    child = mm.fork()
    grandchild = child.fork()
    try:
        mm.close()
        assert grandchild.read(addr(0)) == 4
        child.write(addr(0), 6)
        assert (child.read(addr(0)), grandchild.read(addr(0))) == (6, 4)
    finally:
        grandchild.close()
        child.close()


def test_a_dead_child_does_not_affect_the_parent(mm: LiveMM) -> None:
    """Killing the child sandbox is reported on the child only."""
    mm.mmap(addr(0), P, RW, ANON)
    child = mm.fork()
    os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(SandboxDied, match="killed by SIGKILL"):
        child.read(addr(0))
    assert mm.read(addr(0)) == 0
    child.close()
