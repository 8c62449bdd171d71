"""Unit tests of model/rmap.py: anon_vma objects, chains, reuse and slab counters.

Expected values follow mm/rmap.c (v6.14, the RFC's base, whose anon_vma code 6.18 still has):
``__anon_vma_prepare`` allocates one chain link and, unless ``find_mergeable_anon_vma`` finds a
neighbour's, one anon_vma that is its own root and parent (``num_children`` 1 for the self-parent
link); ``anon_vma_clone`` links the destination to every anon_vma of the source's chain and reuses
one with no VMAs and fewer than two children; ``anon_vma_fork`` clones then adds the child's own
anon_vma under the parent's; ``unlink_anon_vmas`` frees links and the anon_vmas left empty, a
root only when its last descendant goes (it is pinned by ``get_anon_vma``). The word is always
written through the RFC's accessors: a real anon_vma replaces the UNFAULTED flag.
The harness's observations (``was_unlinked``) are checked here too.
"""

from __future__ import annotations

import pytest
from engine_helpers import ANON, RW, B, P
from vma_helpers import VM_RW, anon_at, new_mm

import pytest_anonvma as av
from pytest_anonvma.designs import get_design
from pytest_anonvma.model import rmap
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mm import (
    vma_anon_vma,
    vma_anon_vma_addr,
    vma_anon_vma_flags,
    vma_clear_anon_vma,
    vma_set_anon_vma_unfaulted,
)
from pytest_anonvma.model.mm_types import (
    ANON_VMA_UNFAULTED,
    PAGE_SHIFT,
    VM_LOCKED,
    VM_MAYBE_GUARD,
    VM_WRITE,
    VMA,
    MMStruct,
)
from pytest_anonvma.model.rmap import (
    anon_vma_clone,
    anon_vma_fork,
    anon_vma_merge,
    anon_vma_prepare,
    put_anon_vma,
    unlink_anon_vmas,
)
from pytest_anonvma.model.vma import __split_vma, validate_mm, vm_area_dup


def fork_vma(child: MMStruct, pvma: VMA) -> VMA:
    """The child's copy of ``pvma`` as dup_mmap makes it, then ``anon_vma_fork``."""
    vma = vm_area_dup(pvma)
    vma.vm_mm = child
    child.link(vma)
    assert anon_vma_fork(vma, pvma) == 0
    return vma


def test_prepare_allocates_a_root_anon_vma_and_one_link() -> None:
    """A lone VMA's first fault allocates an anon_vma (own root and parent) and one chain link."""
    mm = new_mm()
    vma = anon_at(mm, 0, 2)
    assert anon_vma_prepare(vma) == 0
    anon_vma = vma_anon_vma(vma)
    assert anon_vma is not None
    assert anon_vma.root is anon_vma and anon_vma.parent is anon_vma
    assert (anon_vma.refcount, anon_vma.num_children, anon_vma.num_active_vmas) == (1, 1, 1)
    assert [avc.anon_vma for avc in vma.anon_vma_chain] == [anon_vma]
    assert list(anon_vma.rb_root) == vma.anon_vma_chain
    assert mm.stats["anon_vma_allocs"] == 1 and mm.stats["avc_allocs"] == 1
    assert (mm.kernel.live_anon_vmas, mm.kernel.live_avcs) == (1, 1)
    validate_mm(mm)


def test_prepare_twice_allocates_once() -> None:
    """anon_vma_prepare of a VMA that has one is a no-op."""
    mm = new_mm()
    vma = anon_at(mm, 0, 1)
    anon_vma_prepare(vma)
    anon_vma_prepare(vma)
    assert mm.stats["anon_vma_allocs"] == 1 and mm.stats["avc_allocs"] == 1


def test_prepare_replaces_the_unfaulted_flag() -> None:
    """A real anon_vma replaces the UNFAULTED flag (vma_set_anon_vma drops flag bits)."""
    mm = new_mm()
    vma = anon_at(mm, 0, 1)
    vma_set_anon_vma_unfaulted(vma)
    assert vma_anon_vma_flags(vma) == ANON_VMA_UNFAULTED
    anon_vma_prepare(vma)
    assert vma_anon_vma_flags(vma) == 0
    assert vma_anon_vma_addr(vma) == vma_anon_vma(vma).addr
    validate_mm(mm)


