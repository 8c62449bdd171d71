"""rfc-v1: "[RFC PATCH 0/2] mm: introduce anon_vma flags, reduce kernel allocs" exactly as posted.

Guard install sets ANON_VMA_UNFAULTED in the anon_vma word instead of allocating an anon_vma;
``vma_needs_copy`` and retraction test ``vma_maybe_has_pagetables``. Merges carry nothing but a
real anon_vma, so the flag can be lost (the hazards of docs/designs.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_anonvma.constants import ERA_2025_03
from pytest_anonvma.designs.base import Design, vma_needs_copy_common

if TYPE_CHECKING:
    from pytest_anonvma.model.mm_types import VMA, MMStruct


class RfcV1(Design):
    """The posted patch: flag after install of >= 1 page, cleared by a whole-VMA remove."""

    name = "rfc-v1"
    default_era = ERA_2025_03
    uses_anon_vma_flags = True
    has_known_hazards = True
    install_end_does = "set ANON_VMA_UNFAULTED if >= 1 page guarded"
    remove_end_does = "clear ANON_VMA_UNFAULTED if the whole VMA"
    retract_checks = "vma_maybe_has_pagetables"

    def guard_install_begin(self, mm: MMStruct, vma: VMA) -> int:
        """Nothing: patch 2/2 drops the ``anon_vma_prepare`` call."""
        return 0

    def guard_install_end(self, mm: MMStruct, vma: VMA, nr_pages: int) -> None:
        """``if (nr_pages > 0) vma_set_anon_vma_unfaulted(vma)`` after the walk loop."""
        from pytest_anonvma.model.mm import vma_set_anon_vma_unfaulted

        if nr_pages > 0:
            vma_set_anon_vma_unfaulted(vma)

    def guard_remove_end(self, mm: MMStruct, vma: VMA, start: int, end: int, ticket: int) -> None:
        """A remove spanning the whole VMA clears the flag (``vma_clear_anon_vma_unfaulted``)."""
        from pytest_anonvma.model.mm import vma_clear_anon_vma_unfaulted

        if start == vma.vm_start and end == vma.vm_end:
            vma_clear_anon_vma_unfaulted(vma)

    def vma_needs_copy(self, dst: VMA, src: VMA) -> bool:
        """Patch 1/2: ``if (vma_maybe_has_pagetables(src_vma)) return true``."""
        from pytest_anonvma.model.mm import vma_maybe_has_pagetables

        return vma_needs_copy_common(dst, src) or vma_maybe_has_pagetables(src)

    def retract_allowed(self, vma: VMA) -> bool:
        """Patch 1/2: ``retract_page_tables`` skips ``vma_maybe_has_pagetables`` VMAs."""
        from pytest_anonvma.model.mm import vma_maybe_has_pagetables

        return not vma_maybe_has_pagetables(vma)
