"""ModelMM against the public contract (contract.MM, docs/contract.md): types, errors, views,
argument checks, fault addresses as the kernel sees them (unsigned long), and close (exit_mmap).

Expected values come from docs/contract.md (argument errors, fault classes), the kernel sources
named in each docstring, or the live 6.18 kernel (named where used: the same calls were run on
``av.load("live")`` and gave the same results).
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from engine_helpers import ANON, DESIGNS, GUARD, RW, SHARED_ANON, TASK_SIZE, ULONG_MAX, B, P, pages

import pytest_anonvma as av
from pytest_anonvma.model.engine import BASE_CAPABILITIES, STATS_KEYS, ModelMM
from pytest_anonvma.model.internals import ModelInternals


@pytest.mark.parametrize("design", DESIGNS)
def test_registry_factories_build_model_mms(design: str) -> None:
    """av.load gives a ModelMM of the design on its native era; name@era switches era."""
    mm = av.load(design)
    assert isinstance(mm, ModelMM) and isinstance(mm, av.MM)
    assert mm.design == design
    assert mm.era == ("6.18" if design == "maybe-guard" else "2025-03")
    other = av.load(f"{design}@{'2025-03' if mm.era == '6.18' else '6.18'}")
    assert isinstance(other, ModelMM) and other.era != mm.era


def test_capabilities() -> None:
    """Every design shows the base vocabulary; only maybe-guard adds guard-flag."""
    assert ModelMM("reference").capabilities == BASE_CAPABILITIES
    assert ModelMM("maybe-guard").capabilities == BASE_CAPABILITIES | {"guard-flag"}


def test_constructor_errors() -> None:
    """Wrong types: TypeError; unknown design or era: LookupError listing the known ones."""
    with pytest.raises(TypeError, match="design must be a str"):
        ModelMM(3)  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="reference"):
        ModelMM("nope")
    with pytest.raises(LookupError, match="2025-03"):
        ModelMM("reference", "1999")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda mm: mm.mmap("x", P, RW, ANON), "mmap\\(\\): addr must be an int"),
        (lambda mm: mm.mmap(B, 1.5, RW, ANON), "length must be an int"),
        (lambda mm: mm.mmap(B, P, RW, ANON, file=3), "file must be a handle"),
        (lambda mm: mm.munmap(B, None), "munmap\\(\\): length"),
        (lambda mm: mm.mprotect(B, P, True), "prot must be an int"),
        (lambda mm: mm.madvise(B, P, "guard"), "advice must be an int"),
        (lambda mm: mm.mremap(B, P, P, 0, "x"), "new_addr must be an int"),
        (lambda mm: mm.read(None), "read\\(\\): addr"),
        (lambda mm: mm.write(B, "a"), "value must be an int"),
        (lambda mm: mm.memfd(3, P), "name must be a str"),
        (lambda mm: mm.page(1.0), "page\\(\\): addr"),
        (lambda mm: mm.retractable("x"), "retractable\\(\\): addr"),
    ],
)
def test_wrong_argument_types_raise_type_error(call: object, message: str) -> None:
    """The contract: wrong argument types raise TypeError with a message naming the argument."""
    mm = ModelMM()
    with pytest.raises(TypeError, match=message):
        call(mm)  # type: ignore[operator]


def test_errors_are_oserrors_with_errno_and_strerror() -> None:
    """Kernel errors: OSError with the errno and its message."""
    mm = ModelMM()
    with pytest.raises(OSError) as info:
        mm.munmap(B, 0)
    assert info.value.errno == errno.EINVAL and info.value.strerror


def test_write_value_range_and_memfd_errors() -> None:
    """write takes a byte; memfd rejects negative sizes and over-long names with EINVAL."""
    mm = ModelMM()
    mm.mmap(B, P, RW, ANON)
    with pytest.raises(ValueError, match="byte"):
        mm.write(B, 256)
    with pytest.raises(OSError):
        mm.memfd("x", -1)
    with pytest.raises(OSError):
        mm.memfd("x" * 300, P)


def test_touch_outside_user_space_is_a_segfault() -> None:
    """Kernel or negative addresses fault like unmapped memory."""
    mm = ModelMM()
    with pytest.raises(av.SegmentationFault):
        mm.read(-1)
    with pytest.raises(av.SegmentationFault):
        mm.read(1 << 60)


def test_vmas_view() -> None:
    """VMAInfo: prot from VM_READ/WRITE/EXEC, kernel flag names, masked anon_vma identity."""
    mm = ModelMM("rfc-v1")
    mm.mmap(B, 2 * P, av.PROT_READ | av.PROT_EXEC, ANON)
    mm.mmap(B + 4 * P, 2 * P, RW, ANON)
    mm.write(B + 4 * P, 1)
    mm.madvise(B, P, GUARD)
    first, second = mm.vmas()
    assert first.prot == av.PROT_READ | av.PROT_EXEC and "VM_EXEC" in first.flags
    assert (first.anon_vma, first.anon_vma_flags, first.maybe_has_pagetables) == (None, 1, True)
    assert isinstance(second.anon_vma, int) and second.anon_vma % 8 == 0
    assert second.anon_vma_flags == 0 and second.file is None and second.pages == 2
    assert mm.vmas() == [first, second]


def test_stats_keys() -> None:
    """stats() has every contract counter, zero on a fresh mm."""
    assert {k: v for k, v in ModelMM().stats().items() if k in STATS_KEYS} == dict.fromkeys(
        STATS_KEYS, 0
    )


def test_close_and_context_manager() -> None:
    """close() frees everything and is idempotent; a closed mm refuses operations."""
    with ModelMM() as mm:
        mm.mmap(B, P, RW, ANON)
        mm.write(B, 1)
    assert mm.closed and mm.mm.kernel.live_anon_vmas == 0
    mm.close()
    with pytest.raises(ValueError, match="closed"):
        mm.mmap(B, P, RW, ANON)
    assert "closed" in repr(mm)


def test_internals_is_a_separate_harness_mm() -> None:
    """internals drives mm/vma.c on its own mm; the address space is untouched."""
    mm = ModelMM("maybe-guard")
    mm.mmap(B, P, RW, ANON)
    internals = mm.internals
    assert isinstance(internals, ModelInternals) and internals is mm.internals
    assert internals.era == "6.18" and internals.map_count == 0
    assert len(mm.vmas()) == 1


Call = Callable[[av.MM], object]


# -- argument types and values (docs/contract.md, "Errors") ---------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda mm: mm.mmap(B, P, 1.0, ANON), r"mmap\(\): prot must be an int"),
        (lambda mm: mm.mmap(B, P, RW, True), r"mmap\(\): flags must be an int"),
        (lambda mm: mm.mmap(B, P, RW, ANON, offset=True), r"mmap\(\): offset must be an int"),
        (lambda mm: mm.munmap(True, P), r"munmap\(\): addr must be an int"),
        (lambda mm: mm.mprotect(True, P, RW), r"mprotect\(\): addr must be an int"),
        (lambda mm: mm.mprotect(B, True, RW), r"mprotect\(\): length must be an int"),
        (lambda mm: mm.madvise(True, P, GUARD), r"madvise\(\): addr must be an int"),
        (lambda mm: mm.madvise(B, True, GUARD), r"madvise\(\): length must be an int"),
        (lambda mm: mm.mlock(True, P), r"mlock\(\): addr must be an int"),
        (lambda mm: mm.munlock(True, P), r"munlock\(\): addr must be an int"),
        (lambda mm: mm.mremap(True, P, P), r"mremap\(\): old_addr must be an int"),
        (lambda mm: mm.mremap(B, True, P), r"mremap\(\): old_length must be an int"),
        (lambda mm: mm.mremap(B, P, True), r"mremap\(\): new_length must be an int"),
        (lambda mm: mm.mremap(B, P, P, 1.0), r"mremap\(\): flags must be an int"),
        (lambda mm: mm.memfd("f", True), r"memfd\(\): length must be an int"),
        (lambda mm: mm.write(B, 256), r"write\(\): value must be a byte"),
        (lambda mm: mm.write(B, -1), r"write\(\): value must be a byte"),
        (lambda mm: mm.page_states("x", 1), r"page_states\(\): addr must be an int"),
        (lambda mm: mm.page_states(B, True), r"page_states\(\): npages must be an int"),
        (lambda mm: mm.page_states(B, 1.0), r"page_states\(\): npages must be an int"),
    ],
)
def test_each_argument_is_checked_before_the_call(call: Call, message: str) -> None:
    """Every argument of every method is checked, by name, before anything happens.

    docs/contract.md: a wrong type raises TypeError naming the method and the argument (a bool
    is not an address); a write value outside 0..255 raises ValueError. The check precedes the
    access, so the page is not faulted in (the live backend also refuses before calling).
    """
    mm = ModelMM()
    mm.mmap(B, P, RW, ANON)
    with pytest.raises((TypeError, ValueError), match=message):
        call(mm)
    assert pages(mm, 0, 1) == "."
    assert len(mm.vmas()) == 1


def test_constructor_rejects_a_non_string_era() -> None:
    """ModelMM(era=3) is a wrong type (TypeError), not an unknown era (LookupError)."""
    with pytest.raises(TypeError, match="era must be a str or None"):
        ModelMM("reference", 3)  # type: ignore[arg-type]


def test_write_of_zero_is_a_byte() -> None:
    """0 is a valid byte value (docs/contract.md: write takes 0..255): it overwrites the page."""
    mm = ModelMM()
    mm.mmap(B, P, RW, ANON)
    mm.write(B, 5)
    mm.write(B, 0)
    assert mm.read(B) == 0


def test_closed_mm_refuses_memfd() -> None:
    """A closed address space refuses memfd like every other operation (ValueError naming it)."""
    mm = ModelMM()
    mm.close()
    with pytest.raises(ValueError, match=r"memfd\(\): the address space is closed"):
        mm.memfd("f", P)


# -- addresses as the kernel sees them (unsigned long) --------------------------------------------


@pytest.mark.parametrize(
    ("addr", "fault_addr"),
    [(-1, ULONG_MAX), (-P, ULONG_MAX + 1 - P), (TASK_SIZE, TASK_SIZE)],
)
def test_fault_outside_user_space_reports_the_unsigned_address(addr: int, fault_addr: int) -> None:
    """A touch at or above TASK_SIZE (arch/x86/mm/fault.c: a user fault on a kernel address) is
    SIGSEGV, and the faulting address is the CPU's: an unsigned 64-bit value (``si_addr``).

    Live 6.18 (as root) faults the same touches with SIGSEGV.
    """
    mm = ModelMM()
    with pytest.raises(av.SegmentationFault) as info:
        mm.read(addr)
    assert info.value.addr == fault_addr


def test_page_zero_is_user_memory_and_none_is_null() -> None:
    """``addr=None`` is NULL: with MAP_FIXED it maps page 0, a user address like any other.

    mm/mmap.c: do_mmap takes addr 0 with MAP_FIXED as is (mmap_min_addr is an LSM check that
    CAP_SYS_RAWIO passes); live 6.18, run as root, maps and touches page 0 the same way. The
    same holds for mremap's ``new_addr=None`` with MREMAP_FIXED (mm/mremap.c: mremap_to).
    """
    mm = ModelMM()
    assert mm.mmap(None, P, RW, ANON) == 0
    mm.write(0, 9)
    assert mm.read(0) == 9
    mm.munmap(0, P)
    mm.mmap(B, P, RW, ANON)
    mm.write(B, 4)
    assert mm.mremap(B, P, P, av.MREMAP_MAYMOVE | av.MREMAP_FIXED) == 0
    assert mm.read(0) == 4
    assert [(v.start, v.end) for v in mm.vmas()] == [(0, P)]


# -- exit_mmap and validate -----------------------------------------------------------------------


def test_close_removes_every_vma_and_page_table_entry() -> None:
    """kernel exit_mmap: unmap_vmas clears every entry, guard markers included, free_pgtables
    frees the tables and the VMA tree is destroyed."""
    mm = ModelMM("reference")
    mm.mmap(B, 4 * P, RW, ANON)
    mm.write(B, 1)
    mm.madvise(B + 2 * P, 2 * P, GUARD)
    mm.mmap(B + 8 * P, P, RW, SHARED_ANON)
    mm.write(B + 8 * P, 1)
    mm.close()
    assert mm.mm.ptes == {}
    assert mm.mm.map_count == 0 and list(mm.mm) == []


def test_page_states_is_page_by_page_in_one_call() -> None:
    """docs/contract.md: ``page_states(addr, n)`` equals ``page(addr + i*P)`` for each of the n
    pages (here: a guard marker, a present page, an empty page, an unmapped page)."""
    mm = ModelMM()
    mm.mmap(B, 3 * P, RW, ANON)
    mm.madvise(B, P, GUARD)
    mm.write(B + P, 1)
    each = "".join(mm.page(B + i * P).char for i in range(4))
    assert mm.page_states(B, 4) == each == "GP.."
