"""Scenarios of ``tools/testing/vma/tests/merge.c`` (latest tree) and of the same tests in
v6.14's ``tools/testing/vma/vma.c``: new-range and existing-range merges, expansion, shrinking,
anon_vma duplication and an injected allocation failure.

Run by ``conformance/test_harness_merge.py``; expected values are the C tests' own (they follow
from ``mm/vma.c`` at the tree's commit).
"""

from __future__ import annotations

import errno
from typing import Any

from pytest_anonvma.harness.helpers import (
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
    vma_set_dummy_anon_vma,
    vma_write_started,
    vmg_set_range,
    vmg_set_range_anon_vma,
)
from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.harness.scenarios import FLAGS, Merge, link_vmas, prev_took_the_anon_vma
from pytest_anonvma.harness.trees import Tree
from pytest_anonvma.model.mm_types import (
    VM_DONTEXPAND,
    VM_IO,
    VM_MAYREAD,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_READ,
    VM_SPECIAL,
    VM_STICKY,
)


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

    # The C walks the three parts with vma_next.
    parts = ((0, 0x1000, 0), (0x1000, 0x2000, 1), (0x2000, 0x3000, 2))
    for part, (start, end, pgoff) in zip(h.vmas(), parts, strict=True):
        assert part.vm_start == start
        assert part.vm_end == end
        assert part.vm_pgoff == pgoff