def test_prepare_reuses_a_compatible_neighbours_anon_vma() -> None:
    """Neighbours differing only in access flags share an anon_vma (find_mergeable_anon_vma:
    the mprotect-then-fault pattern), at the cost of a chain link only."""
    mm = new_mm()
    prev = anon_at(mm, 0, 1)
    vma = anon_at(mm, 1, 2, flags=VM_RW & ~VM_WRITE)
    anon_vma_prepare(prev)
    anon_vma_prepare(vma)
    assert vma_anon_vma(vma) is vma_anon_vma(prev)
    assert vma_anon_vma(prev).num_active_vmas == 2
    assert mm.stats["anon_vma_allocs"] == 1 and mm.stats["avc_allocs"] == 2
    validate_mm(mm)


def test_prepare_tries_next_before_prev() -> None:
    """With both neighbours reusable, next's anon_vma is taken (next is tried first)."""
    mm = new_mm()
    prev, vma, nxt = anon_at(mm, 0, 1), anon_at(mm, 1, 2), anon_at(mm, 2, 3)
    anon_vma_prepare(prev)
    anon_vma_prepare(nxt)  # its only neighbour, vma, has none: a second anon_vma
    assert vma_anon_vma(prev) is not vma_anon_vma(nxt)
    anon_vma_prepare(vma)
    assert vma_anon_vma(vma) is vma_anon_vma(nxt)
    validate_mm(mm)


@pytest.mark.parametrize(
    ("flags", "pgoff_shift"),
    [(VM_RW | VM_LOCKED, 0), (VM_RW, 5)],
    ids=["flags-differ-beyond-access-bits", "pgoff-not-linear"],
)
def test_prepare_does_not_reuse_an_incompatible_neighbour(flags: int, pgoff_shift: int) -> None:
    """anon_vma_compatible needs flags equal but for access bits and a linear pgoff."""
    mm = new_mm()
    prev = anon_at(mm, 0, 1)
    vma = anon_at(mm, 1, 2, flags=flags, pgoff=((B + P) >> PAGE_SHIFT) + pgoff_shift)
    anon_vma_prepare(prev)
    anon_vma_prepare(vma)
    assert vma_anon_vma(vma) is not vma_anon_vma(prev)
    assert mm.stats["anon_vma_allocs"] == 2


@pytest.mark.parametrize(("era", "shared"), [("2025-03", False), ("6.18", True)])
def test_prepare_reuse_and_vm_maybe_guard(era: str, shared: bool) -> None:
    """A VM_MAYBE_GUARD difference blocks reuse in v6.14 but not in 6.18, where
    anon_vma_compatible also ignores VMA_IGNORE_MERGE_FLAGS (mm/vma.c @334fbe73)."""
    mm = new_mm(era)
    prev = anon_at(mm, 0, 1, flags=VM_RW | VM_MAYBE_GUARD)
    vma = anon_at(mm, 1, 2)
    anon_vma_prepare(prev)
    anon_vma_prepare(vma)
    assert (vma_anon_vma(vma) is vma_anon_vma(prev)) is shared


def test_prepare_does_not_reuse_a_fork_childs_anon_vma() -> None:
    """reusable_anon_vma needs the neighbour's chain singular: a fork child's is not."""
    parent = new_mm()
    pvma = anon_at(parent, 0, 1)
    anon_vma_prepare(pvma)
    child = new_mm(parent=parent)
    cvma = fork_vma(child, pvma)
    assert len(cvma.anon_vma_chain) == 2
    neighbour = anon_at(child, 1, 2)
    anon_vma_prepare(neighbour)
    assert vma_anon_vma(neighbour) is not vma_anon_vma(cvma)
    validate_mm(child, [parent, child])


def test_split_clones_the_chain() -> None:
    """__split_vma gives the new part a link to the same anon_vma: one more link, no anon_vma."""
    mm = new_mm()
    vma = anon_at(mm, 0, 4)
    anon_vma_prepare(vma)
    assert __split_vma(mm, vma, B + 2 * P, False) == 0
    low, high = list(mm)
    assert vma_anon_vma(high) is vma_anon_vma(low)
    assert vma_anon_vma(low).num_active_vmas == 2
    assert mm.stats["anon_vma_allocs"] == 1 and mm.stats["avc_allocs"] == 2
    validate_mm(mm)


