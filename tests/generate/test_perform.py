"""One path from a step to the MM: the curated runner and the generated cases' ``perform`` make
the same calls for the same actions (the calls each step lists), and ``perform`` reports what
happened as an outcome.

Expected values: errno and signal names follow mmap(2), madvise(2) and the guard-region
semantics (a touch of a guard marker is SIGSEGV; madvise over a hole is ENOMEM after the mapped
part is advised: madvise_walk_vmas in mm/madvise.c); the calls are the step's system call.
"""

from __future__ import annotations

from typing import Any

import pytest
from generate_helpers import actions

from pytest_anonvma.cases import parse_cases, run_case
from pytest_anonvma.cases.space import Space
from pytest_anonvma.cases.steps import ROOT_MM, Fork, Memfd, parse_step
from pytest_anonvma.generate.perform import OK, Outcome, perform
from pytest_anonvma.model.engine import ModelMM

#: an action-only sequence touching every kind of action the generated cases use
SEQUENCE = """\
memfd f 8
mmap 0 4 rw anon
mmap 4 2 rw shared memfd:f offset 4
write 0..1 0x5a
guard 2 1
madvise 0 6 dontneed
mprotect 3 1 r
mlock 0 2
munlock 0 2
mremap 0 2 -> 2 maymove fixed 8
fork as child
in child: read 8
in child: write 9 7
munmap 4 2
"""

#: the MM methods that only look (the runner's checkpoint reads stats)
_LOOKING = {"stats", "vmas", "page", "close"}


class Recorder:
    """A reference address space that logs ``(address space, method, args)`` of every call."""

    def __init__(self, log: list[tuple[str, str, tuple[Any, ...]]], name: str = ROOT_MM,
                 inner: ModelMM | None = None) -> None:
        self.inner = inner if inner is not None else ModelMM("reference")
        self.log, self.name = log, name
        self.capabilities = self.inner.capabilities
        self.design, self.era = self.inner.design, self.inner.era

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any) -> Any:
            if method not in _LOOKING:
                shown = tuple("<file>" if hasattr(a, "name") else a for a in args)
                self.log.append((self.name, method, shown))
            return getattr(self.inner, method)(*args)

        return call

    def fork(self) -> Recorder:
        self.log.append((self.name, "fork", ()))
        return Recorder(self.log, "child", self.inner.fork())


def test_the_runner_and_perform_make_the_same_calls() -> None:
    steps = SEQUENCE + "in child: pages 0 = .\n"  # a case checks something
    toml = ('[[case]]\nid = "one-path"\nabout = "x"\nsource = "x"\ntier = "guard"\n'
            'needs = ["pages", "fork", "files", "mremap", "mlock"]\n'
            f'steps = """\n{steps}"""\n')
    (case,), problems = parse_cases(toml, "one-path.toml")
    assert problems == []
    by_runner: list[tuple[str, str, tuple[Any, ...]]] = []
    run_case(case, lambda: Recorder(by_runner), "recorder")
    by_perform: list[tuple[str, str, tuple[Any, ...]]] = []
    space = Space(lambda: Recorder(by_perform))
    space.mms[ROOT_MM] = space.factory()
    outcomes = [perform(step, space) for step in actions(SEQUENCE)]
    space.close()
    assert all(outcome.ok for outcome in outcomes), outcomes
    assert by_runner == by_perform
    assert [method for _, method, _ in by_perform].count("write") == 3  # one a page


def _play(text: str) -> list[Outcome]:
    space = Space(lambda: ModelMM("reference"))
    space.mms[ROOT_MM] = space.factory()
    try:
        return [perform(step, space) for step in actions(text)]
    finally:
        space.close()


def test_outcomes() -> None:
    """Success, an errno name, a fault with the page it stopped at, the byte a read gave."""
    got = _play("mmap 0 2 rw anon\nwrite 1 0x5a\nread 1\nguard 0 4\nread 0..1\nwrite 1..2 3\n"
                "mprotect 0+12 1 r\nunguard 0 2\nread 0..1")
    assert got == [Outcome(), Outcome(), Outcome(value=0x5A), Outcome("ENOMEM"),
                   Outcome("SIGSEGV", page=0), Outcome("SIGSEGV", page=1), Outcome("EINVAL"),
                   Outcome(OK), Outcome(OK)]


def test_fork_and_memfd_are_kept_by_name() -> None:
    space = Space(lambda: ModelMM("reference"))
    space.mms[ROOT_MM] = space.factory()
    try:
        assert perform(Memfd("f", 2), space).ok and perform(Fork("kid"), space).ok
        assert set(space.mms) == {ROOT_MM, "kid"} and set(space.files) == {"f"}
    finally:
        space.close()


def test_mapping_a_memfd_before_it_exists_is_a_malformed_sequence() -> None:
    with pytest.raises(ValueError, match="maps memfd 'g' before a 'memfd' step creates it"):
        _play("mmap 0 1 rw memfd:g")


def test_checkpoint_is_not_performed() -> None:
    step = parse_step("checkpoint")
    space = Space(lambda: ModelMM("reference"))
    space.mms[ROOT_MM] = space.factory()
    with pytest.raises(ValueError, match="cannot perform"):
        perform(step, space)  # type: ignore[arg-type]
    space.close()


class _BadClose:
    def __init__(self, closed: list[str], name: str, fail: bool) -> None:
        self.closed, self.name, self.fail = closed, name, fail

    def close(self) -> None:
        self.closed.append(self.name)
        if self.fail:
            raise OSError(f"{self.name} would not close")


def test_space_closes_every_address_space_children_first() -> None:
    """A failing close does not leave the others open; the first error is raised."""
    closed: list[str] = []
    space = Space(lambda: ModelMM("reference"))
    for name, fail in ((ROOT_MM, True), ("a", True), ("b", False)):
        space.mms[name] = _BadClose(closed, name, fail)  # type: ignore[assignment]
    with pytest.raises(OSError, match="a would not close"):
        space.close()
    assert closed == ["b", "a", ROOT_MM] and space.mms == {}
