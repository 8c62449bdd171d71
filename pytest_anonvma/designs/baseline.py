"""baseline: the kernel before the patch (v6.14): guard install prepares a real anon_vma."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_anonvma.constants import ERA_2025_03
from pytest_anonvma.designs.base import Design, vma_needs_copy_common

if TYPE_CHECKING:
    from pytest_anonvma.model.mm_types import VMA, MMStruct


class Baseline(Design):
    """``madvise_guard_install`` calls ``anon_vma_prepare`` first, so fork copies the tables."""

    name = "baseline"
    default_era = ERA_2025_03
    install_begin_does = "anon_vma_prepare"

    def guard_install_begin(self, mm: MMStruct, vma: VMA) -> int:
        """Prepare an anon_vma for any VMA, file-backed ones included (``anon_vma_prepare``)."""
        from pytest_anonvma.model.rmap import anon_vma_prepare

        return anon_vma_prepare(vma)

    def guard_install_end(self, mm: MMStruct, vma: VMA, nr_pages: int) -> None:
        """Nothing: the anon_vma is already in place."""

    def guard_remove_end(self, mm: MMStruct, vma: VMA, start: int, end: int, ticket: int) -> None:
        """Nothing: the anon_vma stays for the VMA's life."""

    def vma_needs_copy(self, dst: VMA, src: VMA) -> bool:
        """``vma_needs_copy`` of v6.14: the common tests, or ``src->anon_vma``."""
        return vma_needs_copy_common(dst, src) or src.anon_vma != 0

    def retract_allowed(self, vma: VMA) -> bool:
        """``retract_page_tables`` skips any VMA with an anon_vma."""
        return vma.anon_vma == 0