def scenario_simple_expand(h: VMAInternals, tree: Tree) -> None:
    """vma_expand grows [0, 0x1000) to [0, 0x3000) (the VMA is ``vmg.middle`` in v6.14,
    ``vmg.target`` in the latest tree)."""
    vma = alloc_vma(h, 0, 0x1000, 0, FLAGS)
    vmg = h.vmg(0, 0x3000, 0, 0)
    tree.set_expand_vma(vmg, vma)
    assert h.vma_link(vma) == 0

    assert expand_existing(h, vmg) == 0
    assert vma.vm_start == 0
    assert vma.vm_end == 0x3000
    assert vma.vm_pgoff == 0
    assert harness_layout(h, 3) == "AAA"


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

    linked, sticky_vmas = [], []
    for start, end, pgoff, vma_is_sticky in (
        (0, 0x2000, 0, a_is_sticky),
        (0x3000, 0x4000, 3, b_is_sticky),
        (0xB000, 0xC000, 0xB, c_is_sticky),
    ):
        vma = alloc_and_link_vma(h, start, end, pgoff, flags)
        assert vma is not None
        if vma_is_sticky:
            h.vm_flags_reset(vma, vma.vm_flags | VM_STICKY)
            sticky_vmas.append(vma)
        h.vma_add_dummy_avc(vma)  # one avc each, so anon_vma duplication can be tested
        linked.append(vma)
    vma_a, vma_b, vma_c = linked
    assert harness_layout(h, 13) == "AA B       C"

    # NO merge:  AA B   **  C
    vma_d, merged = try_merge_new_vma(h, vmg, 0x7000, 0x9000, 7, flags)
    assert vma_d is not None
    h.vma_add_dummy_avc(vma_d)
    assert not merged
    assert h.map_count == 4
    assert harness_layout(h, 13) == "AA B   DD  C"

    def merge(
        new: tuple[int, int, int], joins: tuple[Any, ...], spans: tuple[int, ...], map_count: int
    ) -> None:
        """Merge the new range ``new`` (start, end, pgoff) with the VMAs ``joins``: the first of
        them (prev, where there are two) grows to ``spans``, holds the dummy anon_vma, was
        written, and is sticky if the range or a VMA it joined was; ``map_count`` VMAs are left."""
        vma, merged = try_merge_new_vma(h, vmg, *new, flags)
        assert vma is joins[0]
        assert merged
        assert vma.vm_start == spans[0]
        assert vma.vm_end == spans[1]
        assert vma.vm_pgoff == spans[2]
        assert h.vma_anon_vma(vma) is h.dummy_anon_vma
        assert vma_write_started(h, vma)
        assert h.map_count == map_count
        if is_sticky or any(joined is vma for joined in joins for vma in sticky_vmas):
            assert vma.vm_flags & VM_STICKY

    # Merge BOTH sides:  AA*B   DD  C  (A's close hook has no impact: A is not removed)
    h.vma_set_vm_ops(vma_a, vm_ops)
    h.vma_set_anon_vma(vma_b, h.dummy_anon_vma)
    merge((0x2000, 0x3000, 2), joins=(vma_a, vma_b), spans=(0, 0x4000, 0), map_count=3)
    assert harness_layout(h, 13) == "AAAA   DD  C"

    # Merge to PREVIOUS VMA:  AAAA*  DD  C
    merge((0x4000, 0x5000, 4), joins=(vma_a,), spans=(0, 0x5000, 0), map_count=3)
    assert harness_layout(h, 13) == "AAAAA  DD  C"

    # Merge to NEXT VMA:  AAAAA *DD  C  (D's close hook has no impact: D is not removed)
    h.vma_set_anon_vma(vma_d, h.dummy_anon_vma)
    h.vma_set_vm_ops(vma_d, vm_ops)
    merge((0x6000, 0x7000, 6), joins=(vma_d,), spans=(0x6000, 0x9000, 6), map_count=3)
    assert harness_layout(h, 13) == "AAAAA DDD  C"

    # Merge BOTH sides:  AAAAA*DDD  C  (D loses its close hook, else it could not be removed)
    h.vma_set_vm_ops(vma_d, None)
    merge((0x5000, 0x6000, 5), joins=(vma_a, vma_d), spans=(0, 0x9000, 0), map_count=2)
    assert harness_layout(h, 13) == "AAAAAAAAA  C"

    # Merge to NEXT VMA:  AAAAAAAAA *C
    h.vma_set_anon_vma(vma_c, h.dummy_anon_vma)
    merge((0xA000, 0xB000, 0xA), joins=(vma_c,), spans=(0xA000, 0xC000, 0xA), map_count=2)
    assert harness_layout(h, 13) == "AAAAAAAAA CC"

    # Merge BOTH sides:  AAAAAAAAA*CC
    merge((0x9000, 0xA000, 0x9), joins=(vma_a, vma_c), spans=(0, 0xC000, 0), map_count=1)

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

    def refused(merge: Merge) -> None:
        """With each special flag on vma_left and the range, ``merge`` does not merge."""
        for special_flag in special_flags:
            h.vm_flags_reset(vma_left, FLAGS | special_flag)
            vmg.flags = FLAGS | special_flag
            assert merge(h, vmg) is None
            assert vmg.state == h.VMA_MERGE_NOMERGE

    # 1. A new range  AAA*  that would merge but for the special flag.
    vmg_set_range(h, vmg, 0x3000, 0x4000, 3, FLAGS)
    refused(merge_new)

    # 2. Modifying  AAAB  in a way that would merge but for the special flag.
    vma = alloc_and_link_vma(h, 0x3000, 0x4000, 3, FLAGS)
    assert vma is not None
    vmg.middle = vma
    refused(merge_existing)
    assert harness_layout(h, 5) == "AAAB"

    cleanup_mm(h)


def scenario_vma_merge_with_close(h: VMAInternals) -> None:
    """A VMA with a close hook is never removed by a merge: five cases, each a range
    [0x3000, 0x5000) (pgoff 3) between prev ``P`` at 0 and next ``N`` at 0x5000."""
    vmg = h.vmg()
    vm_ops = dummy_close(h)

    # (VMAs linked, the one with a close hook, the merge, does prev grow to [0, 0x5000) pgoff 0
    # (else nothing merges), the layout after, VMAs freed)
    for before, close, merge, prev_grows, after, freed in (
        # New range, next has close: only prev extends.  PPP**NNNN -> PPPPPNNNN
        ("PPP  NNNN", "N", merge_new, True, "PPPPPNNNN", 2),
        # Modified VMA with close would be removed merging into prev: no merge.  PPPVV
        ("PPPVV", "V", merge_existing, False, "PPPVV", 2),
        # Mirrored with next.  VVNNNN
        ("   VVNNNN", "V", merge_existing, False, "   VVNNNN", 2),
        # Merging both sides, the modified VMA has close: no merge.  PPPVVNNNN
        ("PPPVVNNNN", "V", merge_existing, False, "PPPVVNNNN", 3),
        # Merging both sides, next has close: reduced to prev + vma.  PPPVVNNNN -> PPPPPNNNN
        ("PPPVVNNNN", "N", merge_existing, True, "PPPPPNNNN", 2),
    ):
        vmas = link_vmas(h, before)
        h.vma_set_vm_ops(vmas[close], vm_ops)
        vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
        if merge is merge_existing:
            vmg.prev = vmas.get("P")
            vmg.middle = vmas["V"]
        if prev_grows:
            vma_prev = vmas["P"]
            assert merge(h, vmg) is vma_prev
            assert vmg.state == h.VMA_MERGE_SUCCESS
            assert vma_prev.vm_start == 0
            assert vma_prev.vm_end == 0x5000
            assert vma_prev.vm_pgoff == 0
        else:
            assert merge(h, vmg) is None
            assert vmg.state == h.VMA_MERGE_NOMERGE
        assert harness_layout(h, 9) == after
        assert cleanup_mm(h) == freed


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


