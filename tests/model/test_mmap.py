"""mmap(2) (model/mmap.py) and mmap_region (model/vma.py, mm/vma.c): placement, hints and
MAP_FIXED, arguments, and mmap_region replacing mappings.

Expected values: mm/mmap.c (do_mmap, __get_unmapped_area, unmapped_area_topdown), mm/vma.c
(mmap_region; v6.14 rules for era 2025-03, 334fbe73 for 6.18) and the live 6.18 kernel
("live 6.18" marks a value also observed on the running kernel; its placement is randomised,
so only relative placement is compared).
"""

from __future__ import annotations

import errno

import pytest
from engine_helpers import (
    ANON,
    GUARD,
    RW,
    SHARED_ANON,
    TASK_SIZE,
    ULONG_MAX,
    B,
    P,
    R,
    errno_of,
    extents,
    pages,
    vma_at,
)
from vma_helpers import (
    ERAS,
    VM_RO,
    VM_RW,
    anon_at,
    lower_max_map_count,
    new_mm,
    pgoff_of,
    vma_extents,
)

import pytest_anonvma as av
from pytest_anonvma.constants import (
    MADV_GUARD_INSTALL,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
)
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    VM_ACCOUNT,
    VM_IO,
    VM_LOCKED,
    VM_NORESERVE,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_WRITE,
    VMA,
    MMStruct,
    VMOps,
)
from pytest_anonvma.model.mmap import MMAP_BASE, MMAP_MIN_ADDR
from pytest_anonvma.model.vma import (
    KERNEL_OPS,
    ExternalOps,
    mmap_region,
    set_external_ops,
    validate_mm,
)

# -- mmap -----------------------------------------------------------------------------------------


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


PRIVATE = av.MAP_PRIVATE | av.MAP_ANONYMOUS


PMD = 2 << 20


# -- mmap: placement ------------------------------------------------------------------------------


def test_topdown_skips_a_gap_too_small(mm: ModelMM) -> None:
    """mm/mmap.c: unmapped_area_topdown returns the highest gap below mmap_base that fits.

    A one-page gap right below mmap_base cannot take two pages, which go below the VMA under
    it; a one-page mapping then takes that gap.
    """
    mm.mmap(MMAP_BASE - 2 * P, P, R, PRIVATE | av.MAP_FIXED)
    assert mm.mmap(None, 2 * P, R, PRIVATE) == MMAP_BASE - 4 * P
    assert mm.mmap(None, P, R, PRIVATE) == MMAP_BASE - P


def test_topdown_fails_when_nothing_fits(mm: ModelMM) -> None:
    """mm/mmap.c: a length larger than the room between mmap_min_addr and mmap_base fails with
    ENOMEM (the bottom-up fallback of arch_get_unmapped_area_topdown, from TASK_SIZE / 3, has
    less room still); nothing is mapped."""
    assert MMAP_BASE % PMD  # not a PMD multiple: the plain search, not the THP one
    assert errno_of(mm.mmap, None, MMAP_BASE, av.PROT_NONE, PRIVATE | av.MAP_NORESERVE) == (
        errno.ENOMEM
    )
    assert mm.vmas() == []


def test_pmd_multiple_goes_to_highest_aligned_address(mm: ModelMM) -> None:
    """mm/huge_memory.c: __thp_get_unmapped_area searches len + PMD_SIZE top-down, then moves up
    to the PMD boundary inside it (a whole PMD up when the found address is already aligned):
    the highest PMD-aligned start whose mapping ends at or below the gap's top."""
    assert mm.mmap(None, PMD, RW, PRIVATE) == (MMAP_BASE - PMD) & ~(PMD - 1)
    other = ModelMM(mm.design)
    top = MMAP_BASE & ~(PMD - 1)
    other.mmap(top, MMAP_BASE - top, R, PRIVATE | av.MAP_FIXED)  # the gap now ends aligned
    assert other.mmap(None, PMD, RW, PRIVATE) == top - PMD


