"""The capabilities an address space may declare (``MM.capabilities``), written once with their
meanings, and the counters of the ``stats`` capability.

The case schema, the step classes, the model engine and docs/contract.md (a test compares its
table with :data:`CAPABILITIES`) all read these.
"""

from __future__ import annotations

__all__ = ["CAPABILITIES", "STATS_KEYS"]

#: every capability and what an implementation declaring it shows (docs/contract.md)
CAPABILITIES: dict[str, str] = {
    "pages": "`page`, `read` and `write` are meaningful",
    "layout": "`vmas()` gives exact boundaries, prot and flags",
    "anon_vma": "`VMAInfo.anon_vma`, `anon_vma_flags`, `maybe_has_pagetables` are meaningful",
    "stats": "`stats()` counts allocations and fork copies",
    "thp": "`retractable()` is meaningful",
    "internals": "`internals` offers the mm/vma.c-level API of the harness port",
    "files": "`memfd()` and file mappings",
    "fork": "`fork()`",
    "mremap": "`mremap()`",
    "mlock": "`mlock()` / `munlock()`",
    "guard-flag": "`VM_MAYBE_GUARD` appears in `VMAInfo.flags`",
    "interleave": "`stepped()` runs a call as atomic steps (the stepping protocol)",
}
#: the counters ``stats()`` always reports: slab allocations and frees of anon_vma and
#: anon_vma_chain objects (counted in the mm that made them) and the VMAs whose page tables
#: ``fork`` copied into a child (counted in the parent)
STATS_KEYS = (
    "anon_vma_allocs",
    "anon_vma_frees",
    "avc_allocs",
    "avc_frees",
    "fork_pagetable_copies",
)