#: The five merges of ``test_merge_existing``, prev ``P``, the modified VMA ``V``, next ``N``:
#: (VMAs linked, those with a close hook (no impact: none is removed), the modified range
#: (start, end, pgoff), vmg.prev, the survivor and its (start, end, pgoff), what is left of V
#: where it shrinks, the VMAs left, the layout after)
MERGE_EXISTING: tuple[tuple[Any, ...], ...] = (
    # Merge right, partial span:  <-> over  VVVVNNN  ->  VNNNNNN
    ("  VVVVNNN", "VN", (0x3000, 0x6000, 3), "V",
     "N", (0x3000, 0x9000, 3), (0x2000, 0x3000, 2), 2, "  VNNNNNN"),
    # Merge right, full span:  <--> over  VVVVNNN  ->  NNNNNNN  (vma is deleted)
    ("  VVVVNNN", "N", (0x2000, 0x6000, 2), None,
     "N", (0x2000, 0x9000, 2), None, 1, "  NNNNNNN"),
    # Merge left, partial span:  <-> over  PPPVVVV  ->  PPPPPPV
    ("PPPVVVV", "PV", (0x3000, 0x6000, 3), "P",
     "P", (0, 0x6000, 0), (0x6000, 0x7000, 6), 2, "PPPPPPV"),
    # Merge left, full span:  <--> over  PPPVVVV  ->  PPPPPPP  (vma is deleted)
    ("PPPVVVV", "P", (0x3000, 0x7000, 3), "P",
     "P", (0, 0x7000, 0), None, 1, "PPPPPPP"),
    # Merge both:  <--> over  PPPVVVVNNN  ->  PPPPPPPPPP  (vma and next are deleted)
    ("PPPVVVVNN", "P", (0x3000, 0x7000, 3), "P",
     "P", (0, 0x9000, 0), None, 1, "PPPPPPPPP"),
)  # fmt: skip


