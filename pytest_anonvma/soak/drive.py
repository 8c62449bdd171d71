"""Playing one step sequence on the oracle (the running kernel) and on models, side by side.

:class:`SoakRun` plays each action on the oracle once and on every model, observes every
address space of each (:mod:`pytest_anonvma.soak.observe`) and compares each model with the
oracle (:mod:`pytest_anonvma.soak.compare`). A model stops being played at its first
disagreement, kept as a :class:`~pytest_anonvma.generate.lockstep.StepFailure` (the model's
outcomes as history, the oracle's side in the findings), the shape the generated-case shrinker
and case writer take. The oracle's own errors (a sandbox that dies or times out) propagate:
they are not disagreements.

A model of another design may also *part* from the oracle: when an ``mremap`` succeeds on one
and fails on the other while their VMA boundaries inside its range differ, the designs merged
differently and the mremap legitimately went two ways (the same rule as the generated cases'
lockstep). That model is not compared any further in that sequence; it is not a disagreement.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.cases.runner import mm_design, mm_era
from pytest_anonvma.cases.steps import (
    Action,
    Fork,
    Madvise,
    Mlock,
    Mmap,
    Mremap,
    Munlock,
    RangeAction,
    Touch,
)
from pytest_anonvma.contract import MM
from pytest_anonvma.generate.lockstep import StepFailure
from pytest_anonvma.generate.oracles import Finding
from pytest_anonvma.generate.perform import Outcome, Space, perform
from pytest_anonvma.soak.compare import (
    disagreements,
    loose_after_fork,
    loose_after_touch,
    move_loose,
)
from pytest_anonvma.soak.observe import LAYOUT_FLAGS, Observation, observe

__all__ = ["SoakRun", "first_disagreement", "pin"]


def pin(mm: MM) -> None:
    """Keep a sandboxed address space (one with a ``pid``) and its future forks on one CPU.

    Freshly faulted and MADV_FREE'd pages sit in per-CPU batches before they reach the LRU
    lists, and MADV_PAGEOUT drains only its own CPU's: a sandbox that migrates between CPUs
    sometimes keeps a lazily freed page that pageout would otherwise discard (2 of 300 runs on
    the test VM). On one CPU the outcome is always the same.
    """
    pid = getattr(mm, "pid", None)
    if isinstance(pid, int):
        os.sched_setaffinity(pid, {min(os.sched_getaffinity(0))})


@dataclass
class _Side:
    """One model's run of the sequence."""

    space: Space
    #: the model is of the oracle's design and era: compare VMA layout, no loose pages
    layout: bool
    history: list[tuple[Action, Outcome]] = field(default_factory=list)
    loose: dict[str, set[int]] = field(default_factory=dict)
    failure: StepFailure | None = None
    #: why the model parted from the oracle (no more comparisons), if it did
    parted: str | None = None

    @property
    def active(self) -> bool:
        """Is the model still compared?"""
        return self.failure is None and self.parted is None


def _populates(action: RangeAction) -> bool:
    """Does this call fault its range in (a populate advice, MAP_POPULATE, mlock)?"""
    if isinstance(action, Madvise):
        return action.advice.startswith("populate")
    if isinstance(action, Mmap):
        return action.populate
    return isinstance(action, Mlock) and not isinstance(action, Munlock)


def _touched(action: Action) -> range | None:
    """The pages ``action`` may fault in: a touch, a populating call, or the target of an
    mremap (a VM_LOCKED mapping that grows is populated); None for the others."""
    if isinstance(action, Touch):
        return range(action.first, action.last + 1)
    if isinstance(action, Mremap):
        first = action.first if action.fixed is None else action.fixed
        return range(first, first + action.new_count)
    if isinstance(action, RangeAction) and _populates(action):
        return range(action.first, action.first + action.count)
    return None


def _observe_all(space: Space, width: int, flags: frozenset[str]) -> dict[str, Observation]:
    return {name: observe(mm, width, flags) for name, mm in space.mms.items()}


def _cuts(space: Space, step: Mremap) -> list[int]:
    """VMA boundaries strictly inside the old range of ``step`` (before it runs)."""
    mm = space.mms.get(step.mm)
    if mm is None or "layout" not in getattr(mm, "capabilities", ()):
        return []
    first, end = page_addr(step.first), page_addr(step.first + step.count)
    return [edge for v in mm.vmas() for edge in (v.start, v.end) if first < edge < end]


