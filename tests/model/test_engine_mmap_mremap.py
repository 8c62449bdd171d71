"""mmap(2), munmap(2) and mremap(2) (model/mmap.py, model/mremap.py).

Expected values: mm/mmap.c (do_mmap, __get_unmapped_area, unmapped_area_topdown), mm/vma.c
(do_vmi_munmap), mm/mremap.c of v6.14 and 6.18 (check_mremap_params, check_prep_vma,
mremap_to, expand_vma, move_vma, unmap_source_vma, remap_move) and the live 6.18 kernel
(quoted per test; its placement is randomised, so only relative placement is compared).
"""

from __future__ import annotations

import errno

from engine_helpers import ANON, GUARD, RW, B, P, R, errno_of, extents, pages, vma_at

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mmap import MMAP_BASE

MAYMOVE, FIXED, DONTUNMAP = av.MREMAP_MAYMOVE, av.MREMAP_FIXED, av.MREMAP_DONTUNMAP


# -- mmap ----------------------------------------------------------------------------------------


def test_placement_is_top_down_and_deterministic(mm: ModelMM) -> None:
    """unmapped_area_topdown from mmap_base (TASK_SIZE - 128 MiB without randomisation): each
    new mapping goes right below the previous one; a free hint is honoured."""
    first = mm.mmap(None, 2 * P, RW, av.MAP_PRIVATE | av.MAP_ANONYMOUS)
    second = mm.mmap(None, P, R, av.MAP_PRIVATE | av.MAP_ANONYMOUS)
    assert first == MMAP_BASE - 2 * P
    assert second == first - P
    assert mm.mmap(B, P, RW, av.MAP_PRIVATE | av.MAP_ANONYMOUS) == B
    other = ModelMM(mm.design)
    assert other.mmap(None, 2 * P, RW, av.MAP_PRIVATE | av.MAP_ANONYMOUS) == first


def test_pmd_multiple_anonymous_mappings_are_pmd_aligned(mm: ModelMM) -> None:
    """__get_unmapped_area uses thp_get_unmapped_area for anonymous lengths that are a multiple
    of 2 MiB."""
    mm.mmap(None, P, RW, av.MAP_PRIVATE | av.MAP_ANONYMOUS)
    addr = mm.mmap(None, 2 << 20, RW, av.MAP_PRIVATE | av.MAP_ANONYMOUS)
    assert addr % (2 << 20) == 0


def test_mmap_errors(mm: ModelMM) -> None:
    """do_mmap / ksys_mmap_pgoff errors.

    Live 6.18: no MAP_ANONYMOUS and fd -1 EBADF; length 0 EINVAL; unaligned offset EINVAL;
    map type 3 or 0 for anonymous memory EINVAL; unaligned MAP_FIXED address EINVAL;
    MAP_FIXED_NOREPLACE over an existing VMA EEXIST.
    """
    assert errno_of(mm.mmap, B, P, RW, av.MAP_PRIVATE | av.MAP_FIXED) == errno.EBADF
    assert errno_of(mm.mmap, B, 0, RW, ANON) == errno.EINVAL
    assert errno_of(mm.mmap, B, P, RW, ANON, None, 1) == errno.EINVAL
    assert errno_of(mm.mmap, B, P, RW, 3 | av.MAP_ANONYMOUS | av.MAP_FIXED) == errno.EINVAL
    assert errno_of(mm.mmap, B, P, RW, av.MAP_ANONYMOUS | av.MAP_FIXED) == errno.EINVAL
    assert errno_of(mm.mmap, B + 1, P, RW, ANON) == errno.EINVAL
    mm.mmap(B, 2 * P, RW, ANON)
    noreplace = av.MAP_PRIVATE | av.MAP_ANONYMOUS | av.MAP_FIXED_NOREPLACE
    assert errno_of(mm.mmap, B + P, 2 * P, RW, noreplace) == errno.EEXIST
    assert mm.mmap(B + 2 * P, P, RW, noreplace) == B + 2 * P


