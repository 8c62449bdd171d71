"""mremap(2) (model/mremap.py): shrink, expand in place, move, DONTUNMAP, the 6.18 multi-VMA
move, and the paths only a direct test reaches.

Expected values come from mm/mremap.c (v6.14 and 6.18: check_mremap_params, check_prep_vma /
remap_is_valid, vrm_set_new_addr, vma_expandable, expand_vma, mremap_to, shrink_vma, move_vma,
unmap_source_vma, remap_move, move_page_tables, do_mremap) and mm/mmap.c
(__get_unmapped_area), and, where the contract can reach the behaviour, from the live 6.18 kernel
(quoted per test; the process runs as root, so mmap_min_addr does not apply to it).
``locked_vm`` is the kernel's ``VmLck`` of /proc/PID/status, which the live figures quote.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest
from engine_helpers import (
    ANON,
    GUARD,
    RW,
    SHARED_ANON,
    TASK_SIZE,
    B,
    P,
    R,
    errno_of,
    extents,
    pages,
    vma_at,
)

import pytest_anonvma as av
from pytest_anonvma.model import mremap as mremap_mod
from pytest_anonvma.model import vma as vma_mod
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    VM_DONTEXPAND,
    VM_MAYREAD,
    VM_MAYWRITE,
    VM_PFNMAP,
    VM_READ,
    VM_WRITE,
)
from pytest_anonvma.model.mmap import MMAP_BASE, MMAP_MIN_ADDR
from pytest_anonvma.model.mremap import do_mremap

MAYMOVE, FIXED, DONTUNMAP = av.MREMAP_MAYMOVE, av.MREMAP_FIXED, av.MREMAP_DONTUNMAP


# -- mremap ---------------------------------------------------------------------------------------


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


PMD_SIZE = 2 << 20


#: the flags ``do_mmap`` gives a private read-write anonymous mapping
ANON_RW_FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE


@pytest.fixture(params=("2025-03", "6.18"))
def era_mm(request: pytest.FixtureRequest) -> Iterator[ModelMM]:
    """The reference design on each era (the eras differ in how a fixed move is done)."""
    with ModelMM("reference", request.param) as model:
        yield model


def _fail_preallocs(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Make the next ``count`` maple-tree preallocations fail, later ones succeed: a transient
    out-of-memory that hits one step of an mremap and not the ones after it."""
    left = [count]

    def vma_iter_prealloc(_mm: object) -> bool:
        left[0] -= 1
        return left[0] >= 0

    monkeypatch.setattr(vma_mod, "vma_iter_prealloc", vma_iter_prealloc)


def _special(model: ModelMM, first: int, count: int, extra: int) -> None:
    """Map arena pages ``[first, first + count)`` read-write with the special VMA flag
    ``extra`` (VM_DONTEXPAND or VM_PFNMAP), as a driver's mmap hook or a special mapping would."""
    addr = B + first * P
    assert (
        vma_mod.mmap_region(model.mm, addr, count * P, ANON_RW_FLAGS | extra, addr >> PAGE_SHIFT)
        == addr
    )


def _remap(model: ModelMM, first: int, old: int, new: int, flags: int, target: int = 0) -> int:
    """``do_mremap`` on arena pages: the raw result (address or -errno)."""
    return do_mremap(model.mm, B + first * P, old * P, new * P, flags, B + target * P)


# -- check_mremap_params: the new address of a DONTUNMAP move is a hint ---------------------------