def scenario_merge_existing(
    h: VMAInternals,
    tree: Tree,
    prev_is_sticky: bool = False,
    middle_is_sticky: bool = False,
    next_is_sticky: bool = False,
) -> None:
    """Right partial, right full, left partial, left full and both-sides merges of a modified
    range (:data:`MERGE_EXISTING`), with sticky flags on prev, middle and next in the latest tree,
    and six ranges inside a VMA that cannot merge."""
    flags = {
        "P": FLAGS | VM_STICKY if prev_is_sticky else FLAGS,
        "V": FLAGS | VM_STICKY if middle_is_sticky else FLAGS,
        "N": FLAGS | VM_STICKY if next_is_sticky else FLAGS,
    }
    vmg = h.vmg()
    vm_ops = dummy_close(h)

    for before, close, modified, prev, survivor, spans, shrunk, left, after in MERGE_EXISTING:
        vmas = link_vmas(h, before, flags)
        for label in close:
            h.vma_set_vm_ops(vmas[label], vm_ops)
        start, end, pgoff = modified
        tree.set_range_anon_vma(h, vmg, start, end, pgoff, flags["V"])
        vmg.middle = vmas["V"]
        vmg.prev = vmas[prev] if prev else None
        tree.give_dummy_anon_vma(h, vmas["V"])
        vma = vmas[survivor]
        assert merge_existing(h, vmg) is vma
        assert vmg.state == h.VMA_MERGE_SUCCESS
        assert vma.vm_start == spans[0]
        assert vma.vm_end == spans[1]
        assert vma.vm_pgoff == spans[2]
        assert h.vma_anon_vma(vma) is h.dummy_anon_vma
        if shrunk is not None:
            assert vmas["V"].vm_start == shrunk[0]
            assert vmas["V"].vm_end == shrunk[1]
            assert vmas["V"].vm_pgoff == shrunk[2]
        for label in vmas:  # in address order: the survivor and a shrunk vma were written
            if label == survivor or (label == "V" and shrunk is not None):
                assert vma_write_started(h, vmas[label])
        assert h.map_count == left
        if any(flags[label] & VM_STICKY for label in vmas):  # the survivor takes sticky flags
            assert vma.vm_flags & VM_STICKY
        assert harness_layout(h, 10) == after
        assert cleanup_mm(h) == left

    # Ranges strictly inside vma never merge:  PPPVVVVVNNN
    vma = link_vmas(h, "PPPVVVVVNN", flags)["V"]
    for start, end, pgoff in (
        (0x4000, 0x5000, 4),
        (0x5000, 0x6000, 5),
        (0x6000, 0x7000, 6),
        (0x4000, 0x7000, 4),
        (0x4000, 0x6000, 4),
        (0x5000, 0x6000, 5),
    ):
        vmg_set_range(h, vmg, start, end, pgoff, flags["V"])
        vmg.prev = vma
        vmg.middle = vma
        assert merge_existing(h, vmg) is None
        assert vmg.state == h.VMA_MERGE_NOMERGE
    assert harness_layout(h, 11) == "PPPVVVVVNN"
    assert cleanup_mm(h) == 3


def assert_merges_into_prev_only(
    h: VMAInternals, vmg: Any, merge: Merge, vma_prev: Any, vma_next: Any
) -> None:
    """The outcome both cases of ``test_anon_vma_non_mergeable`` check: ``merge`` joins the range
    to prev, now [0, 0x7000) pgoff 0 and written, and leaves next, whose anon_vma differs, alone."""
    assert merge(h, vmg) is vma_prev
    assert vmg.state == h.VMA_MERGE_SUCCESS
    assert vma_prev.vm_start == 0
    assert vma_prev.vm_end == 0x7000
    assert vma_prev.vm_pgoff == 0
    assert vma_write_started(h, vma_prev)
    assert not vma_write_started(h, vma_next)


