"""Driving an implementation, the bundled reference and the shadow in lockstep, step by step.

:class:`Lockstep` plays each action on the implementation under test (the *candidate*) and on
the reference, advances the shadow on the candidate's outcome, and asks every oracle of
:mod:`pytest_anonvma.generate.oracles` about the result. The generated cases, the shrinker and
the hypothesis explorer all run through it.

The reference is the bundled ``reference`` design on the candidate's era. If an ``mremap``
succeeds on one and fails on the other while their VMA boundaries over its range differ, the two
legitimately parted ways (designs merge differently); the differential oracle stops there and
the invariants carry on alone (:attr:`Lockstep.parted`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_anonvma import registry
from pytest_anonvma.cases.runner import mm_design, mm_era
from pytest_anonvma.cases.space import Space
from pytest_anonvma.cases.steps import ROOT_MM, Action, Fork, Mremap, Touch
from pytest_anonvma.contract import MM, ImplementationDied
from pytest_anonvma.generate.observe import (
    Reach,
    covers,
    observe_pages,
    observe_views,
    reach,
)
from pytest_anonvma.generate.oracles import (
    Finding,
    VmaView,
    fork_findings,
    marker_findings,
    outcome_findings,
    page_findings,
    touch_findings,
    vma_findings,
)
from pytest_anonvma.generate.perform import Outcome, perform
from pytest_anonvma.generate.shadow import Shadow
from pytest_anonvma.generate.trace import mremap_cuts, reference_run

__all__ = [
    "REFERENCE_DESIGN",
    "Lockstep",
    "StepFailure",
    "first_failure",
    "reference_factory",
    "span",
]

#: the design family whose bundled model is the differential oracle
REFERENCE_DESIGN = "reference"


@functools.cache
def reference_factory(era: str | None) -> Callable[[], MM]:
    """The bundled reference on ``era`` (its own era when ``era`` is unknown)."""
    if era in registry.ERAS:
        return registry.resolve(f"{REFERENCE_DESIGN}@{era}")
    return registry.resolve(REFERENCE_DESIGN)


@dataclass(frozen=True)
class StepFailure:
    """The first step some oracle complained about: its index, every complaint, and each step
    played up to it with the implementation's outcome."""

    index: int
    findings: tuple[Finding, ...]
    history: tuple[tuple[Action, Outcome], ...]
    #: why the differential oracle had stopped before the failure ('' if it had not)
    note: str = ""

    @property
    def first(self) -> Finding:
        """The complaint reported first (and pasted as the case's expectation)."""
        return self.findings[0]


