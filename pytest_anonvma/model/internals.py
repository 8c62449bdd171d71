"""The model's :class:`~pytest_anonvma.harness.protocol.VMAInternals`: :class:`ModelInternals`.

``ModelInternals(mm)`` over an :class:`~pytest_anonvma.model.mm_types.MMStruct` switches that mm
to the stubs of the kernel's userland VMA harness (``tools/testing/vma``): anon_vma cloning and
unlinking only record that they happened, page-table teardown does nothing. Its one creator is
:attr:`pytest_anonvma.model.engine.ModelMM.internals`.
"""

from __future__ import annotations

from typing import Any

from pytest_anonvma.model import vma as vmac
from pytest_anonvma.model.mm import (
    vma_anon_vma,
    vma_anon_vma_addr,
    vma_anon_vma_flags,
    vma_clear_anon_vma,
    vma_clear_anon_vma_unfaulted,
    vma_dup_anon_vma,
    vma_maybe_has_pagetables,
    vma_set_anon_vma,
    vma_set_anon_vma_unfaulted,
)
from pytest_anonvma.model.mm_types import VMA, MMStruct, VMOps
from pytest_anonvma.model.rmap import AnonVMA, AnonVMAChain

__all__ = ["HARNESS_OPS", "ModelInternals"]


# -- the harness's stubs (tools/testing/vma/vma_internal.h) -------------------------------------


def _stub_anon_vma_clone(dst: VMA, src: VMA) -> int:
    """``anon_vma_clone`` stub: copy src's anon_vma word to dst and record the clone."""
    if vma_anon_vma_addr(src):
        vma_dup_anon_vma(dst, src)
        vma_anon_vma(dst).was_cloned = True
    return 0


def _stub_unlink_anon_vmas(vma: VMA) -> None:
    """``unlink_anon_vmas`` stub: only record the unlink on the VMA's anon_vma."""
    anon_vma = vma_anon_vma(vma)
    if anon_vma is not None:
        anon_vma.was_unlinked = True


def _stub_clear_ptes(mm: MMStruct, vmas: Any, start: int, end: int) -> None:
    """``unmap_vmas``/``free_pgtables`` are empty stubs in the harness."""


#: mm/vma.c's external calls as the userland harness provides them
HARNESS_OPS = vmac.ExternalOps(_stub_anon_vma_clone, _stub_unlink_anon_vmas, _stub_clear_ptes)


def _dummy_anon_vma(mm: MMStruct) -> AnonVMA:
    """A statically allocated anon_vma of the harness: registered, never counted as slab."""
    anon_vma = AnonVMA()
    anon_vma.root = anon_vma.parent = anon_vma
    anon_vma.addr = mm.kernel.register(anon_vma)
    return anon_vma


def _dummy_close(vma: VMA) -> None:
    """The harness's ``dummy_close``: a close hook that does nothing."""