def scenario_anon_vma_non_mergeable(h: VMAInternals, tree: Tree) -> None:
    """prev and next hold distinct anon_vmas: merging both sides is refused, only prev merges,
    next is untouched; first for a modified VMA, then for a new range in the gap.

    The trees set up the distinct anon_vmas differently: v6.14 (the RFC's patch 1) gives prev
    and next one-link chains and two fake anon_vma values (``DUMMY_ANON_VMA_VAL_1``, ``_2``, here
    two more dummies), checking the v6.14 ``is_mergeable_anon_vma`` on the first pair; the
    latest tree uses ``vma_set_dummy_anon_vma`` with ``dummy_anon_vma`` and ``dummy_anon_vma_2``.
    """
    vmg = h.vmg()
    # (prev's anon_vma, next's) in the modified-VMA case, then in the new-range case
    if tree.latest:
        dummy_anon_vma_2 = h.new_dummy_anon_vma()
        pairs = [(h.dummy_anon_vma, dummy_anon_vma_2)] * 2
    else:
        dummy_val_1, dummy_val_2 = h.new_dummy_anon_vma(), h.new_dummy_anon_vma()
        pairs = [(h.dummy_anon_vma, dummy_val_1), (dummy_val_1, dummy_val_2)]

    # Modified VMA:  <--> over  PPPVVVVNNN  ->  PPPPPPPNNN
    # New VMA in the gap:  <--> over  PPP****NNN  ->  PPPPPPPNNN
    for merge, (anon_prev, anon_next) in zip((merge_existing, merge_new), pairs, strict=True):
        modified = merge is merge_existing
        vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
        vma = alloc_and_link_vma(h, 0x3000, 0x7000, 3, FLAGS) if modified else None
        vma_next = alloc_and_link_vma(h, 0x7000, 0x9000, 7, FLAGS)
        if tree.latest:
            vmg_set_range_anon_vma(h, vmg, 0x3000, 0x7000, 3, FLAGS, None)
            vmg.prev = vma_prev
            vmg.middle = vma
            vma_set_dummy_anon_vma(h, vma_prev, anon_prev)
            vma_set_dummy_anon_vma(h, vma_next, anon_next)
            if not modified:
                h.vmg_set_anon_vma(vmg, None)
        else:
            # Singular chains on both: each merges with a NULL vmg->anon_vma, not with the other.
            for side, anon_vma in ((vma_prev, anon_prev), (vma_next, anon_next)):
                h.vma_add_dummy_avc(side)
                if modified:
                    assert h.anon_vma_chain_is_singular(side)
                h.vma_set_anon_vma(side, anon_vma)
                if modified:
                    assert h.is_mergeable_anon_vma(None, h.vma_anon_vma(side), side)
            if modified:
                assert not h.is_mergeable_anon_vma(
                    h.vma_anon_vma(vma_prev), h.vma_anon_vma(vma_next), None
                )
            vmg_set_range(h, vmg, 0x3000, 0x7000, 3, FLAGS)
            vmg.prev = vma_prev
            vmg.middle = vma
        assert_merges_into_prev_only(h, vmg, merge, vma_prev, vma_next)
        assert harness_layout(h, 10) == "PPPPPPPNN"
        assert cleanup_mm(h) == 2


def expand_over_next(h: VMAInternals, tree: Tree, vmg: Any, pgoff: int) -> Any:
    """Link prev [0, 0x3000) and next [0x3000, 0x5000), next holding the dummy anon_vma, and set
    ``vmg`` to expand prev over next ([0, 0x5000) at ``pgoff``), as a new-range merge does (in
    ``test_dup_anon_vma`` and ``test_vmi_prealloc_fail``); prev."""
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    h.vma_set_anon_vma(vma_next, h.dummy_anon_vma)
    vmg_set_range(h, vmg, 0, 0x5000, pgoff, FLAGS)
    tree.set_expand_vma(vmg, vma_prev)
    vmg.next = vma_next
    return vma_prev


def scenario_dup_anon_vma(h: VMAInternals, tree: Tree) -> None:
    """Five merges where the surviving VMA must take (clone) the anon_vma of a VMA it absorbs."""
    vmg = h.vmg()
    reset_dummy_anon_vma(h)

    # Expanding over next (as a new-range merge does) duplicates next's anon_vma.
    vma_prev = expand_over_next(h, tree, vmg, 0)
    assert expand_existing(h, vmg) == 0
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma  # cloned
    assert h.vma_anon_vma(vma_prev).was_cloned
    assert harness_layout(h, 5) == "PPPPP"
    cleanup_mm(h)

    # Merges of [0x3000, 0x5000) (pgoff 3): (VMAs linked, the one with the anon_vma, vmg.prev,
    # the survivor and its new (start, end), the layout after)
    for before, holder, prev, survivor, (start, end), after in (
        # next has the anon_vma, prev takes it:  prev extend, vma delete, next delete.
        ("PPPVVNNN", "N", "P", "P", (0, 0x8000), "PPPPPPPP"),
        # vma has the anon_vma, prev takes it:  prev extend, vma delete, next delete.
        ("PPPVVNNN", "V", "P", "P", (0, 0x8000), "PPPPPPPP"),
        # vma has the anon_vma, prev takes it:  prev extend, vma shrink.
        ("PPPVVVVV", "V", "P", "P", (0, 0x5000), "PPPPPVVV"),
        # vma has the anon_vma, next takes it:  vma shrink, next extend.
        ("VVVVVNNN", "V", "V", "N", (0x3000, 0x8000), "VVVNNNNN"),
    ):
        vmas = link_vmas(h, before)
        if holder == "N":
            h.vma_add_dummy_avc(vmas["N"])  # so the mergeability check passes
            h.vma_set_anon_vma(vmas["N"], h.dummy_anon_vma)
        else:
            if tree.latest:  # the C hands the merge vma's anon_vma from here on
                h.vmg_set_anon_vma(vmg, h.dummy_anon_vma)
            tree.give_dummy_anon_vma(h, vmas["V"])
        vmg_set_range(h, vmg, 0x3000, 0x5000, 3, FLAGS)
        vmg.prev = vmas[prev]
        vmg.middle = vmas["V"]
        vma = vmas[survivor]
        assert merge_existing(h, vmg) is vma
        assert vmg.state == h.VMA_MERGE_SUCCESS
        assert vma.vm_start == start
        assert vma.vm_end == end
        assert h.vma_anon_vma(vma) is h.dummy_anon_vma
        assert h.vma_anon_vma(vma).was_cloned
        assert harness_layout(h, 8) == after
        cleanup_mm(h)


