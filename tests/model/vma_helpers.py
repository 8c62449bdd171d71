"""Shared helpers of the unit tests that drive model/vma.py (mm/vma.c) below the contract:
bare mms and VMAs linked by hand, in the arena of engine_helpers (``B``, ``P``)."""

from __future__ import annotations

import pytest
from engine_helpers import B, P

from pytest_anonvma.constants import ERAS  # noqa: F401  (the eras the tests run on)
from pytest_anonvma.designs import get_design
from pytest_anonvma.model import vma as vmac
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    VM_MAYREAD,
    VM_MAYWRITE,
    VM_READ,
    VM_WRITE,
    VMA,
    MMStruct,
)

#: the vm_flags of a private read-write mapping
VM_RW = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE
#: the same mapping after mprotect(PROT_READ)
VM_RO = VM_RW & ~VM_WRITE


def new_mm(
    era: str = "2025-03", design: str = "reference", parent: MMStruct | None = None
) -> MMStruct:
    """An empty mm; a fork child of ``parent`` shares its kernel."""
    return MMStruct(get_design(design), era, parent.kernel if parent is not None else None)


def anon_at(
    mm: MMStruct, first: int, end: int, flags: int = VM_RW, pgoff: int | None = None
) -> VMA:
    """Link an anonymous VMA over arena pages ``[first, end)`` (pgoff linear by default)."""
    start = B + first * P
    vma = VMA(start, B + end * P, start >> PAGE_SHIFT if pgoff is None else pgoff, flags, vm_mm=mm)
    mm.link(vma)
    return vma


def vma_extents(mm: MMStruct) -> list[tuple[int, int]]:
    """The VMAs as arena page ranges."""
    return [((v.vm_start - B) // P, (v.vm_end - B) // P) for v in mm]


def pgoff_of(page: int) -> int:
    """The linear page offset of arena page ``page``."""
    return (B + page * P) >> PAGE_SHIFT


def lower_max_map_count(monkeypatch: pytest.MonkeyPatch, mm: MMStruct) -> None:
    """Set ``vm.max_map_count`` (the model's ``DEFAULT_MAX_MAP_COUNT``) to the mm's VMA count."""
    monkeypatch.setattr(vmac, "DEFAULT_MAX_MAP_COUNT", mm.map_count)
