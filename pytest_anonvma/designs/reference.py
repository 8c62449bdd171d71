"""reference: rfc-v1 with its hazards fixed (each fix and its motivating case: docs/designs.md).

Same encoding and lifecycle as rfc-v1; the one change is that every merge path carries the
anon_vma word's flag bits of the VMAs it absorbs onto the survivor, the way upstream made
``VM_MAYBE_GUARD`` sticky.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_anonvma.designs.rfc_v1 import RfcV1
from pytest_anonvma.model.mm import vma_anon_vma_addr, vma_anon_vma_flags

if TYPE_CHECKING:
    from pytest_anonvma.model.mm_types import VMA


class Reference(RfcV1):
    """rfc-v1 plus a sticky anon_vma flag: merges OR the absorbed VMAs' flags onto the survivor."""

    name = "reference"

    def merge_carry(self, dst: VMA, *absorbed: VMA) -> None:
        """OR the flags of ``absorbed`` into ``dst``'s word unless ``dst`` has a real anon_vma.

        A real anon_vma already makes fork copy the tables, and the RFC keeps the flag only on
        anon_vma-less words (``vma_set_anon_vma`` drops it), so flags never ride a pointer.
        """
        if vma_anon_vma_addr(dst):
            return
        for vma in absorbed:
            dst.anon_vma |= vma_anon_vma_flags(vma)
