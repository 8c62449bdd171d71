"""Running a :class:`~pytest_anonvma.cases.corpus.Case` on an implementation.

:func:`run_case` plays the steps on a fresh address space (and the children its ``fork`` steps
create), checks every expectation the implementation has the capability for and whose design
filter covers it, and raises :class:`CaseFailure` with a readable report at the first mismatch.
Every address space it created is closed, pass or fail.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_anonvma import constants as C
from pytest_anonvma.cases.arena import ARENA_BASE, ARENA_PAGES, page_addr
from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.space import Space
from pytest_anonvma.cases.steps import (
    ROOT_MM,
    Action,
    Call,
    Checkpoint,
    Expectation,
    LayoutIs,
    Pages,
    Read,
    Retractable,
    Stats,
    Step,
    VmaField,
    VmaFlag,
    VmaSameAnonVma,
    format_prot,
    names_apply,
)
from pytest_anonvma.conformity import ContractViolation, checked
from pytest_anonvma.contract import MM, BusError, MemoryFault, SegmentationFault, VMAInfo
from pytest_anonvma.layout import Layout, layout_of, parse_layout, render_layout
from pytest_anonvma.layout_tools import layout_difference

__all__ = [
    "DEFAULT_DESIGN",
    "CaseFailure",
    "case_applies",
    "mm_design",
    "mm_era",
    "run_case",
    "step_kind",
]

#: the design family assumed for an implementation without a ``design`` attribute
DEFAULT_DESIGN = "reference"
_SIGNALS: dict[str, type[MemoryFault]] = {"SIGSEGV": SegmentationFault, "SIGBUS": BusError}


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


class CaseFailure(AssertionError):
    """A case failed on an implementation; ``str()`` is the full report (the case story)."""

    def __init__(
        self,
        report: str,
        case_id: str = "",
        impl_name: str = "",
        step: Step | None = None,
        raised: bool = False,
        summary: str = "",
        cause: str = "",
        steps: int = 0,
    ) -> None:
        super().__init__(report)
        self.case_id = case_id
        self.impl_name = impl_name
        #: the step that failed (None: outside the steps, e.g. making the address space)
        self.step = step
        #: the implementation broke the contract (raised, lacked a method, returned the wrong
        #: type) rather than giving a result the case does not expect
        self.raised = raised
        #: the failure in one line of words ("pages 0..4 in child: expected G, got .")
        self.summary = summary or _first_line(report)
        #: what failed without where: the step's kind and how it failed ("pages mismatch
        #: after fork", "mprotect outcome mismatch", "mprotect raised")
        self.cause = cause
        #: how many steps the case has (the length of this reproducer)
        self.steps = steps


class _Mismatch(Exception):
    """Internal: the current step did not do what the case expects (message = the detail,
    ``summary`` = the same in one line; the detail's first line if not given)."""

    def __init__(self, detail: str, summary: str = "") -> None:
        super().__init__(detail)
        self.summary = summary or _first_line(detail)


def mm_design(mm: Any) -> str:
    """The design family of an implementation (``mm.design``; :data:`DEFAULT_DESIGN` if absent)."""
    design = getattr(mm, "design", None)
    return design if isinstance(design, str) and design else DEFAULT_DESIGN


def mm_era(mm: Any) -> str | None:
    """The era of an implementation (``mm.era``), None if it does not say."""
    era = getattr(mm, "era", None)
    return era if isinstance(era, str) and era else None


def case_applies(case: Case, design: str, era: str | None = None) -> str | None:
    """Why ``case`` does not apply to design family ``design`` (on ``era``), None if it does.

    A case's ``designs`` may name eras too: ``["6.18"]`` covers every design on that era,
    ``["maybe-guard", "6.18"]`` maybe-guard on that era only.
    """
    if case.designs is not None and not names_apply(case.designs, design, era):
        on = f" on era {era}" if era else ""
        return (
            f"case {case.id!r} applies to {', '.join(sorted(case.designs))} only "
            f"(implementation design: {design}{on})"
        )
    return None


#: at most this many later steps are listed (as not run) under a failing step
_LATER_SHOWN = 5


def step_kind(step: Step) -> str:
    """The kind of a step as the case writes it: its first word (``guard``, ``mmap``,
    ``pages``, ``vma``...), without the address space."""
    return step.body().split(maxsplit=1)[0]


def _describe_error(code: int) -> str:
    return errno.errorcode.get(code, f"errno {code}")


def _args_text(args: tuple[Any, ...]) -> str:
    return ", ".join(hex(a) if isinstance(a, int) and a >= 0x10000 else repr(a) for a in args)


@dataclass
class _Run:
    """The state of one case run: named address spaces and files, stats baselines, the log."""

    case: Case
    space: Space
    impl_name: str
    baselines: dict[str, Mapping[str, int]] = field(default_factory=dict)
    log: list[tuple[Step, str]] = field(default_factory=list)
    design: str = DEFAULT_DESIGN
    era: str | None = None

    # --- calling the implementation -----------------------------------------------------------

    def call(self, step: Step | None, mm: Any, method: str, *args: Any) -> Any:
        """Call ``mm.method(*args)``; OSError and faults propagate, anything else is a failure
        naming the method."""
        try:
            bound = getattr(mm, method)
        except AttributeError:
            raise self.failure(
                step, f"the implementation has no method MM.{method}()", raised=True
            ) from None
        try:
            result = bound(*args)
        except (OSError, MemoryFault):
            raise
        except Exception as exc:
            raise self.failure(
                step,
                f"MM.{method}({_args_text(args)}) raised {type(exc).__name__}: {exc}",
                raised=True,
            ) from exc
        try:
            return checked(mm, method, result)
        except ContractViolation as exc:
            raise self.failure(step, str(exc), raised=True) from None

    def syscall(self, step: Action, mm: Any, call: Call) -> None:
        """A system call of ``step``: check its errno outcome, and on success what it returned;
        keep what it made (a fork child, a memfd)."""
        expected = step.outcome
        try:
            result = self.call(step, mm, call.method, *call.args)
        except OSError as exc:
            got = _describe_error(exc.errno) if exc.errno is not None else repr(exc)
            if expected == got:
                return
            want = f"-> {expected}" if expected else "success"
            raise _Mismatch(f"MM.{call.method}() failed with {got}; expected {want}") from exc
        if expected:
            raise _Mismatch(f"MM.{call.method}() succeeded; expected -> {expected}")
        if result is not None:
            wrong = step.wrong_result(result)
            if wrong:
                raise _Mismatch(wrong)
            self.space.keep(call, result)

    def touch(self, step: Action, mm: Any, call: Call) -> None:
        """One page of a touch: it faults with the step's signal outcome, or it does not and a
        read gives the step's value (if it names one)."""
        where = _in(step)
        try:
            result = self.call(step, mm, call.method, *call.args)
        except MemoryFault as fault:
            if step.outcome and isinstance(fault, _SIGNALS[step.outcome]):
                return
            want = f"-> {step.outcome}" if step.outcome else "no fault"
            raise _Mismatch(
                f"{step.keyword} page {call.page}{where}: got {fault.signal_name} "
                f"({fault}); expected {want}"
            ) from fault
        except OSError as exc:
            raise _Mismatch(f"{step.keyword} page {call.page}{where} raised OSError {exc}") from exc
        value = result if isinstance(step, Read) else None
        if step.outcome:
            got = "no fault" if value is None else f"value {value:#x} (no fault)"
            raise _Mismatch(
                f"{step.keyword} page {call.page}{where}: {got}; expected -> {step.outcome}")
        if isinstance(step, Read) and step.value is not None and value != step.value:
            raise _Mismatch(
                f"read page {call.page}{where}: got {value!r}; expected {step.value:#x}")

    def act(self, step: Action, mm: Any) -> None:
        """Perform an action (the calls it lists) and check each against the case; a memfd the
        step maps before any ``memfd`` step made it is created first."""
        for name in sorted(step.memfds()):
            if self.space.files.get(name) is None:
                size = self.case.memfd_sizes()[name] * C.PAGE_SIZE
                self.space.files[name] = self.call(step, mm, "memfd", name, size)
        for call in step.calls(self.space.files):
            if call.page is None:
                self.syscall(step, mm, call)
            else:
                self.touch(step, mm, call)

    # --- steps ---------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            parent = self.space.factory()
        except Exception as exc:
            raise self.failure(
                None, f"creating the address space raised {type(exc).__name__}: {exc}", raised=True
            ) from exc
        self.space.mms[ROOT_MM] = parent
        self.design = mm_design(parent)
        self.era = mm_era(parent)
        missing = self.case.needs - set(getattr(parent, "capabilities", ()))
        if missing:
            raise self.failure(
                None,
                "the implementation lacks capabilities the case needs: "
                f"{', '.join(sorted(missing))}",
            )
        self.checkpoint()
        for step in self.case.steps:
            self.log.append((step, ""))
            mm = self.space.mms[step.mm]
            if isinstance(step, Expectation):
                skip = self.skip_reason(mm, step)
                if skip:
                    self.log[-1] = (step, skip)
                    continue
            try:
                self.do(step, mm)
            except _Mismatch as exc:
                # the detail is the whole of the mismatch: no chained copy of it
                raise self.failure(step, str(exc), summary=exc.summary) from None

    def skip_reason(self, mm: Any, step: Expectation) -> str:
        """Why an expectation is not checked on this implementation ('' if it is)."""
        missing = step.capabilities() - set(getattr(mm, "capabilities", ()))
        if missing:
            return f"not checked: needs {', '.join(sorted(missing))}"
        if step.designs is not None and not step.designs.applies(self.design, self.era):
            return f"not checked for design {self.design}"
        return ""

    def do(self, step: Step, mm: Any) -> None:
        """Run one step: bookkeeping (``checkpoint``), an action, or an expectation's check."""
        if isinstance(step, Checkpoint):
            self.checkpoint(step)
        elif isinstance(step, Action):
            self.act(step, mm)
        else:
            check = _CHECKS.get(type(step))
            if check is None:  # a Step subclass this runner does not know
                raise self.failure(step, f"the runner cannot run {type(step).__name__} steps")
            check(self, step, mm)

    def checkpoint(self, step: Step | None = None) -> None:
        """Remember every address space's counters: later ``stats`` deltas count from here."""
        for name, mm in self.space.mms.items():
            if "stats" in getattr(mm, "capabilities", ()):
                self.baselines[name] = dict(self.call(step, mm, "stats"))

    def vma_at(self, step: Step, mm: Any, page: int) -> VMAInfo:
        addr = page_addr(page)
        for vma in self.call(step, mm, "vmas"):
            if vma.start <= addr < vma.end:
                return vma
        raise _Mismatch(f"no VMA contains page {page} (address {addr:#x})")

    # --- the report ----------------------------------------------------------------------------

    def failure(
        self, step: Step | None, detail: str, raised: bool = False, summary: str = ""
    ) -> CaseFailure:
        """The :class:`CaseFailure` at ``step`` (None: outside the steps): the case, the steps
        run with the failing one marked, the later steps not run, then ``detail``."""
        case = self.case
        where = f"{case.path}:{step.line if step else case.line}" if case.path else ""
        era = f", era {self.era}" if self.era else ""
        head = f"case {case.id!r} failed on {self.impl_name!r} (design {self.design}{era})" + (
            f" at {where}" if where else ""
        )
        lines = [head, f"  about:  {case.about}", f"  source: {case.source}", "", "  steps:"]
        for logged, note in self.log:
            marker = ">" if logged is step else " "
            text = f"  {marker} {logged.line:>4} | {logged.format()}"
            if logged is step:
                text += "    <-- failed here"
            elif note:
                text += f"    ({note})"
            lines.append(text)
        later = case.steps[len(self.log):]
        lines += [f"    {s.line:>4} | {s.format()}    (not run)" for s in later[:_LATER_SHOWN]]
        if len(later) > _LATER_SHOWN:
            lines.append(f"    ({len(later) - _LATER_SHOWN} more step(s) not run)")
        lines += ["", *("  " + ln for ln in detail.splitlines())]
        return CaseFailure("\n".join(lines), case.id, self.impl_name, step, raised,
                           summary=summary or _first_line(detail),
                           cause=self.cause(step, raised), steps=len(case.steps))

    def cause(self, step: Step | None, raised: bool) -> str:
        """What failed, without where: the kind of ``step`` and how it failed; for an
        expectation, the kind of the last action before it too."""
        if step is None:
            return "outside the steps: " + ("raised" if raised else "lacks capabilities")
        kind = step_kind(step)
        if raised:
            return f"{kind} raised"
        if isinstance(step, Action):
            return f"{kind} outcome mismatch"
        done = [s for s, _ in self.log if isinstance(s, Action) and not isinstance(s, Checkpoint)]
        return f"{kind} mismatch" + (f" after {step_kind(done[-1])}" if done else "")

    def run_and_close(self) -> None:
        """:meth:`run`, then close every address space; a close error never hides the run's
        own failure."""
        try:
            self.run()
        except BaseException:
            with contextlib.suppress(CaseFailure):
                self.close_all()
            raise
        self.close_all()

    def close_all(self) -> None:
        """Close every address space created, children first; report the first close error."""
        try:
            self.space.close()
        except Exception as error:
            detail = f"MM.close() raised {type(error).__name__}: {error}"
            raise self.failure(None, detail, raised=True) from error


# --- expectation checks ------------------------------------------------------------------------


def _check_pages(run: _Run, step: Pages, mm: Any) -> None:
    pages = range(step.first, step.first + len(step.states))
    actual = "".join(run.call(step, mm, "page", page_addr(p)).char for p in pages)
    if actual != step.states:
        marks = "".join("^" if a != e else " " for a, e in zip(actual, step.states, strict=True))
        raise _Mismatch(
            f"page states of pages {step.first}..{pages[-1]}{_in(step)}:\n"
            f"  expected  {' '.join(step.states)}\n"
            f"  actual    {' '.join(actual)}\n"
            f"            {' '.join(marks).rstrip()}",
            _pages_summary(step, actual),
        )


def _pages_summary(step: Pages, actual: str) -> str:
    """The first run of pages that differ the same way, in words ("pages 0..4 in child:
    expected G, got ."), and how many other pages differ."""
    pairs = enumerate(zip(step.states, actual, strict=True), start=step.first)
    differ = [(page, e, a) for page, (e, a) in pairs if e != a]
    first, want, got = differ[0]
    last = first
    while (last + 1, want, got) in differ:
        last += 1
    where = f"page {first}" if last == first else f"pages {first}..{last}"
    more = len(differ) - (last - first + 1)
    return (f"{where}{_in(step)}: expected {want}, got {got}"
            + (f" ({more} more page(s) differ)" if more else ""))


def _check_layout(run: _Run, step: LayoutIs, mm: Any) -> None:
    expected = parse_layout(step.diagram)
    actual = layout_of(run.call(step, mm, "vmas"), ARENA_BASE, ARENA_PAGES)
    if actual.extents != expected.extents:
        width = max(run.case.arena_pages(), expected.width)
        shown = Layout(actual.extents, width)
        raise _Mismatch(
            f"VMA layout of the arena{_in(step)}:\n"
            + render_layout([("expected", expected), ("actual", shown)]),
            f"VMA layout{_in(step)}: {layout_difference(expected, shown)}",
        )


def _check_vma_flag(run: _Run, step: VmaFlag, mm: Any) -> None:
    vma = run.vma_at(step, mm, step.page)
    if (step.flag in vma.flags) != step.present:
        shown = " ".join(sorted(vma.flags)) or "(none)"
        raise _Mismatch(
            f"VMA {_extent(vma)}{_in(step)} should {'have' if step.present else 'lack'}"
            f" {step.flag}; its flags: {shown}"
        )


def _vma_value(vma: VMAInfo, name: str) -> str:
    if name == "anon_vma":
        return "none" if vma.anon_vma is None else "set"
    if name == "maybe_has_pagetables":
        return str(bool(vma.maybe_has_pagetables)).lower()
    if name == "prot":
        return format_prot(vma.prot)
    return str(getattr(vma, name))


def _check_vma_field(run: _Run, step: VmaField, mm: Any) -> None:
    vma = run.vma_at(step, mm, step.page)
    actual = _vma_value(vma, step.name)
    if actual != step.value:
        raise _Mismatch(
            f"VMA {_extent(vma)}{_in(step)}: {step.name} is {actual}; expected {step.value}"
        )


def _check_vma_same(run: _Run, step: VmaSameAnonVma, mm: Any) -> None:
    a = run.vma_at(step, mm, step.page)
    b = run.vma_at(step, mm, step.other)
    same = a.anon_vma is not None and a.anon_vma == b.anon_vma
    if same != step.same:
        raise _Mismatch(
            f"anon_vma of VMA {_extent(a)} is {a.anon_vma!r}, of VMA {_extent(b)} "
            f"is {b.anon_vma!r}{_in(step)}; expected them "
            f"{'shared' if step.same else 'not shared'}"
        )


def _check_stats(run: _Run, step: Stats, mm: Any) -> None:
    stats = run.call(step, mm, "stats")
    if step.key not in stats:
        raise _Mismatch(f"MM.stats() has no key {step.key!r} (keys: {', '.join(sorted(stats))})")
    delta = stats[step.key] - run.baselines.get(step.mm, {}).get(step.key, 0)
    if delta != step.delta:
        raise _Mismatch(
            f"{step.key}{_in(step)} grew by {delta} since the last checkpoint; "
            f"expected +{step.delta}"
        )


def _check_retractable(run: _Run, step: Retractable, mm: Any) -> None:
    actual = bool(run.call(step, mm, "retractable", page_addr(step.page)))
    if actual != step.value:
        raise _Mismatch(
            f"retractable(page {step.page}){_in(step)} is {str(actual).lower()}; "
            f"expected {str(step.value).lower()}"
        )


def _in(step: Step) -> str:
    return "" if step.mm == ROOT_MM else f" in {step.mm}"


def _extent(vma: VMAInfo) -> str:
    first = (vma.start - ARENA_BASE) // C.PAGE_SIZE
    last = (vma.end - ARENA_BASE) // C.PAGE_SIZE - 1
    return f"pages {first}..{last}"


#: how the runner checks each kind of expectation
_CHECKS: dict[type[Step], Callable[[_Run, Any, Any], None]] = {
    Pages: _check_pages,
    LayoutIs: _check_layout,
    VmaFlag: _check_vma_flag,
    VmaField: _check_vma_field,
    VmaSameAnonVma: _check_vma_same,
    Stats: _check_stats,
    Retractable: _check_retractable,
}


def run_case(case: Case, factory: Callable[[], MM], impl_name: str) -> None:
    """Run ``case`` on a new address space from ``factory``; raise :class:`CaseFailure` at the
    first expectation the implementation does not meet (or any unexpected exception of it)."""
    _Run(case, Space(factory), impl_name).run_and_close()
