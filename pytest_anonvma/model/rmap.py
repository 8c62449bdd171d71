"""anon_vma objects and their chains (mm/rmap.c, include/linux/rmap.h), with slab counters.

An :class:`AnonVMA` is registered by address in the mm's ``Kernel`` (model.mm_types, shared by a
family of forked mms); a VMA points at it through its anon_vma *word*, always read
and written through the RFC's accessors of :mod:`pytest_anonvma.model.mm`. Every allocation and
free of an anon_vma or an anon_vma_chain is counted in ``mm.stats`` of the mm doing the operation
(the mm of the VMA being given or losing the object) and in the kernel's live counters, the figures
the patch's cover letter is about.

The interval tree of an anon_vma (``rb_root``) is modelled as the ordered set of chain links that
point at it; a VMA's ``anon_vma_chain`` list has the newest link first, as ``list_add`` leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_anonvma.model.mm import (
    vma_anon_vma,
    vma_anon_vma_addr,
    vma_clear_anon_vma,
    vma_set_anon_vma,
)

if TYPE_CHECKING:
    from pytest_anonvma.model.mm_types import VMA, MMStruct

__all__ = [
    "AnonVMA",
    "AnonVMAChain",
    "__anon_vma_prepare",
    "anon_vma_alloc",
    "anon_vma_chain_alloc",
    "anon_vma_chain_free",
    "anon_vma_chain_link",
    "anon_vma_clone",
    "anon_vma_fork",
    "anon_vma_free",
    "anon_vma_merge",
    "anon_vma_prepare",
    "get_anon_vma",
    "put_anon_vma",
    "unlink_anon_vmas",
]

ENOMEM = 12


@dataclass(eq=False)
class AnonVMA:
    """``struct anon_vma``: one node of a fork tree of reverse-map objects."""

    #: the address it is registered under in the kernel (0 until registered)
    addr: int = 0
    #: the root of its fork tree (itself for a root); the root's lock guards the whole tree
    root: AnonVMA | None = None
    #: the anon_vma this one was forked from (itself for a root)
    parent: AnonVMA | None = None
    #: references: 1 for itself plus one per live non-root anon_vma of its tree (on a root)
    refcount: int = 1
    #: anon_vmas whose ``parent`` is this one, itself included for a root
    num_children: int = 0
    #: VMAs whose anon_vma pointer is this object
    num_active_vmas: int = 0
    #: the interval tree: every chain link pointing here (insertion-ordered)
    rb_root: dict[AnonVMAChain, None] = field(default_factory=dict)
    #: harness observation: an anon_vma_clone() gave a VMA this anon_vma
    was_cloned: bool = False
    #: harness observation: unlink_anon_vmas() ran on a VMA pointing here
    was_unlinked: bool = False
    #: set once freed (the address is then unregistered)
    freed: bool = False

    def __repr__(self) -> str:
        root = "self" if self.root is self else f"{self.root.addr:#x}" if self.root else "-"
        return (
            f"AnonVMA({self.addr:#x} root={root} ref={self.refcount} "
            f"children={self.num_children} active={self.num_active_vmas} avcs={len(self.rb_root)})"
        )


@dataclass(eq=False)
class AnonVMAChain:
    """``struct anon_vma_chain``: links one VMA to one anon_vma."""

    vma: VMA | None = None
    anon_vma: AnonVMA | None = None

    def __repr__(self) -> str:
        av = f"{self.anon_vma.addr:#x}" if self.anon_vma else "-"
        where = f"{self.vma.vm_start:#x}" if self.vma else "-"
        return f"AnonVMAChain(vma@{where} -> {av})"


def _mm_of(vma: VMA) -> MMStruct:
    assert vma.vm_mm is not None, "VMA without an mm"
    return vma.vm_mm


def anon_vma_alloc(mm: MMStruct) -> AnonVMA:
    """A new root anon_vma, registered and counted (mirrors ``anon_vma_alloc``)."""
    anon_vma = AnonVMA()
    anon_vma.root = anon_vma
    anon_vma.parent = anon_vma
    anon_vma.addr = mm.kernel.register(anon_vma)
    mm.stats["anon_vma_allocs"] += 1
    mm.kernel.live_anon_vmas += 1
    return anon_vma


def anon_vma_free(mm: MMStruct, anon_vma: AnonVMA) -> None:
    """Return an anon_vma to the slab (mirrors ``anon_vma_free``)."""
    assert anon_vma.refcount == 0, f"freeing a referenced {anon_vma!r}"
    assert not anon_vma.freed, f"double free of {anon_vma!r}"
    anon_vma.freed = True
    mm.kernel.unregister(anon_vma.addr)
    mm.stats["anon_vma_frees"] += 1
    mm.kernel.live_anon_vmas -= 1


def get_anon_vma(anon_vma: AnonVMA) -> None:
    """Take a reference (mirrors ``get_anon_vma``)."""
    anon_vma.refcount += 1


def put_anon_vma(mm: MMStruct, anon_vma: AnonVMA) -> None:
    """Drop a reference, freeing on the last one (mirrors ``put_anon_vma``/``__put_anon_vma``).

    A non-root anon_vma pins its root; freeing it drops that pin and may free the root too.
    """
    anon_vma.refcount -= 1
    if anon_vma.refcount:
        return
    root = anon_vma.root
    anon_vma_free(mm, anon_vma)
    if root is not None and root is not anon_vma:
        root.refcount -= 1
        if not root.refcount:
            anon_vma_free(mm, root)


def anon_vma_chain_alloc(mm: MMStruct) -> AnonVMAChain:
    """A new chain link, counted (mirrors ``anon_vma_chain_alloc``)."""
    mm.stats["avc_allocs"] += 1
    mm.kernel.live_avcs += 1
    return AnonVMAChain()


def anon_vma_chain_free(mm: MMStruct, avc: AnonVMAChain) -> None:
    """Return a chain link to the slab (mirrors ``anon_vma_chain_free``)."""
    mm.stats["avc_frees"] += 1
    mm.kernel.live_avcs -= 1
    avc.vma = None


def anon_vma_chain_link(vma: VMA, avc: AnonVMAChain, anon_vma: AnonVMA) -> None:
    """Link ``vma`` to ``anon_vma`` through ``avc`` (mirrors ``anon_vma_chain_link``)."""
    avc.vma = vma
    avc.anon_vma = anon_vma
    vma.anon_vma_chain.insert(0, avc)  # list_add: newest first
    anon_vma.rb_root[avc] = None


def __anon_vma_prepare(vma: VMA) -> int:
    """Attach an anon_vma, reusing a compatible neighbour's if possible (``__anon_vma_prepare``).

    The reuse rule is ``find_mergeable_anon_vma`` of mm/vma.c. Setting the real anon_vma replaces
    any flag bits of the word (``vma_set_anon_vma``).
    """
    from pytest_anonvma.model.vma import find_mergeable_anon_vma

    mm = _mm_of(vma)
    avc = anon_vma_chain_alloc(mm)
    anon_vma = find_mergeable_anon_vma(vma)
    if anon_vma is None:
        anon_vma = anon_vma_alloc(mm)
        anon_vma.num_children += 1  # self-parent link of a new root
    # Single-threaded model: the page_table_lock re-check always finds the VMA still unset.
    vma_set_anon_vma(vma, anon_vma.addr)
    anon_vma_chain_link(vma, avc, anon_vma)
    anon_vma.num_active_vmas += 1
    return 0


def anon_vma_prepare(vma: VMA) -> int:
    """Make sure ``vma`` has a real anon_vma (mirrors ``anon_vma_prepare``, rmap.h)."""
    if vma_anon_vma_addr(vma):
        return 0
    return __anon_vma_prepare(vma)


def anon_vma_clone(dst: VMA, src: VMA) -> int:
    """Link ``dst`` to every anon_vma of ``src``'s chain (mirrors ``anon_vma_clone``).

    Reuse heuristic: a ``dst`` without an anon_vma of its own (fork) takes an anon_vma of the
    chain that no VMA points at any more and that has fewer than two children; a root is never
    reused because its self-parent link counts as a child.
    """
    mm = _mm_of(dst)
    for pavc in reversed(src.anon_vma_chain):  # oldest first, so dst keeps src's order
        anon_vma = pavc.anon_vma
        assert anon_vma is not None
        anon_vma_chain_link(dst, anon_vma_chain_alloc(mm), anon_vma)
        if (
            not vma_anon_vma_addr(dst)
            and vma_anon_vma_addr(src)
            and anon_vma.num_children < 2
            and anon_vma.num_active_vmas == 0
        ):
            vma_set_anon_vma(dst, anon_vma.addr)
    reused = vma_anon_vma(dst)
    if reused is not None:
        reused.num_active_vmas += 1
    return 0


def anon_vma_fork(vma: VMA, pvma: VMA) -> int:
    """Give a child VMA the parent's chain plus, usually, an anon_vma of its own
    (mirrors ``anon_vma_fork``).

    A parent VMA without a real anon_vma leaves the child's word as duplicated (flag bits kept).
    """
    parent_av = vma_anon_vma(pvma)
    if parent_av is None:
        return 0
    vma_clear_anon_vma(vma)  # drop the inherited pointer: reuse or allocate below
    error = anon_vma_clone(vma, pvma)
    if error:
        return error
    if vma_anon_vma_addr(vma):  # an existing anon_vma was reused
        return 0
    mm = _mm_of(vma)
    anon_vma = anon_vma_alloc(mm)
    anon_vma.num_active_vmas += 1
    avc = anon_vma_chain_alloc(mm)
    anon_vma.root = parent_av.root
    anon_vma.parent = parent_av
    assert anon_vma.root is not None
    get_anon_vma(anon_vma.root)
    vma_set_anon_vma(vma, anon_vma.addr)
    anon_vma_chain_link(vma, avc, anon_vma)
    parent_av.num_children += 1
    return 0


def unlink_anon_vmas(vma: VMA) -> None:
    """Drop every chain link of ``vma`` and free anon_vmas left empty (``unlink_anon_vmas``).

    The VMA's real anon_vma pointer is cleared (its flag bits are left as they are, as in the RFC).
    """
    mm = _mm_of(vma)
    emptied: list[AnonVMAChain] = []
    for avc in list(vma.anon_vma_chain):  # newest to oldest: the root goes last
        anon_vma = avc.anon_vma
        assert anon_vma is not None
        anon_vma.was_unlinked = True
        del anon_vma.rb_root[avc]
        if not anon_vma.rb_root:
            assert anon_vma.parent is not None
            anon_vma.parent.num_children -= 1
            emptied.append(avc)
            continue
        vma.anon_vma_chain.remove(avc)
        anon_vma_chain_free(mm, avc)
    own = vma_anon_vma(vma)
    if own is not None:
        own.num_active_vmas -= 1
        vma_clear_anon_vma(vma)
    for avc in emptied:
        anon_vma = avc.anon_vma
        assert anon_vma is not None
        assert anon_vma.num_children == 0 and anon_vma.num_active_vmas == 0, anon_vma
        put_anon_vma(mm, anon_vma)
        vma.anon_vma_chain.remove(avc)
        anon_vma_chain_free(mm, avc)


def anon_vma_merge(vma: VMA, next_vma: VMA) -> None:
    """``next_vma`` was merged into ``vma``, which shares its anon_vma (``anon_vma_merge``)."""
    assert vma_anon_vma_addr(vma) == vma_anon_vma_addr(next_vma), "merging distinct anon_vmas"
    unlink_anon_vmas(next_vma)
