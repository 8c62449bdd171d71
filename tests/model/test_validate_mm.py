"""validate_mm (model/vma.py; the kernel's is in mm/vma.c) catches each broken invariant it
promises to check, and accepts what the kernel allows (a VMA at address 0); ModelMM.validate()
reports through it (docs/contract.md).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from engine_helpers import ANON, GUARD, RW, SHARED_FILE, TASK_SIZE, B, P

from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.memory import GUARD_MARKER
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    VM_SHARED,
    VM_WRITE,
    VMA,
)
from pytest_anonvma.model.rmap import AnonVMA
from pytest_anonvma.model.vma import validate_mm

# -- each corruption validate_mm names ------------------------------------------------------------


def _mm() -> ModelMM:
    mm = ModelMM("reference")
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mmap(B + 8 * P, 2 * P, RW, ANON)
    mm.write(B + 8 * P, 1)
    mm.madvise(B + P, P, GUARD)
    return mm


def _clear_write(vma: VMA) -> None:
    vma.vm_flags &= ~VM_WRITE


def _overcount(mm: ModelMM) -> None:
    pte = mm.mm.ptes[(B + 8 * P) // P]
    pte.writable = False
    pte.folio.mapcount = 3


CORRUPTIONS: dict[str, Callable[[ModelMM], None]] = {
    "page aligned": lambda mm: setattr(mm.mm.mm_mt[0], "vm_end", B + 4 * P + 1),
    "bad range": lambda mm: setattr(mm.mm.mm_mt[0], "vm_end", B),
    "overlaps": lambda mm: setattr(mm.mm.mm_mt[0], "vm_end", B + 9 * P),
    "not attached": lambda mm: setattr(mm.mm.mm_mt[0], "detached", True),
    "flag bits ride": lambda mm: setattr(mm.mm.mm_mt[1], "anon_vma", mm.mm.mm_mt[1].anon_vma | 1),
    "dangling": lambda mm: setattr(mm.mm.mm_mt[0], "anon_vma", 0x1000),
    "chain without": lambda mm: mm.mm.mm_mt[0].anon_vma_chain.append(object()),
    "outside every VMA": lambda mm: mm.mm.ptes.__setitem__(B // P + 20, GUARD_MARKER),
    "without VM_WRITE": lambda mm: _clear_write(mm.mm.mm_mt[1]),
    "mapped by": lambda mm: _overcount(mm),
    "allocs - frees": lambda mm: mm.mm.stats.update({"anon_vma_allocs": 5}),
}


@pytest.mark.parametrize("what", sorted(CORRUPTIONS))
def test_validate_mm_detects(what: str) -> None:
    """Each corruption is reported with a message naming it."""
    mm = _mm()
    validate_mm(mm.mm)
    CORRUPTIONS[what](mm)
    with pytest.raises(AssertionError, match=what):
        validate_mm(mm.mm)


def test_flag_bits_in_a_design_without_flags() -> None:
    """A flag bit in baseline's word is a breach: baseline has no anon_vma flags."""
    mm = ModelMM("baseline")
    mm.mmap(B, P, RW, ANON)
    mm.mm.mm_mt[0].anon_vma = 1
    with pytest.raises(AssertionError, match="without anon_vma flags"):
        validate_mm(mm.mm)


# -- ModelMM.validate() ---------------------------------------------------------------------------


def test_validate_reports_a_broken_invariant() -> None:
    """docs/contract.md: ModelMM.validate() raises AssertionError naming the broken invariant."""
    mm = ModelMM()
    mm.mmap(B, P, RW, ANON)
    mm.validate()
    mm.mm.mm_mt[0].detached = True
    with pytest.raises(AssertionError, match="not attached"):
        mm.validate()


def _two_faulted_vmas() -> ModelMM:
    """Pages 0..1 and 8..9 of the arena: two VMAs, each written, so each has its anon_vma."""
    mm = ModelMM("reference")
    for first in (0, 8):
        mm.mmap(B + first * P, 2 * P, RW, ANON)
        mm.write(B + first * P, 1)
    return mm


# -- validate_mm (mm/vma.c): more checks, each on the corruption it names -------------------------


def test_validate_mm_rejects_a_vma_ending_past_task_size() -> None:
    """validate_mm (mm/vma.c): every VMA lies below TASK_SIZE (x86-64: 2^47 - 4096), so one
    ending at 2^47 is a bad range while one ending at TASK_SIZE is fine."""
    mm = ModelMM("reference")
    mm.mmap(TASK_SIZE - P, P, RW, ANON)
    validate_mm(mm.mm)
    mm.mm.mm_mt[0].vm_end = TASK_SIZE + P
    with pytest.raises(AssertionError, match="bad range"):
        validate_mm(mm.mm)


