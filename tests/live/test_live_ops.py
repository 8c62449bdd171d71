"""System calls, touches and observations of the live backend on the running kernel.

Expected values are kernel semantics, cited per test: man pages (mmap(2), munmap(2), mprotect(2),
madvise(2), mremap(2), mlock(2)), mm/madvise.c (guard install/remove), mm/memory.c (zero page on
read fault, guard marker -> SIGSEGV, SIGBUS past EOF of a shmem file), fs/proc/task_mmu.c.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from live_helpers import ANON, RW, P, addr, page_of

from pytest_anonvma import constants as C
from pytest_anonvma.contract import BusError, PageState, SegmentationFault
from pytest_anonvma.live import LiveMM, LiveShmemFile, kernel_features


def states(mm: LiveMM, first: int, count: int) -> str:
    """The page-state picture of ``count`` arena pages."""
    return "".join(s.char for s in mm.pages(addr(first), count))


def test_a_new_sandbox_shows_no_vmas(mm: LiveMM) -> None:
    """The sandbox's own mappings (binary, stack, vdso...) are not part of the test's mm."""
    assert mm.vmas() == []


def test_mmap_fixed_returns_the_address_and_shows_one_vma(mm: LiveMM) -> None:
    """mmap(2): MAP_FIXED maps exactly at addr; a private writable anonymous mapping is charged
    (VM_ACCOUNT, mm/mmap.c accountable_mapping) and has VM_MAY* set (calc_vm_prot_bits)."""
    assert mm.mmap(addr(0), 4 * P, RW, ANON) == addr(0)
    [vma] = mm.vmas()
    assert (vma.start, vma.end, vma.prot, vma.file) == (addr(0), addr(4), RW, None)
    assert {"VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE", "VM_ACCOUNT"} <= vma.flags
    assert "VM_MAYBE_GUARD" not in vma.flags


def test_untouched_pages_are_empty_read_maps_zero_write_allocates(mm: LiveMM) -> None:
    """mm/memory.c do_anonymous_page: a read fault maps the zero page (reads 0), a write fault
    allocates a page; both are present in pagemap afterwards; mmap populates nothing."""
    mm.mmap(addr(0), 3 * P, RW, ANON)
    assert states(mm, 0, 3) == "..."
    assert mm.read(addr(0)) == 0
    mm.write(addr(1), 0x5A)
    assert mm.read(addr(1)) == 0x5A
    assert states(mm, 0, 3) == "PP."
    assert mm.page(addr(2)) is PageState.NONE


def test_guard_install_zaps_present_pages_and_faults_on_touch(mm: LiveMM) -> None:
    """madvise(2) MADV_GUARD_INSTALL: existing pages in the range are zapped and replaced by
    markers (pagemap bit 58); any touch of a marker is SIGSEGV; the VMA gets VM_MAYBE_GUARD."""
    mm.mmap(addr(0), 4 * P, RW, ANON)
    mm.write(addr(1), 1)
    mm.madvise(addr(1), 2 * P, C.MADV_GUARD_INSTALL)
    assert states(mm, 0, 4) == ".GG."
    for page in (1, 2):
        with pytest.raises(SegmentationFault) as info:
            mm.read(addr(page))
        assert info.value.addr == addr(page)
        with pytest.raises(SegmentationFault):
            mm.write(addr(page), 1)
    assert "VM_MAYBE_GUARD" in mm.vmas()[0].flags


def test_guard_remove_clears_markers_and_page_reads_zero(mm: LiveMM) -> None:
    """MADV_GUARD_REMOVE clears markers only; the anonymous page then reads zero; the sticky
    VM_MAYBE_GUARD flag stays (mm/madvise.c sets it on install and never clears it)."""
    mm.mmap(addr(0), 2 * P, RW, ANON)
    mm.write(addr(0), 9)
    mm.madvise(addr(0), 2 * P, C.MADV_GUARD_INSTALL)
    mm.madvise(addr(0), 2 * P, C.MADV_GUARD_REMOVE)
    assert states(mm, 0, 2) == ".."
    assert mm.read(addr(0)) == 0
    assert "VM_MAYBE_GUARD" in mm.vmas()[0].flags


def test_markers_survive_dontneed_and_mprotect(mm: LiveMM) -> None:
    """mm/madvise.c: MADV_DONTNEED zaps pages but keeps guard markers; mprotect keeps them."""
    mm.mmap(addr(0), 3 * P, RW, ANON)
    mm.write(addr(0), 1)
    mm.madvise(addr(1), P, C.MADV_GUARD_INSTALL)
    mm.madvise(addr(0), 3 * P, C.MADV_DONTNEED)
    mm.mprotect(addr(0), 3 * P, C.PROT_READ)
    assert states(mm, 0, 3) == ".G."


def test_unmapped_and_protection_faults(mm: LiveMM) -> None:
    """A touch with no VMA is SIGSEGV (SEGV_MAPERR); a write to a read-only VMA or any touch of a
    PROT_NONE VMA is SIGSEGV (SEGV_ACCERR; arch/x86/mm/fault.c access_error)."""
    mm.mmap(addr(0), P, C.PROT_READ, ANON)
    mm.mmap(addr(2), P, C.PROT_NONE, ANON)
    with pytest.raises(SegmentationFault, match="SEGV_MAPERR"):
        mm.read(addr(1))
    with pytest.raises(SegmentationFault, match="SEGV_ACCERR"):
        mm.write(addr(0), 1)
    with pytest.raises(SegmentationFault, match="SEGV_ACCERR"):
        mm.read(addr(2))
    assert mm.read(addr(0)) == 0


def test_write_only_and_exec_only_mappings_are_readable_on_x86(mm: LiveMM) -> None:
    """x86 page tables cannot express write-only or (without protection keys) exec-only, and
    arch/x86/mm/fault.c access_error only refuses a read of a VMA with none of read/write/exec."""
    mm.mmap(addr(0), P, C.PROT_WRITE, ANON)
    mm.mmap(addr(2), P, C.PROT_EXEC, ANON)
    assert mm.read(addr(0)) == 0
    try:
        assert mm.read(addr(2)) == 0
    except SegmentationFault:
        pytest.skip("this CPU enforces exec-only memory with a protection key")


def test_shmem_past_eof_is_sigbus_and_memfd_name_shows(mm: LiveMM) -> None:
    """mm/shmem.c shmem_fault: a page beyond i_size is VM_FAULT_SIGBUS; smaps names the VMA
    '/memfd:NAME (deleted)' and its offset is the file offset (pgoff in pages)."""
    f = mm.memfd("data", P)
    assert isinstance(f, LiveShmemFile)
    assert f.name == "data"
    mm.mmap(addr(4), 2 * P, RW, C.MAP_SHARED | C.MAP_FIXED, file=f)
    mm.write(addr(4), 3)
    assert mm.read(addr(4)) == 3
    with pytest.raises(BusError, match="BUS_ADRERR"):
        mm.read(addr(5))
    [vma] = mm.vmas()
    assert (vma.file, vma.pgoff) == ("data", 0)
    assert {"VM_SHARED", "VM_MAYSHARE"} <= vma.flags


def test_file_offset_is_reported_as_pgoff(mm: LiveMM) -> None:
    """show_map_vma prints vm_pgoff << PAGE_SHIFT for file VMAs; we report it in pages."""
    f = mm.memfd("big", 8 * P)
    mm.mmap(addr(0), 2 * P, C.PROT_READ, C.MAP_PRIVATE | C.MAP_FIXED, file=f, offset=3 * P)
    assert mm.vmas()[0].pgoff == 3


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(lambda mm: mm.munmap(addr(0) + 1, P), errno.EINVAL, id="munmap-unaligned"),
        pytest.param(lambda mm: mm.mprotect(addr(20), P, C.PROT_READ), errno.ENOMEM,
                     id="mprotect-unmapped"),
        pytest.param(lambda mm: mm.madvise(addr(20), P, C.MADV_GUARD_INSTALL), errno.ENOMEM,
                     id="guard-unmapped"),
        pytest.param(lambda mm: mm.mmap(addr(0), P, RW, ANON | C.MAP_FIXED_NOREPLACE),
                     errno.EEXIST, id="mmap-noreplace-over-existing"),
        pytest.param(lambda mm: mm.mmap(addr(0), 0, RW, ANON), errno.EINVAL, id="mmap-length-0"),
        pytest.param(lambda mm: mm.mremap(addr(0), P, 4 * P, 0), errno.ENOMEM,
                     id="mremap-grow-into-neighbour"),
        pytest.param(lambda mm: mm.madvise(addr(0), P, 9999), errno.EINVAL, id="madvise-bad"),
    ],
)
def test_errors_are_oserror_with_the_kernel_errno(
    mm: LiveMM, call: Callable[[LiveMM], object], expected: int
) -> None:
    """munmap(2)/mmap(2): unaligned or zero length -> EINVAL; mprotect(2)/madvise(2) over an
    unmapped range -> ENOMEM; MAP_FIXED_NOREPLACE over a mapping -> EEXIST; mremap(2) growing in
    place into a neighbour without MREMAP_MAYMOVE -> ENOMEM; unknown advice -> EINVAL."""
    mm.mmap(addr(0), P, RW, ANON)
    mm.mmap(addr(1), P, C.PROT_READ, ANON)
    with pytest.raises(OSError) as info:
        call(mm)
    assert info.value.errno == expected


def test_guard_install_on_mlocked_vma_is_einval_but_remove_works(mm: LiveMM) -> None:
    """mm/madvise.c: guard install refuses VM_LOCKED VMAs with EINVAL; mlock sets VM_LOCKED
    (smaps 'lo') and populates the range (mlock(2)); munlock clears it."""
    mm.mmap(addr(0), 2 * P, RW, ANON)
    mm.mlock(addr(0), 2 * P)
    assert "VM_LOCKED" in mm.vmas()[0].flags
    assert states(mm, 0, 2) == "PP"
    with pytest.raises(OSError) as info:
        mm.madvise(addr(0), P, C.MADV_GUARD_INSTALL)
    assert info.value.errno == errno.EINVAL
    mm.madvise(addr(0), P, C.MADV_GUARD_REMOVE)
    mm.munlock(addr(0), 2 * P)
    assert "VM_LOCKED" not in mm.vmas()[0].flags


def test_mremap_moves_markers_with_the_mapping(mm: LiveMM) -> None:
    """mm/mremap.c moves page tables, markers included (move_ptes); the old range is unmapped."""
    mm.mmap(addr(0), 2 * P, RW, ANON)
    mm.write(addr(0), 7)
    mm.madvise(addr(1), P, C.MADV_GUARD_INSTALL)
    new = mm.mremap(addr(0), 2 * P, 2 * P, C.MREMAP_MAYMOVE | C.MREMAP_FIXED, addr(10))
    assert page_of(new) == 10
    assert states(mm, 10, 2) == "PG"
    assert mm.read(addr(10)) == 7
    assert [(page_of(v.start), page_of(v.end)) for v in mm.vmas()] == [(10, 12)]


def test_foreign_memfd_handles_are_refused(mm: LiveMM) -> None:
    """A memfd belongs to the sandbox that made it (and forks made after): another sandbox's
    descriptor number means nothing there, so the backend refuses it with a clear error."""
    with LiveMM() as other:
        f = other.memfd("elsewhere", P)
    with pytest.raises(ValueError, match="memfd 'elsewhere' was not created"):
        mm.mmap(addr(0), P, RW, C.MAP_SHARED | C.MAP_FIXED, file=f)
    with pytest.raises(TypeError, match="file must be a memfd"):
        mm.mmap(addr(0), P, RW, C.MAP_SHARED | C.MAP_FIXED, file="f")


def test_write_value_must_be_a_byte(mm: LiveMM) -> None:
    """The contract writes one byte."""
    mm.mmap(addr(0), P, RW, ANON)
    with pytest.raises(ValueError, match=r"byte 0\.\.255"):
        mm.write(addr(0), 256)


def test_capabilities_and_design(mm: LiveMM) -> None:
    """A kernel showing `gu` (VM_MAYBE_GUARD) after a guard install carries the sticky-flag
    design (6.18 here); one without it prepares an anon_vma on install (v6.13-v6.17, the
    baseline). No kernel exposes anon_vma identity, slab counters or retraction state."""
    common = {"pages", "layout", "files", "fork", "mremap", "mlock"}
    if kernel_features().maybe_guard_flag:
        assert mm.capabilities == common | {"guard-flag"}
        assert (mm.design, mm.era) == ("maybe-guard", "6.18")
    else:
        assert mm.capabilities == common
        assert mm.design == "baseline"
    with pytest.raises(NotImplementedError):
        mm.stats()
    with pytest.raises(NotImplementedError):
        mm.retractable(addr(0))
