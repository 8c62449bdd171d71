"""A failing sequence as a ready-to-paste case: outcomes written in, the failed expectation
appended, and the report that prints it (and optionally saves it as a case file).

The actions are written with the outcomes the implementation gave (they matched the oracles up
to the failing step); the failing step gets the outcome the oracle expected, and the first
complaint's expectation steps follow it. Replayed by the curated-case runner, the case fails on
the implementation and passes on the reference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.steps import Action, Read, Step
from pytest_anonvma.generate.generator import case_needs
from pytest_anonvma.generate.lockstep import StepFailure
from pytest_anonvma.generate.perform import OK, Outcome

__all__ = ["failure_case", "failure_report", "save_case", "with_outcome"]


def with_outcome(step: Action, outcome: Outcome) -> Action:
    """``step`` stating ``outcome``: ``-> ERRNO`` / ``-> SIGSEGV``, or a read's ``== VALUE``."""
    if isinstance(step, Read):
        if outcome.value is not None:
            return dataclasses.replace(step, value=outcome.value, outcome=None)
        return dataclasses.replace(step, value=None,
                                   outcome=None if outcome.result == OK else outcome.result)
    return dataclasses.replace(step, outcome=None if outcome.result == OK else outcome.result)


def failure_case(failure: StepFailure, case_id: str, about: str, source: str,
                 design: str) -> Case:
    """The case replaying ``failure``: its steps with their outcomes, the failing step with
    the expected outcome, then the expectation that failed. Layout and patch-tier
    expectations make a case of that tier for ``design`` only."""
    played = [with_outcome(step, outcome) for step, outcome in failure.history]
    last_step, got = failure.history[-1]
    expected = next((f.expected for f in failure.findings if f.expected is not None), got)
    played[-1] = with_outcome(last_step, expected)
    checked = next((f for f in failure.findings if f.expectations), failure.first)
    steps: list[Step] = [*played, *checked.expectations]
    tier = checked.tier
    return Case(
        id=case_id,
        about=about,
        source=source,
        tier=tier,
        needs=case_needs(played).union(*(s.capabilities() for s in checked.expectations)),
        steps=tuple(steps),
        designs=None if tier == "guard" else frozenset({design}),
    )


def failure_report(title: str, failure: StepFailure, original: Sequence[Action],
                   case: Case, impl_name: str, rerun: str) -> str:
    """The text a failing generated case or exploration prints: what failed where, the
    shrunk case as TOML, and how to rerun."""
    index = failure.index
    lines = [
        title,
        *(f"  {f.oracle}: {f.message}" for f in failure.findings),
        f"  at step {index + 1} of {len(failure.history)}: {failure.history[index][0].format()}",
        *([f"  (before it: {failure.note})"] if failure.note else []),
        "",
        f"shortest failing case ({len(failure.history)} steps, from {len(original)}); it fails "
        f"on {impl_name!r} and passes on the reference. Paste it into a case file:",
        "",
    ]
    if not failure.first.expectations and failure.first.expected is None:
        lines.append(f"# {failure.first.oracle} fails after the last step: the runner cannot "
                     "check this; it is kept to reproduce")
    lines += [case.format(), rerun]
    return "\n".join(lines)


def save_case(case: Case, directory: Path, comment: str = "") -> Path:
    """Write ``case`` to ``DIRECTORY/<id>.toml`` (directories made as needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{case.id}.toml"
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    path.write_text(header + case.format(), encoding="utf-8")
    return path