def test_fork_gives_the_child_its_own_anon_vma_under_the_parents() -> None:
    """anon_vma_fork: the child links to the parent's anon_vma and to a new one whose root and
    parent are the parent's; counted on the child's mm; the root is pinned."""
    parent = new_mm()
    pvma = anon_at(parent, 0, 2)
    anon_vma_prepare(pvma)
    root = vma_anon_vma(pvma)
    child = new_mm(parent=parent)
    cvma = fork_vma(child, pvma)
    own = vma_anon_vma(cvma)
    assert own is not root
    assert own.root is root and own.parent is root
    assert [avc.anon_vma for avc in cvma.anon_vma_chain] == [own, root]
    assert root.num_children == 2 and root.refcount == 2
    assert (own.num_children, own.num_active_vmas) == (0, 1)
    assert child.stats["anon_vma_allocs"] == 1 and child.stats["avc_allocs"] == 2
    validate_mm(child, [parent, child])


def test_fork_of_a_flag_only_vma_allocates_nothing() -> None:
    """A parent VMA without a real anon_vma: the child keeps the duplicated word (flag kept)."""
    parent = new_mm()
    pvma = anon_at(parent, 0, 1)
    vma_set_anon_vma_unfaulted(pvma)
    child = new_mm(parent=parent)
    cvma = fork_vma(child, pvma)
    assert vma_anon_vma_flags(cvma) == ANON_VMA_UNFAULTED
    assert vma_anon_vma(cvma) is None
    assert not child.stats


def test_clone_reuses_an_anon_vma_without_vmas_and_with_one_child() -> None:
    """P forks C, C forks G, C's VMA goes: C's anon_vma has no VMA and one child (G's), so when
    G forks, the grandchild reuses it instead of allocating (anon_vma_clone's heuristic)."""
    p_mm = new_mm()
    pvma = anon_at(p_mm, 0, 1)
    anon_vma_prepare(pvma)
    c_mm = new_mm(parent=p_mm)
    cvma = fork_vma(c_mm, pvma)
    c_anon = vma_anon_vma(cvma)
    g_mm = new_mm(parent=p_mm)
    gvma = fork_vma(g_mm, cvma)
    assert c_anon.num_children == 1
    c_mm.unlink(cvma)
    unlink_anon_vmas(cvma)
    assert (c_anon.num_active_vmas, c_anon.num_children, c_anon.freed) == (0, 1, False)

    gg_mm = new_mm(parent=p_mm)
    ggvma = fork_vma(gg_mm, gvma)
    assert vma_anon_vma(ggvma) is c_anon
    assert c_anon.num_active_vmas == 1
    assert gg_mm.stats["anon_vma_allocs"] == 0 and gg_mm.stats["avc_allocs"] == 3
    validate_mm(p_mm, [p_mm, c_mm, g_mm, gg_mm])


def test_unlink_frees_the_anon_vma_and_links() -> None:
    """unlink_anon_vmas of the only VMA frees its link and its anon_vma and clears the word."""
    mm = new_mm()
    vma = anon_at(mm, 0, 1)
    anon_vma_prepare(vma)
    anon_vma = vma_anon_vma(vma)
    unlink_anon_vmas(vma)
    assert vma.anon_vma == 0 and vma.anon_vma_chain == []
    assert anon_vma.freed and anon_vma.addr not in mm.kernel.objects
    assert mm.stats["anon_vma_frees"] == 1 and mm.stats["avc_frees"] == 1
    assert (mm.kernel.live_anon_vmas, mm.kernel.live_avcs) == (0, 0)


def test_unlink_keeps_a_shared_anon_vma() -> None:
    """A VMA sharing its anon_vma with another (after a split) only drops its own link."""
    mm = new_mm()
    vma = anon_at(mm, 0, 2)
    anon_vma_prepare(vma)
    __split_vma(mm, vma, B + P, True)
    low = mm.vma_lookup(B)
    assert low is not None
    anon_vma = vma_anon_vma(vma)
    mm.unlink(low)
    unlink_anon_vmas(low)
    assert not anon_vma.freed and anon_vma.num_active_vmas == 1
    assert mm.stats["avc_frees"] == 1 and mm.stats["anon_vma_frees"] == 0
    validate_mm(mm)


def test_unlink_leaves_the_flag_of_a_flag_only_word() -> None:
    """unlink_anon_vmas clears a real pointer only; a flag-only word is left as it is (RFC)."""
    mm = new_mm()
    vma = anon_at(mm, 0, 1)
    vma_set_anon_vma_unfaulted(vma)
    unlink_anon_vmas(vma)
    assert vma_anon_vma_flags(vma) == ANON_VMA_UNFAULTED


