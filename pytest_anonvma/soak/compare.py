"""Comparing a model's step with the oracle's (the running kernel): :func:`disagreements`.

After every step, for each address space (the parent and every fork child):

* pages tier, against every model: the step's outcome (errno, SIGSEGV/SIGBUS, the byte read),
  each page's page-table state and each page's protection (or that nothing is mapped there);
* layout tier, against the model of the oracle's own design and era only: the VMA list
  (boundaries, protection, the compared flags of :data:`~pytest_anonvma.soak.observe.LAYOUT_FLAGS`).

Some differences are legitimate between designs and are not reported (an mremap that goes two
ways is the other one, :mod:`pytest_anonvma.soak.drive`). Whether ``fork`` copied the page
tables of a VMA holding present pages but no guard markers is each design's ``vma_needs_copy``
decision (the RFC designs skip the copy after a whole-VMA guard remove, for
example, where VM_MAYBE_GUARD keeps copying). A child page that is present on one side and
empty on the other right after the fork that made it is *loose*: a difference ``P``/``.`` there
is ignored until the two sides first agree on the page (a touch faults it in on both, a
``dontneed`` empties it on both); an ``mremap`` carries it along. Fault-around spreads it:
a read fault of file memory maps the cached pages next to the faulting one, clipped to its
VMA, so a touch that faults on one side only (of a loose page), or of a page whose VMA the
two designs merged differently, makes the present/empty differences it leaves nearby loose
too. Any other difference on a loose page is reported. The model of the oracle's own design
is compared strictly.

The comparisons reuse the generated cases' oracles (:mod:`pytest_anonvma.generate.oracles`), so
each complaint carries the case steps that state the oracle's side and a shrunk sequence prints
as a ready-to-paste case.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.cases.steps import Action, Mremap, VmaField, format_prot
from pytest_anonvma.constants import FAULT_AROUND_PAGES
from pytest_anonvma.generate.oracles import (
    Finding,
    outcome_findings,
    page_findings,
    vma_findings,
)
from pytest_anonvma.generate.perform import Outcome
from pytest_anonvma.soak.observe import Observation

__all__ = ["disagreements", "loose_after_fork", "loose_after_touch", "move_loose",
           "prot_findings"]

_EITHER = frozenset("P.")
#: the generated-case oracles call their oracle "the reference"; the soak's is named instead
_REFERENCE = re.compile(r"\bthe reference\b|\breference\b")


def _naming(findings: Iterable[Finding], oracle: str) -> list[Finding]:
    """``findings`` with the oracle called ``oracle`` in their messages."""
    return [dataclasses.replace(f, message=_REFERENCE.sub(oracle, f.message)) for f in findings]


def loose_after_fork(parent: tuple[str, str], child: tuple[str, str],
                     parent_loose: Iterable[int] = ()) -> set[int]:
    """Pages of a new fork child that may legitimately be ``P`` on one side and ``.`` on the
    other: present in the parent on both sides (or loose in the parent), differing that way in
    the child. Each pair is (model's states, oracle's states)."""
    loose = set(parent_loose)
    return {
        page for page, (got, want) in enumerate(zip(*child, strict=True))
        if got != want and {got, want} == _EITHER
        and (page in loose or parent[0][page] == parent[1][page] == "P")
    }


def _vma_extent(observed: Observation, page: int) -> tuple[int, int] | None:
    """The boundaries of the VMA holding arena ``page`` (None: unmapped or not observed)."""
    addr = page_addr(page)
    vmas = observed.layout.vmas if observed.layout is not None else ()
    return next(((v.start, v.end) for v in vmas if v.start <= addr < v.end), None)


def loose_after_touch(touched: range, got: Observation, want: Observation,
                      loose: set[int]) -> set[int]:
    """Loose pages after a touch (or populate) of ``touched``. A read fault of file memory
    also maps the cached pages around it (``do_fault_around``: the
    :data:`FAULT_AROUND_PAGES`-aligned block, clipped to the VMA). When a touched page was
    loose (the touch may have faulted on one side only) or its VMA has other boundaries on the
    two sides (the designs merged differently), pages of those blocks now present on one side
    only are loose too."""
    if not any(page in loose or _vma_extent(got, page) != _vma_extent(want, page)
               for page in touched):
        return loose
    block = FAULT_AROUND_PAGES
    around = {first - first % block + i for first in touched for i in range(block)}
    mine, theirs = got.states, want.states
    return loose | {p for p in around if p < len(mine) and mine[p] != theirs[p]
                    and {mine[p], theirs[p]} == _EITHER}


def move_loose(loose: set[int], step: Mremap) -> set[int]:
    """Loose pages after ``step`` succeeded on both sides: a move carries them along (the page
    tables move), a shrink drops those in the cut tail."""
    keep = min(step.count, step.new_count)
    if step.fixed is None:
        return {p for p in loose if not step.first + keep <= p < step.first + step.count}
    old = range(step.first, step.first + step.count)
    target = range(step.fixed, step.fixed + step.new_count)
    moved = {step.fixed + p - step.first for p in loose if 0 <= p - step.first < keep}
    return {p for p in loose if p not in old and p not in target} | moved


def _settle(got: str, want: str, loose: set[int]) -> str:
    """``got`` with loose pages shown as ``want`` where they differ only present/empty; loose
    pages where the two now agree are dropped from ``loose`` (they stay settled)."""
    chars = list(got)
    for page in sorted(loose):
        if got[page] == want[page]:
            loose.discard(page)
        elif {got[page], want[page]} == _EITHER:
            chars[page] = want[page]
    return "".join(chars)


def prot_findings(mm: str, got: tuple[int | None, ...],
                  want: tuple[int | None, ...], oracle: str) -> list[Finding]:
    """Per-page protection (None: unmapped) must be the oracle's."""
    bad = [page for page, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    if not bad:
        return []

    def show(prot: int | None) -> str:
        return "unmapped" if prot is None else format_prot(prot)

    where = "" if mm == "parent" else f" in {mm}"
    detail = ", ".join(f"page {p} is {show(got[p])} ({oracle} {show(want[p])})" for p in bad)
    checks = tuple(VmaField(p, "prot", format_prot(prot), mm=mm)
                   for p in bad if (prot := want[p]) is not None)
    return [Finding("differential", f"protection{where} differs: {detail}", checks)]


def disagreements(step: Action, got: Outcome, want: Outcome,
                  observed: dict[str, Observation], expected: dict[str, Observation],
                  loose: dict[str, set[int]], layout: bool, oracle: str) -> list[Finding]:
    """Everything in which a model's step (``got``, ``observed`` per address space) differs from
    the oracle's (``want``, ``expected``); ``layout``: compare VMA lists too. ``loose`` (per
    address space) is updated as loose pages settle."""
    reused = outcome_findings(step, got, want)
    own: list[Finding] = []
    if set(observed) == set(expected):  # else a fork failed on one side: the outcome says so
        for name, mine in observed.items():
            theirs = expected[name]
            states = _settle(mine.states, theirs.states, loose.get(name, set()))
            reused += page_findings(name, states, theirs.states, exact=None)
            if mine.prots is not None and theirs.prots is not None:
                own += prot_findings(name, mine.prots, theirs.prots, oracle)
            if layout and mine.layout is not None and theirs.layout is not None:
                reused += vma_findings(name, mine.layout, theirs.layout, {})
    return _naming(reused, oracle) + own
