"""Page tables, faults, copy-on-write and shmem sharing (model/memory.py, model/shmem.py).

Expected values: the kernel's fault paths in mm/memory.c (do_anonymous_page, do_read_fault,
do_cow_fault, do_shared_fault, do_wp_page, handle_pte_marker) and mm/shmem.c, and the same
sequences run on the live 6.18 kernel with a ctypes script (results quoted per test).
"""

from __future__ import annotations

import pytest
from engine_helpers import (
    ANON,
    GUARD,
    PRIVATE_FILE,
    RW,
    SHARED_ANON,
    SHARED_FILE,
    B,
    P,
    R,
    pages,
    touch,
)

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.memory import (
    GUARD_MARKER,
    PTE,
    ZERO_PAGE,
    Folio,
    copy_page_range,
    handle_mm_fault,
    is_guard_pte_marker,
    pfns_in_range,
    zap_page_range,
)
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
)
from pytest_anonvma.model.mremap import move_page_tables

# -- faults, copy-on-write, zap and move through the contract -------------------------------------


@pytest.fixture
def ref_mm() -> ModelMM:
    return ModelMM("reference")


def test_read_of_private_anon_maps_the_zero_page(ref_mm: ModelMM) -> None:
    """do_anonymous_page: a read maps the shared zero page, allocating nothing.

    Live 6.18: read of a fresh private anonymous page returns 0 and pagemap shows it present.
    """
    ref_mm.mmap(B, 4 * P, RW, ANON)
    assert ref_mm.read(B) == 0
    assert pages(ref_mm, 0, 4) == "P..."
    assert ref_mm.mm.ptes[B // P].folio is ZERO_PAGE
    assert ref_mm.stats()["anon_vma_allocs"] == 0
    assert ref_mm.vmas()[0].anon_vma is None


def test_write_allocates_anon_vma_and_page(ref_mm: ModelMM) -> None:
    """do_anonymous_page: a write prepares the anon_vma first (one anon_vma, one chain link)."""
    ref_mm.mmap(B, 2 * P, RW, ANON)
    ref_mm.write(B + 5, 42)
    assert ref_mm.read(B + 5) == 42
    assert ref_mm.read(B + 6) == 0
    assert ref_mm.stats()["anon_vma_allocs"] == 1
    assert ref_mm.stats()["avc_allocs"] == 1
    assert ref_mm.vmas()[0].anon_vma is not None


def test_write_after_read_replaces_zero_page(ref_mm: ModelMM) -> None:
    """do_wp_page on the zero page copies into a fresh anonymous page (wp_page_copy)."""
    ref_mm.mmap(B, P, RW, ANON)
    ref_mm.read(B)
    ref_mm.write(B, 9)
    entry = ref_mm.mm.ptes[B // P]
    assert entry.folio is not ZERO_PAGE and entry.folio.is_anon and entry.writable
    assert ZERO_PAGE.data[0] == 0


def test_fork_copy_on_write_both_directions(ref_mm: ModelMM) -> None:
    """copy_page_range write-protects both sides; each write copies (wp_page_copy).

    Live 6.18: parent writes 5, child reads 5, writes 9, reads 9; the parent still reads 5.
    """
    ref_mm.mmap(B, 2 * P, RW, ANON)
    ref_mm.write(B, 5)
    child = ref_mm.fork()
    assert child.read(B) == 5
    child.write(B, 9)
    assert child.read(B) == 9
    assert ref_mm.read(B) == 5
    ref_mm.write(B, 6)
    assert child.read(B) == 9 and ref_mm.read(B) == 6


def test_exclusive_page_is_reused_after_child_exits(ref_mm: ModelMM) -> None:
    """wp_can_reuse_anon_folio: once the child unmapped its copy, the parent reuses in place."""
    ref_mm.mmap(B, P, RW, ANON)
    ref_mm.write(B, 1)
    folio = ref_mm.mm.ptes[B // P].folio
    child = ref_mm.fork()
    assert folio.mapcount == 2
    child.close()
    ref_mm.write(B, 2)
    assert ref_mm.mm.ptes[B // P].folio is folio


def test_shared_anonymous_memory_is_shared_across_fork(ref_mm: ModelMM) -> None:
    """MAP_SHARED|MAP_ANONYMOUS is shmem (shmem_zero_setup): no copy-on-write.

    Live 6.18: the child writes 9, the parent then reads 9.
    """
    ref_mm.mmap(B, 2 * P, RW, SHARED_ANON)
    child = ref_mm.fork()
    child.write(B, 9)
    assert ref_mm.read(B) == 9
    assert ref_mm.vmas()[0].file == "/dev/zero"


def test_memfd_pages_are_shared_between_mappings_and_private_mappings_copy(ref_mm: ModelMM) -> None:
    """shmem_fault serves one page cache to every mapping; MAP_PRIVATE copies on write.

    Live 6.18: write 3 through one shared mapping, read 3 through another and through a
    private one; a write of 8 to the private one leaves the file at 3.
    """
    fd = ref_mm.memfd("f", 2 * P)
    ref_mm.mmap(B, 2 * P, RW, av.MAP_SHARED | av.MAP_FIXED, fd)
    ref_mm.mmap(B + 4 * P, 2 * P, RW, av.MAP_SHARED | av.MAP_FIXED, fd)
    ref_mm.mmap(B + 8 * P, 2 * P, RW, av.MAP_PRIVATE | av.MAP_FIXED, fd)
    ref_mm.write(B, 3)
    assert ref_mm.read(B + 4 * P) == 3
    assert ref_mm.read(B + 8 * P) == 3
    ref_mm.write(B + 8 * P, 8)
    assert ref_mm.read(B) == 3 and ref_mm.read(B + 4 * P) == 3 and ref_mm.read(B + 8 * P) == 8
    child = ref_mm.fork()
    child.write(B + 4 * P, 4)
    assert ref_mm.read(B) == 4


def test_past_end_of_file_is_a_bus_error(ref_mm: ModelMM) -> None:
    """A shmem page at or past EOF cannot be faulted: SIGBUS (shmem_fault -> VM_FAULT_SIGBUS).

    Live 6.18: a 1-page memfd mapped over 2 pages: page 0 reads 0, page 1 raises SIGBUS.
    """
    fd = ref_mm.memfd("g", P)
    ref_mm.mmap(B, 2 * P, RW, av.MAP_SHARED | av.MAP_FIXED, fd)
    assert touch(ref_mm, 0) == "ok"
    assert touch(ref_mm, 1) == "BUS"
    with pytest.raises(av.BusError) as info:
        ref_mm.write(B + P, 1)
    assert info.value.addr == B + P


@pytest.mark.parametrize(
    ("prot", "write", "expected"),
    [
        (av.PROT_NONE, False, "SEGV"),
        (R, True, "SEGV"),
        (av.PROT_WRITE, False, "ok"),
        (RW, True, "ok"),
    ],
)
def test_permission_faults(ref_mm: ModelMM, prot: int, write: bool, expected: str) -> None:
    """x86 access_error: reads need any of R/W/X, writes need VM_WRITE.

    Live 6.18: PROT_NONE read SIGSEGV, PROT_READ write SIGSEGV, PROT_WRITE-only read ok.
    """
    ref_mm.mmap(B, P, prot, ANON)
    assert touch(ref_mm, 0, write) == expected


def test_unmapped_and_guard_touches_segfault(ref_mm: ModelMM) -> None:
    """No VMA: SIGSEGV; a guard marker: handle_pte_marker returns VM_FAULT_SIGSEGV."""
    ref_mm.mmap(B, 2 * P, RW, ANON)
    ref_mm.madvise(B + P, P, GUARD)
    assert touch(ref_mm, 5) == "SEGV"
    assert touch(ref_mm, 1) == "SEGV"
    assert touch(ref_mm, 1, write=True) == "SEGV"
    assert pages(ref_mm, 0, 2) == ".G"


def test_zap_page_range_keeps_or_drops_markers(ref_mm: ModelMM) -> None:
    """zap_page_range_single keeps guard markers; unmap (ZAP_FLAG_DROP_MARKER) drops them."""
    ref_mm.mmap(B, 4 * P, RW, ANON)
    ref_mm.write(B, 1)
    ref_mm.madvise(B + P, P, GUARD)
    folio = ref_mm.mm.ptes[B // P].folio
    zap_page_range(ref_mm.mm, B, B + 4 * P, zap_guards=False)
    assert pages(ref_mm, 0, 4) == ".G.."
    assert folio.mapcount == 0
    zap_page_range(ref_mm.mm, B, B + 4 * P, zap_guards=True)
    assert pages(ref_mm, 0, 4) == "...."


def test_zap_without_even_cows_keeps_private_copies(ref_mm: ModelMM) -> None:
    """unmap_mapping_range (even_cows false) zaps file pages only, as a hole punch does."""
    fd = ref_mm.memfd("h", 2 * P)
    ref_mm.mmap(B, 2 * P, RW, av.MAP_PRIVATE | av.MAP_FIXED, fd)
    ref_mm.read(B)
    ref_mm.write(B + P, 5)
    zap_page_range(ref_mm.mm, B, B + 2 * P, zap_guards=True, even_cows=False)
    assert pages(ref_mm, 0, 2) == ".P"


def test_copy_page_range_copies_markers_and_shares_pages() -> None:
    """copy_page_range copies markers as they are and maps anon pages in both, read-only."""
    parent = ModelMM("reference")
    child = ModelMM("reference")
    parent.mmap(B, 3 * P, RW, ANON)
    parent.write(B, 1)
    parent.madvise(B + P, P, GUARD)
    vma = next(iter(parent.mm))
    child.mm.ptes.clear()
    copy_page_range(child.mm, vma, vma)
    assert child.mm.ptes[B // P + 1] is GUARD_MARKER
    shared = child.mm.ptes[B // P]
    assert isinstance(shared, PTE) and not shared.writable
    assert shared.folio is parent.mm.ptes[B // P].folio and shared.folio.mapcount == 2
    assert not parent.mm.ptes[B // P].writable
    child.mm.ptes.clear()
    shared.folio.mapcount -= 1


def test_move_page_tables_moves_markers(ref_mm: ModelMM) -> None:
    """move_page_tables carries every entry, markers included, to the new address."""
    ref_mm.mmap(B, 2 * P, RW, ANON)
    ref_mm.write(B, 7)
    ref_mm.madvise(B + P, P, GUARD)
    ref_mm.mmap(B + 8 * P, 2 * P, RW, ANON)
    assert move_page_tables(ref_mm.mm, B, B + 8 * P, 2 * P) == 2 * P
    assert pages(ref_mm, 0, 2) == ".." and pages(ref_mm, 8, 2) == "PG"
    assert ref_mm.read(B + 8 * P) == 7


def test_pfns_in_range_walks_either_side() -> None:
    """The helper gives the same ascending pages whether it walks the range or the table."""
    table: dict[int, object] = {5: 1, 1: 1, 9: 1, 100: 1}
    assert list(pfns_in_range(table, 0, 10)) == [1, 5, 9]
    assert list(pfns_in_range(table, 0, 1000)) == [1, 5, 9, 100]


def test_folio_repr_names_its_kind() -> None:
    """Folios say what they are (debugging aid)."""
    assert "zero" in repr(ZERO_PAGE)
    assert "anon" in repr(Folio(is_anon=True))


# -- page-table entries: guard markers and the write bit a fault leaves ---------------------------


def test_is_guard_pte_marker(mm: ModelMM) -> None:
    """mm/memory.c (swapops.h): is_guard_pte_marker is true for a guard marker only, not for a
    present PTE."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B, P, GUARD)
    mm.write(B + P, 1)
    ptes = mm.mm.ptes
    assert ptes[B >> PAGE_SHIFT] is GUARD_MARKER
    assert is_guard_pte_marker(ptes[B >> PAGE_SHIFT]) is True
    assert is_guard_pte_marker(ptes[(B + P) >> PAGE_SHIFT]) is False


def _shared_first_write(mm: ModelMM) -> None:
    mm.mmap(B, P, RW, SHARED_FILE, file=mm.memfd("f", P))


def _private_file_first_write(mm: ModelMM) -> None:
    mm.mmap(B, P, RW, PRIVATE_FILE, file=mm.memfd("f", P))


def _shared_read_only_pte(mm: ModelMM) -> None:
    mm.mmap(B, P, R, SHARED_FILE, file=mm.memfd("f", P))
    mm.read(B)
    mm.mprotect(B, P, RW)


def _anon_write_protected_pte(mm: ModelMM) -> None:
    mm.mmap(B, P, RW, ANON)
    mm.write(B, 3)
    mm.mprotect(B, P, R)
    mm.mprotect(B, P, RW)


def _zero_page(mm: ModelMM) -> None:
    mm.mmap(B, P, RW, ANON)
    mm.read(B)


WRITE_FAULTS = {
    "do_shared_fault": _shared_first_write,
    "do_cow_fault": _private_file_first_write,
    "wp_page_shared": _shared_read_only_pte,
    "wp_page_reuse": _anon_write_protected_pte,
    "wp_page_copy": _zero_page,
}


@pytest.mark.parametrize("setup", WRITE_FAULTS.values(), ids=list(WRITE_FAULTS))
def test_write_fault_leaves_a_writable_pte(mm: ModelMM, setup: object) -> None:
    """mm/memory.c: a write fault ends with a writable PTE (finish_fault / wp_page_reuse use
    maybe_mkwrite on a VM_WRITE VMA; otherwise the CPU would fault again on the same store):
    first write to a shared file page (do_shared_fault), to a private file page (do_cow_fault),
    and a write to a read-only PTE of a shared mapping (wp_page_shared), of an exclusive
    anonymous page (wp_page_reuse) and of the zero page (wp_page_copy)."""
    setup(mm)  # type: ignore[operator]
    pte = handle_mm_fault(mm.mm, B, True)
    assert isinstance(pte, PTE)
    assert mm.mm.ptes[B >> PAGE_SHIFT] is pte
    assert pte.writable
