"""The oracles: what a step may do to guard markers and data, and what two runs must agree on.

(a) Invariants every correct design holds, computed from the implementation's own observations
and the :mod:`shadow <pytest_anonvma.generate.shadow>`:

* guard markers appear or vanish only by install, remove, munmap, MAP_FIXED replacement and
  mremap (a shrink drops the cut tail, a move relocates them) -- :func:`marker_bounds`;
* a fork child holds exactly the parent's markers, except in VM_WIPEONFORK / VM_DONTCOPY VMAs
  -- :func:`fork_findings`;
* a touch of a guard marker or of an unmapped page faults, and a read returns what the shadow
  says (private data is copy-on-write, shared data is shared) -- :func:`touch_findings`.

(b) Differential: the step's outcome and the page-table states equal the bundled reference's;
layout and patch-tier state too for an implementation of the reference's design family and era
-- :func:`outcome_findings`, :func:`page_findings`, :func:`vma_findings`.

Each complaint is a :class:`Finding` carrying the expectation steps that state it in the case
language, so a failure prints as a case that replays it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_anonvma.cases.arena import ARENA_BASE, ARENA_PAGES
from pytest_anonvma.cases.steps import (
    Action,
    Expectation,
    Fork,
    LayoutIs,
    Madvise,
    Mmap,
    Mremap,
    Munmap,
    Pages,
    Stats,
    Touch,
    VmaField,
    VmaFlag,
    VmaSameAnonVma,
    format_prot,
)
from pytest_anonvma.constants import PAGE_SIZE
from pytest_anonvma.contract import VMAInfo
from pytest_anonvma.generate.perform import Outcome
from pytest_anonvma.generate.shadow import Shadow
from pytest_anonvma.layout import layout_of

__all__ = [
    "FINDING_KINDS",
    "Finding",
    "VmaView",
    "fork_findings",
    "guard_pages",
    "marker_bounds",
    "marker_findings",
    "outcome_findings",
    "page_findings",
    "touch_findings",
    "vma_findings",
]

GUARD = "G"

#: the stable short name of every kind of complaint (``Finding.kind``; expected-failure entries
#: name one with ``finding=``); a Finding without one is named after its oracle
FINDING_KINDS = (
    "guard-marker-vanished", "guard-marker-appeared", "guard-markers-changed",
    "fork-lost-guard-marker", "fork-extra-guard-marker", "fork-guard-markers-differ",
    "guard-marker-did-not-fault", "unmapped-did-not-fault", "read-wrong-value",
    "outcome-differs", "page-states-differ", "layout-differs", "prot-differs",
    "vma-flag-differs", "pgoff-differs", "anon-vma-differs", "anon-vma-flags-differs",
    "maybe-has-pagetables-differs", "anon-vma-sharing-differs", "stats-differ",
    "crash", "validate",
)


@dataclass(frozen=True)
class Finding:
    """One oracle's complaint after a step.

    ``expected`` is the outcome the step itself should have had (the pasted case states it on
    the action); ``expectations`` are steps to append after it.
    """

    oracle: str  # "invariant", "differential", "validate" or "crash"
    message: str
    expectations: tuple[Expectation, ...] = ()
    expected: Outcome | None = None
    tier: str = "guard"
    #: a stable short name of the complaint, one of :data:`FINDING_KINDS` ('': the oracle's)
    kind: str = ""


def guard_pages(states: str) -> frozenset[int]:
    """The pages shown ``G`` in a page-state string (index = arena page)."""
    return frozenset(i for i, char in enumerate(states) if char == GUARD)


def _span(first: int, count: int) -> frozenset[int]:
    return frozenset(range(first, first + count))


def marker_bounds(step: Action, before: frozenset[int],
                  ok: bool) -> tuple[frozenset[int], frozenset[int]]:
    """``(low, high)``: the guard pages of the step's own address space after ``step`` must
    satisfy ``low <= after <= high``, given the guard pages ``before`` and whether it succeeded.

    A failed call may have had a partial effect, so failure bounds only say what could not
    have happened (a failed install adds markers only inside its range, and so on).
    """
    if isinstance(step, (Madvise, Munmap, Mmap)):
        rng = _span(step.first, step.count)
        if isinstance(step, Madvise) and step.advice == "guard_install":
            return (before | rng if ok else before), before | rng
        if not isinstance(step, Madvise) or step.advice == "guard_remove":
            return before - rng, (before - rng if ok else before)
        return before, before
    if isinstance(step, Mremap):
        old = _span(step.first, step.count)
        keep = min(step.count, step.new_count)
        if not ok:  # a fixed move unmaps its target and the old tail before it can fail
            if step.fixed is None:
                return before, before
            tail = _span(step.first + keep, step.count - keep)
            return before - tail - _span(step.fixed, step.new_count), before
        if step.fixed is None:  # resized in place: a shrink drops the cut tail
            after = before - _span(step.first + keep, step.count - keep)
        else:  # moved: markers travel with their page tables, the target was unmapped first
            target = _span(step.fixed, step.new_count)
            moved = {step.fixed + p - step.first for p in before if 0 <= p - step.first < keep}
            after = (before - old - target) | moved
        return after, after
    return before, before


def _runs(pages: Sequence[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for page in sorted(pages):
        if runs and runs[-1][-1] == page - 1:
            runs[-1].append(page)
        else:
            runs.append([page])
    return runs


def _pages_steps(mm: str, wanted: Mapping[int, str]) -> tuple[Expectation, ...]:
    """``pages`` expectations stating ``wanted`` (page -> state char), one per run of pages."""
    return tuple(
        Pages(run[0], "".join(wanted[p] for p in run), mm=mm) for run in _runs(list(wanted))
    )


def _not_guard(reference: str | None, page: int) -> str:
    """The state to expect where a marker must not be: the reference's, else empty."""
    char = reference[page] if reference is not None and page < len(reference) else "."
    return "." if char == GUARD else char


