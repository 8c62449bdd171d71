"""Engine paths the conformance corpus cannot reach: argument checks, fault addresses, fork
failure, exit_mmap, the rmap reference counts, the design hooks' return values, the tree helpers.

Expected values come from docs/contract.md (argument errors, fault classes), the kernel sources
named in each docstring, or the live 6.18 kernel (named where used: the same calls were run on
``av.load("live")`` and gave the same results).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator

import pytest
from engine_helpers import ANON, DESIGNS, GUARD, RW, SHARED_ANON, B, P, pages

import pytest_anonvma as av
from pytest_anonvma.designs import get_design
from pytest_anonvma.model import rmap
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.fork import copy_page_range, dup_mmap
from pytest_anonvma.model.mm import vma_anon_vma, vma_clear_anon_vma
from pytest_anonvma.model.mm_types import (
    VM_MAYREAD,
    VM_MAYWRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_UFFD_WP,
    VM_WRITE,
    VMA,
    MMStruct,
)
from pytest_anonvma.model.rmap import anon_vma_clone, anon_vma_prepare, put_anon_vma
from pytest_anonvma.model.vma import vm_area_dup

ULONG_MAX = (1 << 64) - 1
#: x86-64 TASK_SIZE_MAX: the first address above user space (arch/x86/include/asm/page_64_types.h)
TASK_SIZE = (1 << 47) - P
VM_RW = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE

Call = Callable[[av.MM], object]


# -- argument types and values (docs/contract.md, "Errors") -------------------------------------


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


# -- addresses as the kernel sees them (unsigned long) ------------------------------------------


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


# -- fork ----------------------------------------------------------------------------------------


def test_fork_child_has_its_own_internals() -> None:
    """A fork child is a full address space: its ``internals`` is its own empty harness mm."""
    parent = ModelMM("maybe-guard")
    parent.mmap(B, P, RW, ANON)
    child = parent.fork()
    internals = child.internals
    assert internals is child.internals and internals is not parent.internals
    assert internals.era == "6.18" and internals.map_count == 0


@pytest.fixture
def failing_clone(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Make the second ``anon_vma_clone`` call fail with -ENOMEM, as a slab failure would.

    mm/rmap.c: anon_vma_clone undoes its links on failure and returns -ENOMEM. Yields the list
    of call numbers made so far.
    """
    calls: list[int] = []

    def clone(dst: VMA, src: VMA) -> int:
        calls.append(len(calls) + 1)
        if len(calls) == 2:
            return -errno.ENOMEM
        return anon_vma_clone(dst, src)

    monkeypatch.setattr(rmap, "anon_vma_clone", clone)
    yield calls


@pytest.mark.parametrize("design", DESIGNS)
def test_fork_failure_is_enomem_and_frees_the_partial_child(
    design: str, failing_clone: list[int]
) -> None:
    """An allocation failure in anon_vma_fork fails fork with ENOMEM and undoes the child.

    kernel/fork.c: dup_mmap returns anon_vma_fork's error; copy_process then drops the new mm
    (mmput -> exit_mmap), so the first VMA's child anon_vma and links are freed again. The
    parent is untouched.
    """
    mm = ModelMM(design)
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + 2 * P, P, RW, ANON)
    mm.write(B, 1)
    mm.write(B + 2 * P, 2)
    kernel = mm.mm.kernel
    before = (kernel.live_anon_vmas, kernel.live_avcs, mm.vmas())
    with pytest.raises(OSError) as info:
        mm.fork()
    assert info.value.errno == errno.ENOMEM
    assert failing_clone == [1, 2]
    assert (kernel.live_anon_vmas, kernel.live_avcs, mm.vmas()) == before
    assert (mm.read(B), mm.read(B + 2 * P)) == (1, 2)
    mm.validate()


def test_dup_mmap_and_copy_page_range_return_zero() -> None:
    """kernel/fork.c dup_mmap and mm/memory.c copy_page_range return 0 on success, whether or
    not vma_needs_copy let the page tables be copied (int functions: 0 or -errno)."""
    parent = ModelMM("rfc-v1")
    parent.mmap(B, P, RW, ANON)
    parent.mmap(B + 2 * P, P, RW, ANON)
    parent.write(B, 1)
    kernel = parent.mm.kernel
    assert dup_mmap(MMStruct(get_design("rfc-v1"), "2025-03", kernel), parent.mm) == 0
    other = MMStruct(get_design("rfc-v1"), "2025-03", kernel)
    for src in parent.mm:  # the first VMA has page tables to copy, the second has none
        dst = vm_area_dup(src)
        other.link(dst)
        assert copy_page_range(other, dst, src) == 0
    assert parent.mm.stats["fork_pagetable_copies"] == 2


# -- exit_mmap and validate ----------------------------------------------------------------------


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


def test_validate_reports_a_broken_invariant() -> None:
    """docs/contract.md: ModelMM.validate() raises AssertionError naming the broken invariant."""
    mm = ModelMM()
    mm.mmap(B, P, RW, ANON)
    mm.validate()
    mm.mm.mm_mt[0].detached = True
    with pytest.raises(AssertionError, match="not attached"):
        mm.validate()


# -- the VMA tree (MMStruct) ---------------------------------------------------------------------


