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
from pytest_anonvma.cases.steps import (
    ADVICE,
    ROOT_MM,
    Checkpoint,
    Expectation,
    Fork,
    LayoutIs,
    Madvise,
    Memfd,
    Mlock,
    Mmap,
    Mprotect,
    Mremap,
    Munlock,
    Munmap,
    Pages,
    RangeAction,
    Read,
    Retractable,
    Stats,
    Step,
    Touch,
    VmaField,
    VmaFlag,
    VmaSameAnonVma,
    Write,
    format_prot,
    names_apply,
)
from pytest_anonvma.contract import MM, BusError, MemoryFault, SegmentationFault, VMAInfo
from pytest_anonvma.layout import Layout, layout_of, parse_layout, render_layout

__all__ = [
    "DEFAULT_DESIGN",
    "CaseFailure",
    "case_applies",
    "mm_design",
    "mm_era",
    "run_case",
    "syscall_args",
]

#: the design family assumed for an implementation without a ``design`` attribute
DEFAULT_DESIGN = "reference"
_SIGNALS: dict[str, type[MemoryFault]] = {"SIGSEGV": SegmentationFault, "SIGBUS": BusError}


class CaseFailure(AssertionError):
    """A case failed on an implementation; ``str()`` is the full report."""

    def __init__(
        self, report: str, case_id: str = "", impl_name: str = "", step: Step | None = None
    ) -> None:
        super().__init__(report)
        self.case_id = case_id
        self.impl_name = impl_name
        self.step = step


class _Mismatch(Exception):
    """Internal: the current step did not do what the case expects (message = the detail)."""


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


def _describe_error(code: int) -> str:
    return errno.errorcode.get(code, f"errno {code}")


def _args_text(args: tuple[Any, ...]) -> str:
    return ", ".join(hex(a) if isinstance(a, int) and a >= 0x10000 else repr(a) for a in args)


@dataclass
class _Run:
    """The state of one case run: named address spaces, files, stats baselines, the log."""

    case: Case
    factory: Callable[[], MM]
    impl_name: str
    mms: dict[str, MM] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
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
            raise self.failure(step, f"the implementation has no method MM.{method}()") from None
        try:
            return bound(*args)
        except (OSError, MemoryFault):
            raise
        except Exception as exc:
            raise self.failure(
                step, f"MM.{method}({_args_text(args)}) raised {type(exc).__name__}: {exc}"
            ) from exc

    def syscall(self, step: Step, mm: Any, method: str, *args: Any) -> Any:
        """A system-call-like method: check its errno outcome; returns its result on success."""
        expected = getattr(step, "outcome", None)
        try:
            result = self.call(step, mm, method, *args)
        except OSError as exc:
            got = _describe_error(exc.errno) if exc.errno is not None else repr(exc)
            if expected == got:
                return None
            want = f"-> {expected}" if expected else "success"
            raise _Mismatch(f"MM.{method}() failed with {got}; expected {want}") from exc
        if expected:
            raise _Mismatch(f"MM.{method}() succeeded; expected -> {expected}")
        return result

    # --- steps ---------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            parent = self.factory()
        except Exception as exc:
            raise self.failure(
                None, f"creating the address space raised {type(exc).__name__}: {exc}"
            ) from exc
        self.mms[ROOT_MM] = parent
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
            mm = self.mms[step.mm]
            if isinstance(step, Expectation):
                skip = self.skip_reason(mm, step)
                if skip:
                    self.log[-1] = (step, skip)
                    continue
            try:
                self.do(step, mm)
            except _Mismatch as exc:
                raise self.failure(step, str(exc)) from exc

    def skip_reason(self, mm: Any, step: Expectation) -> str:
        """Why an expectation is not checked on this implementation ('' if it is)."""
        missing = step.capabilities() - set(getattr(mm, "capabilities", ()))
        if missing:
            return f"not checked: needs {', '.join(sorted(missing))}"
        if step.designs is not None and not step.designs.applies(self.design, self.era):
            return f"not checked for design {self.design}"
        return ""

    def do(self, step: Step, mm: Any) -> None:
        handler = _HANDLERS.get(type(step))
        if handler is None:  # a Step subclass this runner does not know
            raise self.failure(step, f"the runner cannot run {type(step).__name__} steps")
        handler(self, step, mm)

    def checkpoint(self, step: Step | None = None) -> None:
        """Remember every address space's counters: later ``stats`` deltas count from here."""
        for name, mm in self.mms.items():
            if "stats" in getattr(mm, "capabilities", ()):
                self.baselines[name] = dict(self.call(step, mm, "stats"))

    def vma_at(self, step: Step, mm: Any, page: int) -> VMAInfo:
        addr = page_addr(page)
        for vma in self.call(step, mm, "vmas"):
            if vma.start <= addr < vma.end:
                return vma
        raise _Mismatch(f"no VMA contains page {page} (address {addr:#x})")

    # --- the report ----------------------------------------------------------------------------

    def failure(self, step: Step | None, detail: str) -> CaseFailure:
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
        remaining = len(case.steps) - len(self.log)
        if remaining:
            lines.append(f"    ({remaining} later step(s) not run)")
        lines += ["", *("  " + ln for ln in detail.splitlines())]
        return CaseFailure("\n".join(lines), case.id, self.impl_name, step)

    def close_all(self) -> None:
        """Close every address space created, children first; report the first close error."""
        error: Exception | None = None
        for name in reversed(list(self.mms)):
            try:
                self.mms[name].close()
            except Exception as exc:  # keep closing the others
                error = error or exc
        if error is not None:
            raise self.failure(None, f"MM.close() raised {type(error).__name__}: {error}")