class Lockstep:
    """One run: the candidate, the reference, the shadow; :meth:`step` plays one action.

    The page-state oracles look at arena pages ``0..width-1``; the window grows to cover every
    page a step names (a page no step named is unmapped: every mapping is MAP_FIXED at a named
    page). ``reference`` overrides the differential oracle's factory (None:
    :func:`reference_factory` of the candidate's era).

    ``full`` (the default) observes every page and VMA of every address space and validates
    each of them after every step. Otherwise (a first pass) only what the step can reach is
    observed and validated (:func:`~pytest_anonvma.generate.observe.reach`), and
    :meth:`settled` checks everything at the end. ``key``, a case id whose actions are
    ``steps`` (without ``full`` or ``reference``), shares the reference's run with other runs of
    the same case and era (:func:`~pytest_anonvma.generate.trace.reference_run`).
    """

    def __init__(self, factory: Callable[[], MM], width: int = 1,
                 reference: Callable[[], MM] | None = None, *, full: bool = True,
                 key: str | None = None, steps: Sequence[Action] = ()) -> None:
        self.width = width
        self.full = full
        self.candidate = Space(factory)
        root = self.candidate.mms[ROOT_MM] = factory()
        self.design, self.era = mm_design(root), mm_era(root)
        caps = frozenset(getattr(root, "capabilities", ()))
        self.has_layout = "layout" in caps
        shared = None if key is None or reference is not None else (key, self.era)
        ref_factory = reference or reference_factory(self.era)
        run = reference_run(ref_factory, width, full, shared, steps)
        #: compare layout and patch-tier state too (same design family and era)
        self.same_family = (self.design == run.design and self.era == run.era
                            and self.has_layout)
        if self.same_family and not run.record_views():  # cached without them: play it again
            run = reference_run(ref_factory, width, full, shared, steps, renew=True)
            run.record_views()
        self.reference = run
        self.owns_reference = shared is None
        self.shadow = Shadow()
        #: every step played and the candidate's outcome
        self.history: list[tuple[Action, Outcome]] = []
        #: why the differential oracle stopped, if it did
        self.parted: str | None = None
        self.states = observe_pages(self.candidate.mms, width)
        self.ref_states = run.start_states
        self.views: dict[str, VmaView] = {}
        self.ref_views: dict[str, VmaView] = {}
        if self.same_family:
            self.views = observe_views(self.candidate.mms, {}, None)
            self.ref_views = run.start_views or {}
        self.stats_base = {ROOT_MM: dict(self.views[ROOT_MM].stats) if self.same_family else {}}

    def close(self) -> None:
        """Close every address space of the candidate (and of the reference, unless shared)."""
        try:
            self.candidate.close()
        finally:
            if self.owns_reference:
                self.reference.close()

    def __enter__(self) -> Lockstep:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one step -----------------------------------------------------------------------------

    def step(self, step: Action) -> list[Finding]:
        """Play ``step`` on both and check every oracle; the complaints (empty: all is well)."""
        self._widen(span([step]))
        index = len(self.history)
        before = self.states
        try:
            cuts = self._cuts(step)
            got = perform(step, self.candidate)
        except Exception as exc:  # not an errno, not a fault: the implementation broke
            return self._crash(step, Outcome(), exc)
        self.history.append((step, got))
        findings: list[Finding] = []
        if isinstance(step, Touch):
            findings += touch_findings(step, got, before[step.mm], self.shadow)
        if self.parted is None:
            record = self.reference.play(index, step)
            if record.outcome != got and cuts is not None and cuts != record.cuts:
                self.parted = (f"'{step.format()}' gave {got.describe()} here and "
                               f"{record.outcome.describe()} on the reference, whose VMA "
                               "boundaries differ over its range: no differential checks after it")
            else:
                findings += outcome_findings(step, got, record.outcome)
                self.ref_states = record.states
                self.ref_views = record.views or {}
        self.shadow.apply(step, got)
        where = None if self.full else reach(step)
        try:
            self.states = after = observe_pages(self.candidate.mms, self.width)
        except Exception as exc:
            self.history.pop()
            return self._crash(step, got, exc)
        if self.same_family:
            self.views = observe_views(self.candidate.mms, self.views, where)
        reference = self.ref_states if self.parted is None else {}
        for name in before:
            if name == step.mm or before[name] != after[name]:
                findings += marker_findings(step, name, before[name], after[name], got.ok,
                                            reference.get(name))
        if isinstance(step, Fork) and step.child in after:
            findings += fork_findings(step, after[step.mm], after[step.child], self.shadow,
                                      reference.get(step.child))
        if self.parted is None:
            findings += self._differential(where)
        findings += self._validate(where)
        return findings

    def settled(self) -> bool:
        """After the last step of a first pass: do the VMAs and counters of every address space
        read again equal what the run last read, on both sides, and does every address space
        validate? Always true for a ``full`` run (it read and validated everything each step)."""
        if self.full:
            return True
        if self.same_family and observe_views(self.candidate.mms, {}, None) != self.views:
            return False
        if self._validate(None):
            return False
        return self.parted is not None or self.reference.settled()

    def _crash(self, step: Action, got: Outcome, exc: Exception) -> list[Finding]:
        """The implementation raised something that is neither an errno nor a fault; one that
        died ends the run, naming the step (nothing is left to compare or shrink)."""
        if isinstance(exc, ImplementationDied):
            raise ImplementationDied(f"{type(exc).__name__}: {exc}; at step "
                                     f"{len(self.history) + 1}: {step.format()}") from exc
        self.history.append((step, got))
        return [Finding("crash", f"'{step.format()}' raised {type(exc).__name__}: {exc}")]

    def _widen(self, width: int) -> None:
        """Look at ``width`` pages from now on; the pages added were never named: empty."""
        if width > self.width:
            pad = "." * (width - self.width)
            self.states = {name: states + pad for name, states in self.states.items()}
            self.reference.widen(width)
            self.ref_states = {name: states + pad for name, states in self.ref_states.items()}
            self.width = width

    def _cuts(self, step: Action) -> tuple[int, ...] | None:
        """For an mremap: the VMA boundaries inside its old range on the candidate before it
        runs (where an mremap's success depends on the design; the reference's are recorded)."""
        if not isinstance(step, Mremap) or self.parted is not None or not self.has_layout:
            return None
        return mremap_cuts(self.candidate, step)

    def _differential(self, where: Reach) -> list[Finding]:
        findings: list[Finding] = []
        if set(self.states) != set(self.ref_states):
            return findings  # a fork failed on one side only: its outcome finding says so
        for name, states in self.states.items():
            if states != self.ref_states[name]:
                findings += page_findings(name, states, self.ref_states[name], self._exact(name))
        if self.same_family:
            for name in self.candidate.mms:
                if covers(where, name):
                    findings += vma_findings(name, self.views[name], self.ref_views[name],
                                             self.stats_base.get(name, {}))
        return findings

    def _exact(self, name: str) -> frozenset[int] | None:
        """Pages whose presence must match the reference's exactly (None: all of them): all
        for the same design family, the parent's private anonymous pages otherwise."""
        if self.same_family:
            return None
        if name != ROOT_MM:
            return frozenset()
        pages = self.shadow.mms[name].pages
        return frozenset(p for p, entry in pages.items() if entry.obj is None)

    def _validate(self, where: Reach) -> list[Finding]:
        for name, mm in self.candidate.mms.items():
            validate = getattr(mm, "validate", None)
            if not covers(where, name) or not callable(validate):
                continue
            try:
                validate()
            except Exception as exc:
                label = "" if name == ROOT_MM else f" of {name!r}"
                return [Finding("validate", f"validate(){label} failed: "
                                            f"{type(exc).__name__}: {exc}")]
        return []