def test_link_attaches_and_unlink_detaches() -> None:
    """Linking a VMA makes it this mm's and attached; unlinking detaches it (vma_link /
    vma_mark_attached, vma_iter_clear / vma_mark_detached, mm/vma.c)."""
    mm = MMStruct(get_design("reference"), "2025-03")
    vma = VMA(B, B + P, B // P, VM_RW)
    mm.link(vma)
    assert vma.vm_mm is mm and not vma.detached
    mm.unlink(vma)
    assert vma.detached and mm.map_count == 0


def test_vmas_in_range_without_vmas() -> None:
    """No VMA overlaps a range past the last VMA, or any range of an empty mm."""
    mm = MMStruct(get_design("reference"), "2025-03")
    assert mm.vmas_in_range(B, B + P) == []
    mm.link(VMA(B, B + P, B // P, VM_RW))
    assert mm.vmas_in_range(B + 2 * P, B + 3 * P) == []
    assert mm.vmas_in_range(B - P, B) == []
    assert len(mm.vmas_in_range(B - P, B + 3 * P)) == 1


def test_mm_struct_rejects_an_unknown_era() -> None:
    """An mm follows one of the known eras' mm/vma.c rules; another is a ValueError naming it."""
    with pytest.raises(ValueError, match="1999"):
        MMStruct(get_design("reference"), "1999")


# -- the harness observations (tools/testing/vma) ------------------------------------------------


def test_fresh_harness_objects_are_not_marked() -> None:
    """tools/testing/vma: a new VMA has vm_lock_seq UINT_MAX, so vma_write_started is false until
    vma_start_write; the dummy anon_vmas start zeroed (was_cloned/was_unlinked false)."""
    internals = ModelMM().internals
    vma = internals.alloc_vma(B, B + P, 0, VM_RW)
    assert internals.vma_write_started(vma) is False
    for anon_vma in (internals.dummy_anon_vma, internals.new_dummy_anon_vma()):
        assert (anon_vma.was_cloned, anon_vma.was_unlinked) == (False, False)


def test_unlink_anon_vmas_marks_the_anon_vmas_it_unlinks() -> None:
    """``was_unlinked`` records that unlink_anon_vmas ran on a VMA of the anon_vma (its meaning
    in the harness, tools/testing/vma/vma_internal.h); a fresh anon_vma has not been."""
    mm = ModelMM()
    mm.mmap(B, 2 * P, RW, ANON)
    mm.write(B, 1)
    mm.mprotect(B + P, P, av.PROT_READ)  # split: both halves share the anon_vma
    first, second = list(mm.mm)
    anon_vma = vma_anon_vma(first)
    assert anon_vma is not None and anon_vma.was_unlinked is False
    rmap.unlink_anon_vmas(second)
    assert anon_vma.was_unlinked is True and not anon_vma.freed


# -- anon_vma reference counts (mm/rmap.c) -------------------------------------------------------


def test_put_anon_vma_frees_only_on_the_last_reference() -> None:
    """put_anon_vma drops one reference and frees on the last; freeing a non-root anon_vma drops
    the pin on its root, and frees the root if that was its last reference (__put_anon_vma).

    After a fork, the child's anon_vma pins the parent's root (anon_vma_fork: get_anon_vma).
    """
    parent = ModelMM()
    parent.mmap(B, P, RW, ANON)
    parent.write(B, 1)
    child = parent.fork()
    root = vma_anon_vma(next(iter(parent.mm)))
    own = vma_anon_vma(next(iter(child.mm)))
    assert root is not None and own is not None and own.root is root
    kernel = parent.mm.kernel
    live = kernel.live_anon_vmas
    assert root.refcount == 2
    put_anon_vma(parent.mm, root)  # the root's own reference: still pinned by the child's
    assert not root.freed and kernel.live_anon_vmas == live
    put_anon_vma(child.mm, own)  # the child's goes, and takes the root's last reference along
    assert own.freed and root.freed and kernel.live_anon_vmas == live - 2


# -- the design hooks (pytest_anonvma/designs/base.py) -------------------------------------------


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize(
    ("dst_flags", "src_flags", "copy"),
    [
        (0, VM_PFNMAP, True),
        (0, VM_MIXEDMAP, True),
        (VM_UFFD_WP, 0, True),
        (0, 0, False),
    ],
)
def test_vma_needs_copy_for_pfn_maps_and_uffd_wp(
    design: str, dst_flags: int, src_flags: int, copy: bool
) -> None:
    """mm/memory.c vma_needs_copy: page tables are copied for a uffd-wp child VMA or a
    VM_PFNMAP/VM_MIXEDMAP parent VMA even without an anon_vma; a plain shared VMA is not."""
    policy = get_design(design)
    base = VM_RW | VM_SHARED
    src = VMA(B, B + P, 0, base | src_flags)
    dst = VMA(B, B + P, 0, base | dst_flags)
    assert policy.vma_needs_copy(dst, src) is copy


@pytest.mark.parametrize("design", DESIGNS)
def test_guard_install_begin_returns_zero(design: str) -> None:
    """The hook before madvise_guard_install's walk returns 0 or -errno (designs/base.py): 0 for
    an anonymous VMA and for a file VMA (mm/madvise.c: anon_vma_prepare, if any, succeeds)."""
    mm = ModelMM(design)
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + 2 * P, P, RW, SHARED_ANON)
    policy = mm.mm.design
    for vma in list(mm.mm):
        assert policy.guard_install_begin(mm.mm, vma) == 0


def test_anon_vma_prepare_and_clone_return_zero() -> None:
    """mm/rmap.c: __anon_vma_prepare and anon_vma_clone return 0 on success."""
    mm = MMStruct(get_design("reference"), "2025-03")
    src = VMA(B, B + P, B // P, VM_RW)
    mm.link(src)
    assert anon_vma_prepare(src) == 0
    dst = vm_area_dup(src)
    vma_clear_anon_vma(dst)
    assert anon_vma_clone(dst, src) == 0
