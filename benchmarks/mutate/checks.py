"""The suite a mutant must survive, as stages run cheapest first, and the baseline comparison.

A stage yields the set of failing check ids. On the unmutated tree the stages give the
*baseline* (for instance rfc-v1's hazard cases fail there on purpose). A mutant is killed as
soon as some check's outcome differs from the baseline: a check that passed now fails (or
errors), or an expected failure now passes. Stages, in order:

``corpus:<design>``  every bundled case (``pytest_anonvma.cases``) that applies to the design,
                     run with ``run_case`` on the bundled model of that design;
``pytest``           one in-process pytest session over ``conformance/`` (cases, generated
                     cases, the harness port) with ``-p anonvma --anonvma-impl=<designs>``, then
                     ``tests/model/`` (the model's unit tests); it stops at the first failure
                     the baseline does not have.

Everything here runs inside the (throwaway) process evaluating one mutant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SUITES", "Outcome", "Plan", "affected_designs", "run_stage"]

#: ``corpus``: the bundled cases only (quick); ``full``: cases, then the pytest session
SUITES = ("corpus", "full")
BUNDLED_DESIGNS = ("baseline", "rfc-v1", "reference", "maybe-guard")
PYTEST_PATHS = ("conformance", "tests/model")


@dataclass(frozen=True)
class Plan:
    """What to run for one mutant: the designs it can affect and how much of the suite."""

    designs: tuple[str, ...]
    suite: str
    root: str

    def stages(self) -> list[str]:
        """The stage names, cheapest first."""
        stages = [f"corpus:{design}" for design in self.designs]
        if self.suite == "full":
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

    classes = {name: DESIGNS[name].__mro__ for name in BUNDLED_DESIGNS}
    if not any(mro[0].__module__ == module for mro in classes.values()):
        return BUNDLED_DESIGNS
    return tuple(
        name for name, mro in classes.items() if any(cls.__module__ == module for cls in mro)
    )


def _compare(failing: set[str], check: str, failed: bool, baseline: set[str] | None) -> bool:
    """Record ``check``; True if its outcome differs from ``baseline``."""
    if failed:
        failing.add(check)
    return baseline is not None and failed != (check in baseline)


def run_corpus(design: str, baseline: set[str] | None) -> Outcome:
    """Every applicable bundled case on ``design``; stops at the first change from baseline."""
    from pytest_anonvma import registry
    from pytest_anonvma.cases import case_applies, load_corpus, mm_design, mm_era, run_case

    factory = registry.resolve(design)
    probe = factory()
    name, era = mm_design(probe), mm_era(probe)
    capabilities = set(getattr(probe, "capabilities", ()))
    probe.close()
    outcome = Outcome(set())
    for case in load_corpus().cases:
        if case_applies(case, name, era) is not None or not case.needs <= capabilities:
            continue
        try:
            run_case(case, factory, design)
            failed = False
        except Exception:
            failed = True
        if _compare(outcome.failing, case.id, failed, baseline):
            outcome.changed = case.id
            break
    if baseline is not None and not outcome.changed:
        gone = sorted(baseline - outcome.failing)
        outcome.changed = gone[0] if gone else ""
    return outcome


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
    runners: dict[str, Callable[[str, set[str] | None], Outcome]] = {"corpus": run_corpus}
    if kind not in runners:
        raise ValueError(f"unknown stage {stage!r}")
    return runners[kind](design, baseline)


def as_sets(failing: dict[str, Iterable[str]]) -> dict[str, set[str]]:
    """A JSON baseline (stage -> list of ids) as sets."""
    return {stage: set(ids) for stage, ids in failing.items()}
