"""Paths of mmap(2), mprotect(2) and mlock(2) that no conformance case can express.

These were found by mutation testing (benchmarks/mutation.py): placement and hint addresses,
lengths that round or wrap, PROT_GROWS*, VMA states only other kernels' files create
(VM_GROWSDOWN, VM_IO, a shared mapping without VM_MAYWRITE, VM_LOCKONFAULT from mlock2) and
return values the ModelMM wrapper swallows. Expected values come from the kernel functions named
in each docstring; "live 6.18" marks a value also observed on the running kernel with a ctypes
script (/tmp/team/syscalls-livecheck.py during development).
"""

from __future__ import annotations

import errno

from engine_helpers import ANON, RW, SHARED_ANON, B, P, R, errno_of, extents, pages, vma_at

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mlock import (
    __mlock_posix_error_return,
    apply_vma_lock_flags,
    do_mlock,
)
from pytest_anonvma.model.mm_types import (
    VM_GROWSDOWN,
    VM_IO,
    VM_LOCKED,
    VM_LOCKONFAULT,
    VM_MAYWRITE,
)
from pytest_anonvma.model.mmap import MMAP_BASE, MMAP_MIN_ADDR
from pytest_anonvma.model.mprotect import do_mprotect_pkey

PRIVATE = av.MAP_PRIVATE | av.MAP_ANONYMOUS
RWX = RW | av.PROT_EXEC
PMD = 2 << 20
#: x86-64 with 4-level page tables: user space ends one page below 2**47 (TASK_SIZE_MAX)
TASK_SIZE = (1 << 47) - P
ULONG_MAX = (1 << 64) - 1
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000


# -- mmap: placement -----------------------------------------------------------------------------


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


# -- mmap: hints and MAP_FIXED -------------------------------------------------------------------


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


# -- mmap: arguments -----------------------------------------------------------------------------


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


# -- mprotect ------------------------------------------------------------------------------------


def test_mprotect_length_zero_returns_zero(mm: ModelMM) -> None:
    """mm/mprotect.c: do_mprotect_pkey returns 0 for len 0 (after the alignment check)."""
    assert do_mprotect_pkey(mm.mm, B, 0, R) == 0


def test_mprotect_length_rounds_up(mm: ModelMM) -> None:
    """do_mprotect_pkey: len = PAGE_ALIGN(len). Live 6.18: 4097 bytes -> both pages 'r--p'."""
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mprotect(B, P + 1, R)
    assert extents(mm) == [(0, 2)] and vma_at(mm, 0).prot == R


def test_mprotect_wrapping_end_is_enomem(mm: ModelMM) -> None:
    """do_mprotect_pkey: end = start + len wrapping past ULONG_MAX (end <= start) -> ENOMEM
    before any change. Live 6.18: len 2**64 - start -> ENOMEM, the VMA still 'rw-p'."""
    mm.mmap(B, 2 * P, RW, ANON)
    assert errno_of(mm.mprotect, B, (1 << 64) - B, R) == errno.ENOMEM
    assert vma_at(mm, 0).prot == RW


def test_mprotect_growsup_is_einval(mm: ModelMM) -> None:
    """do_mprotect_pkey: PROT_GROWSUP needs VM_GROWSUP, which x86-64 never sets -> EINVAL.
    Live 6.18: EINVAL."""
    mm.mmap(B, 2 * P, RW, ANON)
    assert errno_of(mm.mprotect, B, P, R | PROT_GROWSUP) == errno.EINVAL
    assert vma_at(mm, 0).prot == RW


def test_mprotect_growsdown_extends_to_vma_start(mm: ModelMM) -> None:
    """do_mprotect_pkey: on a VM_GROWSDOWN VMA (MAP_GROWSDOWN), PROT_GROWSDOWN is stripped from
    prot and the range starts at the VMA start; both GROWS flags together are EINVAL.

    Live 6.18: MAP_GROWSDOWN of 4 pages, mprotect page 2 PROT_READ|PROT_GROWSDOWN -> pages 0-2
    'r--p', page 3 'rw-p'; then PROT_GROWSDOWN|PROT_GROWSUP -> EINVAL, nothing changed.
    """
    mm.mmap(B, 4 * P, RW, ANON)
    vma = mm.mm.find_vma(B)
    assert vma is not None
    vma.vm_flags |= VM_GROWSDOWN  # what MAP_GROWSDOWN would have set
    mm.mprotect(B + 2 * P, P, R | PROT_GROWSDOWN)
    assert extents(mm) == [(0, 3), (3, 4)]
    assert [v.prot for v in mm.vmas()] == [R, RW]
    assert errno_of(mm.mprotect, B + 2 * P, P, RW | PROT_GROWSDOWN | PROT_GROWSUP) == errno.EINVAL
    assert [v.prot for v in mm.vmas()] == [R, RW]