class ModelInternals:
    """:class:`~pytest_anonvma.harness.protocol.VMAInternals` over an :class:`MMStruct` of the
    model.

    Creating it puts ``mm`` in the harness's setting: rmap and page-table teardown are replaced
    by the harness's stubs for that mm (:data:`HARNESS_OPS`). Use it on a fresh mm.
    """

    VMA_MERGE_START = vmac.VMA_MERGE_START
    VMA_MERGE_NOMERGE = vmac.VMA_MERGE_NOMERGE
    VMA_MERGE_SUCCESS = vmac.VMA_MERGE_SUCCESS
    VMA_MERGE_ERROR_NOMEM = vmac.VMA_MERGE_ERROR_NOMEM

    def __init__(self, mm: MMStruct) -> None:
        self.mm = mm
        self.era = mm.era
        vmac.set_external_ops(mm, HARNESS_OPS)
        self._dummies = [_dummy_anon_vma(mm)]
        #: the vm_ops every harness VMA starts with (``vma_dummy_vm_ops``, no close hook)
        self.dummy_vm_ops = VMOps("vma_dummy_vm_ops")

    def __repr__(self) -> str:
        return f"ModelInternals(era={self.era!r}, design={self.mm.design.name!r})"

    # -- VMAs and the tree ---------------------------------------------------------------------
    def alloc_vma(self, start: int, end: int, pgoff: int, flags: int) -> VMA:
        """A detached VMA of this mm with the dummy vm_ops (the harness's ``alloc_vma``)."""
        return VMA(start, end, pgoff, flags, vm_mm=self.mm, vm_ops=self.dummy_vm_ops)

    def vma_link(self, vma: VMA) -> int:
        """``vma_link``."""
        return vmac.vma_link(self.mm, vma)

    @property
    def map_count(self) -> int:
        """``mm->map_count``."""
        return self.mm.map_count

    def vmas(self) -> list[VMA]:
        """The VMAs in address order."""
        return list(self.mm)

    def vma_prev(self, addr: int) -> VMA | None:
        """The last VMA starting below ``addr``."""
        return self.mm.vma_prev(addr)

    def vma_next(self, addr: int) -> VMA | None:
        """The first VMA starting at or above ``addr``."""
        return self.mm.vma_next(addr)

    def vm_flags_reset(self, vma: VMA, flags: int) -> None:
        """Overwrite ``vma.vm_flags``."""
        vma.vm_flags = flags

    def vm_ops_with_close(self) -> VMOps:
        """A vm_ops with the harness's ``dummy_close`` hook."""
        return VMOps("dummy_close", close=_dummy_close)

    def vma_set_vm_ops(self, vma: VMA, vm_ops: VMOps | None) -> None:
        """Set ``vma.vm_ops``."""
        vma.vm_ops = vm_ops

    def vma_vm_ops(self, vma: VMA) -> VMOps | None:
        """``vma.vm_ops``."""
        return vma.vm_ops

    def vma_write_started(self, vma: VMA) -> bool:
        """Written since last asked (the harness's ``vma_write_started``); resets."""
        started = vma.write_started
        vma.write_started = False
        return started

    # -- injected failure and cleanup ----------------------------------------------------------
    @property
    def fail_prealloc(self) -> bool:
        """Every tree preallocation fails with -ENOMEM while set."""
        return self.mm.fail_prealloc

    @fail_prealloc.setter
    def fail_prealloc(self, value: bool) -> None:
        self.mm.fail_prealloc = bool(value)

    def cleanup_mm(self) -> int:
        """The harness's ``cleanup_mm``: free all VMAs, reset injection and dummies; the count."""
        self.mm.fail_prealloc = False
        for anon_vma in self._dummies:
            anon_vma.was_cloned = anon_vma.was_unlinked = False
        vmas = list(self.mm)
        for vma in vmas:
            self.mm.unlink(vma)
        return len(vmas)

    # -- the merge state and mm/vma.c functions ------------------------------------------------
    def vmg(
        self, start: int = 0, end: int = 0, pgoff: int = 0, flags: int = 0
    ) -> vmac.VmaMergeState:
        """``VMG_STATE(name, mm, vmi, start, end, flags, pgoff)``."""
        return vmac.VmaMergeState(self.mm, start=start, end=end, pgoff=pgoff, flags=flags)

    def vmg_set_range(
        self, vmg: vmac.VmaMergeState, start: int, end: int, pgoff: int, flags: int
    ) -> None:
        """The harness's ``vmg_set_range``."""
        vmg.vmi.addr = start
        vmg.prev = vmg.middle = vmg.next = vmg.target = None
        vmg.start, vmg.end, vmg.pgoff, vmg.flags = start, end, pgoff, flags
        vmg.just_expand = False
        vmg.remove_middle = vmg.remove_next = False
        vmg.adjust_middle_start = vmg.adjust_next_start = False

    def vmg_set_anon_vma(self, vmg: vmac.VmaMergeState, anon_vma: AnonVMA | None) -> None:
        """``vmg->anon_vma = anon_vma``."""
        vmg.anon_vma = anon_vma.addr if anon_vma is not None else 0

    def vma_iter_set(self, vmg: vmac.VmaMergeState, addr: int) -> None:
        """``vma_iter_set``."""
        vmg.vmi.addr = addr

    def vma_iter_addr(self, vmg: vmac.VmaMergeState) -> int:
        """``vma_iter_addr``."""
        return vmg.vmi.addr

    def vma_merge_new_range(self, vmg: vmac.VmaMergeState) -> VMA | None:
        """``vma_merge_new_range``."""
        return vmac.vma_merge_new_range(vmg)

    def vma_merge_existing_range(self, vmg: vmac.VmaMergeState) -> VMA | None:
        """``vma_merge_existing_range``."""
        return vmac.vma_merge_existing_range(vmg)

    def vma_expand(self, vmg: vmac.VmaMergeState) -> int:
        """``vma_expand``."""
        return vmac.vma_expand(vmg)

    def vma_shrink(self, vma: VMA, start: int, end: int, pgoff: int) -> int:
        """``vma_shrink``."""
        return vmac.vma_shrink(self.mm, vma, start, end, pgoff)

    def vma_modify_flags(self, prev: VMA | None, vma: VMA, start: int, end: int, flags: int) -> VMA:
        """``vma_modify_flags``."""
        return vmac.vma_modify_flags(self.mm, prev, vma, start, end, flags)

    def vma_merge_extend(self, vma: VMA, delta: int) -> VMA | None:
        """``vma_merge_extend``."""
        return vmac.vma_merge_extend(vma, delta)

    def copy_vma(self, vma: VMA, addr: int, length: int, pgoff: int) -> VMA | None:
        """``copy_vma``."""
        return vmac.copy_vma(vma, addr, length, pgoff)

    def mmap_region(self, addr: int, length: int, flags: int, pgoff: int) -> int:
        """``__mmap_region(NULL, addr, len, flags, pgoff, NULL)``."""
        return vmac.mmap_region(self.mm, addr, length, flags, pgoff)

    def is_mergeable_anon_vma(
        self, anon_vma1: AnonVMA | None, anon_vma2: AnonVMA | None, vma: VMA | None
    ) -> bool:
        """The v6.14 ``is_mergeable_anon_vma``."""
        return vmac.is_mergeable_anon_vma(_addr(anon_vma1), _addr(anon_vma2), vma)

    # -- anon_vmas -----------------------------------------------------------------------------
    @property
    def dummy_anon_vma(self) -> AnonVMA:
        """The harness's ``dummy_anon_vma``."""
        return self._dummies[0]

    def new_dummy_anon_vma(self) -> AnonVMA:
        """Another distinct dummy anon_vma."""
        anon_vma = _dummy_anon_vma(self.mm)
        self._dummies.append(anon_vma)
        return anon_vma

    def vma_set_dummy_anon_vma(self, vma: VMA, anon_vma: AnonVMA | None = None) -> None:
        """``__vma_set_dummy_anon_vma``: pointer to the dummy and a single chain link to it."""
        anon_vma = anon_vma if anon_vma is not None else self.dummy_anon_vma
        vma_set_anon_vma(vma, anon_vma.addr)
        vma.anon_vma_chain = [AnonVMAChain(vma, anon_vma)]

    def vma_add_dummy_avc(self, vma: VMA) -> None:
        """``INIT_LIST_HEAD`` + ``list_add`` of a link to the dummy."""
        vma.anon_vma_chain = [AnonVMAChain(vma, self.dummy_anon_vma)]

    def anon_vma_chain_is_singular(self, vma: VMA) -> bool:
        """``list_is_singular(&vma->anon_vma_chain)``."""
        return len(vma.anon_vma_chain) == 1

    def vma_anon_vma(self, vma: VMA) -> AnonVMA | None:
        """``vma_anon_vma``."""
        return vma_anon_vma(vma)

    def vma_anon_vma_flags(self, vma: VMA) -> int:
        """``vma_anon_vma_flags``."""
        return vma_anon_vma_flags(vma)

    def vma_set_anon_vma(self, vma: VMA, anon_vma: AnonVMA | None) -> None:
        """``vma_set_anon_vma``."""
        vma_set_anon_vma(vma, _addr(anon_vma))

    def vma_clear_anon_vma(self, vma: VMA) -> None:
        """``vma_clear_anon_vma``."""
        vma_clear_anon_vma(vma)

    def vma_dup_anon_vma(self, dst: VMA, src: VMA) -> None:
        """``vma_dup_anon_vma``."""
        vma_dup_anon_vma(dst, src)

    def vma_maybe_has_pagetables(self, vma: VMA) -> bool:
        """``vma_maybe_has_pagetables``."""
        return vma_maybe_has_pagetables(vma)

    def vma_set_anon_vma_unfaulted(self, vma: VMA) -> None:
        """``vma_set_anon_vma_unfaulted``."""
        vma_set_anon_vma_unfaulted(vma)

    def vma_clear_anon_vma_unfaulted(self, vma: VMA) -> None:
        """``vma_clear_anon_vma_unfaulted``."""
        vma_clear_anon_vma_unfaulted(vma)


def _addr(anon_vma: AnonVMA | None) -> int:
    return anon_vma.addr if anon_vma is not None else 0