# --- step handlers ---------------------------------------------------------------------------


def syscall_args(step: RangeAction, file: Any = None) -> tuple[str, tuple[Any, ...]]:
    """The MM method a system-call step calls and its arguments (``file``: the memfd handle an
    ``mmap`` maps). Shared by this runner and the generated-case checker
    (:mod:`pytest_anonvma.generate`)."""
    addr, length = page_addr(step.first, step.skew), step.count * C.PAGE_SIZE
    if isinstance(step, Mmap):
        flags = C.MAP_FIXED | (C.MAP_SHARED if step.shared else C.MAP_PRIVATE)
        flags |= 0 if file is not None else C.MAP_ANONYMOUS
        flags |= (C.MAP_POPULATE if step.populate else 0) | (C.MAP_NORESERVE
                                                             if step.noreserve else 0)
        return "mmap", (addr, length, step.prot, flags, file, step.offset * C.PAGE_SIZE)
    if isinstance(step, Mprotect):
        return "mprotect", (addr, length, step.prot)
    if isinstance(step, Madvise):
        return "madvise", (addr, length, ADVICE[step.advice])
    if isinstance(step, Mremap):
        flags = (C.MREMAP_MAYMOVE if step.maymove else 0) | (C.MREMAP_DONTUNMAP
                                                             if step.dontunmap else 0)
        new_addr = None
        if step.fixed is not None:
            flags |= C.MREMAP_FIXED
            new_addr = page_addr(step.fixed)
        return "mremap", (addr, length, step.new_count * C.PAGE_SIZE, flags, new_addr)
    return step.keyword, (addr, length)  # munmap, mlock, munlock


def _do_mmap(run: _Run, step: Mmap, mm: Any) -> None:
    file = None
    if step.file:
        file = run.files.get(step.file)
        if file is None:
            size = run.case.memfd_sizes()[step.file] * C.PAGE_SIZE
            file = run.files[step.file] = run.call(step, mm, "memfd", step.file, size)
    method, args = syscall_args(step, file)
    result = run.syscall(step, mm, method, *args)
    addr = args[0]
    if result is not None and result != addr:
        raise _Mismatch(f"MAP_FIXED mmap returned {result:#x}, not the requested {addr:#x}")


def _do_memfd(run: _Run, step: Memfd, mm: Any) -> None:
    run.files[step.name] = run.syscall(step, mm, "memfd", step.name, step.pages * C.PAGE_SIZE)


def _do_syscall(run: _Run, step: RangeAction, mm: Any) -> None:
    method, args = syscall_args(step)
    run.syscall(step, mm, method, *args)


def _do_mremap(run: _Run, step: Mremap, mm: Any) -> None:
    method, args = syscall_args(step)
    addr, new_addr = args[0], args[4]
    result = run.syscall(step, mm, method, *args)
    if result is None:
        return
    if new_addr is not None and result != new_addr:
        raise _Mismatch(f"mremap to a fixed address returned {result:#x}, not {new_addr:#x}")
    if not step.maymove and result != addr:
        raise _Mismatch(f"mremap without maymove moved the mapping to {result:#x}")


def _do_fork(run: _Run, step: Fork, mm: Any) -> None:
    child = run.syscall(step, mm, "fork")
    if child is not None:
        run.mms[step.child] = child


def _do_checkpoint(run: _Run, step: Checkpoint, mm: Any) -> None:
    run.checkpoint(step)


