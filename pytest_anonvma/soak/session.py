"""The soak: seeded generated sequences on the oracle and the models, every disagreement shrunk.

:func:`soak` plays sequences ``start .. start+count-1`` of ``seed`` from the generated-case
generator (:func:`~pytest_anonvma.generate.generator.generate_case`, so sequence ``n`` of seed
``s`` is generated case ``gen-s-n``), each on a fresh oracle address space and a fresh one per
model (:class:`~pytest_anonvma.soak.drive.SoakRun`). A sequence some model disagrees on is
shrunk with the generated cases' shrinker against the first model that disagreed, and written
as two cases (:class:`Disagreement`): the oracle's view (a ready-to-paste conformance case that
passes on the oracle and fails on the model) and the model's view (what the C reproducer
checks: it fails on a kernel that disagrees with the model). A model that hung is not shrunk
(each replay would wait out the step timeout): its sequence is reported up to the hanging step.

:class:`SoakProgress` is kept up to date as the soak goes, so a run cut short (an interrupt,
an oracle that failed) can still say how far it got.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.runner import mm_design, mm_era
from pytest_anonvma.cases.steps import Action
from pytest_anonvma.contract import MM
from pytest_anonvma.generate.generator import KINDS, WINDOW, generate_case
from pytest_anonvma.generate.lockstep import StepFailure
from pytest_anonvma.generate.reproduce import failure_case
from pytest_anonvma.generate.shrink import shrink
from pytest_anonvma.soak.drive import DEFAULT_STEP_TIMEOUT, SoakError, SoakRun, first_disagreement
from pytest_anonvma.soak.observe import LAYOUT_FLAGS

__all__ = ["Disagreement", "Soak", "SoakProgress", "SoakResult", "family_of", "soak_case_id"]


def soak_case_id(seed: int, n: int) -> str:
    """The id of the case a disagreement on sequence ``n`` of ``seed`` is written as."""
    return f"soak-{seed}-{n}"


@dataclass(frozen=True)
class Disagreement:
    """Sequence ``n`` of ``seed`` on which model ``model`` (and maybe others) disagreed."""

    seed: int
    n: int
    #: the generated sequence as played
    sequence: Case
    #: label of the model the sequence was shrunk against (the first to disagree)
    model: str
    #: its disagreement on the shrunk sequence (the model's outcomes, the oracle's findings)
    failure: StepFailure
    #: the shrunk sequence stating the oracle's side: passes on the oracle, fails on the model
    case: Case
    #: the same steps stating the model's side (None if the model agreed when replayed so)
    model_case: Case | None
    #: every model's first disagreement on the original sequence, by label
    originals: Mapping[str, StepFailure] = field(default_factory=dict)
    #: False if a replay of the sequence on the oracle and that model alone agreed (the
    #: disagreement is then reported unshrunk: a nondeterministic oracle or model)
    reproduced: bool = True
    #: True if the model hung (a ``timeout`` finding): reported unshrunk, up to that step
    hung: bool = False


@dataclass(frozen=True)
class SoakResult:
    """What a soak did."""

    sequences: int
    steps: int
    disagreements: tuple[Disagreement, ...]
    seconds: float
    #: (sequence, model) pairs where the model parted from the oracle on a design difference
    parted: int = 0

    def summary(self) -> str:
        """``N sequences, M steps, K disagreements in T s (X seq/s)``."""
        rate = self.sequences / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.sequences} sequences, {self.steps} steps, {len(self.disagreements)} "
                f"disagreements in {self.seconds:.1f} s ({rate:.1f} seq/s)")


@dataclass
class SoakProgress:
    """How far a soak of sequences ``start .. start+count-1`` of ``seed`` got; kept up to date
    while it runs (:meth:`Soak.run`), so a run cut short can say so."""

    seed: int
    start: int
    count: int
    #: sequences played to the end (and explained, if they disagreed)
    sequences: int = 0
    steps: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)
    parted: int = 0
    began: float = field(default_factory=time.perf_counter)

    @property
    def current(self) -> int:
        """The index of the sequence being played (the first one not finished)."""
        return self.start + self.sequences

    @property
    def finished(self) -> bool:
        """Were all the sequences played?"""
        return self.sequences == self.count

    def result(self) -> SoakResult:
        """What was done so far."""
        return SoakResult(self.sequences, self.steps, tuple(self.disagreements),
                          time.perf_counter() - self.began, self.parted)


class Soak:
    """The oracle and the models a soak compares, and how.

    ``oracle`` and each model (label -> factory) give fresh address spaces; ``oracle_name``
    names the oracle in messages; ``width`` arena pages are compared; ``flags`` are the VMA
    flags compared with the model of the oracle's design; ``length`` and ``kinds`` are passed
    to the generator (:func:`~pytest_anonvma.generate.generator.generate_case`);
    ``step_timeout`` bounds each step on each implementation (seconds).
    """

    def __init__(self, oracle: Callable[[], MM], models: Mapping[str, Callable[[], MM]],
                 oracle_name: str = "live", width: int = WINDOW,
                 flags: frozenset[str] = LAYOUT_FLAGS, length: int | None = None,
                 kinds: Sequence[str] = KINDS,
                 step_timeout: float = DEFAULT_STEP_TIMEOUT) -> None:
        if not models:
            raise ValueError("soak: no models to compare")
        self.oracle, self.models, self.oracle_name = oracle, dict(models), oracle_name
        self.width, self.flags, self.length, self.kinds = width, flags, length, tuple(kinds)
        self.step_timeout = step_timeout
        #: the oracle's design family (layout-tier cases are written for it)
        self.oracle_design = family_of(oracle)[0]

    def sequence(self, seed: int, n: int) -> Case:
        """Generated sequence ``n`` of ``seed``."""
        return generate_case(seed, n, self.length, self.kinds)

    def play(self, actions: Sequence[Action]) -> SoakRun:
        """Play ``actions`` on the oracle and every model (stopping early once no model is
        compared any more); the finished run (closed), for its failures and partings."""
        with SoakRun(self.oracle, self.models, self.width, self.oracle_name, self.flags,
                     self.step_timeout) as run:
            for action in actions:
                run.step(action)
                if not run.comparing:
                    break
        return run

    def _check(self, oracle: Callable[[], MM], model: Callable[[], MM],
               oracle_name: str) -> Callable[[Sequence[Action]], StepFailure | None]:
        def check(actions: Sequence[Action]) -> StepFailure | None:
            return first_disagreement(actions, oracle, model, self.width, oracle_name,
                                      self.flags, self.step_timeout)
        return check

    def explain(self, seed: int, n: int, sequence: Case,
                originals: Mapping[str, StepFailure]) -> Disagreement:
        """Shrink a disagreeing sequence against its first disagreeing model (one that did not
        hang, if any) and write it up."""
        label = min(originals, key=lambda name: (_hung(originals[name]), originals[name].index))
        model = self.models[label]
        actions = [step for step in sequence.steps if isinstance(step, Action)]
        failure, hung = originals[label], _hung(originals[label])
        shrunk, reproduced = actions[: failure.index + 1], True
        if not hung:  # a hang is not shrunk: every replay would wait out the time limit
            try:
                shrunk, failure = shrink(actions, self._check(self.oracle, model,
                                                              self.oracle_name))
            except ValueError:  # it did not happen again on a replay: report it as it was
                reproduced = False
        case_id = soak_case_id(seed, n)
        source = (f"python -m pytest_anonvma soak: generated sequence {sequence.id} (seed {seed}, "
                  f"sequence {n}) on {self.oracle_name} and {label}, "
                  f"{'shrunk' if reproduced and not hung else 'not shrunk'}")
        case = failure_case(
            failure, case_id,
            f"Soak sequence {n} of seed {seed}: {label} disagrees with {self.oracle_name}: "
            f"{failure.first.message}.", source, self.oracle_design)
        try:  # the model as the oracle, for its side
            flipped = None if hung else self._check(model, self.oracle, label)(shrunk)
        except SoakError:  # it cannot play these steps without failing: there is no such side
            flipped = None
        model_case = None if flipped is None else failure_case(
            flipped, case_id,
            f"Soak sequence {n} of seed {seed}, as {label} expects it; a kernel that disagrees "
            f"fails it: {flipped.first.message}.", source, self.oracle_design)
        return Disagreement(seed, n, sequence, label, failure, case, model_case, dict(originals),
                            reproduced, hung)

    def run(self, seed: int, count: int, start: int = 0,
            report: Callable[[Disagreement], None] | None = None,
            progress: SoakProgress | None = None) -> SoakResult:
        """Soak sequences ``start .. start+count-1`` of ``seed``; ``report`` is called with each
        disagreement as soon as it is shrunk. ``progress``, if given, is kept up to date (for
        a caller whose run is cut short: :class:`SoakError`, an interrupt)."""
        if progress is None:
            progress = SoakProgress(seed, start, count)
        for n in range(start, start + count):
            sequence = self.sequence(seed, n)
            run = self.play([s for s in sequence.steps if isinstance(s, Action)])
            progress.steps += run.steps
            progress.parted += len(run.parted)
            if run.failures:
                disagreement = self.explain(seed, n, sequence, run.failures)
                if report is not None:
                    report(disagreement)
                progress.disagreements.append(disagreement)  # counted with its sequence
            progress.sequences += 1
        return progress.result()


def _hung(failure: StepFailure) -> bool:
    """Did the model hang at its disagreement (a step or a close that timed out)?"""
    return failure.first.oracle == "timeout"


def family_of(factory: Callable[[], MM]) -> tuple[str, str | None]:
    """The design family and era of the address spaces ``factory`` gives."""
    with factory() as mm:
        return mm_design(mm), mm_era(mm)
