"""The model's operations as steps between lock points (pytest_anonvma.model.stepping), driven by
hand: the guard install's walk per page table and its retry loop (mm/madvise.c:
madvise_guard_install, MAX_MADVISE_GUARD_RETRIES, restart_syscall), a fault that finds its PTE
changed under the PTL (mm/memory.c: do_anonymous_page, vmf_pte_changed), and ModelMM.stepped."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import pytest_anonvma as av
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.stepping import MMAP_WRITE, LockStep, run_steps

P = av.PAGE_SIZE
GUARD, UNGUARD = av.MADV_GUARD_INSTALL, av.MADV_GUARD_REMOVE


def _mapped(design: str, pages: int) -> tuple[ModelMM, int]:
    mm = ModelMM(design)
    addr = mm.mmap(None, pages * P, av.PROT_READ | av.PROT_WRITE,
                   av.MAP_PRIVATE | av.MAP_ANONYMOUS)
    return mm, addr


def _until(steps: Generator[LockStep, None, Any], text: str) -> list[LockStep]:
    """Advance ``steps`` until its pending step's description contains ``text``."""
    seen = []
    while True:
        record = next(steps)
        seen.append(record)
        if text in record.what:
            return seen


def _finish(steps: Generator[LockStep, None, Any]) -> tuple[list[LockStep], Any]:
    seen = []
    while True:
        try:
            seen.append(next(steps))
        except StopIteration as stop:
            return seen, stop.value


@pytest.mark.parametrize("design", ["baseline", "rfc-v1", "reference", "maybe-guard"])
def test_install_steps_hook_walk_hook(design: str) -> None:
    """An install is: mmap_read_lock, the design's hook before the walk, one walk step per page
    table (PTL), the hook after it; a range across a table boundary is walked in two steps."""
    mm, addr = _mapped(design, 1024)
    first = addr + 510 * P - (addr % (512 * P))
    records, result = _finish(mm.stepped("madvise", first, 4 * P, GUARD))
    assert result is None
    whats = [r.what.split(" (")[0] for r in records]
    assert whats == ["madvise: mmap_read_lock, find_vma",
                     "madvise_guard_install: before the walk",
                     "madvise_guard_install: walk, attempt 1",
                     "madvise_guard_install: walk, attempt 1",
                     "madvise_guard_install: after the walk"]
    assert [r.lock for r in records[2:4]] == ["PTL", "PTL"]
    assert records[2].tables != records[3].tables
    assert all(mm.page(first + i * P) == av.PageState.GUARD for i in range(4))


def test_a_racing_fault_makes_the_install_zap_and_retry() -> None:
    """A page faulted in before the walk stops it; the range is zapped and walked again
    (madvise_guard_install's retry loop); the page ends guarded."""
    mm, addr = _mapped("rfc-v1", 2)
    install = mm.stepped("madvise", addr, P, GUARD)
    _until(install, "walk, attempt 1")
    mm.write(addr, 7)  # the fault wins the PTL first
    records, _ = _finish(install)
    whats = [r.what for r in records]
    assert any("zap_page_range_single" in w for w in whats)
    assert any("attempt 2" in w for w in whats)
    assert mm.page(addr) == av.PageState.GUARD


def test_three_raced_attempts_restart_the_syscall() -> None:
    """After MAX_MADVISE_GUARD_RETRIES raced walks the syscall restarts (restart_syscall):
    mmap_read_lock is taken again and the install completes."""
    mm, addr = _mapped("maybe-guard", 1)
    install = mm.stepped("madvise", addr, P, GUARD)
    for attempt in (1, 2, 3):
        _until(install, f"walk, attempt {attempt}")
        mm.write(addr, attempt)
    records, result = _finish(install)
    assert result is None
    assert [r.what for r in records].count("madvise: mmap_read_lock, find_vma") == 1
    assert mm.page(addr) == av.PageState.GUARD


def test_a_fault_whose_pte_changed_faults_again_on_the_marker() -> None:
    """A write fault that read an empty PTE, then finds a marker under the PTL, backs off
    (vmf_pte_changed) and the access faults again: SIGSEGV on the marker."""
    mm, addr = _mapped("reference", 1)
    fault = mm.stepped("write", addr, 1)
    _until(fault, "set the PTE")
    mm.madvise(addr, P, GUARD)
    with pytest.raises(av.SegmentationFault):
        _finish(fault)


def test_single_threaded_calls_are_the_steps_run_to_the_end() -> None:
    """run_steps of a stepped call is the call: same result, same state."""
    a, addr_a = _mapped("rfc-v1", 4)
    b, addr_b = _mapped("rfc-v1", 4)
    a.madvise(addr_a, 4 * P, GUARD)
    run_steps(b.stepped("madvise", addr_b, 4 * P, GUARD))
    assert a.vmas()[0].anon_vma_flags == b.vmas()[0].anon_vma_flags == 1
    assert [a.page(addr_a + i * P) for i in range(4)] == [b.page(addr_b + i * P)
                                                          for i in range(4)]


def test_other_calls_are_one_exclusive_step() -> None:
    """fork, mprotect, munmap... take mmap_lock for writing: one step, nothing inside it."""
    mm, _ = _mapped("maybe-guard", 2)
    records, child = _finish(mm.stepped("fork"))
    assert [r.mmap for r in records] == [MMAP_WRITE]
    assert isinstance(child, ModelMM)
    child.close()


def test_stepped_refuses_what_is_not_a_call() -> None:
    """Only the contract's system calls and touches can be stepped."""
    mm, _ = _mapped("reference", 1)
    with pytest.raises(ValueError, match="'vmas' is not a method"):
        next(mm.stepped("vmas"))
