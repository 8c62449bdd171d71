"""madvise(2) (model/madvise.py): every advice of the contract, errno and partial effects, and
the paths the contract alone cannot reach: guard advice on VM_SPECIAL and hugetlb VMAs (no
contract mapping makes one), the 0 / -errno results of the per-VMA handlers and of
``do_madvise`` (the contract's ``madvise`` only raises on a negative result) and the
end-of-range overflow check.

Expected values: mm/madvise.c (madvise_walk_vmas, madvise_vma_behavior, madvise_guard_install,
madvise_guard_remove, madvise_populate, madvise_remove, madvise_dontneed_free) and the live
6.18 kernel (quoted per test; it runs without swap, so PAGEOUT cannot evict anonymous pages).
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import (
    ANON,
    GUARD,
    RW,
    SHARED_ANON,
    SHARED_FILE,
    UNGUARD,
    B,
    P,
    R,
    errno_of,
    extents,
    pages,
    touch,
    vma_at,
)

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.madvise import do_madvise, is_valid_guard_vma, madvise_vma_behavior
from pytest_anonvma.model.mm_types import (
    VM_DONTCOPY,
    VM_DONTEXPAND,
    VM_HUGETLB,
    VM_IO,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VMA,
)

# -- madvise(2) through the contract --------------------------------------------------------------


def test_argument_checks(mm: ModelMM) -> None:
    """do_madvise: unknown advice, unaligned start, wrapping length: EINVAL; length 0: no-op.

    Live 6.18: EINVAL, EINVAL, EINVAL (length -1), and 0 for length 0.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    assert errno_of(mm.madvise, B, P, 999) == errno.EINVAL
    assert errno_of(mm.madvise, B + 1, P, av.MADV_DONTNEED) == errno.EINVAL
    assert errno_of(mm.madvise, B, -1, av.MADV_DONTNEED) == errno.EINVAL
    mm.madvise(B, 0, av.MADV_DONTNEED)
    mm.madvise(B, 1, GUARD)  # length rounds up to a page
    assert pages(mm, 0, 2) == "G."


def test_guard_over_hole_applies_to_mapped_parts_then_enomem(mm: ModelMM) -> None:
    """madvise_walk_vmas: a hole yields ENOMEM after every mapped VMA was processed.

    Live 6.18: VMAs at pages 1-2 and 4-5, guard over 0-5 -> ENOMEM with pages '.GG.GG';
    remove over the same range -> ENOMEM with '......'.
    """
    mm.mmap(B + P, 2 * P, RW, ANON)
    mm.mmap(B + 4 * P, 2 * P, RW, ANON)
    assert errno_of(mm.madvise, B, 6 * P, GUARD) == errno.ENOMEM
    assert pages(mm, 0, 6) == ".GG.GG"
    assert errno_of(mm.madvise, B, 6 * P, UNGUARD) == errno.ENOMEM
    assert pages(mm, 0, 6) == "......"


