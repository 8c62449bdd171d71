"""The bundled interleave cases on the bundled designs, and the failure report.

Expected outcomes come from the kernel sources, not the model: rfc-v1's MADV_GUARD_REMOVE clears
ANON_VMA_UNFAULTED after its walk with only mm->page_table_lock held, and its install sets the
flag only after its walk (RFC patch 2/2; docs/spec.md §4.4, §4.5), so a remove can clear the flag
of markers an install wrote after the remove's walk, and khugepaged's retract_page_tables (which
takes no mmap lock: mm/khugepaged.c) can free a table holding fresh markers. Upstream's
VM_MAYBE_GUARD (maybe-guard) is set before the walk and never cleared; baseline's anon_vma is
prepared before the walk and never dropped.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.steps import Action, parse_step
from pytest_anonvma.designs.reference import Reference
from pytest_anonvma.designs.rfc_v1 import RfcV1
from pytest_anonvma.interleave.cases import (
    ThreadOp,
    load_interleave_file,
    parse_interleave_cases,
    threads_of,
)
from pytest_anonvma.interleave.runner import (
    LOST_BY_FORK,
    LOST_MARKER,
    InterleaveFailure,
    explore_case,
    run_interleave_case,
)
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.registry import resolve

RACES = Path(__file__).parents[2] / "conformance" / "interleave" / "races.toml"


@functools.cache
def _cases() -> dict[str, Case]:
    cases, problems = load_interleave_file(RACES)
    assert problems == []
    return {case.id: case for case in cases}


def _failure(case: Case, design: str) -> InterleaveFailure:
    with pytest.raises(InterleaveFailure) as info:
        run_interleave_case(case, resolve(design), design)
    return info.value


@pytest.mark.parametrize("design", ["baseline", "reference", "maybe-guard"])
@pytest.mark.parametrize("case_id", ["remove-install-race", "install-retract-race",
                                     "install-fault-retry", "remove-fault-race", "two-installs"])
def test_fixed_designs_pass_every_interleaving(design: str, case_id: str) -> None:
    """baseline, reference and maybe-guard keep every marker in every interleaving."""
    result = run_interleave_case(_cases()[case_id], resolve(design), design)
    assert result.interleavings >= 1 and not result.failures


def test_rfc_v1_remove_install_race_loses_markers_at_fork() -> None:
    """The remove's walk, then the whole install, then the remove's clear: the marker stays
    without the flag, and fork does not copy the table (docs/spec.md §4.4)."""
    failure = _failure(_cases()["remove-install-race"], "rfc-v1")
    assert failure.finding_kinds == (LOST_BY_FORK,)
    whats = [(choice.thread, choice.record.what) for choice in failure.schedule]
    remove_walk = whats.index((0, "madvise_guard_remove: walk"))
    install_end = next(i for i, (t, w) in enumerate(whats)
                       if t == 1 and "install: after the walk" in w)
    remove_end = next(i for i, (t, w) in enumerate(whats)
                      if t == 0 and "remove: after the walk" in w)
    assert remove_walk < install_end < remove_end
    text = str(failure)
    assert "finding fork-lost-guard-marker" in text
    assert "  >" not in text.split("schedule")[1].split("state")[0]  # it went wrong at the fork
    assert "   1  A  unguard 0 4" in text and "[holds mmap_lock (read) + PTL]" in text
    assert "    parent:" in text and "    child:" in text and "pages  .G.." in text


def test_rfc_v1_retraction_frees_fresh_markers() -> None:
    """Between the install's walk and its flag, retract_page_tables sees no flag and frees the
    table holding the marker (docs/spec.md §4.5): the marker vanishes in the parent itself."""
    failure = _failure(_cases()["install-retract-race"], "rfc-v1")
    assert failure.finding_kinds == (LOST_MARKER,)
    last = failure.schedule[-1]
    assert "retract_page_tables" in last.record.what
    walk = next(i for i, c in enumerate(failure.schedule) if "install: walk" in c.record.what)
    assert walk < len(failure.schedule) - 1
    assert not any("install: after the walk" in c.record.what for c in failure.schedule)
    assert "the guard markers of pages 1 are gone" in str(failure)


class _MergeFixOnly(Reference):
    """reference as it was before the interleave tier: rfc-v1's install and remove hooks."""

    guard_install_begin = RfcV1.guard_install_begin
    guard_install_end = RfcV1.guard_install_end
    guard_remove_begin = RfcV1.guard_remove_begin
    guard_remove_end = RfcV1.guard_remove_end