def _do_touch(run: _Run, step: Touch, mm: Any) -> None:
    where = "" if step.mm == ROOT_MM else f" in {step.mm}"
    for page in range(step.first, step.last + 1):
        addr = page_addr(page)
        try:
            if isinstance(step, Write):
                run.call(step, mm, "write", addr, step.value)
                value = None
            else:
                value = run.call(step, mm, "read", addr)
        except MemoryFault as fault:
            if step.outcome and isinstance(fault, _SIGNALS[step.outcome]):
                continue
            want = f"-> {step.outcome}" if step.outcome else "no fault"
            raise _Mismatch(
                f"{step.keyword} page {page}{where}: got {fault.signal_name} "
                f"({fault}); expected {want}"
            ) from fault
        except OSError as exc:
            raise _Mismatch(f"{step.keyword} page {page}{where} raised OSError {exc}") from exc
        if step.outcome:
            got = "no fault" if value is None else f"value {value:#x} (no fault)"
            raise _Mismatch(f"{step.keyword} page {page}{where}: {got}; expected -> {step.outcome}")
        if isinstance(step, Read) and step.value is not None and value != step.value:
            raise _Mismatch(f"read page {page}{where}: got {value!r}; expected {step.value:#x}")


def _do_pages(run: _Run, step: Pages, mm: Any) -> None:
    pages = range(step.first, step.first + len(step.states))
    actual = "".join(run.call(step, mm, "page", page_addr(p)).char for p in pages)
    if actual != step.states:
        marks = "".join("^" if a != e else " " for a, e in zip(actual, step.states, strict=True))
        raise _Mismatch(
            f"page states of pages {step.first}..{pages[-1]}{_in(step)}:\n"
            f"  expected  {' '.join(step.states)}\n"
            f"  actual    {' '.join(actual)}\n"
            f"            {' '.join(marks).rstrip()}"
        )


def _do_layout(run: _Run, step: LayoutIs, mm: Any) -> None:
    expected = parse_layout(step.diagram)
    actual = layout_of(run.call(step, mm, "vmas"), ARENA_BASE, ARENA_PAGES)
    if actual.extents != expected.extents:
        width = max(run.case.arena_pages(), expected.width)
        raise _Mismatch(
            f"VMA layout of the arena{_in(step)}:\n"
            + render_layout([("expected", expected), ("actual", Layout(actual.extents, width))])
        )


def _do_vma_flag(run: _Run, step: VmaFlag, mm: Any) -> None:
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


def _do_vma_field(run: _Run, step: VmaField, mm: Any) -> None:
    vma = run.vma_at(step, mm, step.page)
    actual = _vma_value(vma, step.name)
    if actual != step.value:
        raise _Mismatch(
            f"VMA {_extent(vma)}{_in(step)}: {step.name} is {actual}; expected {step.value}"
        )


def _do_vma_same(run: _Run, step: VmaSameAnonVma, mm: Any) -> None:
    a = run.vma_at(step, mm, step.page)
    b = run.vma_at(step, mm, step.other)
    same = a.anon_vma is not None and a.anon_vma == b.anon_vma
    if same != step.same:
        raise _Mismatch(
            f"anon_vma of VMA {_extent(a)} is {a.anon_vma!r}, of VMA {_extent(b)} "
            f"is {b.anon_vma!r}{_in(step)}; expected them "
            f"{'shared' if step.same else 'not shared'}"
        )


def _do_stats(run: _Run, step: Stats, mm: Any) -> None:
    stats = run.call(step, mm, "stats")
    if step.key not in stats:
        raise _Mismatch(f"MM.stats() has no key {step.key!r} (keys: {', '.join(sorted(stats))})")
    delta = stats[step.key] - run.baselines.get(step.mm, {}).get(step.key, 0)
    if delta != step.delta:
        raise _Mismatch(
            f"{step.key}{_in(step)} grew by {delta} since the last checkpoint; "
            f"expected +{step.delta}"
        )


def _do_retractable(run: _Run, step: Retractable, mm: Any) -> None:
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


_HANDLERS: dict[type[Step], Callable[[_Run, Any, Any], None]] = {
    Mmap: _do_mmap,
    Memfd: _do_memfd,
    Munmap: _do_syscall,
    Mlock: _do_syscall,
    Munlock: _do_syscall,
    Mprotect: _do_syscall,
    Madvise: _do_syscall,
    Mremap: _do_mremap,
    Fork: _do_fork,
    Checkpoint: _do_checkpoint,
    Read: _do_touch,
    Write: _do_touch,
    Pages: _do_pages,
    LayoutIs: _do_layout,
    VmaFlag: _do_vma_flag,
    VmaField: _do_vma_field,
    VmaSameAnonVma: _do_vma_same,
    Stats: _do_stats,
    Retractable: _do_retractable,
}


def run_case(case: Case, factory: Callable[[], MM], impl_name: str) -> None:
    """Run ``case`` on a new address space from ``factory``; raise :class:`CaseFailure` at the
    first expectation the implementation does not meet (or any unexpected exception of it)."""
    run = _Run(case, factory, impl_name)
    try:
        run.run()
    except BaseException:
        with contextlib.suppress(CaseFailure):  # a close error must not hide the failure
            run.close_all()
        raise
    run.close_all()