def test_pmd_multiple_falls_back_when_padding_does_not_fit(mm: ModelMM) -> None:
    """mm/huge_memory.c: thp_get_unmapped_area_vmflags falls back to the ordinary search when
    the padded one fails: the only gap, PMD_SIZE + one page, takes the mapping at its top,
    unaligned."""
    low = 0x1000_0000_0000
    mm.mmap(MMAP_MIN_ADDR, low - MMAP_MIN_ADDR, av.PROT_NONE, PRIVATE | av.MAP_FIXED)
    high = low + PMD + P
    mm.mmap(high, MMAP_BASE - high, av.PROT_NONE, PRIVATE | av.MAP_FIXED)
    assert mm.mmap(None, PMD, RW, PRIVATE) == low + P


# -- mmap: hints and MAP_FIXED --------------------------------------------------------------------


def test_unaligned_hint_gives_a_page_aligned_mapping(mm: ModelMM) -> None:
    """mm/mmap.c: do_mmap's round_hint_to_min rounds a hint down to its page before
    arch_get_unmapped_area_topdown uses it. Checked on live 6.18: hints B+100 and B+4095 -> B."""
    assert mm.mmap(B + 100, P, R, PRIVATE) == B
    assert extents(mm) == [(0, 1)]
    mm.munmap(B, P)
    assert mm.mmap(B + P - 1, P, R, PRIVATE) == B
    assert extents(mm) == [(0, 1)]


def test_hint_below_mmap_min_addr_moves_up_to_it(mm: ModelMM) -> None:
    """mm/mmap.c: round_hint_to_min turns a nonzero hint below mmap_min_addr into mmap_min_addr
    (then used if free); a hint below one page rounds to 0, no hint at all, so the top-down
    search places it; when mmap_min_addr is taken the search runs too.

    Checked on live 6.18 (mmap_min_addr 0x10000 from CONFIG_LSM_MMAP_MIN_ADDR): hints 0x2000
    and 0x10064 -> 0x10000; hint 100 -> a high address; 0x2000 with 0x10000 mapped -> a high
    address.
    """
    assert mm.mmap(0x2000, P, R, PRIVATE) == MMAP_MIN_ADDR
    mm.munmap(MMAP_MIN_ADDR, P)
    assert mm.mmap(MMAP_MIN_ADDR + 100, P, R, PRIVATE) == MMAP_MIN_ADDR
    assert mm.mmap(0x2000, P, R, PRIVATE) == MMAP_BASE - P
    assert mm.mmap(100, P, R, PRIVATE) == MMAP_BASE - 2 * P


