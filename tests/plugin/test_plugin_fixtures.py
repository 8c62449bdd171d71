"""The fixtures for users' own tests: anonvma_impl, mm, mm_factory, vma_layout, anonvma_seed, and
the stacked-diagram explanation of failed layout assertions.

Expected behaviour: issue 3 ("Fixtures"); the diagram notation is the kernel harness's
(tools/testing/vma), as pytest_anonvma.layout reads it.
"""

from __future__ import annotations

import textwrap

import pytest

from pytest_anonvma.layout import parse_layout
from pytest_anonvma.layout_tools import explain_layout_comparison

FIXTURE_TESTS = """
import toyimpl

def test_impl(anonvma_impl):
    assert anonvma_impl.name == "toyimpl:ToyMM"
    assert anonvma_impl.capabilities == frozenset({"layout", "fork"})
    assert (anonvma_impl.design, anonvma_impl.era) == ("reference", "2025-03")
    assert isinstance(anonvma_impl.factory(), toyimpl.ToyMM)

def test_mm(mm):
    toyimpl.SEEN = id(mm)

def test_mm_was_closed():
    assert toyimpl.CLOSED[-1] == toyimpl.SEEN

def test_factory(mm_factory):
    toyimpl.MADE = [id(mm_factory()) for _ in range(3)]

def test_factory_closed_all():
    assert sorted(toyimpl.CLOSED[-3:]) == sorted(toyimpl.MADE)

def test_seed(anonvma_seed):
    print("SEED", anonvma_seed)
"""

LAYOUT_TESTS = """
from pytest_anonvma.constants import PAGE_SIZE, PROT_READ

def test_build_and_check(mm, vma_layout):
    starts = vma_layout.build(mm, "AA B  CC")
    assert starts == {"A": vma_layout.page(0), "B": vma_layout.page(3),
                      "C": vma_layout.page(6)}
    vma_layout.check(mm, "XX Y  ZZ")
    mm.munmap(vma_layout.page(3), PAGE_SIZE)
    assert vma_layout.of(mm) == "AA    CC"

def test_check_fails_with_pictures(mm, vma_layout):
    vma_layout.build(mm, "AB")
    vma_layout.check(mm, "AA")

def test_assert_fails_with_pictures(mm, vma_layout):
    vma_layout.build(mm, "AB")
    assert vma_layout.of(mm) == "AAA"
"""

#: a toy whose adjacent same-protection mappings merge, like the kernel's anonymous VMAs
MERGING_TOY = """
from pytest_anonvma.contract import VMAInfo

class MergingMM:
    capabilities = frozenset({"layout"})

    def __init__(self):
        self.ranges = []

    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        for i, v in enumerate(self.ranges):
            if v.end == addr and v.prot == prot:
                self.ranges[i] = VMAInfo(v.start, addr + length, prot)
                return addr
        self.ranges.append(VMAInfo(addr, addr + length, prot))
        return addr

    def vmas(self):
        return sorted(self.ranges, key=lambda v: v.start)

    def close(self):
        pass
"""


def test_fixtures(toy: pytest.Pytester) -> None:
    """``anonvma_impl`` describes the implementation; ``mm`` and ``mm_factory`` close every MM
    they made; ``anonvma_seed`` is stable for a given session seed and test."""
    toy.makepyfile(test_fix=FIXTURE_TESTS)
    args = ("-s", "-p", "no:randomly", "--anonvma-impl=toyimpl:ToyMM", "test_fix.py")
    result = toy.runpytest(*args, "--anonvma-seed=3")
    result.assert_outcomes(passed=6)
    seeds = [line for line in result.outlines if "SEED" in line]
    assert seeds == [line for line in toy.runpytest(*args, "--anonvma-seed=3").outlines
                     if "SEED" in line]
    assert seeds != [line for line in toy.runpytest(*args, "--anonvma-seed=4").outlines
                     if "SEED" in line]


def test_layout_helpers(toy: pytest.Pytester) -> None:
    """``vma_layout`` builds from a diagram, checks against one, and both kinds of failure
    show the two diagrams stacked under a ruler."""
    toy.makepyfile(test_layout=LAYOUT_TESTS)
    result = toy.runpytest("--anonvma-impl=toyimpl:ToyMM", "test_layout.py")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: VMA layout differs:",
            "E                 01",
            "E       expected  AA",
            "E       actual    AB",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E         VMA layouts differ (labels do not matter, the cuts do):",
            "E                012",
            "E         left   AB",
            "E         right  AAA",
        ]
    )


def test_build_refuses_merged_neighbours(pytester: pytest.Pytester) -> None:
    """Building "AB" with one protection on a merging MM says the VMAs merged; ``prots``
    keeps them apart."""
    pytester.makepyfile(mergingtoy=MERGING_TOY)
    pytester.makeconftest("")
    pytester.syspathinsert()
    pytester.makepyfile(
        test_merge=textwrap.dedent(
            """
            import pytest
            from pytest_anonvma.layout import LayoutError

            def test_merged(mm, vma_layout):
                with pytest.raises(LayoutError, match="adjacent VMAs with equal protection"):
                    vma_layout.build(mm, "AB")

            def test_apart(mm, vma_layout):
                vma_layout.build(mm, "AB", prots={"B": 1})
                vma_layout.check(mm, "AB")
            """
        )
    )
    pytester.runpytest("--anonvma-impl=mergingtoy:MergingMM").assert_outcomes(passed=2)


def test_explain_only_layout_equality() -> None:
    """The explanation applies to ``==`` with a Layout on one side and a diagram or Layout on
    the other; anything else is left to pytest."""
    lay = parse_layout("AAB")
    assert explain_layout_comparison("==", lay, "ABB") == [
        "'AAB' == 'ABB'",
        "VMA layouts differ (labels do not matter, the cuts do):",
        "       012",
        "left   AAB",
        "right  ABB",
    ]
    assert explain_layout_comparison("!=", lay, "ABB") is None
    assert explain_layout_comparison("==", "AB", "ABB") is None
    assert explain_layout_comparison("==", lay, 3) is None
    assert explain_layout_comparison("==", lay, "A!B") is None