def test_guard_install_zaps_existing_pages(mm: ModelMM) -> None:
    """madvise_guard_install zaps present pages, then writes markers; private data is lost.

    Live 6.18: write 7, guard, remove: the page reads 0.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B, 7)
    mm.madvise(B, P, GUARD)
    assert pages(mm, 0, 2) == "G."
    mm.madvise(B, P, UNGUARD)
    assert mm.read(B) == 0


def test_guard_on_shared_file_keeps_file_data(mm: ModelMM) -> None:
    """Guards on a shared memfd: the page cache keeps the data, it comes back after remove.

    Live 6.18: write 7, guard (touch SIGSEGV), remove, read 7; on a MAP_PRIVATE mapping of the
    same file the same sequence reads 7 as well.
    """
    fd = mm.memfd("h", 2 * P)
    mm.mmap(B, 2 * P, RW, av.MAP_SHARED | av.MAP_FIXED, fd)
    mm.write(B, 7)
    mm.madvise(B, P, GUARD)
    assert touch(mm, 0) == "SEGV"
    mm.madvise(B, P, UNGUARD)
    assert mm.read(B) == 7
    mm.mmap(B + 4 * P, 2 * P, RW, av.MAP_PRIVATE | av.MAP_FIXED, fd)
    mm.madvise(B + 4 * P, P, GUARD)
    assert touch(mm, 4) == "SEGV"
    mm.madvise(B + 4 * P, P, UNGUARD)
    assert mm.read(B + 4 * P) == 7


def test_guard_on_locked_vma_install_einval_remove_ok(mm: ModelMM) -> None:
    """is_valid_guard_vma: install refuses VM_LOCKED, remove allows it.

    Live 6.18: install on an mlocked VMA -> EINVAL; after munlock, install page 0, mlock
    page 1, remove over both -> 0 with pages '.P'.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mlock(B, 2 * P)
    assert errno_of(mm.madvise, B, P, GUARD) == errno.EINVAL
    assert pages(mm, 0, 2) == "PP"
    mm.munlock(B, 2 * P)
    mm.madvise(B, P, av.MADV_DONTNEED)
    mm.madvise(B, P, GUARD)
    mm.mlock(B + P, P)
    mm.madvise(B, 2 * P, UNGUARD)
    assert pages(mm, 0, 2) == ".P"


def test_guard_on_read_only_and_prot_none(mm: ModelMM) -> None:
    """Guards need no VM_MAYWRITE or access in this era; markers survive mprotect(PROT_NONE).

    Live 6.18: guard on a PROT_READ VMA -> 0; guard pages 1-2 then mprotect all NONE: '.GG.'.
    """
    mm.mmap(B, 4 * P, R, ANON)
    mm.madvise(B, 4 * P, GUARD)
    assert pages(mm, 0, 4) == "GGGG"
    mm.madvise(B, 4 * P, UNGUARD)
    mm.mprotect(B, 4 * P, RW)
    mm.madvise(B + P, 2 * P, GUARD)
    mm.mprotect(B, 4 * P, av.PROT_NONE)
    assert pages(mm, 0, 4) == ".GG."


def test_dontneed_keeps_markers_drops_pages(mm: ModelMM) -> None:
    """MADV_DONTNEED zaps without ZAP_FLAG_DROP_MARKER.

    Live 6.18: pages 0,1 written, guard on 2, DONTNEED 0-3 -> '..G.', page 0 reads 0.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.write(B, 1)
    mm.write(B + P, 2)
    mm.madvise(B + 2 * P, P, GUARD)
    mm.madvise(B, 4 * P, av.MADV_DONTNEED)
    assert pages(mm, 0, 4) == "..G."
    assert mm.read(B) == 0


@pytest.mark.parametrize("advice", [av.MADV_DONTNEED, av.MADV_FREE, av.MADV_COLD, av.MADV_PAGEOUT])
def test_locked_vma_refuses_zap_and_lru_advice(mm: ModelMM, advice: int) -> None:
    """madvise_dontneed_free_valid_vma / can_madv_lru_vma refuse VM_LOCKED with EINVAL.

    Live 6.18: DONTNEED, PAGEOUT, COLD and FREE on an mlocked VMA: EINVAL each.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mlock(B, 2 * P)
    assert errno_of(mm.madvise, B, 2 * P, advice) == errno.EINVAL
    assert pages(mm, 0, 2) == "PP"