class SoakRun:
    """One sequence on ``oracle`` and each of ``models`` (label -> factory), all fresh.

    ``width`` is how many arena pages are compared; ``oracle_name`` names the oracle in
    messages; ``flags`` are the VMA flags compared with the model of the oracle's design.
    Use as a context manager (every address space is closed on exit).
    """

    def __init__(self, oracle: Callable[[], MM], models: Mapping[str, Callable[[], MM]],
                 width: int, oracle_name: str = "live",
                 flags: frozenset[str] = LAYOUT_FLAGS) -> None:
        self.width, self.oracle_name, self.flags = width, oracle_name, flags
        self.oracle = Space(oracle)
        self.sides: dict[str, _Side] = {}
        self.steps = 0
        try:
            root = self.oracle.mms["parent"] = oracle()
            pin(root)
            family = (mm_design(root), mm_era(root))
            for label, factory in models.items():
                space = Space(factory)
                model = space.mms["parent"] = factory()
                same = (mm_design(model), mm_era(model)) == family
                self.sides[label] = _Side(space, layout=same)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close every address space of the oracle and the models."""
        try:
            self.oracle.close()
        finally:
            for side in self.sides.values():
                side.space.close()

    def __enter__(self) -> SoakRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def failures(self) -> dict[str, StepFailure]:
        """Each model's first disagreement so far, by label."""
        return {label: s.failure for label, s in self.sides.items() if s.failure is not None}

    @property
    def parted(self) -> dict[str, str]:
        """Why each model that parted from the oracle did, by label."""
        return {label: s.parted for label, s in self.sides.items() if s.parted is not None}

    @property
    def comparing(self) -> bool:
        """Is some model still compared with the oracle (is the sequence worth going on)?"""
        return any(side.active for side in self.sides.values())

    def step(self, action: Action) -> dict[str, StepFailure]:
        """Play ``action`` everywhere; the models that disagreed at it (their first time)."""
        index = self.steps
        self.steps += 1
        active = {label: side for label, side in self.sides.items() if side.active}
        # where an mremap's success may depend on the design: VMA boundaries inside its range
        oracle_cuts: list[int] | None = None
        cuts: dict[str, list[int]] = {}
        if isinstance(action, Mremap):
            oracle_cuts = _cuts(self.oracle, action)
            cuts = {label: _cuts(side.space, action) for label, side in active.items()
                    if not side.layout}
        want = perform(action, self.oracle)
        expected = _observe_all(self.oracle, self.width, self.flags)
        new: dict[str, StepFailure] = {}
        for label, side in active.items():
            findings = self._compare(side, action, want, expected, cuts.get(label),
                                     oracle_cuts)
            if findings:
                side.failure = new[label] = StepFailure(index, tuple(findings),
                                                        tuple(side.history))
        return new

    def _compare(self, side: _Side, action: Action, want: Outcome,
                 expected: dict[str, Observation], cuts: list[int] | None,
                 oracle_cuts: list[int] | None) -> list[Finding]:
        try:
            got = perform(action, side.space)
            observed = _observe_all(side.space, self.width, self.flags)
        except Exception as exc:  # not an errno, not a fault: the model broke
            side.history.append((action, Outcome()))
            return [Finding("crash", f"'{action.format()}' raised {type(exc).__name__}: {exc}")]
        side.history.append((action, got))
        if got != want and cuts is not None and cuts != oracle_cuts:
            side.parted = (f"'{action.format()}' gave {got.describe()} here and "
                           f"{want.describe()} on {self.oracle_name}, whose VMA boundaries "
                           "differ over its range")
            return []
        if not side.layout:
            self._track_loose(side, action, got, want, observed, expected)
        return disagreements(action, got, want, observed, expected, side.loose, side.layout,
                             self.oracle_name)

    @staticmethod
    def _track_loose(side: _Side, action: Action, got: Outcome, want: Outcome,
                     observed: dict[str, Observation],
                     expected: dict[str, Observation]) -> None:
        """New loose pages of a fork child, loose pages carried along by an mremap, and those
        a touch may have faulted around on one side only."""
        if isinstance(action, Fork) and action.child in observed and action.child in expected:
            parent, child = action.mm, action.child
            side.loose[child] = loose_after_fork(
                (observed[parent].states, expected[parent].states),
                (observed[child].states, expected[child].states),
                side.loose.get(parent, ()))
        if isinstance(action, Mremap) and got.ok and want.ok and action.mm in side.loose:
            side.loose[action.mm] = move_loose(side.loose[action.mm], action)
        touched = _touched(action)
        if touched is not None and action.mm in observed and action.mm in expected:
            side.loose[action.mm] = loose_after_touch(
                touched, observed[action.mm], expected[action.mm],
                side.loose.get(action.mm, set()))


def first_disagreement(steps: Sequence[Action], oracle: Callable[[], MM],
                       model: Callable[[], MM], width: int, oracle_name: str = "live",
                       flags: frozenset[str] = LAYOUT_FLAGS) -> StepFailure | None:
    """Play ``steps`` on ``oracle`` and ``model``; the model's first disagreement, or None
    (also when the model parted from the oracle first)."""
    with SoakRun(oracle, {"model": model}, width, oracle_name, flags) as run:
        for action in steps:
            found = run.step(action)
            if found:
                return found["model"]
            if not run.comparing:
                break
    return None