def test_root_is_freed_after_its_last_descendant() -> None:
    """The parent's VMA goes first: its anon_vma (the root) stays, pinned by the child's; it is
    freed when the child's VMA goes, after the child's own anon_vma."""
    parent = new_mm()
    pvma = anon_at(parent, 0, 1)
    anon_vma_prepare(pvma)
    root = vma_anon_vma(pvma)
    child = new_mm(parent=parent)
    cvma = fork_vma(child, pvma)
    own = vma_anon_vma(cvma)
    parent.unlink(pvma)
    unlink_anon_vmas(pvma)
    assert not root.freed and root.num_active_vmas == 0
    child.unlink(cvma)
    unlink_anon_vmas(cvma)
    assert own.freed and root.freed
    assert (parent.kernel.live_anon_vmas, parent.kernel.live_avcs) == (0, 0)
    validate_mm(parent, [parent, child])


def test_anon_vma_merge_unlinks_the_absorbed_vma() -> None:
    """anon_vma_merge of a VMA sharing the survivor's anon_vma drops only the absorbed links."""
    mm = new_mm()
    vma = anon_at(mm, 0, 2)
    anon_vma_prepare(vma)
    __split_vma(mm, vma, B + P, False)
    high = mm.vma_lookup(B + P)
    assert high is not None
    anon_vma = vma_anon_vma(vma)
    anon_vma_merge(vma, high)
    assert high.anon_vma_chain == [] and vma_anon_vma_addr(high) == 0
    assert anon_vma.num_active_vmas == 1 and not anon_vma.freed


# -- the harness observations (tools/testing/vma) -------------------------------------------------


def test_fresh_harness_objects_are_not_marked() -> None:
    """tools/testing/vma: a new VMA has vm_lock_seq UINT_MAX, so vma_write_started is false until
    vma_start_write; the dummy anon_vmas start zeroed (was_cloned/was_unlinked false)."""
    internals = ModelMM().internals
    vma = internals.alloc_vma(B, B + P, 0, VM_RW)
    assert internals.vma_write_started(vma) is False
    for anon_vma in (internals.dummy_anon_vma, internals.new_dummy_anon_vma()):
        assert (anon_vma.was_cloned, anon_vma.was_unlinked) == (False, False)


def test_unlink_anon_vmas_marks_the_anon_vmas_it_unlinks() -> None:
    """``was_unlinked`` records that unlink_anon_vmas ran on a VMA of the anon_vma (its meaning
    in the harness, tools/testing/vma/vma_internal.h); a fresh anon_vma has not been."""
    mm = ModelMM()
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B, 1)
    mm.mprotect(B + P, P, av.PROT_READ)  # split: both halves share the anon_vma
    first, second = list(mm.mm)
    anon_vma = vma_anon_vma(first)
    assert anon_vma is not None and anon_vma.was_unlinked is False
    rmap.unlink_anon_vmas(second)
    assert anon_vma.was_unlinked is True and not anon_vma.freed


# -- anon_vma reference counts (mm/rmap.c) --------------------------------------------------------


def test_put_anon_vma_frees_only_on_the_last_reference() -> None:
    """put_anon_vma drops one reference and frees on the last; freeing a non-root anon_vma drops
    the pin on its root, and frees the root if that was its last reference (__put_anon_vma).

    After a fork, the child's anon_vma pins the parent's root (anon_vma_fork: get_anon_vma).
    """
    parent = ModelMM()
    parent.mmap(B, P, RW, ANON)
    parent.write(B, 1)
    child = parent.fork()
    root = vma_anon_vma(next(iter(parent.mm)))
    own = vma_anon_vma(next(iter(child.mm)))
    assert root is not None and own is not None and own.root is root
    kernel = parent.mm.kernel
    live = kernel.live_anon_vmas
    assert root.refcount == 2
    put_anon_vma(parent.mm, root)  # the root's own reference: still pinned by the child's
    assert not root.freed and kernel.live_anon_vmas == live
    put_anon_vma(child.mm, own)  # the child's goes, and takes the root's last reference along
    assert own.freed and root.freed and kernel.live_anon_vmas == live - 2


# -- return values (mm/rmap.c) --------------------------------------------------------------------


def test_anon_vma_prepare_and_clone_return_zero() -> None:
    """mm/rmap.c: __anon_vma_prepare and anon_vma_clone return 0 on success."""
    mm = MMStruct(get_design("reference"), "2025-03")
    src = VMA(B, B + P, B // P, VM_RW)
    mm.link(src)
    assert anon_vma_prepare(src) == 0
    dst = vm_area_dup(src)
    vma_clear_anon_vma(dst)
    assert anon_vma_clone(dst, src) == 0
