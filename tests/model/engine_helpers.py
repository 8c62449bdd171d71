"""Shared constants and helpers of the engine's unit tests (tests/model)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM

P = av.PAGE_SIZE
#: an arena far from the model's placement base, as the conformance cases use
B = 0x2000_0000_0000
R = av.PROT_READ
RW = av.PROT_READ | av.PROT_WRITE
ANON = av.MAP_PRIVATE | av.MAP_ANONYMOUS | av.MAP_FIXED
SHARED_ANON = av.MAP_SHARED | av.MAP_ANONYMOUS | av.MAP_FIXED
#: flags of a file (memfd) mapping at a fixed address, shared and private
SHARED_FILE = av.MAP_SHARED | av.MAP_FIXED
PRIVATE_FILE = av.MAP_PRIVATE | av.MAP_FIXED
GUARD = av.MADV_GUARD_INSTALL
UNGUARD = av.MADV_GUARD_REMOVE
DESIGNS = ("baseline", "rfc-v1", "reference", "maybe-guard")
#: the designs that keep guard markers across fork on every path (docs/spec.md §3)
CORRECT_DESIGNS = ("baseline", "reference", "maybe-guard")
#: x86-64 user address space limit (TASK_SIZE_MAX, arch/x86/include/asm/page_64_types.h)
TASK_SIZE = (1 << 47) - P
#: the largest unsigned long: where a length or an end address wraps
ULONG_MAX = (1 << 64) - 1


def pages(mm: ModelMM, first: int, count: int) -> str:
    """The page-table picture of ``count`` pages from page ``first`` of the arena ('.PG')."""
    return "".join(mm.page(B + (first + i) * P).char for i in range(count))


def extents(mm: ModelMM) -> list[tuple[int, int]]:
    """The VMAs as (first page, end page) relative to the arena."""
    return [((v.start - B) // P, (v.end - B) // P) for v in mm.vmas()]


def touch(mm: ModelMM, page: int, write: bool = False) -> str:
    """What a touch of the arena page does: 'ok', 'SEGV' or 'BUS'."""
    try:
        if write:
            mm.write(B + page * P, 1)
        else:
            mm.read(B + page * P)
    except av.SegmentationFault:
        return "SEGV"
    except av.BusError:
        return "BUS"
    return "ok"


def vma_at(mm: ModelMM, page: int) -> av.VMAInfo:
    """The VMAInfo covering the arena page."""
    addr = B + page * P
    for info in mm.vmas():
        if info.start <= addr < info.end:
            return info
    raise LookupError(f"no VMA at page {page}")


def errno_of(call: Callable[..., object], *args: object) -> int:
    """The errno of the OSError ``call(*args)`` must raise."""
    with pytest.raises(OSError) as info:
        call(*args)
    assert info.value.errno is not None
    return info.value.errno