def test_map_fixed_replacement_drops_markers_and_pages(mm: ModelMM) -> None:
    """mmap_region over an existing mapping unmaps it first (markers dropped).

    Live 6.18: guard page 1, MAP_FIXED over page 1: pages '..'.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B + P, 1)
    mm.madvise(B + P, P, GUARD)
    mm.mmap(B + P, P, RW, ANON)
    assert pages(mm, 0, 2) == ".."
    assert mm.read(B + P) == 0


def test_map_populate_and_flags(mm: ModelMM) -> None:
    """MAP_POPULATE faults in (write faults for private writable); VM_ACCOUNT for private
    writable, VM_NORESERVE with MAP_NORESERVE, VM_SHARED for shared; anon pgoff = addr >> 12.

    Live 6.18: MAP_POPULATE 'PP'; flags 'rd wr ac', 'rd wr nr', 'rd wr sh'.
    """
    mm.mmap(B, 2 * P, RW, ANON | av.MAP_POPULATE)
    assert pages(mm, 0, 2) == "PP"
    assert {"VM_READ", "VM_WRITE", "VM_ACCOUNT"} <= vma_at(mm, 0).flags
    assert vma_at(mm, 0).pgoff == B // P
    mm.mmap(B + 4 * P, P, RW, ANON | av.MAP_NORESERVE)
    assert "VM_NORESERVE" in vma_at(mm, 4).flags and "VM_ACCOUNT" not in vma_at(mm, 4).flags
    mm.mmap(B + 8 * P, P, RW, av.MAP_SHARED | av.MAP_ANONYMOUS | av.MAP_FIXED)
    info = vma_at(mm, 8)
    assert "VM_SHARED" in info.flags and "VM_ACCOUNT" not in info.flags and info.pgoff == 0


def test_memfd_mapping_offset(mm: ModelMM) -> None:
    """A file mapping's pgoff is the offset in pages; the VMA names the file."""
    fd = mm.memfd("m", 4 * P)
    mm.mmap(B, P, RW, av.MAP_SHARED | av.MAP_FIXED, fd, 2 * P)
    info = vma_at(mm, 0)
    assert (info.pgoff, info.file) == (2, "m")
    mm.write(B, 9)
    mm.mmap(B + 4 * P, 4 * P, R, av.MAP_SHARED | av.MAP_FIXED, fd)
    assert mm.read(B + 6 * P) == 9


def test_munmap_errors_and_holes(mm: ModelMM) -> None:
    """do_vmi_munmap: length 0 or unaligned start EINVAL; unmapping a hole succeeds.

    Live 6.18: EINVAL, EINVAL, 0.
    """
    assert errno_of(mm.munmap, B, 0) == errno.EINVAL
    assert errno_of(mm.munmap, B + 1, P) == errno.EINVAL
    mm.munmap(B + 20 * P, 2 * P)


# -- mremap --------------------------------------------------------------------------------------


def test_mremap_argument_errors(mm: ModelMM) -> None:
    """check_mremap_params / check_prep_vma.

    Live 6.18: overlapping FIXED EINVAL; FIXED without MAYMOVE EINVAL; unknown flag EINVAL;
    new length 0 EINVAL; DONTUNMAP with a resize EINVAL; no VMA at addr EFAULT; old range past
    the VMA's end EFAULT; unaligned addr or new_addr EINVAL; old length 0 of a private
    mapping EINVAL.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    assert errno_of(mm.mremap, B, 2 * P, 2 * P, MAYMOVE | FIXED, B + P) == errno.EINVAL
    assert errno_of(mm.mremap, B, 2 * P, 2 * P, FIXED, B + 8 * P) == errno.EINVAL
    assert errno_of(mm.mremap, B, 2 * P, 2 * P, 8) == errno.EINVAL
    assert errno_of(mm.mremap, B, 2 * P, 0) == errno.EINVAL
    assert errno_of(mm.mremap, B, 2 * P, 3 * P, MAYMOVE | DONTUNMAP, B + 8 * P) == errno.EINVAL
    assert errno_of(mm.mremap, B + 20 * P, P, 2 * P, MAYMOVE) == errno.EFAULT
    assert errno_of(mm.mremap, B + 2 * P, 4 * P, 6 * P, MAYMOVE) == errno.EFAULT
    assert errno_of(mm.mremap, B + 1, P, 2 * P, MAYMOVE) == errno.EINVAL
    assert errno_of(mm.mremap, B, P, P, MAYMOVE | FIXED, B + 8 * P + 1) == errno.EINVAL
    assert errno_of(mm.mremap, B, 0, P, MAYMOVE) == errno.EINVAL
    assert extents(mm) == [(0, 4)]


def test_mremap_shrink_drops_markers_in_the_tail(mm: ModelMM) -> None:
    """A shrink unmaps the tail: its markers go, the kept part's stay.

    Live 6.18: guards on pages 1 and 3 of 4, page 0 written, shrink to 2: 'PG..'.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.madvise(B + P, P, GUARD)
    mm.madvise(B + 3 * P, P, GUARD)
    mm.write(B, 1)
    assert mm.mremap(B, 4 * P, 2 * P) == B
    assert extents(mm) == [(0, 2)]
    assert pages(mm, 0, 4) == "PG.."