def test_dontunmap_new_addr_is_a_checked_hint(mm: ModelMM) -> None:
    """MREMAP_DONTUNMAP without MREMAP_FIXED: new_addr must be page aligned and leave room for
    the new length below TASK_SIZE (check_mremap_params: EINVAL); then it is only a hint for
    get_unmapped_area (vrm_set_new_addr): nothing there is unmapped, and a free hint is used.

    Live 6.18: hint on a mapped VMA -> moved elsewhere, that VMA still reads 9; free hint ->
    used; hint + 1 byte -> EINVAL; hint TASK_SIZE -> EINVAL.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B, 3)
    mm.mmap(B + 8 * P, 2 * P, RW, ANON)
    mm.write(B + 8 * P, 9)
    moved = mm.mremap(B, 2 * P, 2 * P, MAYMOVE | DONTUNMAP, B + 8 * P)
    assert moved not in (B, B + 8 * P)
    assert mm.read(B + 8 * P) == 9 and mm.read(moved) == 3
    assert mm.mremap(moved, 2 * P, 2 * P, MAYMOVE | DONTUNMAP, B + 16 * P) == B + 16 * P
    assert mm.read(B + 16 * P) == 3
    assert errno_of(mm.mremap, B, 2 * P, 2 * P, MAYMOVE | DONTUNMAP, B + 24 * P + 1) == errno.EINVAL
    assert errno_of(mm.mremap, B, 2 * P, 2 * P, MAYMOVE | DONTUNMAP, TASK_SIZE) == errno.EINVAL


def test_negative_old_length_is_an_unsigned_long(mm: ModelMM) -> None:
    """The length arguments are unsigned long: -4096 is 2**64 - 4096, a shrink to one page whose
    tail is no valid range for do_vmi_munmap (EINVAL); nothing changes.

    Live 6.18: mremap(addr, (size_t)-4096, 4096, 0) on a 4-page VMA -> EINVAL, VMA intact.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    assert errno_of(mm.mremap, B, -P, P) == errno.EINVAL
    assert extents(mm) == [(0, 4)]


def test_huge_old_length_wraps_to_zero(mm: ModelMM) -> None:
    """do_mremap page-aligns both lengths as unsigned longs before any check: ULONG_MAX (and
    anything above 2**64 - 4096) rounds to 0. Old length 0 on a shared mapping duplicates it
    (remap_is_valid allows that for shared VMAs): without MAYMOVE it cannot grow in place (the
    range does not end at the VMA's end) -> ENOMEM; with MREMAP_FIXED -> a one-page copy at the
    target, the original kept. On a private mapping old length 0 is EINVAL; a new length of
    ULONG_MAX is 0, EINVAL.

    Live 6.18: shared 2 pages; mremap(addr, ULONG_MAX, 4096, 0) -> ENOMEM; with MAYMOVE | FIXED
    to addr + 8 pages -> addr + 8 pages, VMAs [0,2) and [8,9); mremap(addr, ULONG_MAX - 10,
    4096, MAYMOVE) -> a new address; private: ULONG_MAX old length -> EINVAL; shared, new
    length ULONG_MAX -> EINVAL.
    """
    ulong_max = (1 << 64) - 1
    mm.mmap(B, 2 * P, RW, SHARED_ANON)
    mm.write(B, 5)
    assert errno_of(mm.mremap, B, ulong_max, P) == errno.ENOMEM
    assert errno_of(mm.mremap, B, ulong_max, ulong_max, MAYMOVE) == errno.EINVAL
    assert mm.mremap(B, ulong_max, P, MAYMOVE | FIXED, B + 8 * P) == B + 8 * P
    assert extents(mm) == [(0, 2), (8, 9)]
    assert mm.read(B + 8 * P) == 5 and mm.read(B) == 5
    assert mm.mremap(B, ulong_max - 10, P, MAYMOVE) not in (B, B + 8 * P)
    assert len(mm.vmas()) == 3
    mm.mmap(B + 16 * P, 2 * P, RW, ANON)
    moved = errno_of(mm.mremap, B + 16 * P, ulong_max, P, MAYMOVE | FIXED, B + 24 * P)
    assert moved == errno.EINVAL


# -- vrm_set_new_addr / vma_expandable: placement -------------------------------------------------


def test_moved_private_mapping_of_pmd_multiple_is_pmd_aligned(mm: ModelMM) -> None:
    """A MAYMOVE move of a private anonymous VMA searches with no hint and without MAP_SHARED,
    so __get_unmapped_area aligns a length that is a multiple of 2 MiB to 2 MiB
    (thp_get_unmapped_area), as it does for mmap.

    Live 6.18: one page blocked by its neighbour, grown to 2 MiB with MAYMOVE -> 2 MiB aligned.
    """
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + P, P, R, ANON)
    new = mm.mremap(B, P, PMD_SIZE, MAYMOVE)
    assert new != B and new % PMD_SIZE == 0