def test_mprotect_beyond_vm_maywrite_is_eacces(mm: ModelMM) -> None:
    """do_mprotect_pkey: asking for a permission whose VM_MAY* bit is clear -> EACCES, the walk
    stopping there (a shared mapping of a file opened read-only lacks VM_MAYWRITE).

    Live 6.18: private 'r' VMA then a read-only-fd shared memfd VMA, mprotect both rw -> EACCES,
    the first 'rw-p', the second still 'r--s'.
    """
    fd = mm.memfd("m", 4 * P)
    mm.mmap(B, 2 * P, R, ANON)
    mm.mmap(B + 2 * P, 2 * P, R, av.MAP_SHARED | av.MAP_FIXED, fd)
    shared = mm.mm.find_vma(B + 2 * P)
    assert shared is not None
    shared.vm_flags &= ~VM_MAYWRITE  # as mapping an O_RDONLY fd would leave it
    assert errno_of(mm.mprotect, B, 4 * P, RW) == errno.EACCES
    assert [v.prot for v in mm.vmas()] == [RW, R]


def test_mprotect_split_failure_stops_the_walk(mm: ModelMM) -> None:
    """do_mprotect_pkey: an mprotect_fixup error ends the walk: the VMAs after the one whose
    split failed (injected preallocation failure) are not changed."""
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mmap(B + 4 * P, 2 * P, av.PROT_READ | av.PROT_EXEC, ANON)
    mm.mm.fail_prealloc = True
    assert errno_of(mm.mprotect, B + P, 5 * P, R) == errno.ENOMEM
    mm.mm.fail_prealloc = False
    assert extents(mm) == [(0, 4), (4, 6)]
    assert [v.prot for v in mm.vmas()] == [RW, av.PROT_READ | av.PROT_EXEC]