def test_get_unmapped_area_takes_a_low_hint_as_is(mm: ModelMM) -> None:
    """arch_get_unmapped_area_topdown (x86-64) checks a hint against TASK_SIZE only; mmap_min_addr
    is applied to mmap hints by do_mmap (round_hint_to_min), which mremap does not call, so a
    MREMAP_DONTUNMAP move to a free hint below mmap_min_addr lands there.

    Checked on live 6.18 (root): mremap(B, 2 pages, 2 pages, MAYMOVE|DONTUNMAP, 0x2000) -> 0x2000.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    flags = av.MREMAP_MAYMOVE | av.MREMAP_DONTUNMAP
    assert mm.mremap(B, 2 * P, 2 * P, flags, 0x2000) == 0x2000
    assert [(v.start, v.end) for v in mm.vmas()] == [(0x2000, 0x4000), (B, B + 2 * P)]


def test_pmd_alignment_only_without_a_hint(mm: ModelMM) -> None:
    """mm/mmap.c: __get_unmapped_area uses thp_get_unmapped_area_vmflags only when no hint is
    left after round_hint_to_min; a hint that is taken, or that fails, goes through the plain
    search, unaligned.

    Checked on live 6.18: 2 MiB with hint 0x2000 -> 0x10000; with hint 100 (rounded to 0) ->
    2 MiB aligned; with an occupied hint -> not 2 MiB aligned (six tries), while with no hint
    -> 2 MiB aligned (six tries).
    """
    assert mm.mmap(0x2000, PMD, R, PRIVATE) == MMAP_MIN_ADDR
    mm.mmap(B, P, R, PRIVATE | av.MAP_FIXED)
    assert MMAP_BASE % PMD  # so the plain search's result is not 2 MiB aligned
    assert mm.mmap(B, PMD, R, PRIVATE) == MMAP_BASE - PMD
    # no hint: the highest 2 MiB-aligned start whose mapping ends below the one just made
    assert mm.mmap(100, PMD, R, PRIVATE) == (MMAP_BASE - 2 * PMD) & ~(PMD - 1)


def test_hint_overlapping_a_vma_is_not_honoured(mm: ModelMM) -> None:
    """arch_get_unmapped_area_topdown: a hint is used only when [hint, hint + len) is free;
    otherwise the top-down search places the mapping and the VMA in the way stays.

    Live 6.18: VMA at page 1, hint page 0 for two pages -> placed elsewhere, page 1 intact.
    """
    mm.mmap(B + P, P, R, PRIVATE | av.MAP_FIXED)
    addr = mm.mmap(B, 2 * P, RW, PRIVATE)
    assert addr != B
    assert vma_at(mm, 1).start == B + P and vma_at(mm, 1).end == B + 2 * P
    assert vma_at(mm, 1).prot == R


def test_hint_past_task_size_is_not_honoured(mm: ModelMM) -> None:
    """mmap_address_hint_valid: a hint with hint + len beyond TASK_SIZE is ignored.

    Live 6.18: hint 2**47 - 4096 for one page -> a lower address.
    """
    addr = mm.mmap(TASK_SIZE, P, R, PRIVATE)
    assert addr != TASK_SIZE
    assert addr + P <= TASK_SIZE


def test_map_fixed_limit_is_task_size(mm: ModelMM) -> None:
    """mm/mmap.c: __get_unmapped_area rejects addr > TASK_SIZE - len with ENOMEM; the last page
    below TASK_SIZE (2**47 - 4096 on x86-64 with 4-level tables) can be mapped.

    Live 6.18: MAP_FIXED at 2**47 - 8192 -> mapped; at 2**47 - 4096 -> ENOMEM.
    """
    assert mm.mmap(TASK_SIZE - P, P, R, PRIVATE | av.MAP_FIXED) == TASK_SIZE - P
    assert errno_of(mm.mmap, TASK_SIZE, P, R, PRIVATE | av.MAP_FIXED) == errno.ENOMEM
    assert [(v.start, v.end) for v in mm.vmas()] == [(TASK_SIZE - P, TASK_SIZE)]


def test_map_fixed_at_zero_populates(mm: ModelMM) -> None:
    """do_mmap returns the address, 0 included; MAP_POPULATE then faults the page in.

    Live 6.18 (root): MAP_FIXED|MAP_POPULATE at 0 -> 0, pagemap present.
    """
    assert mm.mmap(0, P, RW, PRIVATE | av.MAP_FIXED | av.MAP_POPULATE) == 0
    assert [(v.start, v.end) for v in mm.vmas()] == [(0, P)]
    assert mm.page(0) is av.PageState.PRESENT


def test_map_fixed_length_limit_is_task_size(mm: ModelMM) -> None:
    """mm/mmap.c: __get_unmapped_area (and x86-64's arch_get_unmapped_area_topdown) reject only
    a length above TASK_SIZE; a MAP_FIXED_NOREPLACE range from 0 of up to TASK_SIZE bytes gets
    as far as the overlap check.

    Checked on live 6.18 (root), a VMA at B: MAP_FIXED_NOREPLACE at 0 of TASK_SIZE - 4096,
    TASK_SIZE - 0x10000 + 4096 and TASK_SIZE bytes -> EEXIST; of TASK_SIZE + 4096 -> ENOMEM.
    """
    mm.mmap(B, P, R, ANON)
    flags = PRIVATE | av.MAP_FIXED_NOREPLACE | av.MAP_NORESERVE
    for length in (TASK_SIZE - P, TASK_SIZE - MMAP_MIN_ADDR + P, TASK_SIZE):
        assert errno_of(mm.mmap, 0, length, av.PROT_NONE, flags) == errno.EEXIST
    assert errno_of(mm.mmap, 0, TASK_SIZE + P, av.PROT_NONE, flags) == errno.ENOMEM
    assert extents(mm) == [(0, 1)]


# -- mmap: arguments ------------------------------------------------------------------------------


def test_length_rounds_up_to_pages(mm: ModelMM) -> None:
    """do_mmap: len = PAGE_ALIGN(len). Live 6.18: MAP_FIXED of 4097 bytes maps two pages."""
    assert mm.mmap(B, P + 1, R, ANON) == B
    assert extents(mm) == [(0, 2)]


def test_length_wrapping_to_zero_is_enomem(mm: ModelMM) -> None:
    """do_mmap: PAGE_ALIGN(ULONG_MAX) wraps to 0 -> ENOMEM. Live 6.18: ENOMEM."""
    assert errno_of(mm.mmap, B, ULONG_MAX, R, ANON) == errno.ENOMEM
    assert mm.vmas() == []


def test_map_anonymous_ignores_the_file(mm: ModelMM) -> None:
    """do_mmap: MAP_ANONYMOUS ignores the fd. Live 6.18: MAP_ANONYMOUS with a memfd -> an
    anonymous mapping (no memfd in /proc/self/maps)."""
    fd = mm.memfd("m", 4 * P)
    mm.mmap(B, P, RW, ANON, fd)
    assert vma_at(mm, 0).file is None


def test_file_mapping_needs_a_map_type(mm: ModelMM) -> None:
    """do_mmap: a file mapping's type must be MAP_SHARED, MAP_SHARED_VALIDATE or MAP_PRIVATE,
    else EINVAL. Live 6.18: memfd with type 0 or 0xf -> EINVAL."""
    fd = mm.memfd("m", 4 * P)
    assert errno_of(mm.mmap, B, P, R, av.MAP_FIXED, fd) == errno.EINVAL
    assert errno_of(mm.mmap, B, P, R, av.MAP_FIXED | 0xF, fd) == errno.EINVAL
    assert mm.vmas() == []


def test_shared_anonymous_ignores_the_offset(mm: ModelMM) -> None:
    """do_mmap: MAP_SHARED|MAP_ANONYMOUS ignores pgoff (pgoff = 0). Live 6.18: offset 16384 ->
    /proc/self/smaps offset 00000000 for the /dev/zero mapping."""
    mm.mmap(B, P, RW, SHARED_ANON, None, 4 * P)
    assert vma_at(mm, 0).pgoff == 0


def test_file_offset_beyond_max_file_size_is_eoverflow(mm: ModelMM) -> None:
    """mm/mmap.c: do_mmap -> file_mmap_ok: a memfd is a regular file, so [offset, offset + len)
    must end at or below MAX_LFS_FILESIZE (2**63 - 1), else EOVERFLOW; an offset of -4096 is
    2**64 - 4096 as an unsigned long. The check comes after the MAP_FIXED_NOREPLACE overlap
    check and before the map type check; anonymous mappings have no such limit.

    Checked on live 6.18: memfd shared or private at offset -4096 -> EOVERFLOW; one page at
    2**63 - 4096 -> EOVERFLOW, at 2**63 - 8192 -> mapped; two pages at 2**63 - 12288 -> mapped,
    at 2**63 - 8192 -> EOVERFLOW; type 0 at -4096 -> EOVERFLOW; MAP_FIXED_NOREPLACE at -4096
    over a VMA -> EEXIST; anonymous at -4096 -> mapped.
    """
    fd = mm.memfd("m", 8 * P)
    shared = av.MAP_SHARED | av.MAP_FIXED
    assert errno_of(mm.mmap, B, P, R, shared, fd, -P) == errno.EOVERFLOW
    assert errno_of(mm.mmap, B, P, R, av.MAP_PRIVATE | av.MAP_FIXED, fd, -P) == errno.EOVERFLOW
    assert errno_of(mm.mmap, B, P, R, shared, fd, (1 << 63) - P) == errno.EOVERFLOW
    assert errno_of(mm.mmap, B, 2 * P, R, shared, fd, (1 << 63) - 2 * P) == errno.EOVERFLOW
    assert errno_of(mm.mmap, B, P, R, av.MAP_FIXED, fd, -P) == errno.EOVERFLOW
    assert mm.vmas() == []
    assert mm.mmap(B, P, R, shared, fd, (1 << 63) - 2 * P) == B
    assert mm.mmap(B + 2 * P, 2 * P, R, shared, fd, (1 << 63) - 3 * P) == B + 2 * P
    noreplace = av.MAP_SHARED | av.MAP_FIXED_NOREPLACE
    assert errno_of(mm.mmap, B, P, R, noreplace, fd, -P) == errno.EEXIST
    assert mm.mmap(B + 8 * P, P, R, ANON, None, -P) == B + 8 * P
    assert extents(mm) == [(0, 1), (2, 4), (8, 9)]


def test_mmap_region_failure_is_returned(mm: ModelMM) -> None:
    """mm/vma.c: __mmap_region fails with ENOMEM when the maple tree preallocation fails, and
    do_mmap returns that error (injected with fail_prealloc); nothing is mapped."""
    mm.mm.fail_prealloc = True
    assert errno_of(mm.mmap, B, P, RW, ANON) == errno.ENOMEM
    mm.mm.fail_prealloc = False
    assert mm.vmas() == []


# -- mmap_region ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "accounted"),
    [
        (VM_RW, True),
        (VM_RW | VM_NORESERVE, False),
        (VM_RW | VM_SHARED, False),
        (VM_RW & ~VM_WRITE, False),
    ],
    ids=["private-writable", "noreserve", "shared", "read-only"],
)
def test_mmap_region_accounting_and_softdirty(flags: int, accounted: bool) -> None:
    """VM_ACCOUNT only for private writable mappings without VM_NORESERVE
    (accountable_mapping); every new VMA gets VM_SOFTDIRTY (__mmap_complete)."""
    mm = new_mm()
    assert mmap_region(mm, B, 2 * P, flags, B >> PAGE_SHIFT) == B
    (vma,) = list(mm)
    assert bool(vma.vm_flags & VM_ACCOUNT) is accounted
    assert vma.vm_flags & VM_SOFTDIRTY


def test_mmap_region_locked_accounting() -> None:
    """A VM_LOCKED mapping counts in locked_vm; VM_SPECIAL ones drop VM_LOCKED instead."""
    mm = new_mm()
    mmap_region(mm, B, 2 * P, VM_RW | VM_LOCKED, B >> PAGE_SHIFT)
    assert mm.locked_vm == 2
    mmap_region(mm, B + 4 * P, P, VM_RW | VM_LOCKED | VM_IO, (B >> PAGE_SHIFT) + 4)
    assert mm.locked_vm == 2
    special = mm.vma_lookup(B + 4 * P)
    assert special is not None and not special.vm_flags & VM_LOCKED


@pytest.mark.parametrize("era", ERAS)
def test_map_fixed_over_the_middle_remerges(era: str) -> None:
    """MAP_FIXED of the same protection over the middle of a written VMA: the old pages and
    guard markers of the middle go, and the three parts merge back into one VMA (seen on the
    running 6.18 kernel: one rw-p VMA, pages 1-2 empty, 0 and 3 present)."""
    design = "maybe-guard" if era == "6.18" else "reference"
    with ModelMM(design, era) as m:
        rw = PROT_READ | PROT_WRITE
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
        m.mmap(B, 4 * P, rw, flags)
        for page in range(4):
            m.write(B + page * P, 1)
        m.madvise(B + P, P, MADV_GUARD_INSTALL)
        m.mmap(B + P, 2 * P, rw, flags)
        assert [(v.start, v.end) for v in m.vmas()] == [(B, B + 4 * P)]
        assert "".join(m.page(B + page * P).char for page in range(4)) == "P..P"
        validate_mm(m.mm)


def test_mmap_region_prealloc_failure() -> None:
    """With preallocation failing: a replacement needing a split fails before any change; one
    needing none has already cleared the old VMA's page tables when the new VMA cannot be
    stored, so the kernel leaves the hole (vms_abort_munmap_vmas)."""
    mm = new_mm()
    anon_at(mm, 0, 4)
    mm.fail_prealloc = True
    assert mmap_region(mm, B + P, P, VM_RW, (B >> PAGE_SHIFT) + 1) == -errno.ENOMEM
    assert vma_extents(mm) == [(0, 4)]
    mm.fail_prealloc = False
    other = new_mm()
    anon_at(other, 0, 2, flags=VM_RW & ~VM_WRITE)
    other.fail_prealloc = True
    assert mmap_region(other, B, 2 * P, VM_RW, B >> PAGE_SHIFT) == -errno.ENOMEM
    assert vma_extents(other) == []


# -- mmap_region replacing mappings ---------------------------------------------------------------


def test_map_fixed_clears_page_tables_once() -> None:
    """vms_clear_ptes runs once per unmap (clear_ptes is reset): a MAP_FIXED replacement clears
    them in vms_clean_up_area and not again in vms_complete_munmap_vmas."""
    mm = new_mm()
    calls: list[tuple[int, int]] = []

    def clear_ptes(mm: MMStruct, vmas: object, start: int, end: int) -> None:
        calls.append((start, end))

    set_external_ops(
        mm, ExternalOps(KERNEL_OPS.anon_vma_clone, KERNEL_OPS.unlink_anon_vmas, clear_ptes)
    )
    anon_at(mm, 0, 2)
    assert mmap_region(mm, B, 2 * P, VM_RW, pgoff_of(0)) == B
    assert calls == [(B, B + 2 * P)]


def test_map_fixed_closes_the_old_vma_before_the_new_one_exists() -> None:
    """__mmap_setup calls vms_clean_up_area (page tables, then close hooks of the replaced VMAs)
    before the new VMA is merged or created: the close hook sees an empty range."""
    mm = new_mm()
    seen: list[VMA | None] = []
    old = anon_at(mm, 0, 2)
    old.vm_file = "file"
    old.vm_ops = VMOps("probe", close=lambda vma: seen.append(mm.vma_lookup(B)))
    assert mmap_region(mm, B, 2 * P, VM_RW, pgoff_of(0)) == B
    assert seen == [None]
    assert len(list(mm)) == 1


def test_map_fixed_over_a_locked_vma_gives_back_its_pages() -> None:
    """Replacing a VM_LOCKED VMA: vms_complete_munmap_vmas subtracts its pages from locked_vm;
    the new VMA is write-locked before it is stored (__mmap_new_vma)."""
    mm = new_mm()
    old = anon_at(mm, 0, 2, flags=VM_RW | VM_LOCKED)
    mm.locked_vm = 2
    assert mmap_region(mm, B, 2 * P, VM_RW, pgoff_of(0)) == B
    (new,) = list(mm)
    assert new is not old and new.write_started
    assert mm.locked_vm == 0


def test_failed_map_fixed_leaves_the_hole_and_unlocks() -> None:
    """The new VMA cannot be stored after the old one's page tables were cleared:
    vms_abort_munmap_vmas completes the unmap (vms_complete_munmap_vmas), so the hole stays and
    locked_vm drops by the old VMA's pages."""
    mm = new_mm()
    anon_at(mm, 0, 2, flags=VM_RW | VM_LOCKED)
    mm.locked_vm = 2
    mm.fail_prealloc = True
    assert mmap_region(mm, B, 2 * P, VM_RW, pgoff_of(0)) == -errno.ENOMEM
    assert vma_extents(mm) == [] and mm.locked_vm == 0


def test_map_fixed_fails_at_max_map_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """MAP_FIXED into the middle of a VMA at sysctl_max_map_count: vms_gather_munmap_vmas
    refuses and __mmap_region returns its -ENOMEM without mapping anything."""
    mm = new_mm()
    anon_at(mm, 0, 4)
    lower_max_map_count(monkeypatch, mm)
    assert mmap_region(mm, B + P, P, VM_RO, pgoff_of(1)) == -errno.ENOMEM
    assert vma_extents(mm) == [(0, 4)]
