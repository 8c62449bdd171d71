"""Checking one generated case on an implementation; a failure shrinks and prints a case.

This is what ``conformance/test_generated.py`` calls for each ``gen-<seed>-<n>`` case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.steps import Action, Expectation, Pages
from pytest_anonvma.contract import MM
from pytest_anonvma.generate.lockstep import StepFailure, first_failure
from pytest_anonvma.generate.oracles import GUARD, Finding
from pytest_anonvma.generate.reproduce import failure_case, failure_report, save_case
from pytest_anonvma.generate.shrink import shrink

__all__ = ["GeneratedCaseFailure", "case_actions", "check_generated", "finding_kinds"]


class GeneratedCaseFailure(AssertionError):
    """A generated case failed; ``str()`` is the report, ``case`` the shrunk case,
    ``finding_kinds`` what the case failed with (see :func:`finding_kinds`)."""

    def __init__(self, report: str, case: Case, saved: Path | None = None,
                 finding_kinds: tuple[str, ...] = (), summary: str = "") -> None:
        super().__init__(report)
        self.case = case
        self.saved = saved
        self.finding_kinds = finding_kinds
        #: the first complaint in one line of words
        self.summary = summary


def _stated(expectation: Expectation) -> set[object]:
    """What an expectation step claims, page by page for a ``pages`` step."""
    if isinstance(expectation, Pages):
        return {(expectation.mm, expectation.first + i, char)
                for i, char in enumerate(expectation.states)}
    return {expectation}


def finding_kinds(findings: Sequence[Finding]) -> tuple[str, ...]:
    """The kinds of a failing step's complaints (:data:`~pytest_anonvma.generate.oracles.
    FINDING_KINDS`), each once, in order.

    A differential complaint that only expects what the invariants already expect is the same
    finding and adds no kind: the same page states, or guard markers in an address space where
    an invariant expects guard markers too (a fork child that lost markers the reference keeps,
    including those whose fork disposition the shadow could not tell).
    """
    stated: set[object] = set()
    for finding in findings:
        if finding.oracle != "differential":
            stated.update(*(_stated(e) for e in finding.expectations))
    guarded = {claim[0] for claim in stated if isinstance(claim, tuple) and claim[2] == GUARD}

    def restated(claim: object) -> bool:
        return claim in stated or (isinstance(claim, tuple) and claim[2] == GUARD
                                   and claim[0] in guarded)

    kinds: list[str] = []
    for finding in findings:
        claims = set().union(*(_stated(e) for e in finding.expectations))
        if finding.oracle == "differential" and claims and all(map(restated, claims)):
            continue
        kind = finding.kind or finding.oracle
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def case_actions(case: Case) -> list[Action]:
    """The operations of a generated case, in order (its ``"steps"`` in the JSON report)."""
    return [step for step in case.steps if isinstance(step, Action)]


def check_generated(case: Case, factory: Callable[[], MM], impl_name: str, design: str,
                    seed: int, save_dir: Path | None = None, rerun: str | None = None) -> None:
    """Run ``case`` through every oracle (a quick first pass sharing the reference's run with
    other implementations of the era: :func:`~pytest_anonvma.generate.lockstep.first_failure`);
    on failure shrink it, every step fully observed and validated, and raise
    :class:`GeneratedCaseFailure` with the shortest failing case (saved to ``save_dir`` as
    ``<id>-min.toml`` when given). Its ``finding_kinds`` are those of the case's own first
    failing step (the shrunk case may fail differently). ``rerun``: the command the report
    prints to run the case again (default: the case selected with ``-k``)."""
    steps = case_actions(case)
    found = first_failure(steps, factory, key=case.id)
    if found is None:
        return
    kinds = finding_kinds(found.findings)

    def check(candidate: Sequence[Action]) -> StepFailure | None:
        return first_failure(candidate, factory, quick=False)

    _, failure = shrink(steps, check)
    shrunk = failure_case(
        failure,
        f"{case.id}-min",
        f"Shortest failing prefix of generated case {case.id} on {impl_name}: "
        f"{failure.first.message}.",
        f"{case.source} (shrunk)",
        design,
    )
    saved = save_case(shrunk, save_dir) if save_dir is not None else None
    rerun = "rerun: " + (rerun or f"pytest -p anonvma --anonvma-impl={impl_name} "
                         f"--anonvma-seed={seed} -k '{case.id}]'")
    if saved is not None:
        rerun += f"\nsaved to {saved}"
    title = (f"generated case {case.id} (seed {seed}) failed on {impl_name!r} "
             f"(finding: {', '.join(kinds)}):")
    raise GeneratedCaseFailure(failure_report(title, failure, steps, shrunk, impl_name, rerun),
                               shrunk, saved, kinds, found.first.message)
