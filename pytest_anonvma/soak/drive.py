"""Playing one step sequence on the oracle (the running kernel) and on models, side by side.

:class:`SoakRun` plays each action on the oracle once and on every model, observes every
address space of each (:mod:`pytest_anonvma.soak.observe`) and compares each model with the
oracle (:mod:`pytest_anonvma.soak.compare`). A model stops being played at its first
disagreement, which is kept as a :class:`~pytest_anonvma.generate.lockstep.StepFailure` (the
model's outcomes as history, the oracle's side in the findings), the shape the generated-case
shrinker and case writer take. The oracle's own errors (a sandbox that dies or times out)
propagate: they are not disagreements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_anonvma.cases.runner import mm_design, mm_era
from pytest_anonvma.cases.steps import Action, Fork
from pytest_anonvma.contract import MM
from pytest_anonvma.generate.lockstep import StepFailure
from pytest_anonvma.generate.oracles import Finding
from pytest_anonvma.generate.perform import Outcome, Space, perform
from pytest_anonvma.soak.compare import disagreements, loose_after_fork
from pytest_anonvma.soak.observe import LAYOUT_FLAGS, Observation, observe

__all__ = ["SoakRun", "first_disagreement"]


@dataclass
class _Side:
    """One model's run of the sequence."""

    space: Space
    #: the model is of the oracle's design and era: compare VMA layout, no loose pages
    layout: bool
    history: list[tuple[Action, Outcome]] = field(default_factory=list)
    loose: dict[str, set[int]] = field(default_factory=dict)
    failure: StepFailure | None = None


def _observe_all(space: Space, width: int, flags: frozenset[str]) -> dict[str, Observation]:
    return {name: observe(mm, width, flags) for name, mm in space.mms.items()}


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
        try:
            root = self.oracle.mms["parent"] = oracle()
            family = (mm_design(root), mm_era(root))
            for label, factory in models.items():
                space = Space(factory)
                model = space.mms["parent"] = factory()
                same = (mm_design(model), mm_era(model)) == family
                self.sides[label] = _Side(space, layout=same)
        except BaseException:
            self.close()
            raise
        self.steps = 0

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
    def agreeing(self) -> bool:
        """Does some model still agree with the oracle (is the sequence worth going on)?"""
        return any(side.failure is None for side in self.sides.values())

    def step(self, action: Action) -> dict[str, StepFailure]:
        """Play ``action`` everywhere; the models that disagreed at it (their first time)."""
        index = self.steps
        self.steps += 1
        want = perform(action, self.oracle)
        expected = _observe_all(self.oracle, self.width, self.flags)
        new: dict[str, StepFailure] = {}
        for label, side in self.sides.items():
            if side.failure is None:
                findings = self._compare(side, action, want, expected)
                if findings:
                    side.failure = new[label] = StepFailure(index, tuple(findings),
                                                            tuple(side.history))
        return new

    def _compare(self, side: _Side, action: Action, want: Outcome,
                 expected: dict[str, Observation]) -> list[Finding]:
        try:
            got = perform(action, side.space)
            observed = _observe_all(side.space, self.width, self.flags)
        except Exception as exc:  # not an errno, not a fault: the model broke
            side.history.append((action, Outcome()))
            return [Finding("crash", f"'{action.format()}' raised {type(exc).__name__}: {exc}")]
        side.history.append((action, got))
        if (isinstance(action, Fork) and not side.layout and action.child in observed
                and action.child in expected):
            parent, child = action.mm, action.child
            side.loose[child] = loose_after_fork(
                (observed[parent].states, expected[parent].states),
                (observed[child].states, expected[child].states),
                side.loose.get(parent, ()))
        return disagreements(action, got, want, observed, expected, side.loose, side.layout,
                             self.oracle_name)


def first_disagreement(steps: Sequence[Action], oracle: Callable[[], MM],
                       model: Callable[[], MM], width: int, oracle_name: str = "live",
                       flags: frozenset[str] = LAYOUT_FLAGS) -> StepFailure | None:
    """Play ``steps`` on ``oracle`` and ``model``; the model's first disagreement, or None."""
    with SoakRun(oracle, {"model": model}, width, oracle_name, flags) as run:
        for action in steps:
            found = run.step(action)
            if found:
                return found["model"]
    return None