def test_free_keeps_data_without_memory_pressure_and_refuses_files(mm: ModelMM) -> None:
    """MADV_FREE only marks anon pages lazily free; non-anonymous VMAs: EINVAL.

    Live 6.18: written anon page still reads 1 after FREE; FREE on a shared memfd: EINVAL.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B, 1)
    mm.madvise(B, 2 * P, av.MADV_FREE)
    assert mm.read(B) == 1
    fd = mm.memfd("x", P)
    mm.mmap(B + 4 * P, P, RW, av.MAP_SHARED | av.MAP_FIXED, fd)
    assert errno_of(mm.madvise, B + 4 * P, P, av.MADV_FREE) == errno.EINVAL


def test_pageout_without_swap(mm: ModelMM) -> None:
    """MADV_PAGEOUT with no swap: anon pages stay, exclusive page-cache pages are unmapped.

    Live 6.18 (no swap): anon 'PPP.' stays 'PPP.'; a shared memfd page becomes '.' and still
    reads its data; on a private memfd mapping the file page goes, the COW copy stays ('.P').
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.write(B, 1)
    mm.write(B + P, 2)
    mm.read(B + 2 * P)
    mm.madvise(B, 4 * P, av.MADV_PAGEOUT)
    assert pages(mm, 0, 4) == "PPP."
    mm.madvise(B, 4 * P, av.MADV_COLD)
    assert pages(mm, 0, 4) == "PPP."
    fd = mm.memfd("x", 4 * P)
    mm.mmap(B + 8 * P, 4 * P, RW, av.MAP_SHARED | av.MAP_FIXED, fd)
    mm.write(B + 8 * P, 7)
    mm.madvise(B + 8 * P, 4 * P, av.MADV_PAGEOUT)
    assert pages(mm, 8, 1) == "." and mm.read(B + 8 * P) == 7
    mm.munmap(B + 8 * P, 4 * P)  # a page mapped twice is skipped (folio_maybe_mapped_shared)
    mm.mmap(B + 16 * P, 2 * P, RW, av.MAP_PRIVATE | av.MAP_FIXED, fd)
    mm.read(B + 16 * P)
    mm.write(B + 17 * P, 5)
    mm.madvise(B + 16 * P, 2 * P, av.MADV_PAGEOUT)
    assert pages(mm, 16, 2) == ".P"


def test_remove_needs_a_shared_writable_file(mm: ModelMM) -> None:
    """madvise_remove: no file EINVAL, private file EACCES; a hole punch keeps markers.

    Live 6.18: REMOVE on private anon EINVAL, on a private memfd EACCES; on shared anon with
    page 0 written and page 1 guarded: 0, pages '.G.', page 0 reads 0.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    assert errno_of(mm.madvise, B, 2 * P, av.MADV_REMOVE) == errno.EINVAL
    fd = mm.memfd("x", 2 * P)
    mm.mmap(B + 4 * P, 2 * P, RW, av.MAP_PRIVATE | av.MAP_FIXED, fd)
    assert errno_of(mm.madvise, B + 4 * P, 2 * P, av.MADV_REMOVE) == errno.EACCES
    mm.mmap(B + 8 * P, 3 * P, RW, SHARED_ANON)
    mm.write(B + 8 * P, 4)
    mm.madvise(B + 9 * P, P, GUARD)
    mm.madvise(B + 8 * P, 3 * P, av.MADV_REMOVE)
    assert pages(mm, 8, 3) == ".G."
    assert mm.read(B + 8 * P) == 0


def test_remove_punches_the_file_for_every_mapping(mm: ModelMM) -> None:
    """shmem_fallocate(PUNCH_HOLE): unmap_mapping_range everywhere, then the data is gone."""
    fd = mm.memfd("x", 2 * P)
    mm.mmap(B, 2 * P, RW, av.MAP_SHARED | av.MAP_FIXED, fd)
    mm.mmap(B + 4 * P, 2 * P, RW, av.MAP_SHARED | av.MAP_FIXED, fd)
    mm.write(B, 3)
    mm.read(B + 4 * P)
    mm.madvise(B, P, av.MADV_REMOVE)
    assert pages(mm, 4, 1) == "."
    assert mm.read(B + 4 * P) == 0


def test_wipeonfork_and_dontfork_flags(mm: ModelMM) -> None:
    """madvise_update_vma sets/clears VM_WIPEONFORK and VM_DONTCOPY, splitting as needed;
    WIPEONFORK on a shared mapping: EINVAL.

    Live 6.18: WIPEONFORK on a shared memfd mapping -> EINVAL; DONTFORK on pages 0-1 of 4
    splits the VMA in two.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.madvise(B, 2 * P, av.MADV_DONTFORK)
    assert extents(mm) == [(0, 2), (2, 4)]
    assert "VM_DONTCOPY" in vma_at(mm, 0).flags
    mm.madvise(B, 2 * P, av.MADV_DOFORK)
    assert extents(mm) == [(0, 4)]
    mm.madvise(B + 3 * P, P, av.MADV_WIPEONFORK)
    assert "VM_WIPEONFORK" in vma_at(mm, 3).flags
    mm.madvise(B, 4 * P, av.MADV_KEEPONFORK)
    assert extents(mm) == [(0, 4)] and "VM_WIPEONFORK" not in vma_at(mm, 0).flags
    mm.mmap(B + 8 * P, P, RW, SHARED_ANON)
    assert errno_of(mm.madvise, B + 8 * P, P, av.MADV_WIPEONFORK) == errno.EINVAL