def span(steps: Sequence[Action]) -> int:
    """How many arena pages from page 0 the steps name (the oracles' window)."""
    return max([1, *(end for step in steps for _, end in step.page_ranges())])


def _play(steps: Sequence[Action], factory: Callable[[], MM],
          reference: Callable[[], MM] | None, full: bool,
          key: str | None) -> tuple[StepFailure | None, bool]:
    """Play ``steps`` in one lockstep run: its first failure, and whether it settled."""
    with Lockstep(factory, span(steps), reference, full=full, key=key, steps=steps) as run:
        for index, step in enumerate(steps):
            findings = run.step(step)
            if findings:
                return StepFailure(index, tuple(findings), tuple(run.history),
                                   run.parted or ""), False
        return None, run.settled()


def first_failure(steps: Sequence[Action], factory: Callable[[], MM],
                  reference: Callable[[], MM] | None = None, *, key: str | None = None,
                  quick: bool = True) -> StepFailure | None:
    """Play ``steps`` in lockstep; the first step an oracle complains about, or None.

    With ``quick`` a first pass observes and validates only what each step can reach
    (sharing the reference's run under ``key``, a case id); when it finds a failure or does
    not settle, the sequence is played again observing and validating everything after every
    step, and that run's answer is the answer. Without ``quick`` only the full run is made.
    """
    if quick:
        failure, settled = _play(steps, factory, reference, False, key)
        if failure is None and settled:
            return None
    return _play(steps, factory, reference, True, None)[0]