def test_dontunmap_move_with_a_hint_is_not_pmd_aligned(mm: ModelMM) -> None:
    """A DONTUNMAP move passes its new_addr to get_unmapped_area as a hint (vrm_set_new_addr);
    __get_unmapped_area uses the 2 MiB-aligned allocator (thp_get_unmapped_area) only when no
    hint is given, so when the hint is taken the plain top-down search places the copy: the
    highest free range below mmap_base, not rounded to 2 MiB.

    Live 6.18: 2 MiB private VMAs at B and B + 2 MiB, DONTUNMAP move of the first with the
    (occupied) hint B + 2 MiB -> an address that is not 2 MiB aligned.
    """
    mm.mmap(B, PMD_SIZE, RW, ANON)
    mm.mmap(B + PMD_SIZE, PMD_SIZE, RW, ANON)
    new = mm.mremap(B, PMD_SIZE, PMD_SIZE, MAYMOVE | DONTUNMAP, B + PMD_SIZE)
    assert new == MMAP_BASE - PMD_SIZE
    assert new % PMD_SIZE != 0


def test_expand_in_place_up_to_task_size(mm: ModelMM) -> None:
    """vma_expandable: the grown VMA must fit below TASK_SIZE (get_unmapped_area with MAP_FIXED
    over the whole grown range); near the top a small growth fits, one past it does not.

    Live 6.18: 1 page at TASK_SIZE - 4 pages grows in place to 2; growing it to 8 -> ENOMEM.
    """
    top = TASK_SIZE - 4 * P
    assert mm.mmap(top, P, RW, ANON) == top
    assert mm.mremap(top, P, 2 * P) == top
    assert errno_of(mm.mremap, top, 2 * P, 8 * P) == errno.ENOMEM
    assert [(v.start, v.end) for v in mm.vmas()] == [(top, top + 2 * P)]


def test_vma_at_address_zero_grows_and_moves(era_mm: ModelMM) -> None:
    """A VMA at address 0 (allowed to a CAP_SYS_RAWIO process) expands in place: get_unmapped_area
    returns 0, which is an address, not an error (vma_expandable). An mlocked one gets its new
    page populated (do_mremap: mm_populate after a successful expand). On 6.18 a fixed move of
    two VMAs to address 0 moves both (remap_move: a result of 0 is no error).

    Live 6.18 (root): mmap at 0, mlock, grow to 2 pages -> 0, pages 'PP'; VMAs at B (rw, written
    3) and B+1 page (r) moved to 0 -> 0, VMAs [0,1) and [1,2) pages, 0 reads 3.
    """
    assert era_mm.mmap(0, P, RW, ANON) == 0
    era_mm.mlock(0, P)
    assert era_mm.mremap(0, P, 2 * P) == 0
    assert "".join(era_mm.page(i * P).char for i in range(2)) == "PP"
    era_mm.munmap(0, 2 * P)
    era_mm.mmap(B, P, RW, ANON)
    era_mm.mmap(B + P, P, R, ANON)
    era_mm.write(B, 3)
    if era_mm.era == "6.18":
        assert era_mm.mremap(B, 2 * P, 2 * P, MAYMOVE | FIXED, 0) == 0
        assert [(v.start, v.end) for v in era_mm.vmas()] == [(0, P), (P, 2 * P)]
        assert era_mm.read(0) == 3
    else:
        assert errno_of(era_mm.mremap, B, 2 * P, 2 * P, MAYMOVE | FIXED, 0) == errno.EFAULT


# -- locked_vm ------------------------------------------------------------------------------------


