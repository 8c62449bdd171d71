"""Playing one step sequence on the oracle (the running kernel) and on models, side by side.

:class:`SoakRun` plays each action on the oracle once and on every model, observes every
address space of each (:mod:`pytest_anonvma.soak.observe`) and compares each model with the
oracle (:mod:`pytest_anonvma.soak.compare`). A model stops being played at its first
disagreement, kept as a :class:`~pytest_anonvma.generate.lockstep.StepFailure` (the model's
outcomes as history, the oracle's side in the findings), the shape the generated-case shrinker
and case writer take. The oracle's own errors (a sandbox that dies or times out) propagate:
they are not disagreements: they, and a factory that fails, end the soak with a
:class:`SoakError`.

Every step of each implementation, and the closing of its address spaces, runs under
``step_timeout`` (:func:`~pytest_anonvma.timeouts.time_limit`): a model that raises, hangs or
answers with the wrong type has a ``crash`` or ``timeout`` disagreement at that step.

A model of another design may also *part* from the oracle: when an ``mremap`` succeeds on one
and fails on the other while their VMA boundaries inside its range differ, the designs merged
differently and the mremap legitimately went two ways (the same rule as the generated cases'
lockstep). That model is not compared any further in that sequence; it is not a disagreement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.cases.runner import mm_design, mm_era
from pytest_anonvma.cases.space import Space
from pytest_anonvma.cases.steps import (
    Action,
    Fork,
    Madvise,
    Mlock,
    Mmap,
    Mremap,
    Pages,
    RangeAction,
    Touch,
)
from pytest_anonvma.conformity import checked
from pytest_anonvma.contract import MM
from pytest_anonvma.generate.lockstep import StepFailure
from pytest_anonvma.generate.oracles import Finding
from pytest_anonvma.generate.perform import Outcome, perform
from pytest_anonvma.soak.compare import (
    disagreements,
    loose_after_fork,
    loose_after_touch,
    move_loose,
)
from pytest_anonvma.soak.observe import LAYOUT_FLAGS, Observation, observe
from pytest_anonvma.timeouts import ImplementationTimeout, time_limit

__all__ = ["DEFAULT_STEP_TIMEOUT", "FAULTS", "SoakError", "SoakRun", "fault",
           "first_disagreement"]

#: seconds one step (or closing an address space) may take on one implementation
DEFAULT_STEP_TIMEOUT = 10.0


#: what an implementation's call may end with that is its fault, not the soak's: any exception
#: (an interrupt excepted), ``sys.exit()`` included, and the time limit
FAULTS = (Exception, SystemExit, ImplementationTimeout)


class SoakError(Exception):
    """The soak cannot go on: the oracle failed or hung, or a factory failed (one line)."""


def fault(exc: BaseException, seconds: float) -> str:
    """What went wrong, in a few words: ``raised KeyError: 3`` or ``did not finish ...``."""
    if isinstance(exc, ImplementationTimeout):
        return f"did not finish within {seconds:g} s (--step-timeout)"
    return f"raised {type(exc).__name__}: {exc}"


def _broken(what: str, exc: BaseException, seconds: float, oracle: dict[str, Observation],
            expected: Outcome | None = None) -> Finding:
    """The disagreement of a model that raised (``crash``) or hung (``timeout``) in ``what``;
    ``oracle``: the oracle's address spaces then (stated as ``pages`` expectations, so the case
    written checks them); ``expected``: the oracle's outcome of the step."""
    kind = "timeout" if isinstance(exc, ImplementationTimeout) else "crash"
    checks = tuple(Pages(0, seen.states, mm=name) for name, seen in oracle.items())
    return Finding(kind, f"{what} {fault(exc, seconds)}", checks, expected)


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
    return isinstance(action, Mlock)


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
    vmas = checked(mm, "vmas", mm.vmas())
    return [edge for v in vmas for edge in (v.start, v.end) if first < edge < end]


