"""The kernel's userland VMA tests of v6.14 (era 2025-03), ported.

Source: ``tools/testing/vma/vma.c`` of torvalds/linux at 6ab2d9c7 as modified by patch 1/2 of
"[RFC PATCH 0/2] mm: introduce anon_vma flags, reduce kernel allocs" (accessor wrappers; two
distinct fake anon_vmas in ``test_anon_vma_non_mergeable``, here two distinct dummy anon_vmas).
Each test keeps the kernel's name; every C ``ASSERT_*`` has a Python ``assert`` in the same order
(docs/harness.md counts them), and the C comments' diagrams are checked as layouts. Expected values
are the C test's own: they follow from ``mm/vma.c`` at the same commit. Where a C diagram is off by
a page (``CC`` for the one-page VMA C at 0xb000), the layout follows the VMA bounds the C asserts.
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
    try_merge_new_vma,
    vma_write_started,
    vmg_set_range,
)
from pytest_anonvma.model.mm_types import (
    VM_DONTEXPAND,
    VM_IO,
    VM_MAYREAD,
    VM_MAYWRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_READ,
    VM_SPECIAL,
    VM_WRITE,
)

pytestmark = [
    pytest.mark.anonvma_era("2025-03"),
    pytest.mark.anonvma_tier("harness"),
    pytest.mark.anonvma_needs("internals"),
]

FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE


def test_simple_merge(vma_harness):
    """A new range between two compatible VMAs merges all three into [0, 0x3000) pgoff 0."""
    h = vma_harness
    vma_left = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    vma_right = alloc_vma(h, 0x2000, 0x3000, 2, FLAGS)
    vmg = h.vmg(0x1000, 0x2000, 1, FLAGS)
    assert h.vma_link(vma_left) == 0
    assert h.vma_link(vma_right) == 0
    assert harness_layout(h, 3) == "A B"

    vma = merge_new(h, vmg)
    assert vma is not None
    assert vma.vm_start == 0
    assert vma.vm_end == 0x3000
    assert vma.vm_pgoff == 0
    assert vma.vm_flags == FLAGS
    assert harness_layout(h, 3) == "AAA"


def test_simple_modify(vma_harness):
    """vma_modify_flags on the middle page splits [0, 0x3000) into three, returning the original."""
    h = vma_harness
    init_vma = alloc_vma(h, 0, 0x3000, 0, FLAGS)
    assert h.vma_link(init_vma) == 0

    # Only the merge/split is done: the flags are the caller's to set.
    vma = h.vma_modify_flags(init_vma, init_vma, 0x1000, 0x2000, VM_READ | VM_MAYREAD)
    assert vma is not None
    assert vma is init_vma
    assert vma.vm_start == 0x1000
    assert vma.vm_end == 0x2000
    assert vma.vm_pgoff == 1
    assert harness_layout(h, 3) == "ABC"

    first, second, third = h.vmas()
    assert first.vm_start == 0
    assert first.vm_end == 0x1000
    assert first.vm_pgoff == 0
    assert second.vm_start == 0x1000
    assert second.vm_end == 0x2000
    assert second.vm_pgoff == 1
    assert third.vm_start == 0x2000
    assert third.vm_end == 0x3000
    assert third.vm_pgoff == 2


def test_simple_expand(vma_harness):
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


def test_simple_shrink(vma_harness):
    """vma_shrink cuts [0, 0x3000) down to [0, 0x1000)."""
    h = vma_harness
    vma = alloc_vma(h, 0, 0x3000, 0, FLAGS)
    assert h.vma_link(vma) == 0

    assert h.vma_shrink(vma, 0, 0x1000, 0) == 0
    assert vma.vm_start == 0
    assert vma.vm_end == 0x1000
    assert vma.vm_pgoff == 0
    assert harness_layout(h, 3) == "A"


def test_merge_new(vma_harness):
    """The A, B, C, D sequence of new-range merges: no merge, both sides, prev, next, both, next,
    both; a close hook matters only on a VMA that would be removed."""
    h = vma_harness
    vmg = h.vmg()
    vm_ops = dummy_close(h)

    vma_a = alloc_and_link_vma(h, 0, 0x2000, 0, FLAGS)
    assert vma_a is not None
    h.vma_add_dummy_avc(vma_a)  # one avc each, so anon_vma duplication can be tested
    vma_b = alloc_and_link_vma(h, 0x3000, 0x4000, 3, FLAGS)
    assert vma_b is not None
    h.vma_add_dummy_avc(vma_b)
    vma_c = alloc_and_link_vma(h, 0xB000, 0xC000, 0xB, FLAGS)
    assert vma_c is not None
    h.vma_add_dummy_avc(vma_c)
    assert harness_layout(h, 13) == "AA B       C"

    # NO merge:  AA B   **  CC
    vma_d, merged = try_merge_new_vma(h, vmg, 0x7000, 0x9000, 7, FLAGS)
    assert vma_d is not None
    h.vma_add_dummy_avc(vma_d)
    assert not merged
    assert h.map_count == 4
    assert harness_layout(h, 13) == "AA B   DD  C"

    # Merge BOTH sides:  AA*B   DD  CC  (A's close hook has no impact: A is not removed)
    h.vma_set_vm_ops(vma_a, vm_ops)
    h.vma_set_anon_vma(vma_b, h.dummy_anon_vma)
    vma, merged = try_merge_new_vma(h, vmg, 0x2000, 0x3000, 2, FLAGS)
    assert vma is vma_a
    assert merged
    assert vma.vm_start == 0
    assert vma.vm_end == 0x4000
    assert vma.vm_pgoff == 0
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 3
    assert harness_layout(h, 13) == "AAAA   DD  C"

    # Merge to PREVIOUS VMA:  AAAA*  DD  CC
    vma, merged = try_merge_new_vma(h, vmg, 0x4000, 0x5000, 4, FLAGS)
    assert vma is vma_a
    assert merged
    assert vma.vm_start == 0
    assert vma.vm_end == 0x5000
    assert vma.vm_pgoff == 0
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 3
    assert harness_layout(h, 13) == "AAAAA  DD  C"

    # Merge to NEXT VMA:  AAAAA *DD  CC  (D's close hook has no impact: D is not removed)
    h.vma_set_anon_vma(vma_d, h.dummy_anon_vma)
    h.vma_set_vm_ops(vma_d, vm_ops)
    vma, merged = try_merge_new_vma(h, vmg, 0x6000, 0x7000, 6, FLAGS)
    assert vma is vma_d
    assert merged
    assert vma.vm_start == 0x6000
    assert vma.vm_end == 0x9000
    assert vma.vm_pgoff == 6
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 3
    assert harness_layout(h, 13) == "AAAAA DDD  C"

    # Merge BOTH sides:  AAAAA*DDD  CC  (D loses its close hook, else it could not be removed)
    h.vma_set_vm_ops(vma_d, None)
    vma, merged = try_merge_new_vma(h, vmg, 0x5000, 0x6000, 5, FLAGS)
    assert vma is vma_a
    assert merged
    assert vma.vm_start == 0
    assert vma.vm_end == 0x9000
    assert vma.vm_pgoff == 0
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 2
    assert harness_layout(h, 13) == "AAAAAAAAA  C"

    # Merge to NEXT VMA:  AAAAAAAAA *CC
    h.vma_set_anon_vma(vma_c, h.dummy_anon_vma)
    vma, merged = try_merge_new_vma(h, vmg, 0xA000, 0xB000, 0xA, FLAGS)
    assert vma is vma_c
    assert merged
    assert vma.vm_start == 0xA000
    assert vma.vm_end == 0xC000
    assert vma.vm_pgoff == 0xA
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 2
    assert harness_layout(h, 13) == "AAAAAAAAA CC"

    # Merge BOTH sides:  AAAAAAAAA*CCC
    vma, merged = try_merge_new_vma(h, vmg, 0x9000, 0xA000, 0x9, FLAGS)
    assert vma is vma_a
    assert merged
    assert vma.vm_start == 0
    assert vma.vm_end == 0xC000
    assert vma.vm_pgoff == 0
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 1

    # Final state:  AAAAAAAAAAAAA
    assert harness_layout(h, 13) == "AAAAAAAAAAAA"
    count = 0
    for vma in h.vmas():
        assert vma is not None
        assert vma.vm_start == 0
        assert vma.vm_end == 0xC000
        assert vma.vm_pgoff == 0
        assert h.vma_anon_vma(vma) is h.dummy_anon_vma
        count += 1
    assert count == 1


def test_vma_merge_special_flags(vma_harness):
    """Each of VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP blocks new and existing merges."""
    h = vma_harness
    vmg = h.vmg()
    special_flags = [VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP]
    all_special_flags = 0
    for flag in special_flags:
        all_special_flags |= flag
    assert all_special_flags == VM_SPECIAL  # no new VM_SPECIAL flags

    vma_left = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    assert vma_left is not None
    assert harness_layout(h, 5) == "AAA"

    # 1. A new range  AAA*  that would merge but for the special flag.
    vmg_set_range(h, vmg, 0x3000, 0x4000, 3, FLAGS)
    for special_flag in special_flags:
        h.vm_flags_reset(vma_left, FLAGS | special_flag)
        vmg.flags = FLAGS | special_flag
        vma = merge_new(h, vmg)
        assert vma is None
        assert vmg.state == h.VMA_MERGE_NOMERGE

    # 2. Modifying  AAAB  in a way that would merge but for the special flag.
    vma = alloc_and_link_vma(h, 0x3000, 0x4000, 3, FLAGS)
    assert vma is not None
    vmg.middle = vma
    for special_flag in special_flags:
        h.vm_flags_reset(vma_left, FLAGS | special_flag)
        vmg.flags = FLAGS | special_flag
        vma = merge_existing(h, vmg)
        assert vma is None
        assert vmg.state == h.VMA_MERGE_NOMERGE
    assert harness_layout(h, 5) == "AAAB"

    cleanup_mm(h)


def test_vma_merge_with_close(vma_harness):
    """A VMA with a close hook is never removed by a merge: five cases."""
    h = vma_harness
    vmg = h.vmg()
    vm_ops = dummy_close(h)

    # New range, next has close: only prev extends.  PPP**NNNN -> PPPPPNNNN
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x5000, 0x9000, 5, FLAGS)
    h.vma_set_vm_ops(vma_next, vm_ops)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    assert merge_new(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x5000
    assert vma_prev.vm_pgoff == 0
    assert harness_layout(h, 9) == "PPPPPNNNN"
    assert cleanup_mm(h) == 2

    # Modified VMA with close would be removed merging into prev: no merge.  PPPVV
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    h.vma_set_vm_ops(vma, vm_ops)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    assert merge_existing(h, vmg) is None
    assert vmg.state == h.VMA_MERGE_NOMERGE
    assert harness_layout(h, 9) == "PPPVV"
    assert cleanup_mm(h) == 2

    # Mirrored with next.  VVNNNN
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x5000, 0x9000, 5, FLAGS)
    h.vma_set_vm_ops(vma, vm_ops)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.middle = vma
    assert merge_existing(h, vmg) is None
    assert vmg.state == h.VMA_MERGE_NOMERGE
    assert harness_layout(h, 9) == "   VVNNNN"
    assert cleanup_mm(h) == 2

    # Merging both sides, the modified VMA has close: no merge.  PPPVVNNNN
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x5000, 0x9000, 5, FLAGS)
    h.vma_set_vm_ops(vma, vm_ops)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    assert merge_existing(h, vmg) is None
    assert vmg.state == h.VMA_MERGE_NOMERGE
    assert harness_layout(h, 9) == "PPPVVNNNN"
    assert cleanup_mm(h) == 3

    # Merging both sides, next has close: reduced to prev + vma.  PPPVVNNNN -> PPPPPNNNN
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x5000, 0x9000, 5, FLAGS)
    h.vma_set_vm_ops(vma_next, vm_ops)
    vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    assert merge_existing(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x5000
    assert vma_prev.vm_pgoff == 0
    assert harness_layout(h, 9) == "PPPPPNNNN"
    assert cleanup_mm(h) == 2


def test_vma_merge_new_with_close(vma_harness):
    """prev and next both have close: a new range between them only extends prev."""
    h = vma_harness
    vmg = h.vmg()
    vma_prev = alloc_and_link_vma(h, 0, 0x2000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x5000, 0x7000, 5, FLAGS)
    vm_ops = dummy_close(h)
    h.vma_set_vm_ops(vma_prev, vm_ops)
    h.vma_set_vm_ops(vma_next, vm_ops)

    vmg_set_range(h, vmg, 0x2000, 0x5000, 2, FLAGS)
    vma = merge_new(h, vmg)
    assert vma is not None
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma.vm_start == 0
    assert vma.vm_end == 0x5000
    assert vma.vm_pgoff == 0
    assert h.vma_vm_ops(vma) is vm_ops
    assert vma_write_started(h, vma)
    assert h.map_count == 2
    assert harness_layout(h, 7) == "AAAAABB"

    cleanup_mm(h)


def test_merge_existing(vma_harness):
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


def test_anon_vma_non_mergeable(vma_harness):
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


def test_dup_anon_vma(vma_harness):
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


def test_vmi_prealloc_fail(vma_harness):
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


def test_merge_extend(vma_harness):
    """vma_merge_extend of [0, 0x1000) by 0x2000 reaches [0x3000, 0x4000) and merges with it."""
    h = vma_harness
    vma = alloc_and_link_vma(h, 0, 0x1000, 0, FLAGS)
    alloc_and_link_vma(h, 0x3000, 0x4000, 3, FLAGS)
    assert harness_layout(h, 4) == "A  B"

    assert h.vma_merge_extend(vma, 0x2000) is vma
    assert vma.vm_start == 0
    assert vma.vm_end == 0x4000
    assert vma.vm_pgoff == 0
    assert vma_write_started(h, vma)
    assert h.map_count == 1
    assert harness_layout(h, 4) == "AAAA"

    cleanup_mm(h)


def test_copy_vma(vma_harness):
    """copy_vma backwards to a free spot makes a new VMA; next to a compatible VMA it merges."""
    h = vma_harness

    # Move backwards, no merge.
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_new = h.copy_vma(vma, 0, 0x2000, 0)
    assert vma_new is not vma
    assert vma_new.vm_start == 0
    assert vma_new.vm_end == 0x2000
    assert vma_new.vm_pgoff == 0
    assert harness_layout(h, 5) == "NN VV"
    cleanup_mm(h)

    # Move next to another VMA and merge with it.
    vma = alloc_and_link_vma(h, 0, 0x2000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x6000, 0x8000, 6, FLAGS)
    vma_new = h.copy_vma(vma, 0x4000, 0x2000, 4)
    assert vma_new is vma_next
    assert harness_layout(h, 8) == "VV  NNNN"
    cleanup_mm(h)


def test_expand_only_mode(vma_harness):
    """``just_expand`` extends prev only, and the iterator stays at prev."""
    h = vma_harness
    vmg = h.vmg(0x5000, 0x9000, 5, FLAGS)
    # A VMA before the one expanded: it must not be looked at.
    alloc_and_link_vma(h, 0, 0x2000, 0, FLAGS)
    h.vma_iter_set(vmg, 0x3000)  # positioned at prev, expanding to 0x9000
    vma_prev = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.just_expand = True

    vma = h.vma_merge_new_range(vmg)
    assert vma is not None
    assert vma is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma.vm_start == 0x3000
    assert vma.vm_end == 0x9000
    assert vma.vm_pgoff == 3
    assert vma_write_started(h, vma)
    assert h.vma_iter_addr(vmg) == 0x3000
    assert harness_layout(h, 9) == "AA PPPPPP"

    cleanup_mm(h)


def test_mmap_region_basic(vma_harness):
    """Four anonymous mmap_region calls leave two VMAs with the right page offsets."""
    h = vma_harness
    assert h.mmap_region(0x300000, 0x3000, FLAGS, 0x300) == 0x300000
    assert h.mmap_region(0x250000, 0x3000, FLAGS, 0x250) == 0x250000
    # Merges into 0x300000, now of length 0x6000.
    assert h.mmap_region(0x303000, 0x3000, FLAGS, 0x303) == 0x303000
    # Merges into 0x250000, now starting at 0x24d000.
    assert h.mmap_region(0x24D000, 0x3000, FLAGS, 0x24D) == 0x24D000
    assert h.map_count == 2

    for vma in h.vmas():
        if vma.vm_start == 0x300000:
            assert vma.vm_end == 0x306000
            assert vma.vm_pgoff == 0x300
        elif vma.vm_start == 0x24D000:
            assert vma.vm_end == 0x253000
            assert vma.vm_pgoff == 0x24D
        else:
            pytest.fail(f"unexpected VMA {vma!r}")

    cleanup_mm(h)
