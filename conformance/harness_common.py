"""Scenarios of the kernel's userland VMA tests that are the same in both trees.

``tools/testing/vma/vma.c`` at 6ab2d9c7 (v6.14, with the RFC's patch 1) and ``tests/merge.c``,
``tests/vma.c``, ``tests/mmap.c`` at 334fbe73 (the latest tree) share these tests up to the
spelling of flags (``vm_flags_t`` masks versus ``vma_flags_t`` bitmaps) and of the attach helper;
the era modules ``test_harness_v6_14`` and ``test_harness_6_18`` run them under the kernel's
names. Every C ``ASSERT_*`` has an ``assert`` here in the same order; the C comments' diagrams are
checked as layouts, following the VMA bounds the C asserts where a diagram is off by a page.
``merge_new`` takes the latest tree's sticky-flag parameters; with all of them False it is the
v6.14 test (the sticky checks are conditional on them, as in the C).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_anonvma.harness import (
    alloc_and_link_vma,
    alloc_vma,
    cleanup_mm,
    dummy_close,
    harness_layout,
    merge_existing,
    merge_new,
    try_merge_new_vma,
    vma_write_started,
    vmg_set_range,
)
from pytest_anonvma.internals import VMAInternals
from pytest_anonvma.model.mm_types import (
    VM_DONTEXPAND,
    VM_IO,
    VM_MAYREAD,
    VM_MAYWRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_READ,
    VM_SPECIAL,
    VM_STICKY,
    VM_WRITE,
)

#: ``VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE``, the flags of every harness VMA
FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE


def scenario_simple_merge(h: VMAInternals) -> None:
    """A new range between two compatible VMAs merges all three into [0, 0x3000) pgoff 0."""
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


def scenario_simple_modify(h: VMAInternals) -> None:
    """vma_modify_flags on the middle page splits [0, 0x3000) into three, returning the original."""
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


def scenario_simple_shrink(h: VMAInternals) -> None:
    """vma_shrink cuts [0, 0x3000) down to [0, 0x1000)."""
    vma = alloc_vma(h, 0, 0x3000, 0, FLAGS)
    assert h.vma_link(vma) == 0

    assert h.vma_shrink(vma, 0, 0x1000, 0) == 0
    assert vma.vm_start == 0
    assert vma.vm_end == 0x1000
    assert vma.vm_pgoff == 0
    assert harness_layout(h, 3) == "A"


def scenario_merge_new(
    h: VMAInternals,
    is_sticky: bool = False,
    a_is_sticky: bool = False,
    b_is_sticky: bool = False,
    c_is_sticky: bool = False,
) -> None:
    """The A, B, C, D sequence of new-range merges: no merge, both sides, prev, next, both, next,
    both; a close hook matters only on a VMA that would be removed."""
    vmg = h.vmg()
    vm_ops = dummy_close(h)
    flags = FLAGS | VM_STICKY if is_sticky else FLAGS

    def sticky(vma: Any) -> bool:
        return bool(vma.vm_flags & VM_STICKY)

    vma_a = alloc_and_link_vma(h, 0, 0x2000, 0, flags)
    assert vma_a is not None
    if a_is_sticky:
        h.vm_flags_reset(vma_a, vma_a.vm_flags | VM_STICKY)
    h.vma_add_dummy_avc(vma_a)  # one avc each, so anon_vma duplication can be tested
    vma_b = alloc_and_link_vma(h, 0x3000, 0x4000, 3, flags)
    assert vma_b is not None
    if b_is_sticky:
        h.vm_flags_reset(vma_b, vma_b.vm_flags | VM_STICKY)
    h.vma_add_dummy_avc(vma_b)
    vma_c = alloc_and_link_vma(h, 0xB000, 0xC000, 0xB, flags)
    assert vma_c is not None
    if c_is_sticky:
        h.vm_flags_reset(vma_c, vma_c.vm_flags | VM_STICKY)
    h.vma_add_dummy_avc(vma_c)
    assert harness_layout(h, 13) == "AA B       C"

    # NO merge:  AA B   **  C
    vma_d, merged = try_merge_new_vma(h, vmg, 0x7000, 0x9000, 7, flags)
    assert vma_d is not None
    h.vma_add_dummy_avc(vma_d)
    assert not merged
    assert h.map_count == 4
    assert harness_layout(h, 13) == "AA B   DD  C"

    # Merge BOTH sides:  AA*B   DD  C  (A's close hook has no impact: A is not removed)
    h.vma_set_vm_ops(vma_a, vm_ops)
    h.vma_set_anon_vma(vma_b, h.dummy_anon_vma)
    vma, merged = try_merge_new_vma(h, vmg, 0x2000, 0x3000, 2, flags)
    assert vma is vma_a
    assert merged
    assert vma.vm_start == 0
    assert vma.vm_end == 0x4000
    assert vma.vm_pgoff == 0
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 3
    if is_sticky or a_is_sticky or b_is_sticky:
        assert sticky(vma)
    assert harness_layout(h, 13) == "AAAA   DD  C"

    # Merge to PREVIOUS VMA:  AAAA*  DD  C
    vma, merged = try_merge_new_vma(h, vmg, 0x4000, 0x5000, 4, flags)
    assert vma is vma_a
    assert merged
    assert vma.vm_start == 0
    assert vma.vm_end == 0x5000
    assert vma.vm_pgoff == 0
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 3
    if is_sticky or a_is_sticky:
        assert sticky(vma)
    assert harness_layout(h, 13) == "AAAAA  DD  C"

    # Merge to NEXT VMA:  AAAAA *DD  C  (D's close hook has no impact: D is not removed)
    h.vma_set_anon_vma(vma_d, h.dummy_anon_vma)
    h.vma_set_vm_ops(vma_d, vm_ops)
    vma, merged = try_merge_new_vma(h, vmg, 0x6000, 0x7000, 6, flags)
    assert vma is vma_d
    assert merged
    assert vma.vm_start == 0x6000
    assert vma.vm_end == 0x9000
    assert vma.vm_pgoff == 6
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 3
    if is_sticky:
        assert sticky(vma)
    assert harness_layout(h, 13) == "AAAAA DDD  C"

    # Merge BOTH sides:  AAAAA*DDD  C  (D loses its close hook, else it could not be removed)
    h.vma_set_vm_ops(vma_d, None)
    vma, merged = try_merge_new_vma(h, vmg, 0x5000, 0x6000, 5, flags)
    assert vma is vma_a
    assert merged
    assert vma.vm_start == 0
    assert vma.vm_end == 0x9000
    assert vma.vm_pgoff == 0
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 2
    if is_sticky or a_is_sticky:
        assert sticky(vma)
    assert harness_layout(h, 13) == "AAAAAAAAA  C"

    # Merge to NEXT VMA:  AAAAAAAAA *C
    h.vma_set_anon_vma(vma_c, h.dummy_anon_vma)
    vma, merged = try_merge_new_vma(h, vmg, 0xA000, 0xB000, 0xA, flags)
    assert vma is vma_c
    assert merged
    assert vma.vm_start == 0xA000
    assert vma.vm_end == 0xC000
    assert vma.vm_pgoff == 0xA
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 2
    if is_sticky or c_is_sticky:
        assert sticky(vma)
    assert harness_layout(h, 13) == "AAAAAAAAA CC"

    # Merge BOTH sides:  AAAAAAAAA*CC
    vma, merged = try_merge_new_vma(h, vmg, 0x9000, 0xA000, 0x9, flags)
    assert vma is vma_a
    assert merged
    assert vma.vm_start == 0
    assert vma.vm_end == 0xC000
    assert vma.vm_pgoff == 0
    assert h.vma_anon_vma(vma) is h.dummy_anon_vma
    assert vma_write_started(h, vma)
    assert h.map_count == 1
    if is_sticky or a_is_sticky or c_is_sticky:
        assert sticky(vma)

    # Final state:  AAAAAAAAAAAA
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


def scenario_vma_merge_special_flags(h: VMAInternals) -> None:
    """Each of VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP blocks new and existing merges."""
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


def scenario_vma_merge_with_close(h: VMAInternals) -> None:
    """A VMA with a close hook is never removed by a merge: five cases."""
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


def scenario_vma_merge_new_with_close(h: VMAInternals) -> None:
    """prev and next both have close: a new range between them only extends prev."""
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


def scenario_merge_extend(h: VMAInternals) -> None:
    """vma_merge_extend of [0, 0x1000) by 0x2000 reaches [0x3000, 0x4000) and merges with it."""
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


def scenario_copy_vma(h: VMAInternals) -> None:
    """copy_vma backwards to a free spot makes a new VMA; next to a compatible VMA it merges."""

    # Move backwards, no merge.
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_new = h.copy_vma(vma, 0, 0x2000, 0)
    assert vma_new is not vma
    assert vma_new in h.vmas()  # vma_assert_attached (latest tree)
    assert vma_new.vm_start == 0
    assert vma_new.vm_end == 0x2000
    assert vma_new.vm_pgoff == 0
    assert harness_layout(h, 5) == "NN VV"
    cleanup_mm(h)

    # Move next to another VMA and merge with it.
    vma = alloc_and_link_vma(h, 0, 0x2000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x6000, 0x8000, 6, FLAGS)
    vma_new = h.copy_vma(vma, 0x4000, 0x2000, 4)
    assert vma_new in h.vmas()  # vma_assert_attached (latest tree)
    assert vma_new is vma_next
    assert harness_layout(h, 8) == "VV  NNNN"
    cleanup_mm(h)


def scenario_expand_only_mode(h: VMAInternals) -> None:
    """``just_expand`` extends prev only, and the iterator stays at prev."""
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
    assert vma in h.vmas()  # vma_assert_attached (latest tree)
    assert harness_layout(h, 9) == "AA PPPPPP"

    cleanup_mm(h)


def scenario_mmap_region_basic(h: VMAInternals) -> None:
    """Four anonymous mmap_region calls leave two VMAs with the right page offsets."""
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
