"""Checking one generated case on an implementation; a failure shrinks and prints a case.

This is what ``conformance/test_generated.py`` calls for each ``gen-<seed>-<n>`` case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.steps import Action
from pytest_anonvma.contract import MM
from pytest_anonvma.generate.lockstep import StepFailure, first_failure
from pytest_anonvma.generate.reproduce import failure_case, failure_report, save_case
from pytest_anonvma.generate.shrink import shrink

__all__ = ["GeneratedCaseFailure", "check_generated"]


class GeneratedCaseFailure(AssertionError):
    """A generated case failed; ``str()`` is the report, ``case`` the shrunk case."""

    def __init__(self, report: str, case: Case, saved: Path | None = None) -> None:
        super().__init__(report)
        self.case = case
        self.saved = saved


def check_generated(case: Case, factory: Callable[[], MM], impl_name: str, design: str,
                    seed: int, save_dir: Path | None = None) -> None:
    """Run ``case`` through every oracle; on failure shrink it and raise
    :class:`GeneratedCaseFailure` with the shortest failing case (saved to ``save_dir`` as
    ``<id>-min.toml`` when given)."""
    steps: Sequence[Action] = [s for s in case.steps if isinstance(s, Action)]

    def check(candidate: Sequence[Action]) -> StepFailure | None:
        return first_failure(candidate, factory)

    if check(steps) is None:
        return
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
    rerun = (f"rerun: pytest -p anonvma --anonvma-impl={impl_name} --anonvma-seed={seed} "
             f"-k '{case.id}]'")
    if saved is not None:
        rerun += f"\nsaved to {saved}"
    title = f"generated case {case.id} (seed {seed}) failed on {impl_name!r}:"
    raise GeneratedCaseFailure(failure_report(title, failure, steps, shrunk, impl_name, rerun),
                               shrunk, saved)
