"""validate_mm (model/debug.py) catches each broken invariant it promises to check."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from engine_helpers import ANON, GUARD, RW, B, P

from pytest_anonvma.model.debug import validate_mm
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.memory import GUARD_MARKER
from pytest_anonvma.model.mm_types import VM_WRITE, VMA


def _mm() -> ModelMM:
    mm = ModelMM("reference")
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mmap(B + 8 * P, 2 * P, RW, ANON)
    mm.write(B + 8 * P, 1)
    mm.madvise(B + P, P, GUARD)
    return mm


def _clear_write(vma: VMA) -> None:
    vma.vm_flags &= ~VM_WRITE


def _overcount(mm: ModelMM) -> None:
    pte = mm.mm.ptes[(B + 8 * P) // P]
    pte.writable = False
    pte.folio.mapcount = 3


CORRUPTIONS: dict[str, Callable[[ModelMM], None]] = {
    "page aligned": lambda mm: setattr(mm.mm.mm_mt[0], "vm_end", B + 4 * P + 1),
    "bad range": lambda mm: setattr(mm.mm.mm_mt[0], "vm_end", B),
    "overlaps": lambda mm: setattr(mm.mm.mm_mt[0], "vm_end", B + 9 * P),
    "not attached": lambda mm: setattr(mm.mm.mm_mt[0], "detached", True),
    "flag bits ride": lambda mm: setattr(mm.mm.mm_mt[1], "anon_vma", mm.mm.mm_mt[1].anon_vma | 1),
    "dangling": lambda mm: setattr(mm.mm.mm_mt[0], "anon_vma", 0x1000),
    "chain without": lambda mm: mm.mm.mm_mt[0].anon_vma_chain.append(object()),
    "outside every VMA": lambda mm: mm.mm.ptes.__setitem__(B // P + 20, GUARD_MARKER),
    "without VM_WRITE": lambda mm: _clear_write(mm.mm.mm_mt[1]),
    "mapped by": lambda mm: _overcount(mm),
    "allocs - frees": lambda mm: mm.mm.stats.update({"anon_vma_allocs": 5}),
}


@pytest.mark.parametrize("what", sorted(CORRUPTIONS))
def test_validate_mm_detects(what: str) -> None:
    """Each corruption is reported with a message naming it."""
    mm = _mm()
    validate_mm(mm.mm)
    CORRUPTIONS[what](mm)
    with pytest.raises(AssertionError, match=what):
        validate_mm(mm.mm)


def test_flag_bits_in_a_design_without_flags() -> None:
    """A flag bit in baseline's word is a breach: baseline has no anon_vma flags."""
    mm = ModelMM("baseline")
    mm.mmap(B, P, RW, ANON)
    mm.mm.mm_mt[0].anon_vma = 1
    with pytest.raises(AssertionError, match="without anon_vma flags"):
        validate_mm(mm.mm)
