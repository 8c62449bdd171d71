"""VMA helpers of include/linux/mm.h: ``vma_is_anonymous`` and the RFC's anon_vma accessors
(with the patch applied).

``vma.anon_vma`` is a word: the address of an anon_vma object with flag bits in its low bits.
Everything except fork's page-table decision and THP retraction looks only at the masked pointer.
"""

from __future__ import annotations

from typing import Any

from pytest_anonvma.model.mm_types import ANON_VMA_FLAGS_MASK, ANON_VMA_UNFAULTED, VMA


def vma_is_anonymous(vma: VMA) -> bool:
    """A VMA without vm_ops is anonymous (mirrors ``vma_is_anonymous``)."""
    return vma.vm_ops is None


def vma_anon_vma(vma: VMA) -> Any:
    """The real anon_vma object with flags masked off, or None (mirrors ``vma_anon_vma``)."""
    addr = vma.anon_vma & ~ANON_VMA_FLAGS_MASK
    if not addr:
        return None
    assert vma.vm_mm is not None, "VMA without an mm has no anon_vma namespace"
    return vma.vm_mm.kernel.at(addr)


def vma_anon_vma_addr(vma: VMA) -> int:
    """The masked pointer as a number (0 for none): the anon_vma's identity."""
    return vma.anon_vma & ~ANON_VMA_FLAGS_MASK


def vma_anon_vma_flags(vma: VMA) -> int:
    """The anon_vma word's flag bits (mirrors ``vma_anon_vma_flags``)."""
    return vma.anon_vma & ANON_VMA_FLAGS_MASK


def vma_set_anon_vma(vma: VMA, anon_vma_addr: int) -> None:
    """Point the VMA at an anon_vma, dropping any flags (mirrors ``vma_set_anon_vma``)."""
    assert anon_vma_addr & ANON_VMA_FLAGS_MASK == 0, "anon_vma pointer with flag bits"
    vma.anon_vma = anon_vma_addr


def vma_clear_anon_vma(vma: VMA) -> None:
    """Clear pointer and flags (mirrors ``vma_clear_anon_vma``)."""
    vma.anon_vma = 0


def vma_dup_anon_vma(dst: VMA, src: VMA) -> None:
    """Copy the raw word, flags included (mirrors ``vma_dup_anon_vma``)."""
    dst.anon_vma = src.anon_vma


def vma_maybe_has_pagetables(vma: VMA) -> bool:
    """Pointer or any flag set (mirrors ``vma_maybe_has_pagetables``)."""
    return vma.anon_vma != 0


def vma_set_anon_vma_unfaulted(vma: VMA) -> None:
    """Mark an anon_vma-less VMA as holding page tables (mirrors ``vma_set_anon_vma_unfaulted``).

    A VMA that already has a real anon_vma is left alone: fork copies its tables anyway.
    """
    if vma_anon_vma(vma) is None:
        vma.anon_vma |= ANON_VMA_UNFAULTED


def vma_clear_anon_vma_unfaulted(vma: VMA) -> None:
    """Drop the UNFAULTED flag, keeping the pointer (mirrors ``vma_clear_anon_vma_unfaulted``)."""
    vma.anon_vma &= ~ANON_VMA_UNFAULTED