def _where(mm: str) -> str:
    return "" if mm == "parent" else f" in {mm}"


def marker_findings(step: Action, mm: str, before: str, after: str, ok: bool,
                    reference: str | None) -> list[Finding]:
    """Markers of ``mm`` that appeared or vanished against :func:`marker_bounds` (``step`` ran
    on ``mm``) or at all (``step`` ran on another address space)."""
    was, now = guard_pages(before), guard_pages(after)
    low, high = marker_bounds(step, was, ok) if step.mm == mm else (was, was)
    missing, extra = low - now, now - high
    if not missing and not extra:
        return []
    wanted = {p: GUARD for p in missing} | {p: _not_guard(reference, p) for p in extra}
    parts = []
    if missing:
        parts.append(f"guard marker(s) vanished at page(s) {_list(missing)}")
    if extra:
        parts.append(f"guard marker(s) appeared at page(s) {_list(extra)}")
    why = "which may not do that" if step.mm == mm else "which ran on another address space"
    message = f"{' and '.join(parts)}{_where(mm)} after '{step.format()}', {why}"
    kind = ("guard-markers-changed" if missing and extra
            else "guard-marker-vanished" if missing else "guard-marker-appeared")
    return [Finding("invariant", message, _pages_steps(mm, wanted), kind=kind)]


def fork_findings(step: Fork, parent_states: str, child_states: str, shadow: Shadow,
                  reference: str | None) -> list[Finding]:
    """The child must hold every parent marker outside VM_WIPEONFORK / VM_DONTCOPY VMAs, and
    no other (pages whose fork disposition the shadow lost are not checked)."""
    wanted: dict[int, str] = {}
    for page in range(len(parent_states)):
        disposition = shadow.fork_disposition(step.mm, page)
        if disposition is None:
            continue
        should = parent_states[page] == GUARD and disposition == "copy"
        if should != (child_states[page] == GUARD):
            wanted[page] = GUARD if should else _not_guard(reference, page)
    if not wanted:
        return []
    lost = [p for p, c in wanted.items() if c == GUARD]
    gained = [p for p, c in wanted.items() if c != GUARD]
    parts = []
    if lost:
        parts.append(f"lost the parent's guard marker(s) at page(s) {_list(lost)}")
    if gained:
        parts.append(f"has guard marker(s) the parent's VMA does not pass on at page(s) "
                     f"{_list(gained)}")
    message = f"fork child {step.child!r} {' and '.join(parts)}"
    kind = ("fork-guard-markers-differ" if lost and gained
            else "fork-lost-guard-marker" if lost else "fork-extra-guard-marker")
    return [Finding("invariant", message, _pages_steps(step.child, wanted), kind=kind)]