def test_access_pattern_advice_sets_read_hints(mm: ModelMM) -> None:
    """NORMAL/RANDOM/SEQUENTIAL swap VM_RAND_READ and VM_SEQ_READ; WILLNEED changes nothing."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B, 2 * P, av.MADV_RANDOM)
    assert "VM_RAND_READ" in vma_at(mm, 0).flags
    mm.madvise(B, 2 * P, av.MADV_SEQUENTIAL)
    assert {"VM_SEQ_READ"} <= vma_at(mm, 0).flags and "VM_RAND_READ" not in vma_at(mm, 0).flags
    mm.madvise(B, 2 * P, av.MADV_NORMAL)
    assert not {"VM_SEQ_READ", "VM_RAND_READ"} & vma_at(mm, 0).flags
    mm.madvise(B, 2 * P, av.MADV_WILLNEED)
    assert pages(mm, 0, 2) == ".."


def test_populate_stops_at_marker_with_efault(mm: ModelMM) -> None:
    """madvise_populate: a marker gives EFAULT, the pages before it are populated.

    Live 6.18: guard on page 2 of 4, POPULATE_READ and POPULATE_WRITE -> EFAULT, 'PPG.'.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.madvise(B + 2 * P, P, GUARD)
    assert errno_of(mm.madvise, B, 4 * P, av.MADV_POPULATE_READ) == errno.EFAULT
    assert pages(mm, 0, 4) == "PPG."
    assert errno_of(mm.madvise, B, 4 * P, av.MADV_POPULATE_WRITE) == errno.EFAULT
    assert pages(mm, 0, 4) == "PPG."


def test_populate_permissions_and_holes(mm: ModelMM) -> None:
    """POPULATE_WRITE on read-only and POPULATE_READ on PROT_NONE: EINVAL; a hole: ENOMEM.

    Live 6.18: EINVAL '....', EINVAL '....', and ENOMEM with nothing populated when the range
    starts in a hole.
    """
    mm.mmap(B, 4 * P, R, ANON)
    assert errno_of(mm.madvise, B, 4 * P, av.MADV_POPULATE_WRITE) == errno.EINVAL
    mm.mprotect(B, 4 * P, av.PROT_NONE)
    assert errno_of(mm.madvise, B, 4 * P, av.MADV_POPULATE_READ) == errno.EINVAL
    assert pages(mm, 0, 4) == "...."
    mm.mmap(B + 9 * P, 2 * P, RW, ANON)
    assert errno_of(mm.madvise, B + 8 * P, 3 * P, av.MADV_POPULATE_WRITE) == errno.ENOMEM
    assert pages(mm, 8, 3) == "..."
    mm.madvise(B + 9 * P, 2 * P, av.MADV_POPULATE_WRITE)
    assert pages(mm, 9, 2) == "PP"


