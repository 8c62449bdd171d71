"""Running an interleave case on an implementation with the ``interleave`` capability.

Each interleaving is one run of the case from scratch: the setup steps, the threads in that
interleaving (each thread's actions performed through ``MM.stepped``), then the steps after
``in every interleaving:``. Besides the case's own expectations, the guard tier's invariants
are checked as the run goes: no step other than a guard remove's walk clears a marker while
its VMA lives (a page table retracted with markers in it is such a step), and a fork copies
the markers of every VMA it copies. A failure is shrunk (thread actions dropped while the same
finding remains; then the shortest failing interleaving) and reported with its numbered schedule
and the picture of the address space where it went wrong.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_anonvma import constants as C
from pytest_anonvma.cases.arena import ARENA_BASE, ARENA_PAGES, page_addr
from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.runner import CaseFailure, _Run
from pytest_anonvma.cases.space import Space
from pytest_anonvma.cases.steps import ROOT_MM, Fork, Read, Step
from pytest_anonvma.contract import MemoryFault, PageState
from pytest_anonvma.interleave.cases import Thread, ThreadOp, Threads, threads_of
from pytest_anonvma.interleave.explorer import (
    EXECUTION_LIMIT,
    Choice,
    Exploration,
    Op,
    Scheduler,
    explore,
)
from pytest_anonvma.layout import layout_of, render_layout
from pytest_anonvma.model.stepping import MMAP_READ, MMAP_WRITE, LockStep

__all__ = [
    "LOST_BY_FORK",
    "LOST_MARKER",
    "InterleaveFailure",
    "explore_case",
    "format_schedule",
    "run_interleave_case",
]

#: the findings of the guard-tier invariants (names of generate.oracles.FINDING_KINDS)
LOST_MARKER = "guard-marker-vanished"
LOST_BY_FORK = "fork-lost-guard-marker"
#: how many failing interleavings the shrinker compares
_SHRINK_FAILURES = 64
#: the widest state picture, in pages
_PICTURE_PAGES = 64
_FIRST_PFN = ARENA_BASE // C.PAGE_SIZE


class InterleaveFailure(CaseFailure):
    """An interleave case failed in some interleaving: ``str()`` is the report (schedule and
    state picture included), ``finding_kinds`` the invariants it broke (empty when one of the
    case's own expectations failed), ``schedule`` the steps taken."""

    def __init__(self, report: str, case_id: str, impl_name: str, step: Step | None,
                 finding_kinds: tuple[str, ...], schedule: Sequence[Choice],
                 raised: bool = False) -> None:
        super().__init__(report, case_id, impl_name, step, raised)
        self.finding_kinds = finding_kinds
        self.schedule = list(schedule)


def _arena_pages(record: LockStep) -> range:
    """The arena pages a step works on (empty when it names none)."""
    if record.pages is None:
        return range(0)
    first, last = record.pages
    return range(max(first - _FIRST_PFN, 0), min(last - _FIRST_PFN, ARENA_PAGES))


def format_schedule(schedule: Sequence[Choice], names: Sequence[str], wrong_at: int | None
                    ) -> list[str]:
    """The numbered schedule: step, thread, operation, what the step does, the lock it holds;
    ``wrong_at`` (an index) is marked."""
    rows = []
    width = max((len(choice.op) for choice in schedule), default=0)
    for i, choice in enumerate(schedule):
        record = choice.record
        pages = _arena_pages(record)
        where = f", pages {pages.start}..{pages.stop - 1}" if len(pages) > 1 else (
            f", page {pages.start}" if pages else "")
        mark = ">" if i == wrong_at else " "
        lock = record.lock
        if record.mmap == MMAP_READ and not lock.startswith("mmap_lock"):
            lock = f"mmap_lock (read) + {lock}"
        rows.append(f"  {mark}{i + 1:>3}  {names[choice.thread]}  {choice.op:<{width}}  "
                    f"{record.what}{where}  [holds {lock}]")
    return rows


def _switches(schedule: Sequence[Choice]) -> int:
    return sum(1 for a, b in itertools.pairwise(schedule) if a.thread != b.thread)


@dataclass
class _InterleaveRun(_Run):
    """One run of an interleave case, in the interleaving its scheduler chooses."""

    scheduler: Scheduler | None = None
    names: tuple[str, ...] = ()
    finding: str = ""
    #: the arena pages of the parent known to hold a guard marker
    known: set[int] = field(default_factory=set)

    # --- the steps --------------------------------------------------------------------------

    def do(self, step: Step, mm: Any) -> None:
        """Run the threads, or an ordinary step (a fork's markers are then checked)."""
        if isinstance(step, Threads):
            self.run_threads(step, mm)
            return
        super().do(step, mm)
        if isinstance(step, Fork):
            self.check_fork(step, mm)

    def run_threads(self, step: Threads, mm: Any) -> None:
        """Let the scheduler run the threads' operations (one per MM call of each action)."""
        assert self.scheduler is not None
        self.names = tuple(thread.name for thread in step.threads)
        for action in step.actions():
            for name in sorted(action.memfds()):
                if self.space.files.get(name) is None:
                    size = self.case.memfd_sizes()[name] * C.PAGE_SIZE
                    self.space.files[name] = self.call(action, mm, "memfd", name, size)
        threads = [self._ops(thread, mm) for thread in step.threads]
        self.known = self._guards(mm, range(self.case.arena_pages()))
        self.scheduler.run(threads, self)

    def _ops(self, thread: Thread, mm: Any) -> list[Op]:
        ops = []
        for top in thread.ops:
            for call in top.step.calls(self.space.files):
                def start(call: Any = call) -> Any:
                    return mm.stepped(call.method, *call.args)

                ops.append(Op(top.format(), start, (top, call)))
        return ops

    # --- the monitor ------------------------------------------------------------------------

    def _guards(self, mm: Any, pages: Iterable[int]) -> set[int]:
        """The pages of ``pages`` holding a guard marker in ``mm``."""
        page = mm.page
        try:
            return {p for p in pages if page(ARENA_BASE + p * C.PAGE_SIZE) == PageState.GUARD}
        except Exception as exc:
            raise self.failure(None, f"MM.page() raised {type(exc).__name__}: {exc}") from exc

    def after_step(self, thread: int, op: Op, record: LockStep) -> None:
        """A step that is no guard remove must not have cleared a marker of a live VMA; then
        note the markers it wrote. Only the step's pages can have changed (``LockStep.pages``);
        after an exclusive step (munmap, mremap...), every page is looked at again."""
        parent = self.space.mms[ROOT_MM]
        if record.mmap == MMAP_WRITE:
            self.known = self._guards(parent, range(self.case.arena_pages()))
            return
        pages = _arena_pages(record)
        mine = [p for p in sorted(self.known) if p in pages]
        lost = set(mine) - self._guards(parent, mine)
        if lost and not record.drops_markers:
            listed = ", ".join(map(str, sorted(lost)))
            raise self.violation(op.source[0].step, LOST_MARKER,
                                 f"{record.what}: the guard markers of pages {listed} are gone; "
                                 "their VMA is still mapped, and no guard remove cleared them")
        self.known -= lost
        if record.adds_markers:
            self.known |= self._guards(parent, pages)

    def op_done(self, thread: int, op: Op, result: Any, error: BaseException | None) -> None:
        """The call's outcome must be one the thread's line allows."""
        top: ThreadOp = op.source[0]
        got = None
        if isinstance(error, OSError):
            got = errno.errorcode.get(error.errno or 0, repr(error))
        elif isinstance(error, MemoryFault):
            got = error.signal_name
        elif error is not None:
            raise self.failure(top.step, f"MM.stepped({op.source[1].method!r}) raised "
                                         f"{type(error).__name__}: {error}", True) from error
        if not top.allows(got):
            want = "|".join(sorted(top.outcomes)) if top.outcomes else (
                top.step.outcome or "success")
            raise self.failure(top.step, f"thread {self.names[thread]}: {op.label}: got "
                                         f"{got or 'success'}; expected {want}")
        step = top.step
        if got is None and result is not None:
            self.space.keep(op.source[1], result)  # a fork child or memfd a thread made
        if got is None and isinstance(step, Fork):
            self.check_fork(step, self.space.mms[ROOT_MM])
        if got is None and isinstance(step, Read) and step.value is not None \
                and result != step.value:
            raise self.failure(step, f"thread {self.names[thread]}: {op.label}: read "
                                     f"{result!r}; expected {step.value:#x}")

    def check_fork(self, step: Fork, mm: Any) -> None:
        """Every VMA the fork copied must hold its markers in the child too."""
        child = self.space.mms.get(step.child)
        if child is None:
            return
        lost: list[int] = []
        for vma in self.call(step, mm, "vmas"):
            if vma.flags & {"VM_DONTCOPY", "VM_WIPEONFORK"}:
                continue
            first = max((vma.start - ARENA_BASE) // C.PAGE_SIZE, 0)
            last = min((vma.end - ARENA_BASE) // C.PAGE_SIZE, self.case.arena_pages())
            marked = self._guards(mm, range(first, max(first, last)))
            lost += sorted(marked - self._guards(child, sorted(marked)))
        if lost:
            raise self.violation(step, LOST_BY_FORK,
                                 f"fork did not copy the guard markers of pages "
                                 f"{', '.join(map(str, lost))} into {step.child}")

    # --- the report -------------------------------------------------------------------------

    def violation(self, step: Step, kind: str, detail: str) -> CaseFailure:
        """A broken invariant of the guard tier, named ``kind``."""
        self.finding = kind
        return self.failure(step, f"finding {kind}: {detail}")

    def failure(self, step: Step | None, detail: str, raised: bool = False,
                summary: str = "") -> CaseFailure:
        """The case runner's report, with the schedule and the state picture added."""
        trace = self.scheduler.trace if self.scheduler is not None else []
        block = threads_of(self.case)
        inside = isinstance(step, Step) and any(
            step is top.step for thread in block.threads for top in thread.ops)
        wrong_at = len(trace) - 1 if inside and trace else None
        lines = [detail, "", "schedule (step, thread, operation, what it does, lock held):"]
        lines += format_schedule(trace, self.names, wrong_at) or ["    (no thread step ran)"]
        lines += ["", "state " + ("at the marked step:" if wrong_at is not None else
                                  "when it went wrong:")]
        lines += self.picture()
        base = super().failure(step, "\n".join(lines), raised, summary)
        text = str(base)
        blocks = block.format()  # the thread blocks, one step of the log: indent their lines
        text = text.replace(blocks, blocks.replace("\n", "\n" + " " * 9 + "| "), 1)
        failure = InterleaveFailure(text, self.case.id, self.impl_name, step,
                                    (self.finding,) if self.finding else (), trace, raised)
        failure.summary, failure.cause, failure.steps = base.summary, base.cause, base.steps
        return failure

    def picture(self) -> list[str]:
        """Each address space: its VMAs (layout notation), its page states and flags."""
        width = min(self.case.arena_pages(), _PICTURE_PAGES)
        lines: list[str] = []
        for name, mm in self.space.mms.items():
            try:
                vmas = list(mm.vmas())
                states = "".join(mm.page(page_addr(p)).char for p in range(width))
            except Exception as exc:  # a dead implementation: say so, keep the report
                lines.append(f"    {name}: cannot show ({type(exc).__name__}: {exc})")
                continue
            layout = layout_of(vmas, ARENA_BASE, width)
            lines.append(f"    {name}:")
            lines += ["      " + row for row in render_layout([("VMAs ", layout)]).splitlines()]
            lines.append(f"      pages  {states}")
            for vma in vmas:
                if vma.end <= ARENA_BASE:
                    continue
                first = (vma.start - ARENA_BASE) // C.PAGE_SIZE
                notes = [f"anon_vma {'set' if vma.anon_vma is not None else 'none'}",
                         f"anon_vma_flags {vma.anon_vma_flags}"]
                if "VM_MAYBE_GUARD" in vma.flags:
                    notes.append("VM_MAYBE_GUARD")
                last = (vma.end - ARENA_BASE) // C.PAGE_SIZE - 1
                lines.append(f"      VMA pages {first}..{last}: {', '.join(notes)}")
            if self.case.arena_pages() > width:
                lines.append(f"      (pages {width}.. not shown)")
        return lines


def explore_case(case: Case, factory: Any, impl_name: str, *, reduce: bool = True,
                 max_failures: int = 1, limit: int = EXECUTION_LIMIT) -> Exploration:
    """Run ``case`` in every interleaving (see :func:`~pytest_anonvma.interleave.explorer.
    explore`, which raises RuntimeError past ``limit`` executions); failures are
    :class:`InterleaveFailure` (or the implementation's crash)."""

    def execute(scheduler: Scheduler) -> None:
        _InterleaveRun(case, Space(factory), impl_name, scheduler=scheduler).run_and_close()

    return explore(execute, reduce=reduce, max_failures=max_failures, limit=limit)


def _kinds(error: BaseException) -> tuple[str, ...]:
    return getattr(error, "finding_kinds", ())


def _without(case: Case, thread: int, index: int) -> Case:
    """``case`` without action ``index`` of thread ``thread``."""
    block = threads_of(case)
    threads = list(block.threads)
    ops = list(threads[thread].ops)
    del ops[index]
    threads[thread] = dataclasses.replace(threads[thread], ops=tuple(ops))
    new_block = dataclasses.replace(block, threads=tuple(threads))
    steps = tuple(new_block if step is block else step for step in case.steps)
    return dataclasses.replace(case, steps=steps)


def _shrink(case: Case, factory: Any, impl_name: str, kinds: tuple[str, ...]) -> Case:
    """Drop thread actions one at a time while the case still fails with ``kinds``."""
    changed = True
    while changed:
        changed = False
        for t, thread in enumerate(threads_of(case).threads):
            for i in range(len(thread.ops)):
                candidate = _without(case, t, i)
                found = explore_case(candidate, factory, impl_name).failures
                if found and _kinds(found[0][1]) == kinds:
                    case, changed = candidate, True
                    break
            if changed:
                break
    return case


def run_interleave_case(case: Case, factory: Any, impl_name: str) -> Exploration:
    """Explore ``case``; raise the shrunk failure with the fewest steps if any interleaving
    fails, else return what was explored."""
    result = explore_case(case, factory, impl_name)
    if not result.failures:
        return result
    kinds = _kinds(result.failures[0][1])
    shrunk = _shrink(case, factory, impl_name, kinds) if kinds else case
    again = explore_case(shrunk, factory, impl_name, max_failures=_SHRINK_FAILURES).failures
    same = [(trace, exc) for trace, exc in again if _kinds(exc) == kinds] or result.failures
    _, error = min(same, key=lambda found: (len(found[0]), _switches(found[0])))
    raise error
