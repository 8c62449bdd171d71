"""Comparing a model's step with the oracle's (the running kernel): :func:`disagreements`.

After every step, for each address space (the parent and every fork child):

* pages tier, against every model: the step's outcome (errno, SIGSEGV/SIGBUS, the byte read),
  each page's page-table state and each page's protection (or that nothing is mapped there);
* layout tier, against the model of the oracle's own design and era only: the VMA list
  (boundaries, protection, the compared flags of :data:`~pytest_anonvma.soak.observe.LAYOUT_FLAGS`).

One difference is legitimate between designs and is not reported: whether ``fork`` copied the
page tables of a VMA holding present pages but no guard markers is each design's
``vma_needs_copy`` decision (the RFC designs skip the copy after a whole-VMA guard remove, for
example, where VM_MAYBE_GUARD keeps copying). A child page that is present on one side and
empty on the other right after the fork that made it is *loose*: a difference ``P``/``.`` there
is ignored until the two sides first agree on the page (a touch faults it in on both, a
``dontneed`` empties it on both); any other difference on it is reported. Fork children of
the oracle's design are compared strictly.

The comparisons reuse the generated cases' oracles (:mod:`pytest_anonvma.generate.oracles`), so
each complaint carries the case steps that state the oracle's side and a shrunk sequence prints
as a ready-to-paste case.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from pytest_anonvma.cases.steps import Action, VmaField, format_prot
from pytest_anonvma.generate.oracles import (
    Finding,
    outcome_findings,
    page_findings,
    vma_findings,
)
from pytest_anonvma.generate.perform import Outcome
from pytest_anonvma.soak.observe import Observation

__all__ = ["disagreements", "loose_after_fork", "prot_findings"]

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