def test_collapse_needs_a_huge_page_sized_vma(mm: ModelMM) -> None:
    """madvise_collapse: thp_vma_allowable_order fails for a VMA without an aligned 2 MiB block.

    Live 6.18: MADV_COLLAPSE on a 4-page anonymous VMA and on a 4-page memfd mapping: EINVAL.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    assert errno_of(mm.madvise, B, 4 * P, av.MADV_COLLAPSE) == errno.EINVAL


def test_collapse_of_empty_anon_block_fails_populated_block_succeeds(mm: ModelMM) -> None:
    """collapse_huge_page: a block without a page table fails (SCAN_PMD_NULL -> EINVAL), a
    populated one becomes fully mapped; a marker blocks it.

    Live 6.18: 4 MiB VMA with page 0 written: EINVAL (second block empty), first block all
    present; a fresh VMA with page 0 written and page 1 guarded: EINVAL, the marker stays.
    """
    mm.mmap(B, 1024 * P, RW, ANON)
    mm.write(B, 1)
    assert errno_of(mm.madvise, B, 1024 * P, av.MADV_COLLAPSE) == errno.EINVAL
    assert pages(mm, 0, 4) == "PPPP"
    assert mm.read(B) == 1
    mm.madvise(B + P, P, GUARD)
    assert errno_of(mm.madvise, B, 512 * P, av.MADV_COLLAPSE) == errno.EINVAL
    assert pages(mm, 0, 4) == "PG" + "PP"


# -- the per-VMA handlers and do_madvise, below the contract --------------------------------------


#: the flags that make ``is_valid_guard_vma`` refuse a VMA whatever the lock state
FORBIDDEN = {
    "VM_IO": VM_IO,
    "VM_PFNMAP": VM_PFNMAP,
    "VM_MIXEDMAP": VM_MIXEDMAP,
    "VM_DONTEXPAND": VM_DONTEXPAND,
    "VM_HUGETLB": VM_HUGETLB,
}


def _vma(mm: ModelMM, page: int) -> VMA:
    """The model VMA holding the arena page."""
    vma = mm.mm.vma_lookup(B + page * P)
    assert vma is not None
    return vma


@pytest.mark.parametrize("flag", FORBIDDEN.values(), ids=list(FORBIDDEN))
def test_guard_advice_refuses_special_and_hugetlb_vmas(mm: ModelMM, flag: int) -> None:
    """mm/madvise.c: is_valid_guard_vma refuses VM_SPECIAL (VM_IO, VM_PFNMAP, VM_MIXEDMAP,
    VM_DONTEXPAND) and VM_HUGETLB VMAs for install and remove alike: both advices fail with
    EINVAL and no marker is written or cleared."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B, P, GUARD)
    vma = _vma(mm, 0)
    assert is_valid_guard_vma(vma, allow_locked=True)
    vma.vm_flags |= flag
    assert not is_valid_guard_vma(vma, allow_locked=False)
    assert not is_valid_guard_vma(vma, allow_locked=True)
    assert do_madvise(mm.mm, B, 2 * P, GUARD) == -errno.EINVAL
    assert do_madvise(mm.mm, B, 2 * P, UNGUARD) == -errno.EINVAL
    assert pages(mm, 0, 2) == "G."


def _memfd_vma(mm: ModelMM) -> None:
    """A shared memfd mapping of two written pages at arena page 4."""
    file = mm.memfd("f", 2 * P)
    mm.mmap(B + 4 * P, 2 * P, RW, SHARED_FILE, file=file)
    mm.write(B + 4 * P, 1)
    mm.write(B + 5 * P, 1)


#: advice, arena page it applies to, page-table picture of pages 0..1 and 4..5 after it
HANDLER_CASES = [
    (GUARD, 0, "GP.PP"),
    (UNGUARD, 0, ".P.PP"),
    (av.MADV_DONTNEED, 1, "...PP"),
    (av.MADV_FREE, 1, ".P.PP"),
    (av.MADV_PAGEOUT, 1, ".P.PP"),
    (av.MADV_COLD, 1, ".P.PP"),
    (av.MADV_WILLNEED, 1, ".P.PP"),
    (av.MADV_REMOVE, 4, ".P..P"),
    (av.MADV_DONTFORK, 1, ".P.PP"),
    (av.MADV_NORMAL, 1, ".P.PP"),
]


