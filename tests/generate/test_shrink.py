"""The shrinker: the failing prefix, then delta debugging to a 1-minimal sequence that still
fails, on a synthetic failure and on a toy wrong implementation.

Expected values: the shortest sequences are derived by hand from each bug's definition (a
fork bug needs a mapping, a marker and a fork: three steps).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from generate_helpers import MarkersLostOnFork, actions

from pytest_anonvma.cases.steps import Action, Fork, Madvise, Mmap, Read
from pytest_anonvma.generate.lockstep import StepFailure, first_failure
from pytest_anonvma.generate.oracles import Finding
from pytest_anonvma.generate.perform import Outcome
from pytest_anonvma.generate.shrink import Check, shrink, well_formed


def _fails_when_reading(*pages: int) -> Check:
    """A check failing at the step where every page of ``pages`` has been read."""
    def check(steps: Sequence[Action]) -> StepFailure | None:
        seen: set[int] = set()
        for index, step in enumerate(steps):
            if isinstance(step, Read):
                seen.add(step.first)
            if seen >= set(pages):
                history = tuple((s, Outcome()) for s in steps[: index + 1])
                return StepFailure(index, (Finding("invariant", "toy"),), history)
        return None

    return check


def test_prefix_then_delta_debugging() -> None:
    """Of twenty reads, the failure needs only the reads of pages 3 and 11, in that order."""
    steps = actions("\n".join(f"read {p}" for p in (5, 3, 8, 9, 1, 11, 4, 2, 3, 11, 7, 6, 0, 10,
                                                     12, 13, 14, 15, 16, 17)))
    shrunk, failure = shrink(steps, _fails_when_reading(3, 11))
    assert [s.format() for s in shrunk] == ["read 3", "read 11"]
    assert failure.index == 1


def test_shrink_refuses_a_passing_sequence() -> None:
    """Shrinking needs a failure to keep."""
    with pytest.raises(ValueError, match="does not fail"):
        shrink(actions("read 1"), _fails_when_reading(2))


def test_well_formed_drops_orphans() -> None:
    """Without its fork, a child's steps go; without its memfd, a mapping of it goes; a memfd
    nothing maps goes too."""
    steps = actions("""
        memfd s 8
        memfd p 8
        mmap 0 1 rw shared memfd:s
        in child: read 0
        fork as child
        in child: read 0
        fork as child
    """)
    kept = [s.format() for s in well_formed(steps)]
    assert kept == ["memfd s 8", "mmap 0 1 rw shared memfd:s", "fork as child",
                    "in child: read 0"]
    assert well_formed(actions("mmap 0 1 rw shared memfd:s")) == []


NOISY_FORK_BUG = """
    mmap 0 4 rw anon
    write 0 0x1
    mprotect 2 1 r
    mmap 6 2 rw anon
    read 1
    guard 3 1
    madvise 0 2 dontneed
    write 7 0x2
    mlock 6 1
    mprotect 2 1 rw
    read 6
    fork as child
    in child: read 0
    munmap 6 2
"""


def test_shrinks_a_toy_bug_to_its_three_steps() -> None:
    """A toy losing markers on fork shrinks to mmap, guard, fork: each is needed, the rest
    of the noise goes (the child's read happens after the failing fork, so the prefix cut
    removes it)."""
    def check(steps: Sequence[Action]) -> StepFailure | None:
        return first_failure(steps, MarkersLostOnFork)

    shrunk, failure = shrink(actions(NOISY_FORK_BUG), check)
    assert [type(s) for s in shrunk] == [Mmap, Madvise, Fork]
    assert failure.first.oracle == "invariant"
    assert "lost the parent's guard marker" in failure.first.message
    for i in range(len(shrunk)):  # 1-minimal: dropping any step makes it pass
        assert check(well_formed(shrunk[:i] + shrunk[i + 1:])) is None
