"""The case runner on a toy MM (tests/cases/cases_toy.py), correct or deliberately wrong: failure
reports, named address spaces from fork, closing, capability and design filtering, stats deltas.
Expected behaviour is the runner's contract (docs/case-format.md); the toy's answers that the
cases expect follow the kernel's guard semantics (docs/spec.md §2)."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import pytest
from cases_toy import ToyMM

from pytest_anonvma.cases import Case, CaseFailure, case_applies, parse_cases, run_case


def make_case(
    steps: str,
    *,
    needs: str = '["pages"]',
    tier: str = "guard",
    designs: str | None = None,
    case_id: str = "toy-case",
) -> Case:
    designs_line = f"designs = {designs}\n" if designs else ""
    text = (
        f'[[case]]\nid = "{case_id}"\nabout = "A toy case."\nsource = "docs/spec.md §2"\n'
        f'tier = "{tier}"\nneeds = {needs}\n{designs_line}steps = """\n{steps}\n"""\n'
    )
    cases, problems = parse_cases(text, "toy.toml")
    assert problems == []
    return cases[0]


class Factory:
    """A factory remembering every root MM it made."""

    def __init__(self, **toy_options: Any) -> None:
        self.options = toy_options
        self.made: list[ToyMM] = []
        self.log: list[tuple[str, str]] = []

    def __call__(self) -> ToyMM:
        mm = ToyMM(self.log, **self.options)
        self.made.append(mm)
        return mm


def failure_of(case: Case, factory: Callable[[], Any], name: str = "toy") -> str:
    with pytest.raises(CaseFailure) as info:
        run_case(case, factory, name)
    return str(info.value)


def test_correct_toy_passes_a_guard_case() -> None:
    case = make_case(
        "mmap 0 4 rw anon\nwrite 0..3 0x5a\nguard 1 1\nmadvise 0 4 dontneed\n"
        "pages 0..3 = . G . .\nread 1 -> SIGSEGV\nread 0 == 0\nguard 2 4 -> ENOMEM\n"
        "pages 0..3 = P G G G"
    )
    factory = Factory()
    run_case(case, factory, "toy")
    assert factory.made[0].closed


def test_page_state_failure_report() -> None:
    case = make_case("mmap 0 4 rw anon\nguard 1 1\npages 0..3 = . G . .\nread 1 -> SIGSEGV")
    report = failure_of(case, Factory(ignore_guards=True), "toy-no-guards")
    lines = report.splitlines()
    assert lines[0] == "case 'toy-case' failed on 'toy-no-guards' (design reference) at toy.toml:10"
    assert "  about:  A toy case." in lines
    assert "  source: docs/spec.md §2" in lines
    assert "       8 | mmap 0 4 rw anon" in lines
    assert "       9 | guard 1 1" in lines
    assert "  >   10 | pages 0..3 = . G . .    <-- failed here" in lines
    assert "      11 | read 1 -> SIGSEGV    (not run)" in lines
    assert "    expected  . G . ." in lines
    assert "    actual    . . . ." in lines
    assert "                ^" in lines


def test_failure_summary_and_cause() -> None:
    """A failure in one line of words, and its cause without page numbers: the failing step's
    kind, how it failed, and the last action before an expectation."""
    case = make_case("mmap 0 4 rw anon\nguard 1 2\npages 0..3 = . G G .")
    with pytest.raises(CaseFailure) as info:
        run_case(case, Factory(ignore_guards=True), "toy")
    failure = info.value
    assert failure.summary == "pages 1..2: expected G, got ."
    assert (failure.cause, failure.steps) == ("pages mismatch after guard", 3)


def test_layout_failure_shows_both_pictures() -> None:
    case = make_case(
        'mmap 0 4 rw anon\nmprotect 1 1 r\nlayout "AAAA"', needs='["layout"]', tier="layout"
    )
    lines = failure_of(case, Factory()).splitlines()
    at = lines.index("  VMA layout of the arena:")
    assert lines[at + 1 :] == [
        "            0123",
        "  expected  AAAA",
        "  actual    ABCC",
    ]


@pytest.mark.parametrize(
    ("steps", "detail"),
    [
        (
            "mmap 0 2 rw anon\nread 0 -> SIGSEGV",
            "read page 0: value 0x0 (no fault); expected -> SIGSEGV",
        ),
        ("mmap 0 2 rw anon\nguard 0 1\nread 0 == 0", "read page 0: got SIGSEGV"),
        ("mmap 0 2 rw anon\nwrite 1 7\nread 1 == 8", "read page 1: got 7; expected 0x8"),
        ("mmap 0 2 rw anon\nguard 0 2 -> ENOMEM", "MM.madvise() succeeded; expected -> ENOMEM"),
        (
            "mmap 0 2 rw anon\nguard 0 4\nread 0 -> SIGSEGV",
            "MM.madvise() failed with ENOMEM; expected success",
        ),
        ("mmap 0 2 rw anon\nguard 0 4 -> EINVAL", "failed with ENOMEM; expected -> EINVAL"),
        ("mmap 0 2 r anon\nwrite 0 1\nread 0 == 1", "write page 0: got SIGSEGV"),
    ],
)
def test_touch_and_errno_mismatches(steps: str, detail: str) -> None:
    assert detail in failure_of(make_case(steps), Factory())


def test_missing_method_is_named() -> None:
    case = make_case("mmap 0 2 rw anon\nmlock 0 1\nread 0 == 0", needs='["pages", "mlock"]')
    factory = Factory(capabilities=frozenset({"pages", "mlock"}))
    report = failure_of(case, factory)
    assert "  >    9 | mlock 0 1    <-- failed here" in report
    assert "the implementation has no method MM.mlock()" in report
    assert factory.made[0].closed


def test_unexpected_exception_names_step_and_method() -> None:
    class Broken(ToyMM):
        def mprotect(self, addr: int, length: int, prot: int) -> None:
            raise RuntimeError("page tables on fire")

    case = make_case("mmap 0 2 rw anon\nmprotect 0 1 r\nread 0 == 0")
    with pytest.raises(CaseFailure) as info:
        run_case(case, Broken, "broken")
    report = str(info.value)
    (marked,) = [ln for ln in report.splitlines() if "<-- failed here" in ln]
    assert marked == "  >    9 | mprotect 0 1 r    <-- failed here"
    assert "MM.mprotect(0x200000000000, 4096, 1) raised RuntimeError: page tables on fire" in report
    assert isinstance(info.value.__cause__, RuntimeError)
    assert info.value.case_id == "toy-case" and info.value.impl_name == "broken"
    assert info.value.step is not None and info.value.step.line == 9


def test_fork_names_route_steps_and_every_mm_is_closed() -> None:
    case = make_case(
        "mmap 0 2 rw anon\nguard 0 1\nfork as child\nin child: unguard 0 1\n"
        "in child: fork as grandchild\nin grandchild: write 0 9\nin child: read 0 == 0\n"
        "read 0 -> SIGSEGV\nin grandchild: read 0 == 9",
        needs='["pages", "fork"]',
    )
    factory = Factory()
    run_case(case, factory, "toy")
    log = factory.log
    assert ("root.1", "madvise") in log  # the child's unguard
    assert ("root.1.1", "write") in log  # the grandchild's write
    assert ("root", "read") in log
    closes = [name for name, method in log if method == "close"]
    assert closes == ["root.1.1", "root.1", "root"]  # children first


def test_children_are_closed_when_the_case_fails() -> None:
    case = make_case(
        "mmap 0 2 rw anon\nguard 0 1\nfork as child\nin child: read 0 -> SIGSEGV",
        needs='["pages", "fork"]',
    )
    factory = Factory(guards_lost_on_fork=True)
    report = failure_of(case, factory)
    assert "read page 0 in child: value 0x0 (no fault); expected -> SIGSEGV" in report
    assert [n for n, m in factory.log if m == "close"] == ["root.1", "root"]


def test_close_error_is_reported_unless_the_case_already_failed() -> None:
    class BadClose(ToyMM):
        def close(self) -> None:
            raise OSError(errno.EBADF, "gone")

    passing = make_case("mmap 0 2 rw anon\nread 0 == 0")
    assert "MM.close() raised OSError" in failure_of(passing, BadClose)
    failing = make_case("mmap 0 2 rw anon\nread 0 == 1")
    assert "read page 0: got 0; expected 0x1" in failure_of(failing, BadClose)


def test_expectations_without_capability_are_skipped_and_shown() -> None:
    case = make_case(
        'mmap 0 2 rw anon\nlayout "ZZ"  [6.18]\nvma 0 anon_vma = set  [6.18]\n'
        "read 0 == 0\nread 1 == 1"
    )
    report = failure_of(case, Factory(capabilities=frozenset({"pages"}), era="6.18"))
    assert '       9 | layout "ZZ"  [6.18]    (not checked: needs layout)' in report
    assert "(not checked: needs anon_vma)" in report


def test_design_filters_pick_expectations() -> None:
    steps = (
        "mmap 0 2 rw anon\nread 0 == 0\n"
        "pages 0 = G  [maybe-guard]\npages 0 = G  [not rfc-v1]\npages 0 = G  [6.18]"
    )
    case = make_case(steps)
    run_case(case, Factory(design="rfc-v1", era="2025-03"), "toy")
    report = failure_of(case, Factory(design="reference", era="2025-03"))
    assert "  >   11 | pages 0 = G  [not rfc-v1]    <-- failed here" in report
    assert "(not checked for design reference)" in report
    assert "(design reference, era 2025-03)" in report


def test_case_applies() -> None:
    case = make_case(
        "mmap 0 2 rw anon\nread 0 == 0", tier="patch", designs='["maybe-guard", "6.18"]'
    )
    assert case_applies(case, "maybe-guard", "6.18") is None
    assert case_applies(case, "maybe-guard", "2025-03") == (
        "case 'toy-case' applies to 6.18, maybe-guard only "
        "(implementation design: maybe-guard on era 2025-03)"
    )
    assert case_applies(case, "reference") is not None
    everyone = make_case("mmap 0 2 rw anon\nread 0 == 0")
    assert case_applies(everyone, "anything") is None


def test_stats_deltas_count_from_the_last_checkpoint() -> None:
    case = make_case(
        "mmap 0 4 rw anon\nwrite 0 1\nstats anon_vma_allocs +1\ncheckpoint\nwrite 1 1\n"
        "write 1 2\nstats anon_vma_allocs +1\nfork as child\nstats fork_pagetable_copies +1\n"
        "in child: stats fork_pagetable_copies +0\nin child: write 2 1\n"
        "in child: stats anon_vma_allocs +3",  # from zero: 2 inherited by the toy child + 1
        needs='["pages", "stats", "fork"]',
        tier="patch",
        designs='["reference"]',
    )
    run_case(case, Factory(), "toy")
    wrong = make_case(
        "mmap 0 4 rw anon\ncheckpoint\nwrite 0 1\nstats anon_vma_allocs +0",
        needs='["stats", "pages"]',
        tier="patch",
        designs='["reference"]',
    )
    report = failure_of(wrong, Factory())
    assert "anon_vma_allocs grew by 1 since the last checkpoint; expected +0" in report


def test_stats_key_missing() -> None:
    case = make_case(
        "mmap 0 1 rw anon\nstats avc_allocs +0",
        needs='["stats"]',
        tier="patch",
        designs='["reference"]',
    )
    assert "MM.stats() has no key 'avc_allocs'" in failure_of(case, Factory())


def test_vma_expectations() -> None:
    case = make_case(
        "mmap 0 2 rw anon\nvma 0 prot = rw\nvma 1 has VM_LOCKED", needs='["layout"]', tier="layout"
    )
    report = failure_of(case, Factory())
    assert "VMA pages 0..1 should have VM_LOCKED; its flags: (none)" in report
    missing = make_case("mmap 0 2 rw anon\nvma 5 prot = rw", needs='["layout"]', tier="layout")
    assert "no VMA contains page 5" in failure_of(missing, Factory())


def test_missing_capability_and_broken_factory() -> None:
    case = make_case("mmap 0 2 rw anon\nmlock 0 1\nread 0 == 0", needs='["pages", "mlock"]')
    assert "lacks capabilities the case needs: mlock" in failure_of(case, Factory())

    def factory() -> ToyMM:
        raise RuntimeError("no address space today")

    assert "creating the address space raised RuntimeError" in failure_of(case, factory)


def test_map_fixed_result_is_checked() -> None:
    class Elsewhere(ToyMM):
        def mmap(
            self,
            addr: int | None,
            length: int,
            prot: int,
            flags: int,
            file: Any = None,
            offset: int = 0,
        ) -> int:
            return super().mmap(addr, length, prot, flags) + 4096

    case = make_case("mmap 0 1 rw anon\nread 0 == 0")
    assert "MAP_FIXED mmap returned 0x200000001000" in failure_of(case, Elsewhere)
