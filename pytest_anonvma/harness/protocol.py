"""The mm/vma.c-level API the kernel-harness port drives: the :class:`VMAInternals` protocol.

The kernel tests its VMA code with a userland harness (``tools/testing/vma``) that compiles
``mm/vma.c`` against stubs: anon_vma cloning and unlinking only *record* that they happened on a
dummy anon_vma, page-table teardown does nothing, and every tree preallocation can be made to
fail. :class:`VMAInternals` is that setting as a Python protocol, so that the same ported
scenarios (:mod:`pytest_anonvma.harness.scenarios`, run by ``conformance/test_harness_*``) can
check any model of mm/vma.c. This module is the contract only: it imports no implementation
(the model's is :class:`pytest_anonvma.model.internals.ModelInternals`).

A model implements it and exposes it as ``MM.internals`` together with the capability
``"internals"``. Conventions:

* VMAs are the implementation's own objects; the harness reads ``vm_start``, ``vm_end``,
  ``vm_pgoff`` and ``vm_flags`` from them and changes them only through the protocol.
* ``vm_flags`` use the kernel's bit values (``pytest_anonvma.model.mm_types``: ``VM_READ``...,
  ``VM_MAYBE_GUARD = 0x800``, ``VM_STICKY``).
* A merge state ("vmg") is created by :meth:`VMAInternals.vmg` and has the writable attributes
  ``start``, ``end``, ``pgoff``, ``flags``, ``prev``, ``middle``, ``next``, ``target``,
  ``just_expand`` and the readable ``state``, compared with the protocol's ``VMA_MERGE_*``.
* Return conventions are the kernel's: 0 or ``-errno`` for int functions, the VMA or None for
  pointer functions, ``OSError`` where the kernel returns ``ERR_PTR``.
* ``era`` is ``"2025-03"`` (v6.14 rules) or ``"6.18"`` (sticky flags, relaxed anon_vma rule).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["VMAInternals"]


@runtime_checkable
class VMAInternals(Protocol):
    """The mm/vma.c layer of a model, in the harness's userland setting (see the module doc)."""

    #: merge rules in force: ``"2025-03"`` or ``"6.18"``
    era: str
    #: ``vmg.state`` values
    VMA_MERGE_START: Any
    VMA_MERGE_NOMERGE: Any
    VMA_MERGE_SUCCESS: Any
    VMA_MERGE_ERROR_NOMEM: Any

    # -- VMAs and the tree ---------------------------------------------------------------------
    def alloc_vma(self, start: int, end: int, pgoff: int, flags: int) -> Any:
        """A new VMA of this mm, not in the tree, with a dummy vm_ops without close."""
        ...

    def vma_link(self, vma: Any) -> int:
        """Insert a VMA into the tree, write-locking it (``vma_link``): 0 or -ENOMEM."""
        ...

    @property
    def map_count(self) -> int:
        """``mm->map_count``."""
        ...

    def vmas(self) -> list[Any]:
        """The VMAs in address order (``for_each_vma``)."""
        ...

    def vma_prev(self, addr: int) -> Any:
        """The last VMA starting below ``addr``, or None."""
        ...

    def vma_next(self, addr: int) -> Any:
        """The first VMA starting at or above ``addr``, or None."""
        ...

    def vm_flags_reset(self, vma: Any, flags: int) -> None:
        """Overwrite a VMA's flags."""
        ...

    def vm_ops_with_close(self) -> Any:
        """A new vm_ops whose close hook does nothing (the harness's ``dummy_close``)."""
        ...

    def vma_set_vm_ops(self, vma: Any, vm_ops: Any) -> None:
        """Set (or, with None, clear) a VMA's vm_ops."""
        ...

    def vma_vm_ops(self, vma: Any) -> Any:
        """A VMA's vm_ops."""
        ...

    def vma_write_started(self, vma: Any) -> bool:
        """Was the VMA write-locked since last asked? Resets the observation."""
        ...

    # -- injected failure and cleanup ----------------------------------------------------------
    fail_prealloc: bool

    def cleanup_mm(self) -> int:
        """Free every VMA, reset ``fail_prealloc`` and the dummy anon_vmas; the VMA count."""
        ...

    # -- the merge state and mm/vma.c functions ------------------------------------------------
    def vmg(self, start: int = 0, end: int = 0, pgoff: int = 0, flags: int = 0) -> Any:
        """A fresh merge state for this mm (``VMG_STATE``), its iterator at ``start``."""
        ...

    def vmg_set_range(self, vmg: Any, start: int, end: int, pgoff: int, flags: int) -> None:
        """Reposition ``vmg`` and its iterator; prev/middle/next/target and internal flags reset,
        ``anon_vma`` kept (the harness's ``vmg_set_range``)."""
        ...

    def vmg_set_anon_vma(self, vmg: Any, anon_vma: Any) -> None:
        """Set ``vmg->anon_vma`` to an anon_vma of :meth:`vma_anon_vma` (or None)."""
        ...

    def vma_iter_set(self, vmg: Any, addr: int) -> None:
        """Move the vmg's iterator (``vma_iter_set``)."""
        ...

    def vma_iter_addr(self, vmg: Any) -> int:
        """The vmg's iterator position (``vma_iter_addr``)."""
        ...

    def vma_merge_new_range(self, vmg: Any) -> Any:
        """``vma_merge_new_range``."""
        ...

    def vma_merge_existing_range(self, vmg: Any) -> Any:
        """``vma_merge_existing_range``."""
        ...

    def vma_expand(self, vmg: Any) -> int:
        """``vma_expand`` (grows ``vmg.middle`` on 2025-03, ``vmg.target`` on 6.18)."""
        ...

    def vma_shrink(self, vma: Any, start: int, end: int, pgoff: int) -> int:
        """``vma_shrink``."""
        ...

    def vma_modify_flags(self, prev: Any, vma: Any, start: int, end: int, flags: int) -> Any:
        """``vma_modify_flags``."""
        ...

    def vma_merge_extend(self, vma: Any, delta: int) -> Any:
        """``vma_merge_extend``."""
        ...

    def copy_vma(self, vma: Any, addr: int, length: int, pgoff: int) -> Any:
        """``copy_vma``."""
        ...

    def mmap_region(self, addr: int, length: int, flags: int, pgoff: int) -> int:
        """``__mmap_region`` of an anonymous mapping: the address or -errno."""
        ...

    def is_mergeable_anon_vma(self, anon_vma1: Any, anon_vma2: Any, vma: Any) -> bool:
        """The v6.14 ``is_mergeable_anon_vma(anon_vma1, anon_vma2, vma)`` (era 2025-03)."""
        ...

    # -- anon_vmas: the dummy and the RFC's accessors ------------------------------------------
    @property
    def dummy_anon_vma(self) -> Any:
        """The harness's ``dummy_anon_vma``: has ``was_cloned`` and ``was_unlinked``."""
        ...

    def new_dummy_anon_vma(self) -> Any:
        """Another distinct dummy anon_vma (``dummy_anon_vma_2``, ``DUMMY_ANON_VMA_VAL_n``)."""
        ...

    def vma_set_dummy_anon_vma(self, vma: Any, anon_vma: Any = None) -> None:
        """Point ``vma`` at a dummy (default: :attr:`dummy_anon_vma`) with a one-link chain."""
        ...

    def vma_add_dummy_avc(self, vma: Any) -> None:
        """Give ``vma`` a one-link chain to the dummy, leaving its anon_vma pointer alone."""
        ...

    def anon_vma_chain_is_singular(self, vma: Any) -> bool:
        """``list_is_singular(&vma->anon_vma_chain)``."""
        ...

    def vma_anon_vma(self, vma: Any) -> Any:
        """The anon_vma with flag bits masked off, or None (``vma_anon_vma``)."""
        ...

    def vma_anon_vma_flags(self, vma: Any) -> int:
        """The flag bits of the anon_vma word (``vma_anon_vma_flags``)."""
        ...

    def vma_set_anon_vma(self, vma: Any, anon_vma: Any) -> None:
        """Set the pointer, dropping flags (``vma_set_anon_vma``)."""
        ...

    def vma_clear_anon_vma(self, vma: Any) -> None:
        """Clear pointer and flags (``vma_clear_anon_vma``)."""
        ...

    def vma_dup_anon_vma(self, dst: Any, src: Any) -> None:
        """Copy the raw word, flags included (``vma_dup_anon_vma``)."""
        ...

    def vma_maybe_has_pagetables(self, vma: Any) -> bool:
        """Pointer or flag set (``vma_maybe_has_pagetables``)."""
        ...

    def vma_set_anon_vma_unfaulted(self, vma: Any) -> None:
        """Set ANON_VMA_UNFAULTED unless a real anon_vma is there."""
        ...

    def vma_clear_anon_vma_unfaulted(self, vma: Any) -> None:
        """Clear ANON_VMA_UNFAULTED unless a real anon_vma was set since."""
        ...