def test_locked_vm_follows_moves_and_growth(mm: ModelMM) -> None:
    """move_vma adds the new length to locked_vm for a VM_LOCKED VMA (the unmap of the source
    takes the old length off); expand_vma_in_place adds the growth; an unlocked VMA adds nothing.

    Live 6.18 (VmLck in pages): mlock 2 pages -> 2; FIXED move -> 2; grow in place to 4 -> 4.
    Unlocked: FIXED move and growth leave 0.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mlock(B, 2 * P)
    assert mm.mm.locked_vm == 2
    assert mm.mremap(B, 2 * P, 2 * P, MAYMOVE | FIXED, B + 8 * P) == B + 8 * P
    assert mm.mm.locked_vm == 2
    assert mm.mremap(B + 8 * P, 2 * P, 4 * P) == B + 8 * P
    assert mm.mm.locked_vm == 4
    mm.mmap(B + 32 * P, 2 * P, RW, ANON)
    assert mm.mremap(B + 32 * P, 2 * P, 2 * P, MAYMOVE | FIXED, B + 40 * P) == B + 40 * P
    assert mm.mremap(B + 40 * P, 2 * P, 3 * P) == B + 40 * P
    assert mm.mm.locked_vm == 4


def test_dontunmap_move_charges_locked_vm_for_the_copy(mm: ModelMM) -> None:
    """move_vma charges the new length to locked_vm (vrm_stat_account) whenever the moved VMA is
    VM_LOCKED, MREMAP_DONTUNMAP included: dontunmap_complete then clears VM_LOCKED on the source
    but leaves locked_vm alone, so both lengths stay counted. When copy_vma merges the source
    into the copy, the merged VMA is the one checked (and then unlocked).

    Live 6.18 (VmLck in pages): mlock 2 pages, DONTUNMAP move -> 2 -> 4, copy locked, source
    not. PROT_NONE VMAs of 3 and 4 pages with a 1-page gap, both mlocked (ENOMEM, VMAs locked
    all the same) -> 7; DONTUNMAP move of the last page into the gap -> one VMA, unlocked, 8.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mlock(B, 2 * P)
    assert mm.mm.locked_vm == 2
    assert mm.mremap(B, 2 * P, 2 * P, MAYMOVE | FIXED | DONTUNMAP, B + 8 * P) == B + 8 * P
    assert mm.mm.locked_vm == 4
    assert "VM_LOCKED" in vma_at(mm, 8).flags and "VM_LOCKED" not in vma_at(mm, 0).flags
    mm.munmap(B, 16 * P)
    mm.mm.locked_vm = 0  # the DONTUNMAP source's share is never given back; start afresh
    mm.mmap(B, 3 * P, av.PROT_NONE, ANON)
    mm.mmap(B + 4 * P, 4 * P, av.PROT_NONE, ANON)
    assert errno_of(mm.mlock, B, 3 * P) == errno.ENOMEM
    assert errno_of(mm.mlock, B + 4 * P, 4 * P) == errno.ENOMEM
    assert mm.mm.locked_vm == 7
    assert mm.mremap(B + 7 * P, P, P, MAYMOVE | FIXED | DONTUNMAP, B + 3 * P) == B + 3 * P
    assert extents(mm) == [(0, 8)] and "VM_LOCKED" not in vma_at(mm, 0).flags
    assert mm.mm.locked_vm == 8


# -- failures part way (out of memory in a tree preallocation) ------------------------------------


@pytest.mark.parametrize(
    ("old_pages", "new_pages"),
    [
        # shrink_vma: the split's ENOMEM (do_vmi_munmap's error, passed on by mremap_at)
        (4, 2),
        # expand_vma_in_place: vma_merge_extend failing (no memory for the tree)
        (2, 4),
    ],
    ids=["shrink-split", "expand-in-place"],
)
def test_resize_in_place_fails_when_the_tree_allocation_fails(
    mm: ModelMM, old_pages: int, new_pages: int
) -> None:
    """A shrink that must split the VMA, or a grow in place, fails with ENOMEM when the tree
    cannot allocate, and leaves the VMA at its old size."""
    mm.mmap(B, old_pages * P, RW, ANON)
    mm.mm.fail_prealloc = True
    assert errno_of(mm.mremap, B, old_pages * P, new_pages * P) == errno.ENOMEM
    mm.mm.fail_prealloc = False
    assert extents(mm) == [(0, old_pages)]


def test_move_fails_when_copy_vma_fails(mm: ModelMM) -> None:
    """move_vma: copy_vma returning NULL (no memory) is ENOMEM before anything moved."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mmap(B + 2 * P, P, R, ANON)
    mm.write(B, 4)
    mm.mm.fail_prealloc = True
    assert errno_of(mm.mremap, B, 2 * P, 4 * P, MAYMOVE) == errno.ENOMEM
    mm.mm.fail_prealloc = False
    assert extents(mm) == [(0, 2), (2, 3)]
    assert pages(mm, 0, 2) == "P." and mm.read(B) == 4


def test_fixed_move_stops_when_unmapping_the_target_fails(
    mm: ModelMM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mremap_to: when unmapping the target range fails, mremap returns that error at once; the
    source is not shrunk, the target keeps its pages."""
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mmap(B + 8 * P, 4 * P, RW, ANON)
    mm.write(B + 9 * P, 6)
    _fail_preallocs(monkeypatch, 1)
    assert errno_of(mm.mremap, B, 4 * P, P, MAYMOVE | FIXED, B + 9 * P) == errno.ENOMEM
    assert extents(mm) == [(0, 4), (8, 12)]
    assert mm.read(B + 9 * P) == 6


