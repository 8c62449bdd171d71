"""The suite a mutant must survive, as stages run cheapest first, and the baseline comparison.

A stage yields the set of failing check ids. On the unmutated tree the stages give the
*baseline* (for instance rfc-v1's hazard cases fail there on purpose). A mutant is killed as
soon as some check's outcome differs from the baseline: a check that passed now fails (or
errors), or an expected failure now passes. Stages, in order:

``corpus:<design>``  every bundled case (``pytest_anonvma.cases``) that applies to the design,
                     run with ``run_case`` on the bundled model of that design;
``generated:<design>`` the first ``Plan.generated`` default generated cases (default seed;
                     a prefix of the plugin's default ``--anonvma-generated`` cases), failed
                     exactly when ``conformance/test_generated.py`` fails them (without its
                     shrinking of the failure);
``pytest``           one in-process pytest session over ``tests/model/`` (the model's unit
                     tests), then the rest of ``conformance/`` (the harness port; the explorer,
                     which is off by default) with ``-p anonvma --anonvma-impl=<designs>``; it
                     stops at the first failure the baseline does not have. The session leaves
                     out ``test_cases.py`` and ``test_generated.py``: the two stages above run
                     the same functions on the same cases.

Everything here runs inside the (throwaway) process evaluating one mutant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SUITES",
    "Outcome",
    "Plan",
    "affected_designs",
    "as_sets",
    "pytest_args",
    "run_corpus",
    "run_generated",
    "run_stage",
]

#: ``corpus``: the bundled cases only (quick); ``full``: cases, generated cases, pytest session
SUITES = ("corpus", "full")
PYTEST_PATHS = ("tests/model", "conformance")
#: run in-process by the corpus and generated stages instead
PYTEST_IGNORED = ("conformance/test_cases.py", "conformance/test_generated.py")
#: generated cases per design in the generated stage: a prefix of the default suite's, sized so a
#: surviving mutant costs seconds, not minutes (a bigger count can only kill more)
MUTATION_GENERATED = 100


@dataclass(frozen=True)
class Plan:
    """What to run for one mutant: the designs it can affect and how much of the suite."""

    designs: tuple[str, ...]
    suite: str
    root: str
    #: how many default generated cases the generated stage runs
    generated: int = MUTATION_GENERATED

    def stages(self) -> list[str]:
        """The stage names, cheapest first."""
        stages = [f"corpus:{design}" for design in self.designs]
        if self.suite == "full":
            stages += [f"generated:{design}" for design in self.designs]
            stages.append("pytest")
        return stages


@dataclass
class Outcome:
    """What a stage found: every failing check, and the first one that differs from baseline."""

    failing: set[str]
    #: the first check whose outcome differs from the baseline ('' if none, or no baseline)
    changed: str = ""


def affected_designs(module: str) -> tuple[str, ...]:
    """The bundled designs a mutant of ``module`` can change (call with pristine imports).

    A design module affects the designs whose class inherits from a class it defines; any other
    module (the engine, ``designs.base`` helpers, ``designs/__init__``) affects all of them.
    """
    from pytest_anonvma.designs import DESIGNS

    classes = {name: cls.__mro__ for name, cls in DESIGNS.items()}
    if not any(mro[0].__module__ == module for mro in classes.values()):
        return tuple(classes)
    return tuple(
        name for name, mro in classes.items() if any(cls.__module__ == module for cls in mro)
    )


def _compare(failing: set[str], check: str, failed: bool, baseline: set[str] | None) -> bool:
    """Record ``check``; True if its outcome differs from ``baseline``."""
    if failed:
        failing.add(check)
    return baseline is not None and failed != (check in baseline)


def _run_cases(
    cases: Iterable[Any], check: Callable[[Any], None], baseline: set[str] | None
) -> Outcome:
    """``check`` each case (an exception fails it); stop at the first change from baseline."""
    outcome = Outcome(set())
    for case in cases:
        try:
            check(case)
            failed = False
        except Exception:
            failed = True
        if _compare(outcome.failing, case.id, failed, baseline):
            outcome.changed = case.id
            return outcome
    if baseline is not None:
        gone = sorted(baseline - outcome.failing)
        outcome.changed = gone[0] if gone else ""
    return outcome


def _bundled(design: str) -> tuple[Callable[[], Any], str, str | None, set[str]]:
    """The factory of a bundled design, and its design family, era and capabilities."""
    from pytest_anonvma import registry
    from pytest_anonvma.cases import mm_design, mm_era

    factory = registry.resolve(design)
    probe = factory()
    facts = mm_design(probe), mm_era(probe), set(getattr(probe, "capabilities", ()))
    probe.close()
    return (factory, *facts)


def run_corpus(design: str, baseline: set[str] | None) -> Outcome:
    """Every applicable bundled case on ``design``, as ``conformance/test_cases.py`` runs it
    (skipped when the case's designs or needs rule it out)."""
    from pytest_anonvma.cases import case_applies, load_corpus, run_case

    factory, name, era, capabilities = _bundled(design)
    cases = [
        case
        for case in load_corpus().cases
        if case_applies(case, name, era) is None and case.needs <= capabilities
    ]
    return _run_cases(cases, lambda case: run_case(case, factory, design), baseline)


def run_generated(design: str, baseline: set[str] | None,
                  count: int = MUTATION_GENERATED) -> Outcome:
    """The first ``count`` default generated cases on ``design`` (default ``--anonvma-seed``),
    judged as ``conformance/test_generated.py`` judges them:
    ``check_generated`` fails exactly when ``first_failure`` finds a step some oracle rejects
    (it then shrinks the case for the report, which this stage skips)."""
    from pytest_anonvma.cases.steps import Action
    from pytest_anonvma.generate.generator import generated_cases
    from pytest_anonvma.generate.lockstep import first_failure
    from pytest_anonvma.options import default_seed

    factory, _, _, capabilities = _bundled(design)
    cases = [c for c in generated_cases(default_seed(), count)
             if c.needs <= capabilities]

    def check(case: Any) -> None:
        steps = [step for step in case.steps if isinstance(step, Action)]
        if first_failure(steps, factory) is not None:
            raise AssertionError(f"generated case {case.id} failed")

    return _run_cases(cases, check, baseline)


class _Recorder:
    """A pytest plugin noting failures; stops the session at the first one not in baseline."""

    def __init__(self, baseline: set[str] | None) -> None:
        self.baseline = baseline
        self.outcome = Outcome(set())
        self.session: Any = None

    def pytest_sessionstart(self, session: Any) -> None:
        """Keep the session, to stop it early."""
        self.session = session

    def pytest_collectreport(self, report: Any) -> None:
        """A collection error is a failing check of its own."""
        if report.failed:
            self.note(f"collect:{report.nodeid}")

    def pytest_runtest_logreport(self, report: Any) -> None:
        """A failing phase (setup, call, teardown; strict xpass included) fails its test."""
        if report.failed:
            self.note(report.nodeid)

    def note(self, check: str) -> None:
        """Record a failing check; a new one kills the mutant and ends the session."""
        if _compare(self.outcome.failing, check, True, self.baseline) and not self.outcome.changed:
            self.outcome.changed = check
            if self.session is not None:
                self.session.shouldstop = "mutant killed"


def pytest_args(plan: Plan) -> list[str]:
    """The pytest command line of the ``pytest`` stage."""
    root = Path(plan.root)
    return [
        *(str(root / path) for path in PYTEST_PATHS),
        *(f"--ignore={root / path}" for path in PYTEST_IGNORED),
        f"--rootdir={root}",
        "-c",
        str(root / "pyproject.toml"),
        "-p",
        "anonvma",
        f"--anonvma-impl={','.join(plan.designs)}",
        "-p",
        "no:cacheprovider",
        "-q",
    ]


def run_pytest(plan: Plan, baseline: set[str] | None) -> Outcome:
    """The in-process pytest session; a usage or internal error is a failing check too."""
    import pytest

    recorder = _Recorder(baseline)
    code = pytest.main(pytest_args(plan), plugins=[recorder])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED):
        recorder.note(f"pytest-exit:{int(code)}")
    outcome = recorder.outcome
    if baseline is not None and not outcome.changed and code != pytest.ExitCode.INTERRUPTED:
        gone = sorted(baseline - outcome.failing)
        outcome.changed = gone[0] if gone else ""
    return outcome


def run_stage(stage: str, plan: Plan, baseline: set[str] | None) -> Outcome:
    """Run one stage of ``plan`` (``baseline``: its failing checks on the pristine tree)."""
    if stage == "pytest":
        return run_pytest(plan, baseline)
    kind, _, design = stage.partition(":")
    if kind == "corpus":
        return run_corpus(design, baseline)
    if kind == "generated":
        return run_generated(design, baseline, plan.generated)
    raise ValueError(f"unknown stage {stage!r}")


def as_sets(failing: dict[str, Iterable[str]]) -> dict[str, set[str]]:
    """A JSON baseline (stage -> list of ids) as sets."""
    return {stage: set(ids) for stage, ids in failing.items()}