@pytest.mark.parametrize(
    ("advice", "page", "after"), HANDLER_CASES, ids=[str(c[0]) for c in HANDLER_CASES]
)
def test_per_vma_handlers_return_zero(mm: ModelMM, advice: int, page: int, after: str) -> None:
    """mm/madvise.c: madvise_vma_behavior returns 0 when the advice succeeded on the VMA
    (madvise_guard_install, madvise_guard_remove, madvise_dontneed_free, madvise_cold /
    madvise_pageout, madvise_willneed, madvise_remove, madvise_update_vma all return 0), and the
    advice took effect on that page only (guard: a marker on an empty page; remove: the hole
    punch unmaps the file page)."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B + P, 1)
    if advice == UNGUARD:
        mm.madvise(B, P, GUARD)
    _memfd_vma(mm)
    vma = _vma(mm, page)
    addr = B + page * P
    assert madvise_vma_behavior(mm.mm, vma, addr, addr + P, advice) == 0
    assert pages(mm, 0, 2) + "." + pages(mm, 4, 2) == after


def test_madvise_update_vma_sets_the_flag(mm: ModelMM) -> None:
    """mm/madvise.c: madvise_update_vma (through madvise_vma_behavior) returns 0 after
    vma_modify_flags split the range out and set VM_DONTCOPY on it alone."""
    mm.mmap(B, 4 * P, RW, ANON)
    assert madvise_vma_behavior(mm.mm, _vma(mm, 0), B + P, B + 2 * P, av.MADV_DONTFORK) == 0
    assert _vma(mm, 1).vm_flags & VM_DONTCOPY
    assert not _vma(mm, 0).vm_flags & VM_DONTCOPY
    assert not _vma(mm, 2).vm_flags & VM_DONTCOPY


#: advice over a fresh two-page anonymous VMA, and the page-table picture after it
WHOLE_RANGE = [
    (av.MADV_DONTNEED, ".."),
    (av.MADV_POPULATE_READ, "PP"),
    (av.MADV_POPULATE_WRITE, "PP"),
    (GUARD, "GG"),
]


@pytest.mark.parametrize(("advice", "after"), WHOLE_RANGE, ids=[str(c[0]) for c in WHOLE_RANGE])
def test_do_madvise_returns_zero_on_success(mm: ModelMM, advice: int, after: str) -> None:
    """mm/madvise.c: do_madvise returns 0 when every VMA of a hole-free range took the advice,
    populate included (madvise_populate returns 0 once the range is faulted in)."""
    mm.mmap(B, 2 * P, RW, ANON)
    assert do_madvise(mm.mm, B, 2 * P, advice) == 0
    assert pages(mm, 0, 2) == after


def test_zero_length_succeeds_without_a_vma(mm: ModelMM) -> None:
    """mm/madvise.c: do_madvise returns 0 for end == start before looking up any VMA, so a
    zero-length advice on unmapped memory succeeds (live 6.18: madvise(addr, 0) returns 0 on an
    unmapped address)."""
    assert do_madvise(mm.mm, B + 8 * P, 0, av.MADV_DONTNEED) == 0
    assert do_madvise(mm.mm, B + 8 * P, 0, av.MADV_POPULATE_READ) == 0
    mm.madvise(B + 8 * P, 0, GUARD)
    assert pages(mm, 8, 1) == "."


@pytest.mark.parametrize("length", [P, 2 * P])
def test_range_past_the_top_of_the_address_space_is_einval(mm: ModelMM, length: int) -> None:
    """mm/madvise.c: madvise_checks/do_madvise reject a range whose end wraps past the last
    address (end < start) with EINVAL, not the ENOMEM of an unmapped range (live 6.18: EINVAL
    for both lengths at address 2**64 - 4096)."""
    with pytest.raises(OSError) as info:
        mm.madvise(2**64 - P, length, av.MADV_DONTNEED)
    assert info.value.errno == errno.EINVAL
