"""The reference's side of a lockstep run, recorded step by step and shared between runs.

The bundled reference's run of a sequence depends only on the sequence and the era: under
several implementations of one era (``--anonvma-impl=all``), the lockstep of each generated case
reuses one :class:`ReferenceRun` per worker, found by :func:`reference_run` in a bounded cache
keyed by the case id (``gen-SEED-N``) and the era. The first lockstep to reach a step plays it on
the reference and records what the oracles read (its outcome, the VMA boundaries an mremap cuts,
page states, VMA views); later ones read the record.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.cases.runner import mm_design, mm_era
from pytest_anonvma.cases.space import Space
from pytest_anonvma.cases.steps import ROOT_MM, Action, Mremap
from pytest_anonvma.conformity import checked
from pytest_anonvma.contract import MM
from pytest_anonvma.generate.observe import observe_pages, observe_views, reach
from pytest_anonvma.generate.oracles import VmaView
from pytest_anonvma.generate.perform import Outcome, perform

__all__ = ["CACHE_SIZE", "RefStep", "ReferenceRun", "clear_cache", "mremap_cuts",
           "reference_run"]

#: reference runs one worker keeps (more than a default run's generated cases, so that every
#: implementation of an era finds each case's run whatever the order of the tests)
CACHE_SIZE = 1024


def mremap_cuts(space: Space, step: Action) -> tuple[int, ...]:
    """The VMA boundaries strictly inside an mremap's old range, before it runs."""
    assert isinstance(step, Mremap)
    first, end = page_addr(step.first), page_addr(step.first + step.count)
    mm = space.mms.get(step.mm)
    vmas = checked(mm, "vmas", mm.vmas()) if mm is not None else []
    return tuple(edge for v in vmas for edge in (v.start, v.end) if first < edge < end)


@dataclass(frozen=True)
class RefStep:
    """One step as the reference played it: the step, its outcome (or what it raised), the
    boundaries an mremap's range cut before it ran, and what was observed after it."""

    step: Action
    outcome: Outcome
    error: Exception | None
    cuts: tuple[int, ...] | None
    states: dict[str, str]
    views: dict[str, VmaView] | None


class ReferenceRun:
    """The reference playing a sequence on demand (:meth:`play`), observing after each step
    every page, and once :meth:`record_views` asked for them the VMA views of the address
    spaces :func:`~pytest_anonvma.generate.observe.reach` says it can change (of every one
    when ``full``)."""

    def __init__(self, factory: Callable[[], MM], width: int, full: bool) -> None:
        self.space = Space(factory)
        root = self.space.mms[ROOT_MM] = factory()
        self.design, self.era = mm_design(root), mm_era(root)
        self.width, self.full = width, full
        self.states = observe_pages(self.space.mms, width)
        self.views: dict[str, VmaView] | None = None
        #: what was observed before the first step
        self.start_states = self.states
        self.start_views: dict[str, VmaView] | None = None
        self.steps: list[RefStep] = []
        #: the sequence a cached run plays (what :func:`reference_run` matches)
        self.sequence: tuple[Action, ...] = ()
        self._settled: bool | None = None

    def record_views(self) -> bool:
        """Record VMA views too from now on; False if steps were recorded without them (or
        the run settled, which drops them)."""
        if self._settled is not None:
            return False
        if self.views is None:
            if self.steps:
                return False
            self.views = self.start_views = observe_views(self.space.mms, {},
                                                          None)
        return True

    def close(self) -> None:
        """Close the reference's address spaces (the records stay readable)."""
        self.space.close()

    def widen(self, width: int) -> None:
        """Observe ``width`` pages from now on (the pages added were never named: empty)."""
        if width > self.width:
            pad = "." * (width - self.width)
            self.states = {name: states + pad for name, states in self.states.items()}
            self.width = width

    def play(self, index: int, step: Action) -> RefStep:
        """Step ``index`` of the sequence, ``step``: its record, played now if it is the next
        one. What the reference raised there is raised again."""
        if index < len(self.steps):
            record = self.steps[index]
            if record.step != step:
                raise ValueError(f"reference run: step {index + 1} is '{record.step.format()}', "
                                 f"not '{step.format()}'")
        elif index == len(self.steps):
            record = self._record(step)
            self.steps.append(record)
        else:
            raise ValueError(f"reference run: step {index + 1} asked before step "
                             f"{len(self.steps) + 1}")
        if record.error is not None:
            raise record.error
        return record

    def _record(self, step: Action) -> RefStep:
        cuts = mremap_cuts(self.space, step) if isinstance(step, Mremap) else None
        try:
            outcome = perform(step, self.space)
        except Exception as exc:  # raised again, as if the reference were played live
            return RefStep(step, Outcome(), exc, cuts, self.states, self.views)
        where = None if self.full else reach(step)
        self.states = observe_pages(self.space.mms, self.width)
        if self.views is not None:
            self.views = observe_views(self.space.mms, self.views, where)
        return RefStep(step, outcome, None, cuts, self.states, self.views)

    def settled(self) -> bool:
        """At the end of the sequence: do the VMA views read again equal the last recorded
        (nothing changed in an address space no step reached)? Asked once, then the address
        spaces close and the recorded views go."""
        if self._settled is None:
            self._settled = (self.views is None
                             or observe_views(self.space.mms, {}, None) == self.views)
            self.close()
            # the views are the bulk of a record and few implementations read them: drop them
            # (one that needs them plays the case again, :meth:`record_views` refusing)
            self.steps = [dataclasses.replace(record, views=None) for record in self.steps]
        return self._settled


_RUNS: OrderedDict[tuple[str, str | None], ReferenceRun] = OrderedDict()


def reference_run(factory: Callable[[], MM], width: int, full: bool,
                  key: tuple[str, str | None] | None = None, steps: Sequence[Action] = (),
                  renew: bool = False) -> ReferenceRun:
    """A reference run: the one cached for ``key`` (a case id and an era) when it fits (the
    same ``steps`` and width, not ``full``, not ``renew``), else a new one, cached under
    ``key`` if given."""
    if key is None or full:
        return ReferenceRun(factory, width, full)
    sequence = tuple(steps)
    run = _RUNS.get(key)
    if run is not None and not renew and run.width == width and run.sequence == sequence:
        _RUNS.move_to_end(key)
        return run
    if run is not None:
        run.close()
    run = _RUNS[key] = ReferenceRun(factory, width, full)
    run.sequence = sequence
    while len(_RUNS) > CACHE_SIZE:
        _RUNS.popitem(last=False)[1].close()
    return run


def clear_cache() -> None:
    """Close and forget every cached reference run."""
    while _RUNS:
        _RUNS.popitem()[1].close()
