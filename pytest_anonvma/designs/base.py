"""The policy interface a design implements; the engine calls these at the kernel's decision points.

Each hook names the kernel site it stands for. A design is a policy, never a copy of the engine:
everything not listed here is shared kernel behaviour in ``pytest_anonvma.model``.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from pytest_anonvma.constants import VM_MIXEDMAP, VM_PFNMAP, VM_UFFD_WP

if TYPE_CHECKING:
    from pytest_anonvma.model.mm_types import VMA, MMStruct


class Design(abc.ABC):
    """One way of making fork keep guard markers (see docs/designs.md)."""

    #: registry name, e.g. ``"reference"``
    name: str
    #: the era (merge rules of mm/vma.c) the design is native to: ``"2025-03"`` or ``"6.18"``
    default_era: str
    #: does the design keep flag bits in the anon_vma word (the RFC's encoding)?
    uses_anon_vma_flags: bool = False
    #: does the design show ``VM_MAYBE_GUARD`` (the capability ``guard-flag``)?
    uses_guard_flag: bool = False
    #: does the design lose guard markers by design (the posted RFC's hazards, docs/spec.md §4)?
    #: The soak leaves such designs out of its default models.
    has_known_hazards: bool = False
    #: what each hook does, in a few words, for the interleave tier's schedules
    install_begin_does: str = "nothing"
    install_end_does: str = "nothing"
    remove_begin_does: str = "nothing"
    remove_end_does: str = "nothing"
    retract_checks: str = "anon_vma"

    @abc.abstractmethod
    def guard_install_begin(self, mm: MMStruct, vma: VMA) -> int:
        """Before the page walk of ``madvise_guard_install``; returns 0 or -errno."""

    @abc.abstractmethod
    def guard_install_end(self, mm: MMStruct, vma: VMA, nr_pages: int) -> None:
        """After the walk: ``nr_pages`` pages of the range now hold markers."""

    def guard_remove_begin(self, mm: MMStruct, vma: VMA) -> int:
        """Before ``madvise_guard_remove``'s walk, under ``mm->page_table_lock``: a ticket the
        design gets back in :meth:`guard_remove_end` (what it saw before the walk)."""
        return 0

    @abc.abstractmethod
    def guard_remove_end(self, mm: MMStruct, vma: VMA, start: int, end: int, ticket: int) -> None:
        """After ``madvise_guard_remove`` walked ``[start, end)`` of ``vma``; ``ticket`` is what
        :meth:`guard_remove_begin` returned."""

    @abc.abstractmethod
    def vma_needs_copy(self, dst: VMA, src: VMA) -> bool:
        """Must fork copy ``src``'s page tables into ``dst`` (``vma_needs_copy``)?"""

    @abc.abstractmethod
    def retract_allowed(self, vma: VMA) -> bool:
        """May khugepaged's ``retract_page_tables`` free this file VMA's page table?"""

    def merge_carry(self, dst: VMA, *absorbed: VMA) -> None:
        """A merge/expand/copy_vma made ``dst`` cover ``absorbed``'s range: carry what must survive.

        Called by every merge path of ``mm/vma.c`` after the tree is updated. The kernel's
        default (rfc-v1, baseline) carries nothing beyond ``dup_anon_vma``'s real anon_vma.
        """
        return

    def __repr__(self) -> str:
        return f"<design {self.name}>"


def vma_needs_copy_common(dst: VMA, src: VMA) -> bool:
    """The tests of ``vma_needs_copy`` every design shares: uffd-wp on the child, or a PFN map."""
    return bool(dst.vm_flags & VM_UFFD_WP or src.vm_flags & (VM_PFNMAP | VM_MIXEDMAP))
