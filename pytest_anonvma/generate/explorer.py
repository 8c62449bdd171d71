"""The explorer: a hypothesis state machine playing the generator's operations in lockstep.

Each rule is one operation of the :class:`~pytest_anonvma.generate.generator.Builder`
(``mmap``, ``guard``, ``mremap``, ``fork``, a hazard shape...), its choices drawn by hypothesis;
every step it writes runs on the implementation and the reference through a
:class:`~pytest_anonvma.generate.lockstep.Lockstep`, and any oracle's complaint fails the rule.
Hypothesis shrinks the failing program; :func:`explore` then cuts it further with the shrinker,
writes it as a case and, with ``save_dir``, saves it as ``<id>.toml`` (the curated-case runner
replays it). The implementation is injected: the machine class is made per exploration and run
with ``run_state_machine_as_test``.

Each program records hypothesis events (the operations it played, the oracles that failed) for
``--hypothesis-show-statistics``; a failure's report carries hypothesis's
``@reproduce_failure(...)`` line when its settings print one, beside our own shrunk case.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.steps import Action, Memfd
from pytest_anonvma.contract import MM
from pytest_anonvma.generate.generator import (
    EXPLORER_NEEDS,
    FILE_PAGES,
    OPERATIONS,
    PRIVATE_FILE,
    SHARED_FILE,
    Builder,
    RandomChooser,
)
from pytest_anonvma.generate.lockstep import Lockstep, StepFailure, first_failure
from pytest_anonvma.generate.reproduce import failure_case, failure_report, save_case
from pytest_anonvma.generate.shrink import shrink

__all__ = [
    "EXPLORER_NEEDS",
    "REPLAY_HELP",
    "DataChooser",
    "ExplorationFailure",
    "explore",
    "explorer_machine",
    "reproduce_failure_line",
]

#: the line above hypothesis's ``@reproduce_failure`` line in a failure's report
REPLAY_HELP = "hypothesis's own minimal program (how to replay it: docs/usage.md, The explorer):"


class DataChooser:
    """Builder choices drawn from hypothesis data (so hypothesis can shrink them)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def below(self, n: int) -> int:
        """An integer in ``0..n-1``."""
        return self.data.draw(_below(n)) if n > 1 else 0

    def chance(self, percent: int) -> bool:
        """True for about ``percent`` of the drawn values (shrinks towards True)."""
        return self.data.draw(_below(100)) < percent


@functools.cache
def _below(n: int) -> st.SearchStrategy[int]:
    """``integers(0, n - 1)``, made once per ``n`` (drawing is the explorer's hot path)."""
    return st.integers(0, n - 1)


class ExplorationFailure(AssertionError):
    """An exploration found a failing program; ``str()`` is the report, ``case`` the case,
    ``program`` the number of the first failing program hypothesis ran (1 when the example
    database replayed it), ``blob`` hypothesis's ``@reproduce_failure(...)`` line or ``None``."""

    def __init__(self, report: str, case: Case, saved: Path | None = None, program: int = 0,
                 blob: str | None = None) -> None:
        super().__init__(report)
        self.case = case
        self.saved = saved
        self.program = program
        self.blob = blob


class _Explorer(RuleBasedStateMachine):
    """Base of the per-exploration machine: the implementation comes from ``factory``."""

    factory: Callable[[], MM]
    #: every failure seen, latest last (hypothesis replays the shrunk one last)
    failures: list[StepFailure]
    #: programs started so far, and the number of the first one that failed (0: none yet)
    programs: int
    first_failing: int

    def __init__(self) -> None:
        super().__init__()
        type(self).programs += 1
        self.builder = Builder(RandomChooser(random.Random(0)))
        self.lockstep = Lockstep(type(self).factory)
        self.played = 0

    def play(self, data: st.DataObject, operation: str) -> None:
        """Write one operation's steps with drawn choices and check each in lockstep."""
        hypothesis.event(f"played {operation}")
        self.builder.chooser = DataChooser(data)
        self.builder.play(operation)
        for step in self.builder.steps[self.played:]:
            self._check(step)
        self.played = len(self.builder.steps)

    def _check(self, step: Action) -> None:
        findings = self.lockstep.step(step)
        if findings:
            for finding in findings:
                hypothesis.event(f"oracle {finding.oracle} failed")
            history = tuple(self.lockstep.history)
            machine = type(self)
            machine.failures.append(StepFailure(len(history) - 1, tuple(findings), history,
                                                self.lockstep.parted or ""))
            machine.first_failing = machine.first_failing or machine.programs
            raise AssertionError("; ".join(f"{f.oracle}: {f.message}" for f in findings))

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        """Create the memfds in the parent (a child inherits only files made before its fork)
        and map a first few read-write pages."""
        for name in (SHARED_FILE, PRIVATE_FILE):
            self._check(Memfd(name, FILE_PAGES))
        self.play(data, "start")

    def teardown(self) -> None:
        """Close both runs' address spaces."""
        self.lockstep.close()