def test_mprotect_keeping_write_keeps_pte_writable(mm: ModelMM) -> None:
    """mm/mprotect.c: change_pte_range only takes write permission away when the VMA loses
    VM_WRITE; an exclusive anonymous page of a VMA that stays writable keeps a writable PTE
    (MM_CP_TRY_CHANGE_WRITABLE, can_change_pte_writable)."""
    mm.mmap(B, P, RW, ANON)
    mm.write(B, 1)
    mm.mprotect(B, P, RWX)
    assert mm.mm.ptes[B // P].writable


# -- mlock ---------------------------------------------------------------------------------------


def test_mlock_leaves_special_vmas_alone(mm: ModelMM) -> None:
    """mm/mlock.c: mlock_fixup neither sets VM_LOCKED on nor counts a VM_SPECIAL (here VM_IO)
    VMA, and __mm_populate skips VM_IO; mlock succeeds."""
    mm.mmap(B, 2 * P, RW, ANON)
    vma = mm.mm.find_vma(B)
    assert vma is not None
    vma.vm_flags |= VM_IO  # as a driver's remap_pfn_range would set it
    mm.mlock(B, 2 * P)
    assert not vma.vm_flags & VM_LOCKED
    assert mm.mm.locked_vm == 0
    assert pages(mm, 0, 2) == ".."


def test_relocking_onfault_does_not_count_again(mm: ModelMM) -> None:
    """mm/mlock.c: mlock_fixup adds to locked_vm only pages that were not locked before
    (mlock2(MLOCK_ONFAULT) over an mlocked range changes VM_LOCKONFAULT only)."""
    mm.mmap(B, 4 * P, R, ANON)
    mm.mlock(B, 4 * P)
    assert mm.mm.locked_vm == 4
    assert apply_vma_lock_flags(mm.mm, B, 4 * P, VM_LOCKED | VM_LOCKONFAULT) == 0
    assert mm.mm.locked_vm == 4
    assert "VM_LOCKONFAULT" in vma_at(mm, 0).flags


def test_munlock_merges_what_the_walk_changed(mm: ModelMM) -> None:
    """mm/mlock.c: apply_vma_lock_flags passes the VMA it just changed as prev of the next
    mlock_fixup, so equal neighbours merge during one walk.

    Live 6.18: mlock pages 0-1, mlock2(MLOCK_ONFAULT) pages 2-3 ('lo' | 'lo lf'), munlock
    0-3 -> one VMA 0-3.
    """
    mm.mmap(B, 4 * P, R, ANON)
    mm.mlock(B, 2 * P)
    assert apply_vma_lock_flags(mm.mm, B + 2 * P, 2 * P, VM_LOCKED | VM_LOCKONFAULT) == 0
    assert extents(mm) == [(0, 2), (2, 4)]
    mm.munlock(B, 4 * P)
    assert extents(mm) == [(0, 4)]
    assert "VM_LOCKED" not in vma_at(mm, 0).flags


def test_mlock_wrapping_end_is_einval(mm: ModelMM) -> None:
    """mm/mlock.c: apply_vma_lock_flags: end = start + len wrapping (end < start) -> EINVAL,
    nothing locked. Live 6.18: mlock(B, 2**64 - B) -> EINVAL."""
    mm.mmap(B, 2 * P, R, ANON)
    assert errno_of(mm.mlock, B, (1 << 64) - B) == errno.EINVAL
    assert errno_of(mm.munlock, B, (1 << 64) - B) == errno.EINVAL
    assert "VM_LOCKED" not in vma_at(mm, 0).flags


def test_mlock_of_nothing_succeeds_in_a_hole(mm: ModelMM) -> None:
    """mm/mlock.c: apply_vma_lock_flags returns 0 for an empty range before looking for a VMA.
    Live 6.18: mlock(unmapped address, 0) -> 0."""
    mm.mlock(B + 20 * P, 0)
    mm.munlock(B + 20 * P, 0)
    assert apply_vma_lock_flags(mm.mm, B + 20 * P, 0, VM_LOCKED) == 0


def test_mlock_length_rounding_to_zero_does_nothing(mm: ModelMM) -> None:
    """mm/mlock.c: do_mlock and munlock compute PAGE_ALIGN(len + offset_in_page(start)) as an
    unsigned long: ULONG_MAX (or any length within a page of 2**64 counting the offset) wraps
    to 0, and an empty range is success with nothing changed; 2**64 - 4096 stays and wraps
    the end (EINVAL).

    Checked on live 6.18: mlock(B, ULONG_MAX), mlock(B + 100, 2**64 - 100) and
    mlock(B, 2**64 - 4095) -> 0, the VMA not locked; mlock(B, 2**64 - 4096) -> EINVAL;
    after mlock of the VMA, munlock(B, ULONG_MAX) -> 0, the VMA still locked.
    """
    mm.mmap(B, 4 * P, R, ANON)
    for start, length in ((B, ULONG_MAX), (B + 100, (1 << 64) - 100), (B, (1 << 64) - P + 1)):
        mm.mlock(start, length)
        assert "VM_LOCKED" not in vma_at(mm, 0).flags
    assert errno_of(mm.mlock, B, (1 << 64) - P) == errno.EINVAL
    mm.mlock(B, 4 * P)
    mm.munlock(B, ULONG_MAX)
    assert "VM_LOCKED" in vma_at(mm, 0).flags
    assert extents(mm) == [(0, 4)]


def test_do_mlock_returns_zero(mm: ModelMM) -> None:
    """mm/mlock.c: do_mlock returns 0 when locking and populating succeed."""
    mm.mmap(B, 2 * P, RW, ANON)
    assert do_mlock(mm.mm, B, 2 * P) == 0
    assert pages(mm, 0, 2) == "PP"


def test_mlock_posix_error_return() -> None:
    """mm/mlock.c: __mlock_posix_error_return: populate's EFAULT becomes ENOMEM and its ENOMEM
    EAGAIN (POSIX); any other error passes through."""
    assert __mlock_posix_error_return(-errno.EFAULT) == -errno.ENOMEM
    assert __mlock_posix_error_return(-errno.ENOMEM) == -errno.EAGAIN
    assert __mlock_posix_error_return(-errno.EINTR) == -errno.EINTR