def test_validate_mm_accepts_a_vma_at_address_zero() -> None:
    """validate_mm (mm/vma.c): page 0 is a valid VMA start (mmap_min_addr is a policy, and with
    vm.mmap_min_addr = 0 a privileged process may map it); the tree check starts from 0."""
    mm = ModelMM("reference")
    mm.mmap(B, P, RW, ANON)
    vma = mm.mm.mm_mt[0]
    mm.mm.unlink(vma)
    vma.vm_start, vma.vm_end, vma.vm_pgoff = 0, P, 0
    mm.mm.link(vma)
    validate_mm(mm.mm)


def test_validate_mm_rejects_a_word_naming_another_vmas_anon_vma() -> None:
    """mm/rmap.c anon_vma_prepare/anon_vma_chain_link: a VMA's own anon_vma is always on its
    chain; pointing the word at another VMA's anon_vma breaks that."""
    mm = _two_faulted_vmas()
    first, second = mm.mm.mm_mt[0], mm.mm.mm_mt[1]
    assert first.anon_vma != second.anon_vma
    first.anon_vma = second.anon_vma
    with pytest.raises(AssertionError, match="no chain link to its own anon_vma"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_a_chain_link_of_another_vma() -> None:
    """mm/rmap.c anon_vma_chain_link: each anon_vma_chain on a VMA's list points back at it."""
    mm = _two_faulted_vmas()
    mm.mm.mm_mt[0].anon_vma_chain[0].vma = mm.mm.mm_mt[1]
    with pytest.raises(AssertionError, match="belongs to another VMA"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_a_chain_link_missing_from_the_interval_tree() -> None:
    """mm/rmap.c anon_vma_chain_link: a chain link is also in its anon_vma's interval tree."""
    mm = _two_faulted_vmas()
    avc = mm.mm.mm_mt[0].anon_vma_chain[0]
    del avc.anon_vma.rb_root[avc]
    with pytest.raises(AssertionError, match="missing from its anon_vma's tree"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_an_unknown_page_table_entry() -> None:
    """A page-table slot holds a present PTE or a marker, nothing else (mm/memory.c)."""
    mm = _two_faulted_vmas()
    mm.mm.ptes[(B >> PAGE_SHIFT) + 1] = object()
    with pytest.raises(AssertionError, match="unknown page-table entry"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_an_anonymous_page_in_a_shared_mapping() -> None:
    """mm/memory.c do_shared_fault: a MAP_SHARED mapping maps page-cache pages only, never an
    anonymous (COW) page."""
    mm = _two_faulted_vmas()
    mm.mm.mm_mt[0].vm_flags |= VM_SHARED
    with pytest.raises(AssertionError, match=r"anonymous page at .* in a shared mapping"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_a_writable_pte_on_a_cow_shared_page() -> None:
    """mm/memory.c copy_present_pte: fork write-protects a private page in both mms, so a
    writable PTE may only map a page with a single mapping."""
    mm = _two_faulted_vmas()
    child = mm.fork()
    family = [mm.mm, child.mm]
    validate_mm(mm.mm, family)
    mm.mm.ptes[B >> PAGE_SHIFT].writable = True
    with pytest.raises(AssertionError, match="maps a page shared copy-on-write"):
        validate_mm(mm.mm, family)


def test_validate_mm_rejects_a_file_page_at_the_wrong_offset() -> None:
    """mm/memory.c __do_fault: the page at address A of a file VMA is page
    vm_pgoff + (A - vm_start) / PAGE_SIZE of its file; swapping two PTEs breaks it."""
    mm = ModelMM("reference")
    mm.mmap(B, 2 * P, RW, SHARED_FILE, mm.memfd("f", 2 * P))
    mm.write(B, 1)
    mm.write(B + P, 2)
    ptes, first = mm.mm.ptes, B >> PAGE_SHIFT
    ptes[first], ptes[first + 1] = ptes[first + 1], ptes[first]
    with pytest.raises(AssertionError, match="is not page 0 of the VMA's file"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_an_anon_vma_nobody_counted() -> None:
    """mm/rmap.c anon_vma_alloc/anon_vma_free: every anon_vma in the slab was counted live."""
    mm = _two_faulted_vmas()
    mm.mm.kernel.register(AnonVMA())
    with pytest.raises(AssertionError, match="3 anon_vmas registered, 2 counted live"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_chain_allocations_without_live_links() -> None:
    """mm/rmap.c anon_vma_chain_alloc/free: allocations minus frees are the live chain links."""
    mm = _two_faulted_vmas()
    mm.mm.stats["avc_allocs"] += 1
    with pytest.raises(AssertionError, match="anon_vma_chain allocs - frees != live"):
        validate_mm(mm.mm)


def test_validate_mm_rejects_live_links_on_no_vma() -> None:
    """mm/rmap.c: each live anon_vma_chain sits on one VMA's chain."""
    mm = _two_faulted_vmas()
    mm.mm.stats["avc_allocs"] += 1
    mm.mm.kernel.live_avcs += 1
    with pytest.raises(AssertionError, match="2 chain links on VMAs, 3 counted live"):
        validate_mm(mm.mm)