def _rule(operation: str) -> Callable[..., None]:
    def run(self: _Explorer, data: st.DataObject) -> None:
        self.play(data, operation)

    # named before ``rule`` wraps it: hypothesis prints a failing program's steps by this name
    run.__name__ = run.__qualname__ = operation
    run.__doc__ = f"Play the builder's op_{operation}."
    return rule(data=st.data())(run)


def explorer_machine(factory: Callable[[], MM], impl_name: str = "impl") -> type[_Explorer]:
    """A state-machine class driving ``factory``'s implementation (``impl_name``) against
    the reference.

    The class is named after the implementation (``AnonvmaExplorer_rfc_v1``): hypothesis keys
    its example database by the machine, so each implementation keeps its own failures.
    """
    namespace: dict[str, Any] = {name: _rule(name) for name in OPERATIONS}
    namespace.update(factory=staticmethod(factory), failures=[], programs=0, first_failing=0)
    return type(f"AnonvmaExplorer_{_slug(impl_name).replace('-', '_')}", (_Explorer,), namespace)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "impl"


def reproduce_failure_line(error: BaseException) -> str | None:
    """The ``@reproduce_failure(...)`` decorator hypothesis noted on ``error`` (it does so
    when its settings have ``print_blob``), or ``None``."""
    for note in getattr(error, "__notes__", ()):
        match = re.search(r"@reproduce_failure\(.*?\)(?= as a decorator|$)", str(note))
        if match:
            return match.group()
    return None


def explore(factory: Callable[[], MM], impl_name: str, design: str, seed: int,
            settings: hypothesis.settings, save_dir: Path | None = None,
            rerun: str = "") -> None:
    """Explore programs on ``factory``'s implementation; on a failure raise
    :class:`ExplorationFailure` with the shrunk program as a case (saved into ``save_dir``).
    ``rerun`` is the command line that repeats the exploration, for the report."""
    machine = explorer_machine(factory, impl_name)
    hypothesis.seed(seed)(machine)
    try:
        run_state_machine_as_test(machine, settings=settings)
    except Exception as error:
        if not machine.failures:
            raise
        blob = reproduce_failure_line(error)
    else:
        return
    steps: Sequence[Action] = [step for step, _ in machine.failures[-1].history]
    _, failure = shrink(steps, lambda candidate: first_failure(candidate, factory))
    case = failure_case(
        failure,
        f"explore-{_slug(impl_name)}-{seed}",
        f"Program found by the explorer on {impl_name}: {failure.first.message}.",
        f"pytest_anonvma.generate explorer (hypothesis, seed {seed})",
        design,
    )
    saved = save_case(case, save_dir) if save_dir is not None else None
    if saved is not None:
        rerun += f"\nsaved to {saved}: it replays as a curated case"
    if blob is not None:
        rerun = f"{REPLAY_HELP}\n  {blob}\n{rerun}"
    title = (f"the explorer found a failing program on {impl_name!r} (hypothesis seed {seed}, "
             f"program {machine.first_failing} of at most {settings.max_examples}):")
    report = failure_report(title, failure, steps, case, impl_name, rerun.strip())
    raise ExplorationFailure(report, case, saved, machine.first_failing, blob) from None