def scenario_vmi_prealloc_fail(h: VMAInternals, tree: Tree) -> None:
    """With every tree preallocation failing, a merge returns NULL and an expand -ENOMEM, state
    ERROR_NOMEM, and the anon_vma already handed to the survivor is unlinked again."""
    vmg = h.vmg()

    def unlinked_again(vma_prev: Any) -> None:
        """After the failure: ERROR_NOMEM; prev was given the anon_vma, which was cloned and then
        unlinked; nothing in the tree changed. Then clean up (which resets fail_prealloc too)."""
        assert vmg.state == h.VMA_MERGE_ERROR_NOMEM
        assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma  # assigned before the failure
        assert h.dummy_anon_vma.was_cloned
        assert h.dummy_anon_vma.was_unlinked
        assert harness_layout(h, 5) == "PPPVV"
        cleanup_mm(h)

    # Merging vma (with an anon_vma, to be duplicated) into prev.
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    h.vma_set_anon_vma(vma, h.dummy_anon_vma)
    tree.set_range_anon_vma(h, vmg, 0x3000, 0x5000, 3, FLAGS)
    vmg.prev = vma_prev
    vmg.middle = vma
    if tree.latest:
        vma_set_dummy_anon_vma(h, vma)
    h.fail_prealloc = True
    assert merge_existing(h, vmg) is None
    unlinked_again(vma_prev)

    # The same through vma_expand, which new-range merges use.
    vma_prev = expand_over_next(h, tree, vmg, 3)
    h.fail_prealloc = True
    assert expand_existing(h, vmg) == -errno.ENOMEM
    unlinked_again(vma_prev)


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


# -- beyond the C harness: the anon_vma rule the trees differ on ---------------------------------


def scenario_merge_existing_faulted_into_unfaulted(h: VMAInternals, tree: Tree) -> None:
    """Not in the C harness. A VMA with an anon_vma (``vmg->anon_vma`` set, as ``VMG_VMA_STATE``
    sets it) next to a compatible prev without one, modified over its whole range.

    v6.14 refuses the merge: its ``is_mergeable_anon_vma`` needs prev's chain singular, and an
    unfaulted prev's chain is empty (mm/vma.c @6ab2d9c7). The latest tree merges and prev takes
    the anon_vma (``is_mergeable_anon_vma`` case 1, mm/vma.c @334fbe73); seen on the running
    6.18 kernel too: mprotect of a written page next to an untouched page of the same flags
    (MAP_NORESERVE, so no VM_ACCOUNT difference) leaves one VMA.
    """
    vma_prev = alloc_and_link_vma(h, 0, 0x3000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_set_dummy_anon_vma(h, vma)
    merged = h.vma_modify_flags(vma_prev, vma, 0x3000, 0x5000, FLAGS)
    if tree.latest:
        prev_took_the_anon_vma(h, merged, vma_prev, 0x5000, "PPPPP", 1)
    else:
        assert merged is vma
        assert h.vma_anon_vma(vma_prev) is None
        assert not h.dummy_anon_vma.was_cloned
        assert harness_layout(h, 5) == "PPPVV"
        assert cleanup_mm(h) == 2
