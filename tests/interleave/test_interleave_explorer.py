"""The interleaving explorer on toy programs: the naive enumeration runs every interleaving, the
sleep-set reduction reaches every final state the naive one does with fewer runs, and the
exclusive mmap_lock keeps a write-locked step out of another thread's shared-locked operation.

The toys are threads of generators over a shared dict; each step yields its LockStep first (the
protocol of pytest_anonvma.model.stepping), so what conflicts is stated by the toy itself.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from math import comb
from typing import Any

import pytest

from pytest_anonvma.interleave.explorer import Op, Scheduler, explore, independent
from pytest_anonvma.model.stepping import MMAP_READ, MMAP_WRITE, LockStep

Steps = Generator[LockStep, None, Any]


class _Recorder:
    """A monitor that checks nothing; the toys keep their own state."""

    def after_step(self, thread: int, op: Op, record: LockStep) -> None:
        """Nothing."""

    def op_done(self, thread: int, op: Op, result: Any, error: BaseException | None) -> None:
        """Nothing."""


def _assign(state: dict[str, int], key: str, value: Callable[[dict[str, int]], int],
            table: int) -> Callable[[], Steps]:
    """An operation of one step: ``state[key] = value(state)``, touching page table ``table``."""
    def start() -> Steps:
        yield LockStep(f"{key} =", "PTL", MMAP_READ, tables=(table,))
        state[key] = value(state)

    return start


def _run_all(program: Callable[[dict[str, int]], list[list[Op]]], reduce: bool
             ) -> tuple[int, set[tuple[tuple[str, int], ...]]]:
    """Explore ``program``; the interleavings run and the set of final states."""
    finals: set[tuple[tuple[str, int], ...]] = set()

    def execute(scheduler: Scheduler) -> None:
        state: dict[str, int] = {"x": 0, "y": 0}
        scheduler.run(program(state), _Recorder())
        finals.add(tuple(sorted(state.items())))

    result = explore(execute, reduce=reduce)
    assert not result.failures
    return result.interleavings, finals


def _racy(state: dict[str, int]) -> list[list[Op]]:
    """Thread 0 writes x then y; thread 1 reads x into r and writes z (x and y in table 0 and
    1, z in table 2): only thread 0's write of x conflicts with thread 1's read of it."""
    return [
        [Op("x=1", _assign(state, "x", lambda s: 1, 0)),
         Op("y=x+1", _assign(state, "y", lambda s: s["x"] + 1, 1))],
        [Op("r=x", _assign(state, "r", lambda s: s["x"], 0)),
         Op("z=2", _assign(state, "z", lambda s: 2, 2))],
    ]


def test_naive_enumeration_runs_every_interleaving() -> None:
    """Without reduction, 2 + 2 one-step operations interleave in C(4, 2) = 6 ways."""
    runs, _ = _run_all(_racy, reduce=False)
    assert runs == comb(4, 2)


def test_reduction_reaches_every_final_state_of_the_naive_enumeration() -> None:
    """Soundness on the toy: the sleep sets skip only reorderings of commuting steps, so the
    final states are the naive enumeration's (r is 0 or 1), in fewer runs."""
    naive_runs, naive_finals = _run_all(_racy, reduce=False)
    runs, finals = _run_all(_racy, reduce=True)
    assert finals == naive_finals
    assert {dict(f)["r"] for f in finals} == {0, 1}
    assert runs < naive_runs


def test_commuting_threads_run_once() -> None:
    """Threads touching disjoint page tables are one equivalence class: one run."""
    def program(state: dict[str, int]) -> list[list[Op]]:
        return [[Op("a", _assign(state, "a", lambda s: 1, 0)),
                 Op("b", _assign(state, "b", lambda s: 1, 0))],
                [Op("c", _assign(state, "c", lambda s: 1, 1))]]

    assert _run_all(program, reduce=True)[0] == 1
    assert _run_all(program, reduce=False)[0] == comb(3, 1)


def test_write_locked_step_never_runs_inside_a_read_locked_operation() -> None:
    """An operation under the exclusive mmap_lock (fork, mprotect...) waits for the other
    thread's shared-locked operation to finish: it runs before its first step or after its
    last, never between (mmap_write_lock excludes mmap_read_lock holders)."""
    schedules: list[list[str]] = []

    def two_steps() -> Steps:
        yield LockStep("first", "mmap_lock (read)", MMAP_READ, tables=(0,))
        yield LockStep("second", "PTL", MMAP_READ, tables=(0,))

    def exclusive() -> Steps:
        yield LockStep("fork", "mmap_lock (write)", MMAP_WRITE)

    def execute(scheduler: Scheduler) -> None:
        scheduler.run([[Op("read op", two_steps)], [Op("write op", exclusive)]], _Recorder())
        schedules.append([choice.record.what for choice in scheduler.trace])

    explore(execute, reduce=False)
    assert sorted(schedules) == [["first", "second", "fork"], ["fork", "first", "second"]]


def test_failures_keep_their_schedule() -> None:
    """An exception out of an interleaving is a failure carrying the steps taken so far."""
    def execute(scheduler: Scheduler) -> None:
        state: dict[str, int] = {"x": 0, "y": 0}
        scheduler.run(_racy(state), _Recorder())
        assert state.get("r") == 0, "thread 1 read x after thread 0 wrote it"

    result = explore(execute, max_failures=10)
    assert result.failures
    for schedule, error in result.failures:
        labels = [choice.op for choice in schedule]
        assert labels.index("x=1") < labels.index("r=x")
        assert isinstance(error, AssertionError)


@pytest.mark.parametrize(("a", "b", "commute"), [
    (LockStep("w", "PTL", tables=(0,)), LockStep("w", "PTL", tables=(1,)), True),
    (LockStep("w", "PTL", tables=(0,)), LockStep("w", "PTL", tables=(0,)), False),
    (LockStep("f", "ptl", words=True), LockStep("f", "ptl", words=True), False),
    (LockStep("f", "ptl", words=True), LockStep("w", "PTL", tables=(0,)), True),
    (LockStep("x", "mmap", MMAP_WRITE), LockStep("y", "none"), False),
])
def test_independence_is_disjoint_resources(a: LockStep, b: LockStep, commute: bool) -> None:
    """Two steps commute exactly when they touch no page table, VMA word or page cache in
    common; a step under the exclusive mmap_lock commutes with nothing."""
    assert independent(a, b) is commute