def touch_findings(step: Touch, outcome: Outcome, before: str, shadow: Shadow) -> list[Finding]:
    """A touch must fault on a guard marker or an unmapped page; a read returns the shadow's
    byte. ``before`` is the address space's page states before the touch."""
    stop = outcome.page if outcome.page is not None else step.last + 1
    where = _where(step.mm)
    for page in range(step.first, stop):
        if before[page] == GUARD:
            return [Finding("invariant", f"{step.keyword} of page {page}{where} did not fault "
                                         "though the page held a guard marker",
                            expected=Outcome("SIGSEGV", page=page),
                            kind="guard-marker-did-not-fault")]
        if shadow.known_unmapped(step.mm, page):
            return [Finding("invariant", f"{step.keyword} of page {page}{where} did not fault "
                                         "though nothing is mapped there",
                            expected=Outcome("SIGSEGV", page=page),
                            kind="unmapped-did-not-fault")]
    if outcome.value is not None:
        want = shadow.expected_value(step.mm, step.first)
        if want is not None and want != outcome.value:
            return [Finding("invariant", f"read of page {step.first}{where} returned "
                                         f"{outcome.value:#x}, but {want:#x} was last stored "
                                         "there (copy-on-write / shared data)",
                            expected=Outcome(value=want), kind="read-wrong-value")]
    return []


def outcome_findings(step: Action, got: Outcome, want: Outcome) -> list[Finding]:
    """The step's outcome must be the reference's."""
    if got == want:
        return []
    return [Finding("differential", f"'{step.format()}' gave {got.describe()}; the reference "
                                    f"gave {want.describe()}", expected=want,
                    kind="outcome-differs")]


def page_findings(mm: str, got: str, want: str, exact: Collection[int] | None) -> list[Finding]:
    """Page-table states of ``mm`` must be the reference's: exactly on the pages in ``exact``
    (every page if None), elsewhere only guard or not. Whether a page is present is not the same
    across designs in a fork child (copying page tables is the design's choice), nor across
    kernels for file pages (fault-around maps cached neighbours of a read fault)."""
    if got == want:
        return []
    bad = [p for p, (g, w) in enumerate(zip(got, want, strict=True))
           if (g != w if exact is None or p in exact else (g == GUARD) != (w == GUARD))]
    if not bad:
        return []
    detail = ", ".join(f"page {p} is {got[p]} (reference {want[p]})" for p in bad)
    return [Finding("differential", f"page states{_where(mm)} differ: {detail}",
                    _pages_steps(mm, {p: want[p] for p in bad}), kind="page-states-differ")]


# -- layout and patch-tier state --------------------------------------------------------------


@dataclass(frozen=True)
class VmaView:
    """The layout and patch-tier state of one address space's arena VMAs, comparable."""

    vmas: tuple[VMAInfo, ...]
    stats: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, vmas: Sequence[VMAInfo], stats: Mapping[str, int]) -> VmaView:
        """Keep the VMAs inside the arena."""
        end = ARENA_BASE + ARENA_PAGES * PAGE_SIZE
        return cls(tuple(v for v in vmas if ARENA_BASE <= v.start < end), dict(stats))

    def first_page(self, vma: VMAInfo) -> int:
        """The arena page a VMA starts at."""
        return (vma.start - ARENA_BASE) // PAGE_SIZE

    def anon_vma_groups(self) -> list[int]:
        """Which VMAs share a real anon_vma: each VMA's index of the first VMA with its
        anon_vma (-1 for none), so identities compare across implementations."""
        first: dict[object, int] = {}
        return [-1 if v.anon_vma is None else first.setdefault(v.anon_vma, i)
                for i, v in enumerate(self.vmas)]


