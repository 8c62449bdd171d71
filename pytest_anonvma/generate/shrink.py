"""Shrinking a failing step sequence: the failing prefix, then delta debugging.

:func:`shrink` cuts the sequence after the first failing step, then removes chunks of steps
(halves, quarters, ... single steps: Zeller's ddmin) as long as what is left still fails,
cutting again after each success. Removing a ``fork`` removes the steps of its child, and a
``memfd`` goes with the last mapping of it (:func:`well_formed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pytest_anonvma.cases.steps import ROOT_MM, Action, Fork, Memfd, Mmap
from pytest_anonvma.generate.lockstep import StepFailure

__all__ = ["Check", "shrink", "well_formed"]

#: runs a sequence: its first failure, or None when it passes
Check = Callable[[Sequence[Action]], StepFailure | None]


def well_formed(steps: Sequence[Action]) -> list[Action]:
    """``steps`` without those on an address space no kept fork creates, mappings of a memfd
    no kept ``memfd`` step creates, and ``memfd`` steps nothing maps any more."""
    mms, files, out = {ROOT_MM}, set(), []
    for step in steps:
        if step.mm not in mms or (isinstance(step, Fork) and step.child in mms):
            continue
        if isinstance(step, Mmap) and step.file and step.file not in files:
            continue
        if isinstance(step, Fork):
            mms.add(step.child)
        if isinstance(step, Memfd):
            files.add(step.name)
        out.append(step)
    used = {step.file for step in out if isinstance(step, Mmap)}
    return [step for step in out if not isinstance(step, Memfd) or step.name in used]


def shrink(steps: Sequence[Action], check: Check) -> tuple[list[Action], StepFailure]:
    """The smallest failing sequence found from failing ``steps``, and its failure.

    ``check`` must fail on ``steps`` (ValueError otherwise).
    """
    failure = check(steps)
    if failure is None:
        raise ValueError("shrink: the sequence does not fail")
    current = list(steps[: failure.index + 1])
    parts = 2
    while len(current) >= 2:
        size = -(-len(current) // parts)  # ceil
        for start in range(0, len(current), size):
            candidate = well_formed(current[:start] + current[start + size:])
            if not candidate:
                continue
            found = check(candidate)
            if found is not None:
                current, failure = candidate[: found.index + 1], found
                parts = max(parts - 1, 2)
                break
        else:
            if parts >= len(current):
                break
            parts = min(parts * 2, len(current))
    return current, failure