def _merge_fix_only() -> ModelMM:
    mm = ModelMM("reference")
    mm.mm.design = _MergeFixOnly()
    return mm


@pytest.mark.parametrize(("case_id", "kind"), [("remove-install-race", LOST_BY_FORK),
                                               ("install-retract-race", LOST_MARKER)])
def test_reference_with_only_the_merge_fix_races(case_id: str, kind: str) -> None:
    """Carrying the flag across merges does not close the races: reference with rfc-v1's
    install and remove hooks fails both, which is why its hooks changed (docs/designs.md)."""
    found = explore_case(_cases()[case_id], _merge_fix_only, "reference").failures
    assert found and getattr(found[0][1], "finding_kinds", ()) == (kind,)


def test_failures_are_shrunk_to_the_actions_that_matter() -> None:
    """An action irrelevant to the race (a MADV_DONTNEED zap, which keeps markers: spec §2.3)
    is dropped from the reported interleaving."""
    case = _cases()["remove-install-race"]
    block = threads_of(case)
    zap = parse_step("madvise 0 4 dontneed", 99)  # markers survive MADV_DONTNEED
    assert isinstance(zap, Action)
    extra = ThreadOp(zap)
    threads = (block.threads[0], dataclasses.replace(block.threads[1],
                                                     ops=(extra, *block.threads[1].ops)))
    bigger = dataclasses.replace(case, steps=tuple(
        dataclasses.replace(block, threads=threads) if step is block else step
        for step in case.steps))
    failure = _failure(bigger, "rfc-v1")
    assert failure.finding_kinds == (LOST_BY_FORK,)
    assert {choice.op for choice in failure.schedule} == {"unguard 0 4", "guard 1 1"}


def test_reduction_explores_fewer_interleavings_than_the_naive_enumeration() -> None:
    """The sleep sets run fewer interleavings and still find the race."""
    case = _cases()["remove-install-race"]
    reduced = explore_case(case, resolve("rfc-v1"), "rfc-v1", max_failures=100)
    naive = explore_case(case, resolve("rfc-v1"), "rfc-v1", reduce=False,
                         max_failures=100)
    assert reduced.failures and naive.failures
    assert reduced.interleavings < naive.interleavings


FORK_IN_A_THREAD = """[[case]]
id = "fork-in-a-thread"
about = "a fork racing guard install and remove"
source = "kernel/fork.c: dup_mmap (mmap_write_lock); mm/madvise.c (mmap_read_lock)"
tier = "interleave"
needs = ["pages", "fork", "interleave"]
steps = '''
mmap 0 4 rw anon
thread A:
    fork as kid
thread B:
    guard 1 1
    unguard 0 4
in every interleaving:
in kid: read 0 == 0
pages 1 = .
'''
"""


@pytest.mark.parametrize("design", ["rfc-v1", "maybe-guard"])
def test_a_fork_runs_only_between_operations_holding_the_mmap_read_lock(design: str) -> None:
    """fork takes mmap_lock for writing, madvise for reading: the fork runs before the install,
    between the two calls or after the remove, never inside one: three interleavings, and the
    child it makes is named and checked in each."""
    cases, problems = parse_interleave_cases(FORK_IN_A_THREAD, "fork.toml")
    assert problems == []
    result = run_interleave_case(cases[0], resolve(design), design)
    assert (result.interleavings, result.blocked, result.failures) == (3, 0, [])