class SoakRun:
    """One sequence on ``oracle`` and each of ``models`` (label -> factory), all fresh.

    ``width`` is how many arena pages are compared; ``oracle_name`` names the oracle in
    messages; ``flags`` are the VMA flags compared with the model of the oracle's design;
    ``step_timeout`` bounds each step on each implementation (seconds). Use as a context
    manager (every address space is closed on exit).
    """

    def __init__(self, oracle: Callable[[], MM], models: Mapping[str, Callable[[], MM]],
                 width: int, oracle_name: str = "live",
                 flags: frozenset[str] = LAYOUT_FLAGS,
                 step_timeout: float = DEFAULT_STEP_TIMEOUT) -> None:
        self.width, self.oracle_name, self.flags = width, oracle_name, flags
        self.step_timeout = step_timeout
        self.oracle = Space(oracle)
        self.sides: dict[str, _Side] = {}
        self.steps = 0
        #: the oracle's address spaces after the last step
        self.seen: dict[str, Observation] = {}
        try:
            with self._oracle_part("starting"):
                root = self.oracle.mms["parent"] = oracle()
            family = (mm_design(root), mm_era(root))
            for label, factory in models.items():
                space = Space(factory)
                with self._failing(f"model {label}", "starting"), self._limit(label, "starting"):
                    model = space.mms["parent"] = factory()
                same = (mm_design(model), mm_era(model)) == family
                self.sides[label] = _Side(space, layout=same)
        except BaseException:
            self.close()
            raise

    def _limit(self, who: str, doing: str) -> AbstractContextManager[None]:
        """The time limit of one step (or ``doing``) on implementation ``who``."""
        return time_limit(self.step_timeout, f"soak: {who} {doing}: took longer than "
                          f"{self.step_timeout:g} s")

    @contextmanager
    def _failing(self, who: str, doing: str) -> Iterator[None]:
        """Turn an exception or a timeout of ``who`` while ``doing`` into a :class:`SoakError`."""
        try:
            yield
        except FAULTS as exc:
            raise SoakError(f"{who} {doing}: {fault(exc, self.step_timeout)}") from exc

    @contextmanager
    def _oracle_part(self, doing: str) -> Iterator[None]:
        """The oracle ``doing`` something, within the time limit; a failure is a SoakError."""
        who = f"the oracle {self.oracle_name}"
        with self._failing(who, doing), self._limit(who, doing):
            yield

    def close(self) -> None:
        """Close every address space of the models, then the oracle's. A model whose close
        fails (raises, hangs) has that as its disagreement at its last step, unless it had
        one; the oracle's failure is a :class:`SoakError`."""
        for label, side in self.sides.items():
            while side.space.mms:  # closing pops each address space first: go on past a failure
                try:
                    with self._limit(label, "closing"):
                        side.space.close()
                except FAULTS as exc:
                    if side.failure is None and side.history:
                        found = _broken("close()", exc, self.step_timeout, self.seen)
                        side.failure = StepFailure(len(side.history) - 1, (found,),
                                                   tuple(side.history))
        with self._oracle_part("closing"):
            while self.oracle.mms:
                self.oracle.close()

    def __enter__(self) -> SoakRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        try:
            self.close()
        except SoakError:
            if kind is None:
                raise  # else the exception on its way out (an interrupt, say) is the news

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
        with self._oracle_part(f"at step {index + 1} '{action.format()}'"):
            # where an mremap's success may depend on the design: VMA boundaries in its range
            oracle_cuts = _cuts(self.oracle, action) if isinstance(action, Mremap) else None
            want = perform(action, self.oracle)
            expected = self.seen = _observe_all(self.oracle, self.width, self.flags)
        new: dict[str, StepFailure] = {}
        for label, side in active.items():
            findings = self._compare(side, action, want, expected, oracle_cuts,
                                     self._limit(label, f"at step {index + 1}"))
            if findings:
                side.failure = new[label] = StepFailure(index, tuple(findings),
                                                        tuple(side.history))
        return new

    def _compare(self, side: _Side, action: Action, want: Outcome,
                 expected: dict[str, Observation], oracle_cuts: list[int] | None,
                 limit: AbstractContextManager[None]) -> list[Finding]:
        try:
            with limit:
                cuts = (_cuts(side.space, action)
                        if isinstance(action, Mremap) and not side.layout else None)
                got = perform(action, side.space)
                observed = _observe_all(side.space, self.width, self.flags)
        except FAULTS as exc:  # the model broke, or hung
            side.history.append((action, Outcome()))
            return [_broken(f"'{action.format()}'", exc, self.step_timeout, expected, want)]
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
                       flags: frozenset[str] = LAYOUT_FLAGS,
                       step_timeout: float = DEFAULT_STEP_TIMEOUT) -> StepFailure | None:
    """Play ``steps`` on ``oracle`` and ``model``; the model's first disagreement (a failed
    close included), or None (also when the model parted from the oracle first)."""
    with SoakRun(oracle, {"model": model}, width, oracle_name, flags, step_timeout) as run:
        for action in steps:
            found = run.step(action)
            if found:
                return found["model"]
            if not run.comparing:
                break
    return run.failures.get("model")
