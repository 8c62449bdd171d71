"""maybe-guard: what upstream merged (v6.19, present in the 6.18 kernel here): ``VM_MAYBE_GUARD``.

Install sets the sticky VMA flag before touching page tables (kept even if the install then
fails), still prepares an anon_vma for anonymous VMAs, and never clears the flag. The 6.18 era's
merge rules ignore sticky flags for compatibility and OR them onto the survivor; split and fork
copy vm_flags, so nothing else is needed here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_anonvma.constants import ERA_6_18, VM_MAYBE_GUARD
from pytest_anonvma.designs.base import Design, vma_needs_copy_common

if TYPE_CHECKING:
    from pytest_anonvma.model.mm_types import VMA, MMStruct


class MaybeGuard(Design):
    """The sticky ``VM_MAYBE_GUARD`` flag of upstream's replacement for the RFC."""

    name = "maybe-guard"
    default_era = ERA_6_18
    uses_guard_flag = True
    install_begin_does = "set VM_MAYBE_GUARD, anon_vma_prepare if anonymous"
    retract_checks = "anon_vma, VM_MAYBE_GUARD"

    def guard_install_begin(self, mm: MMStruct, vma: VMA) -> int:
        """Set VM_MAYBE_GUARD (``vma_flag_set_atomic``), then ``anon_vma_prepare`` if anonymous."""
        from pytest_anonvma.model.mm import vma_is_anonymous
        from pytest_anonvma.model.rmap import anon_vma_prepare

        vma.vm_flags |= VM_MAYBE_GUARD
        if vma_is_anonymous(vma):
            return anon_vma_prepare(vma)
        return 0

    def guard_install_end(self, mm: MMStruct, vma: VMA, nr_pages: int) -> None:
        """Nothing: the flag was set before the walk."""

    def guard_remove_end(self, mm: MMStruct, vma: VMA, start: int, end: int, ticket: int) -> None:
        """Nothing: the flag is never cleared."""

    def vma_needs_copy(self, dst: VMA, src: VMA) -> bool:
        """``VM_COPY_ON_FORK`` (which includes ``VM_MAYBE_GUARD``) on the child, or an anon_vma."""
        return (
            vma_needs_copy_common(dst, src)
            or bool(dst.vm_flags & VM_MAYBE_GUARD)
            or src.anon_vma != 0
        )

    def retract_allowed(self, vma: VMA) -> bool:
        """``file_backed_vma_is_retractable``: no anon_vma and no ``VM_MAYBE_GUARD``."""
        return vma.anon_vma == 0 and not vma.vm_flags & VM_MAYBE_GUARD
