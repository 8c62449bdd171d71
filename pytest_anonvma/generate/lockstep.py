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
from typing import Any

from pytest_anonvma import registry
from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.cases.runner import mm_design, mm_era
from pytest_anonvma.cases.steps import ROOT_MM, Action, Fork, Mremap, Touch
from pytest_anonvma.contract import MM
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
from pytest_anonvma.generate.perform import Outcome, Space, perform
from pytest_anonvma.generate.shadow import Shadow

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


def _states(mm: MM, width: int) -> str:
    return "".join(mm.page(page_addr(p)).char for p in range(width))


def _observe(space: Space, width: int) -> dict[str, str]:
    return {name: _states(mm, width) for name, mm in space.mms.items()}


def _view(mm: Any) -> VmaView:
    stats = mm.stats() if "stats" in mm.capabilities else {}
    return VmaView.of(mm.vmas(), stats)


class Lockstep:
    """One run: the candidate, the reference, the shadow; :meth:`step` plays one action.

    The page-state oracles look at arena pages ``0..width-1``; the window grows to cover every
    page a step names (a page no step named is unmapped: every mapping is MAP_FIXED at a named
    page). ``reference`` overrides the differential oracle's factory (None:
    :func:`reference_factory` of the candidate's era).
    """

    def __init__(self, factory: Callable[[], MM], width: int = 1,
                 reference: Callable[[], MM] | None = None) -> None:
        self.width = width
        self.candidate = Space(factory)
        root = self.candidate.mms[ROOT_MM] = factory()
        self.design, self.era = mm_design(root), mm_era(root)
        caps = frozenset(getattr(root, "capabilities", ()))
        self.reference = Space(reference or reference_factory(self.era))
        ref_root = self.reference.mms[ROOT_MM] = self.reference.factory()
        #: compare layout and patch-tier state too (same design family and era)
        self.same_family = (self.design == mm_design(ref_root)
                            and self.era == mm_era(ref_root) and "layout" in caps)
        self.has_layout = "layout" in caps
        self.shadow = Shadow()
        #: every step played and the candidate's outcome
        self.history: list[tuple[Action, Outcome]] = []
        #: why the differential oracle stopped, if it did
        self.parted: str | None = None
        self.states = _observe(self.candidate, width)
        self.ref_states = _observe(self.reference, width)
        self.stats_base = {ROOT_MM: dict(_view(root).stats) if self.same_family else {}}

    def close(self) -> None:
        """Close every address space of both runs."""
        try:
            self.candidate.close()
        finally:
            self.reference.close()

    def __enter__(self) -> Lockstep:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one step -----------------------------------------------------------------------------

    def step(self, step: Action) -> list[Finding]:
        """Play ``step`` on both and check every oracle; the complaints (empty: all is well)."""
        self._widen(span([step]))
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
            want = perform(step, self.reference)
            if want != got and cuts is not None and cuts[0] != cuts[1]:
                self.parted = (f"'{step.format()}' gave {got.describe()} here and "
                               f"{want.describe()} on the reference, whose VMA boundaries "
                               "differ over its range: no differential checks after it")
            else:
                findings += outcome_findings(step, got, want)
        self.shadow.apply(step, got)
        try:
            self.states = after = _observe(self.candidate, self.width)
        except Exception as exc:
            self.history.pop()
            return self._crash(step, got, exc)
        if self.parted is None:
            self.ref_states = _observe(self.reference, self.width)
        reference = self.ref_states if self.parted is None else {}
        for name in before:
            findings += marker_findings(step, name, before[name], after[name], got.ok,
                                        reference.get(name))
        if isinstance(step, Fork) and step.child in after:
            findings += fork_findings(step, after[step.mm], after[step.child], self.shadow,
                                      reference.get(step.child))
        if self.parted is None:
            findings += self._differential()
        findings += self._validate()
        return findings

    def _crash(self, step: Action, got: Outcome, exc: Exception) -> list[Finding]:
        """The implementation raised something that is neither an errno nor a fault."""
        self.history.append((step, got))
        return [Finding("crash", f"'{step.format()}' raised {type(exc).__name__}: {exc}")]

    def _widen(self, width: int) -> None:
        """Look at ``width`` pages from now on; the pages added were never named: empty."""
        if width > self.width:
            pad = "." * (width - self.width)
            self.states = {name: states + pad for name, states in self.states.items()}
            self.ref_states = {name: states + pad for name, states in self.ref_states.items()}
            self.width = width

    def _cuts(self, step: Action) -> tuple[list[int], list[int]] | None:
        """For an mremap: the VMA boundaries inside its old range on the candidate and on the
        reference, before it runs (where an mremap's success depends on the design)."""
        if not isinstance(step, Mremap) or self.parted is not None or not self.has_layout:
            return None
        first, end = page_addr(step.first), page_addr(step.first + step.count)

        def cuts(space: Space) -> list[int]:
            mm = space.mms.get(step.mm)
            vmas = mm.vmas() if mm is not None else []
            return [edge for v in vmas for edge in (v.start, v.end) if first < edge < end]

        return cuts(self.candidate), cuts(self.reference)

    def _differential(self) -> list[Finding]:
        findings: list[Finding] = []
        if set(self.states) != set(self.ref_states):
            return findings  # a fork failed on one side only: its outcome finding says so
        for name, states in self.states.items():
            findings += page_findings(name, states, self.ref_states[name], self._exact(name))
        if self.same_family:
            for name, mm in self.candidate.mms.items():
                ref_mm = self.reference.mms[name]
                findings += vma_findings(name, _view(mm), _view(ref_mm),
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

    def _validate(self) -> list[Finding]:
        for name, mm in self.candidate.mms.items():
            validate = getattr(mm, "validate", None)
            if not callable(validate):
                continue
            try:
                validate()
            except Exception as exc:
                where = "" if name == ROOT_MM else f" of {name!r}"
                return [Finding("validate", f"validate(){where} failed: "
                                            f"{type(exc).__name__}: {exc}")]
        return []


def span(steps: Sequence[Action]) -> int:
    """How many arena pages from page 0 the steps name (the oracles' window)."""
    return max([1, *(end for step in steps for _, end in step.page_ranges())])


def first_failure(steps: Sequence[Action], factory: Callable[[], MM],
                  reference: Callable[[], MM] | None = None) -> StepFailure | None:
    """Play ``steps`` in lockstep; the first step an oracle complains about, or None."""
    with Lockstep(factory, span(steps), reference) as run:
        for index, step in enumerate(steps):
            findings = run.step(step)
            if findings:
                return StepFailure(index, tuple(findings), tuple(run.history), run.parted or "")
    return None
