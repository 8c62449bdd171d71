"""munmap(2) (model/mmap.py, model/vma.py: do_vmi_munmap and the VmaMunmapState steps):
argument checks, holes, page tables and anon_vmas on unmap, failure part way.

Expected values: mm/vma.c (do_vmi_munmap, do_vmi_align_munmap, vms_gather_munmap_vmas,
vms_complete_munmap_vmas; v6.14 rules for era 2025-03, 334fbe73 for 6.18) and the live 6.18
kernel where noted.
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import B, P, errno_of
from vma_helpers import VM_RO, VM_RW, anon_at, lower_max_map_count, new_mm, vma_extents

from pytest_anonvma.constants import (
    MADV_GUARD_INSTALL,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
)
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mm import (
    vma_anon_vma,
)
from pytest_anonvma.model.mm_types import (
    VM_LOCKED,
    VMA,
    VMOps,
)
from pytest_anonvma.model.rmap import anon_vma_prepare
from pytest_anonvma.model.vma import (
    VMA_DUMMY_VM_OPS,
    do_vmi_munmap,
    validate_mm,
)

# -- munmap through the contract ------------------------------------------------------------------


def test_munmap_errors_and_holes(mm: ModelMM) -> None:
    """do_vmi_munmap: length 0 or unaligned start EINVAL; unmapping a hole succeeds.

    Live 6.18: EINVAL, EINVAL, 0.
    """
    assert errno_of(mm.munmap, B, 0) == errno.EINVAL
    assert errno_of(mm.munmap, B + 1, P) == errno.EINVAL
    mm.munmap(B + 20 * P, 2 * P)


# -- munmap ---------------------------------------------------------------------------------------


def test_munmap_argument_errors() -> None:
    """Unaligned start or empty length: -EINVAL; nothing mapped there: 0."""
    mm = new_mm()
    assert do_vmi_munmap(mm, B + 1, P) == -errno.EINVAL
    assert do_vmi_munmap(mm, B, 0) == -errno.EINVAL
    assert do_vmi_munmap(mm, B, P) == 0


def test_munmap_middle_splits_and_drops_one_link() -> None:
    """Unmapping the middle of a faulted VMA splits it twice (two links cloned) and unlinks the
    middle part's link; the anon_vma stays for the two ends."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    anon_vma_prepare(vma)
    anon_vma = vma_anon_vma(vma)
    assert do_vmi_munmap(mm, B + P, 2 * P) == 0
    assert vma_extents(mm) == [(0, 1), (3, 4)]
    assert anon_vma.num_active_vmas == 2 and not anon_vma.freed
    assert (mm.stats["avc_allocs"], mm.stats["avc_frees"]) == (3, 1)
    validate_mm(mm)


def test_munmap_closes_each_vma_once_and_unlocks() -> None:
    """remove_vma runs the close hook once (vma_close then neutralises vm_ops); unmapping a
    VM_LOCKED VMA gives back its pages in locked_vm."""
    mm = new_mm()
    closed: list[VMA] = []
    vma = anon_at(mm, 0, 2, flags=VM_RW | VM_LOCKED)
    vma.vm_ops = VMOps("counting", close=closed.append)
    mm.locked_vm = 2
    assert do_vmi_munmap(mm, B, 2 * P) == 0
    assert closed == [vma]
    assert vma.vm_ops is VMA_DUMMY_VM_OPS
    assert mm.locked_vm == 0 and vma_extents(mm) == []


@pytest.mark.parametrize("design", ["rfc-v1", "maybe-guard"])
def test_munmap_clears_page_tables_and_markers(design: str) -> None:
    """munmap drops present pages and guard markers of the range, and only those."""
    with ModelMM(design) as m:
        m.mmap(B, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        for page in range(4):
            m.write(B + page * P, 1)
        m.madvise(B + P, P, MADV_GUARD_INSTALL)
        m.munmap(B + P, 2 * P)
        assert not [pfn for pfn in m.mm.ptes if B // P + 1 <= pfn < B // P + 3]
        assert m.page(B).char + m.page(B + 3 * P).char == "PP"
        validate_mm(m.mm)


#: x86-64 TASK_SIZE_MAX: (1 << 47) - PAGE_SIZE (arch/x86/include/asm/page_64_types.h)
X86_64_TASK_SIZE = (1 << 47) - P


# -- munmap arguments -----------------------------------------------------------------------------


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
    assert vma_extents(mm) == [(0, 4)]
    assert do_vmi_munmap(mm, B + 3 * P, P) == 0
    assert vma_extents(mm) == [(0, 3)]


def test_munmap_fails_when_the_start_split_fails() -> None:
    """A failed split of the first VMA ends the unmap with -ENOMEM (do_vmi_align_munmap returns
    vms_gather_munmap_vmas's error); the tail stays mapped."""
    mm = new_mm()
    anon_at(mm, 0, 4)
    mm.fail_prealloc = True
    assert do_vmi_munmap(mm, B + 2 * P, 2 * P) == -errno.ENOMEM
    assert vma_extents(mm) == [(0, 4)]


def test_munmap_reattaches_when_the_end_split_fails() -> None:
    """The unmap of a whole VMA and the head of the next: the first is detached, the split of the
    second fails, and reattach_vmas puts the first back; -ENOMEM, nothing changed."""
    mm = new_mm()
    first = anon_at(mm, 0, 2)
    second = anon_at(mm, 2, 4, flags=VM_RO)
    mm.fail_prealloc = True
    assert do_vmi_munmap(mm, B, 3 * P) == -errno.ENOMEM
    assert list(mm) == [first, second] and not first.detached
    assert vma_extents(mm) == [(0, 2), (2, 4)]


def test_munmap_of_a_tail_keeps_a_new_head() -> None:
    """vms_gather_munmap_vmas splits the first VMA with new_below = 1: the head that stays
    mapped is the new VMA and the original, now the tail, is detached and freed."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    assert do_vmi_munmap(mm, B + 2 * P, 2 * P) == 0
    (head,) = list(mm)
    assert head is not vma and vma.detached
    assert vma_extents(mm) == [(0, 2)]


def test_munmap_write_locks_what_it_detaches() -> None:
    """vms_gather_munmap_vmas write-locks each VMA before detaching it (vma_start_write)."""
    mm = new_mm()
    vma = anon_at(mm, 0, 2)
    assert do_vmi_munmap(mm, B, 2 * P) == 0
    assert vma.write_started and vma.detached