def test_fixed_move_stops_when_its_shrink_fails(
    mm: ModelMM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mremap_to: a move that also shrinks unmaps the tail first (shrink_vma); when that fails
    the error is returned and nothing is moved."""
    mm.mmap(B, 4 * P, RW, ANON)
    mm.write(B, 2)
    _fail_preallocs(monkeypatch, 1)
    assert errno_of(mm.mremap, B, 4 * P, P, MAYMOVE | FIXED, B + 16 * P) == errno.ENOMEM
    assert extents(mm) == [(0, 4)]
    assert mm.read(B) == 2


def test_failed_source_unmap_keeps_source_unaccounted(
    mm: ModelMM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """unmap_source_vma: VM_ACCOUNT is cleared on the source before its range is unmapped; if that
    unmap fails (no memory to split), the move still succeeds, the source stays whole and keeps
    VM_ACCOUNT cleared (only the commit charge is fixed up), the copy keeps VM_ACCOUNT."""
    mm.mmap(B, 4 * P, RW, ANON)
    mm.write(B + P, 5)
    moved = mremap_mod.move_page_tables

    def move_then_fail(model: object, old: int, new: int, length: int) -> int:
        done = moved(model, old, new, length)  # type: ignore[arg-type]
        mm.mm.fail_prealloc = True
        return done

    monkeypatch.setattr(mremap_mod, "move_page_tables", move_then_fail)
    assert mm.mremap(B + P, P, P, MAYMOVE | FIXED, B + 8 * P) == B + 8 * P
    mm.mm.fail_prealloc = False
    assert extents(mm) == [(0, 4), (8, 9)]
    assert "VM_ACCOUNT" not in vma_at(mm, 0).flags
    assert "VM_ACCOUNT" in vma_at(mm, 8).flags
    assert mm.read(B + 8 * P) == 5


def test_dontunmap_hint_below_mmap_min_addr_in_a_full_address_space(mm: ModelMM) -> None:
    """MREMAP_DONTUNMAP with new_addr 0: no usable hint, so get_unmapped_area searches; with no
    free range left the move fails with ENOMEM (vrm_set_new_addr), mapping nothing at 0."""
    mm.mmap(MMAP_MIN_ADDR, B - MMAP_MIN_ADDR, av.PROT_NONE, ANON | av.MAP_NORESERVE)
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + P, TASK_SIZE - B - P, av.PROT_NONE, ANON | av.MAP_NORESERVE)
    assert errno_of(mm.mremap, B, P, P, MAYMOVE | DONTUNMAP, 0) == errno.ENOMEM
    assert len(mm.vmas()) == 3 and mm.vmas()[0].start == MMAP_MIN_ADDR


# -- special VMAs (VM_DONTEXPAND / VM_PFNMAP), set up below the contract --------------------------


@pytest.mark.parametrize("extra", [VM_DONTEXPAND, VM_PFNMAP], ids=["dontexpand", "pfnmap"])
def test_special_vma_moves_but_neither_grows_nor_dontunmaps(era_mm: ModelMM, extra: int) -> None:
    """check_prep_vma / remap_is_valid on a VM_DONTEXPAND or VM_PFNMAP VMA: a MREMAP_DONTUNMAP
    move is EINVAL, growing it is EFAULT (with or without MAYMOVE), an equal-length MREMAP_FIXED
    move is allowed (the equal-length check comes before the special-VMA one).

    Live 6.18 on [vdso] (a special mapping, VM_DONTEXPAND): DONTUNMAP move -> EINVAL; grow by
    one page -> EFAULT, with MAYMOVE -> EFAULT; same-length FIXED move -> the new address.
    """
    _special(era_mm, 0, 2, extra)
    assert _remap(era_mm, 0, 2, 2, MAYMOVE | FIXED | DONTUNMAP, 8) == -errno.EINVAL
    assert _remap(era_mm, 0, 2, 3, 0) == -errno.EFAULT
    assert _remap(era_mm, 0, 2, 3, MAYMOVE) == -errno.EFAULT
    assert extents(era_mm) == [(0, 2)]
    assert _remap(era_mm, 0, 2, 2, MAYMOVE | FIXED, 8) == B + 8 * P
    assert extents(era_mm) == [(8, 10)]


def test_multi_vma_move_stops_at_a_vma_that_cannot_move() -> None:
    """6.18 remap_move: an error on one VMA of a multi-VMA move is returned at once; the VMAs
    before it stay moved. A DONTUNMAP move over an ordinary VMA and a VM_DONTEXPAND one.

    Live 6.18: an anonymous page (written 7) right below [vdso], DONTUNMAP-moved together to a
    free range -> EINVAL; the page's copy is at the target (reads 7), its source kept, [vdso]
    not moved.
    """
    with ModelMM("reference", "6.18") as model:
        model.mmap(B, 2 * P, RW, ANON)
        model.write(B, 7)
        _special(model, 2, 2, VM_DONTEXPAND)
        assert _remap(model, 0, 4, 4, MAYMOVE | FIXED | DONTUNMAP, 8) == -errno.EINVAL
        assert extents(model) == [(0, 2), (2, 4), (8, 10)]
        assert model.read(B + 8 * P) == 7


def test_duplicating_a_shared_mapping_with_old_length_zero(mm: ModelMM) -> None:
    """Old length 0 duplicates a shared mapping (check_prep_vma / remap_is_valid refuse it only
    for private ones): the copy maps the same pages and the original stays (unmapping a
    zero-length source does nothing). The case language has no zero page count, hence a test.

    Live 6.18: shared anonymous 2 pages, page 0 written 5, mremap(addr, 0, 2 pages, MAYMOVE |
    FIXED, addr + 8 pages) -> addr + 8 pages; both read 5; a write through the copy shows in the
    original.
    """
    mm.mmap(B, 2 * P, RW, SHARED_ANON)
    mm.write(B, 5)
    assert mm.mremap(B, 0, 2 * P, MAYMOVE | FIXED, B + 8 * P) == B + 8 * P
    assert extents(mm) == [(0, 2), (8, 10)]
    assert mm.read(B + 8 * P) == 5 and mm.read(B) == 5
    mm.write(B + 9 * P, 3)
    assert mm.read(B + P) == 3


# -- a move the kernel places (MREMAP_MAYMOVE without MREMAP_FIXED) -------------------------------


def test_maymove_without_fixed_goes_where_the_topdown_search_puts_it(mm: ModelMM) -> None:
    """vrm_set_new_addr: without MREMAP_FIXED (and without DONTUNMAP) the destination comes from
    get_unmapped_area with no hint, so from the top-down search right below mmap_base, page
    aligned (here: a 2-page VMA, not a PMD multiple, on an otherwise empty address space)."""
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + P, P, R, ANON)  # blocks growing in place
    mm.write(B, 7)
    new = mm.mremap(B, P, 2 * P, MAYMOVE)
    assert new == MMAP_BASE - 2 * P
    assert mm.read(new) == 7
    assert extents(mm) == [(1, 2), ((new - B) // P, (new - B) // P + 2)]


def test_maymove_fails_with_enomem_when_no_gap_fits(mm: ModelMM) -> None:
    """vrm_set_new_addr returns get_unmapped_area's -ENOMEM when no gap below mmap_base fits the
    new length, and mremap returns it before anything moved (mm/mremap.c: mremap_at)."""
    mm.mmap(MMAP_MIN_ADDR, B - MMAP_MIN_ADDR, av.PROT_NONE, ANON)
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + P, MMAP_BASE - B - P, av.PROT_NONE, ANON)
    mm.write(B, 9)
    assert errno_of(mm.mremap, B, P, 2 * P, MAYMOVE) == errno.ENOMEM
    assert vma_at(mm, 0).start == B and vma_at(mm, 0).end == B + P
    assert mm.read(B) == 9