def test_mremap_expand_in_place_and_blocked(mm: ModelMM) -> None:
    """expand_vma: in place when the tail is free; ENOMEM without MAYMOVE when it is not.

    Live 6.18: 2 pages with a guard on page 1 grow to 4 in place ('.G..'); with a VMA right
    after, growing without MAYMOVE fails with ENOMEM.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B + P, P, GUARD)
    assert mm.mremap(B, 2 * P, 4 * P) == B
    assert extents(mm) == [(0, 4)] and pages(mm, 0, 4) == ".G.."
    mm.mmap(B + 4 * P, P, R, ANON)
    assert errno_of(mm.mremap, B, 4 * P, 6 * P) == errno.ENOMEM
    assert extents(mm) == [(0, 4), (4, 5)]


def test_mremap_maymove_moves_pages_and_markers(mm: ModelMM) -> None:
    """move_vma: copy_vma + move_page_tables + unmap of the source.

    Live 6.18: page 0 written 5, guard page 1, blocked in place: MAYMOVE to 4 pages moves it
    away, new pages 'PG..', the data reads 5, the old range is unmapped.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mmap(B + 2 * P, P, R, ANON)
    mm.madvise(B + P, P, GUARD)
    mm.write(B, 5)
    new = mm.mremap(B, 2 * P, 4 * P, MAYMOVE)
    assert new != B
    assert "".join(mm.page(new + i * P).char for i in range(4)) == "PG.."
    assert mm.read(new) == 5
    assert extents(mm)[:1] == [(2, 3)]


def test_mremap_fixed_partial_move_keeps_account_on_remainders(mm: ModelMM) -> None:
    """unmap_source_vma clears VM_ACCOUNT for the unmap, then restores it on what remains.

    Live 6.18: move page 1 of 4 to page 8: VMAs 0-1, 2-4 and 8-9, all 'rd wr ac'; page 8
    reads the 3 written before.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.write(B + P, 3)
    assert mm.mremap(B + P, P, P, MAYMOVE | FIXED, B + 8 * P) == B + 8 * P
    assert extents(mm) == [(0, 1), (2, 4), (8, 9)]
    assert all("VM_ACCOUNT" in v.flags for v in mm.vmas())
    assert mm.read(B + 8 * P) == 3


def test_mremap_dontunmap_moves_markers_and_keeps_old_vma(mm: ModelMM) -> None:
    """MREMAP_DONTUNMAP: the page tables move, the old VMA stays (emptied, unlocked).

    Live 6.18: guard page 1 of 4, DONTUNMAP to page 16: old VMA 0-4 '....', new 16-20 '.G..'.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.madvise(B + P, P, GUARD)
    assert mm.mremap(B, 4 * P, 4 * P, MAYMOVE | FIXED | DONTUNMAP, B + 16 * P) == B + 16 * P
    assert extents(mm) == [(0, 4), (16, 20)]
    assert pages(mm, 0, 4) == "...." and pages(mm, 16, 4) == ".G.."


def test_mremap_fixed_across_vmas_depends_on_era(mm: ModelMM) -> None:
    """6.18's remap_move moves every VMA of an equal-length MREMAP_FIXED range (gaps kept);
    v6.14 refuses a source crossing a VMA end with EFAULT.

    Live 6.18: VMAs 0-1 rw, 1-2 r, 2-4 rw moved to page 16: 16-17, 17-18, 18-20; with page 1
    unmapped: 16-17 and 18-20.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mprotect(B + P, P, R)
    mm.munmap(B + P, P)
    if mm.era == "6.18":
        assert mm.mremap(B, 4 * P, 4 * P, MAYMOVE | FIXED, B + 16 * P) == B + 16 * P
        assert extents(mm) == [(16, 17), (18, 20)]
    else:
        assert errno_of(mm.mremap, B, 4 * P, 4 * P, MAYMOVE | FIXED, B + 16 * P) == errno.EFAULT
        assert extents(mm) == [(0, 1), (2, 4)]


def test_mremap_same_length_without_flags_is_a_no_op(mm: ModelMM) -> None:
    """MREMAP_NO_RESIZE: same length, no new address: returns addr, changes nothing.

    Live 6.18: mremap(addr, 4 pages, 4 pages, MAYMOVE) over three VMAs returns addr.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mprotect(B + P, P, R)
    assert mm.mremap(B, 4 * P, 4 * P, MAYMOVE) == B
    assert extents(mm) == [(0, 1), (1, 2), (2, 4)]
