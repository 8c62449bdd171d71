"""The harness's helpers (``tools/testing/vma``: vma.c @6ab2d9c7, shared.c and tests/merge.c of
the latest tree) under their kernel names, over any
:class:`~pytest_anonvma.harness.protocol.VMAInternals`.

Each takes the internals object ``h`` first, where the C helpers use globals (the mm, the dummy
anon_vma, ``fail_prealloc``). Where a C helper asserts, the Python one asserts the same.
"""

from __future__ import annotations

from typing import Any

from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.layout import Layout, layout_of

__all__ = [
    "alloc_and_link_vma",
    "alloc_vma",
    "cleanup_mm",
    "dummy_close",
    "expand_existing",
    "harness_layout",
    "merge_existing",
    "merge_new",
    "reset_dummy_anon_vma",
    "try_merge_new_vma",
    "vma_set_dummy_anon_vma",
    "vma_write_started",
    "vmg_set_range",
    "vmg_set_range_anon_vma",
]


def alloc_vma(h: VMAInternals, start: int, end: int, pgoff: int, flags: int) -> Any:
    """A VMA of the harness's mm, not in the tree (``alloc_vma``)."""
    return h.alloc_vma(start, end, pgoff, flags)


def alloc_and_link_vma(h: VMAInternals, start: int, end: int, pgoff: int, flags: int) -> Any:
    """Allocate and link a VMA, then forget that linking write-locked it (``alloc_and_link_vma``).

    None if linking failed (an injected preallocation failure).
    """
    vma = h.alloc_vma(start, end, pgoff, flags)
    if h.vma_link(vma):
        return None
    h.vma_write_started(vma)  # reset the observation linking made
    return vma


def merge_new(h: VMAInternals, vmg: Any) -> Any:
    """Find prev and next around the iterator's position, then ``vma_merge_new_range``
    (``merge_new``)."""
    addr = h.vma_iter_addr(vmg)
    vmg.next = h.vma_next(addr)
    vmg.prev = h.vma_prev(addr)
    h.vma_iter_set(vmg, vmg.prev.vm_end if vmg.prev is not None else addr)
    return h.vma_merge_new_range(vmg)


def merge_existing(h: VMAInternals, vmg: Any) -> Any:
    """``vma_merge_existing_range`` (``merge_existing``)."""
    return h.vma_merge_existing_range(vmg)


def expand_existing(h: VMAInternals, vmg: Any) -> int:
    """``vma_expand`` (``expand_existing``)."""
    return h.vma_expand(vmg)


def vmg_set_range(h: VMAInternals, vmg: Any, start: int, end: int, pgoff: int, flags: int) -> None:
    """Reposition ``vmg`` and reset prev/middle/next/target, not anon_vma (``vmg_set_range``)."""
    h.vmg_set_range(vmg, start, end, pgoff, flags)


def vmg_set_range_anon_vma(
    h: VMAInternals, vmg: Any, start: int, end: int, pgoff: int, flags: int, anon_vma: Any
) -> None:
    """``vmg_set_range`` and set ``vmg->anon_vma`` (``vmg_set_range_anon_vma``, latest tree)."""
    h.vmg_set_range(vmg, start, end, pgoff, flags)
    h.vmg_set_anon_vma(vmg, anon_vma)


def try_merge_new_vma(
    h: VMAInternals, vmg: Any, start: int, end: int, pgoff: int, flags: int
) -> tuple[Any, bool]:
    """Merge ``[start, end)`` if possible, else allocate and link a VMA there
    (``try_merge_new_vma``). Returns ``(vma, was_merged)``; asserts the merge state as the C does.
    """
    h.vmg_set_range(vmg, start, end, pgoff, flags)
    merged = merge_new(h, vmg)
    if merged is not None:
        assert vmg.state == h.VMA_MERGE_SUCCESS
        return merged, True
    assert vmg.state == h.VMA_MERGE_NOMERGE
    return alloc_and_link_vma(h, start, end, pgoff, flags), False


def reset_dummy_anon_vma(h: VMAInternals) -> None:
    """Forget the dummy anon_vma's clone/unlink observations (``reset_dummy_anon_vma``)."""
    h.dummy_anon_vma.was_cloned = False
    h.dummy_anon_vma.was_unlinked = False


def cleanup_mm(h: VMAInternals) -> int:
    """Free every VMA, reset injection and the dummy; the number of VMAs freed (``cleanup_mm``)."""
    return h.cleanup_mm()


def vma_write_started(h: VMAInternals, vma: Any) -> bool:
    """Was ``vma`` write-locked since last asked? Resets (``vma_write_started``)."""
    return h.vma_write_started(vma)


def vma_set_dummy_anon_vma(h: VMAInternals, vma: Any, anon_vma: Any = None) -> None:
    """Point ``vma`` at a dummy anon_vma with a one-link chain (``vma_set_dummy_anon_vma``,
    ``__vma_set_dummy_anon_vma`` with ``anon_vma``)."""
    h.vma_set_dummy_anon_vma(vma, anon_vma)


def dummy_close(h: VMAInternals) -> Any:
    """A vm_ops whose close hook does nothing (``dummy_close`` in a ``vm_operations_struct``)."""
    return h.vm_ops_with_close()


def harness_layout(h: VMAInternals, npages: int) -> Layout:
    """The VMAs of the first ``npages`` pages from address 0, to compare with the C comments'
    diagrams (``AA B   DD  CC``: one character a page, one letter a VMA)."""
    return layout_of(h.vmas(), 0, npages)