def _field_findings(mm: str, page: int, got: VMAInfo, want: VMAInfo) -> list[Finding]:
    out = []
    where = _where(mm)
    if got.prot != want.prot:
        out.append(Finding("differential", f"VMA at page {page}{where}: prot "
                           f"{format_prot(got.prot)}, reference {format_prot(want.prot)}",
                           (VmaField(page, "prot", format_prot(want.prot), mm=mm),), tier="layout",
                           kind="prot-differs"))
    for flag in sorted(got.flags ^ want.flags):
        has = flag in want.flags
        out.append(Finding("differential", f"VMA at page {page}{where}: {flag} "
                           f"{'missing' if has else 'set'} (reference {'has' if has else 'lacks'}"
                           " it)", (VmaFlag(page, flag, has, mm=mm),), tier="layout",
                           kind="vma-flag-differs"))
    if got.file is not None and got.pgoff != want.pgoff:
        out.append(Finding("differential", f"VMA at page {page}{where}: pgoff {got.pgoff}, "
                           f"reference {want.pgoff}",
                           (VmaField(page, "pgoff", str(want.pgoff), mm=mm),), tier="layout",
                           kind="pgoff-differs"))
    patch = {
        "anon_vma": ("none" if got.anon_vma is None else "set",
                     "none" if want.anon_vma is None else "set"),
        "anon_vma_flags": (str(got.anon_vma_flags), str(want.anon_vma_flags)),
        "maybe_has_pagetables": (str(bool(got.maybe_has_pagetables)).lower(),
                                 str(bool(want.maybe_has_pagetables)).lower()),
    }
    for name, (g, w) in patch.items():
        if g != w:
            out.append(Finding("differential", f"VMA at page {page}{where}: {name} = {g}, "
                               f"reference {w}", (VmaField(page, name, w, mm=mm),),
                               tier="patch", kind=f"{name.replace('_', '-')}-differs"))
    return out


def vma_findings(mm: str, got: VmaView, want: VmaView,
                 stats_base: Mapping[str, int]) -> list[Finding]:
    """Layout (boundaries, prot, flags, file pgoff) and patch-tier state (anon_vma set, its
    flags, maybe_has_pagetables, sharing, counters) must be the reference's."""
    if got == want:
        return []
    extents = [(v.start, v.end) for v in got.vmas]
    if extents != [(v.start, v.end) for v in want.vmas]:
        diagram = layout_of(list(want.vmas), ARENA_BASE, ARENA_PAGES).diagram()
        actual = layout_of(list(got.vmas), ARENA_BASE, ARENA_PAGES).diagram()
        return [Finding("differential", f"VMA layout{_where(mm)} is {actual!r}, the "
                        f"reference's is {diagram!r}", (LayoutIs(diagram, mm=mm),),
                        tier="layout", kind="layout-differs")]
    out: list[Finding] = []
    for g, w in zip(got.vmas, want.vmas, strict=True):
        out += _field_findings(mm, want.first_page(w), g, w)
    groups = zip(got.anon_vma_groups(), want.anon_vma_groups(), strict=True)
    for i, (mine, theirs) in enumerate(groups):
        # VMA i shares the anon_vma of an earlier VMA on one side only
        other, same = (theirs, True) if theirs not in (-1, i) else (mine, False)
        if mine == theirs or other in (-1, i):
            continue
        page, other_page = want.first_page(want.vmas[i]), want.first_page(want.vmas[other])
        verb = "should share one anon_vma" if same else "should not share an anon_vma"
        out.append(Finding("differential", f"VMAs at pages {other_page} and {page}{_where(mm)} "
                           f"{verb} (as on the reference)",
                           (VmaSameAnonVma(page, other_page, same, mm=mm),), tier="patch",
                           kind="anon-vma-sharing-differs"))
    for key in sorted(set(want.stats) & set(got.stats)):
        if got.stats[key] != want.stats[key]:
            delta = want.stats[key] - stats_base.get(key, 0)
            out.append(Finding("differential", f"stats{_where(mm)}: {key} = {got.stats[key]}, "
                               f"reference {want.stats[key]}",
                               (Stats(key, delta, mm=mm),), tier="patch", kind="stats-differ"))
    return out


def _list(pages: frozenset[int] | Sequence[int]) -> str:
    return ", ".join(str(p) for p in sorted(pages))

