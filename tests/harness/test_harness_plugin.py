"""Meta-tests of the harness port: it passes on every bundled design, its ids name the era, it
skips implementations without ``internals``, and ``--anonvma-harness-summary`` prints the C
harness's closing line, also under xdist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_anonvma.harness.fixtures import harness_counts
from pytest_anonvma.harness.trees import TREES
from pytest_anonvma.suite import bundled_suite_dir

#: the port by kernel test file (tests/merge.c, mmap.c, vma.c), each test once per tree
KERNEL_FILE_MODULES = ("test_harness_merge.py", "test_harness_mmap.py", "test_harness_vma.py")
#: the RFC's accessors (era 2025-03 only)
HARNESS_MODULES = (*KERNEL_FILE_MODULES, "test_harness_accessors.py")
SUMMARY = re.compile(r"^(\d+) tests run, (\d+) passed, (\d+) failed\.$")

#: an implementation of the contract without the ``internals`` capability
NO_INTERNALS_SOURCE = """
class NoInternalsMM:
    capabilities = frozenset({"layout"})
    design = "reference"
    era = "2025-03"

    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        return addr

    def vmas(self):
        return []

    def close(self):
        pass
"""

#: a fake harness module: two passes, one failure, one skip, one expected failure
FAKE_HARNESS_SOURCE = """
import pytest

def test_pass_1():
    pass

def test_pass_2():
    pass

def test_fail():
    assert False

def test_skip():
    pytest.skip("not this one")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False
"""


def _summary(result: pytest.RunResult) -> tuple[int, int, int]:
    lines = [m.groups() for line in result.outlines if (m := SUMMARY.match(line))]
    assert len(lines) == 1, result.outlines
    run, passed, failed = (int(x) for x in lines[0])
    return run, passed, failed


def _harness_paths() -> list[str]:
    return [str(bundled_suite_dir() / name) for name in HARNESS_MODULES]


def test_port_passes_on_every_bundled_design(pytester: pytest.Pytester) -> None:
    """Every ported test passes on reference, rfc-v1 and baseline (2025-03) and maybe-guard
    (6.18), the other era's tests being skipped with both eras named; the closing line counts
    exactly the tests that ran."""
    result = pytester.runpytest(
        *_harness_paths(),
        "--anonvma-impl=reference,rfc-v1,baseline,maybe-guard",
        "--anonvma-harness-summary",
        "-rs",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0
    assert outcomes["passed"] > 100
    assert _summary(result) == (outcomes["passed"], outcomes["passed"], 0)
    skips = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert skips and all("era" in line and "models" in line for line in skips)


def test_ids_name_the_era(pytester: pytest.Pytester) -> None:
    """Each ported kernel test runs once per tree, the era in its id after the implementation
    (the accessors, from the RFC, in era 2025-03 only); ids are the same on every collection."""
    args = [*_harness_paths(), "--anonvma-impl=reference", "--collect-only", "-q"]
    ids = [line for line in pytester.runpytest(*args).outlines if "::test_" in line]
    assert ids == [line for line in pytester.runpytest(*args).outlines if "::test_" in line]
    eras: dict[str, set[str]] = {}
    for node_id in ids:
        module, _, name = node_id.partition("::")
        test, _, params = name.partition("[")
        assert params.startswith("reference-"), node_id
        era = next(era for era in TREES if params.startswith(f"reference-{era}"))
        eras.setdefault(f"{Path(module).name}::{test}", set()).add(era)
    for test, seen in eras.items():
        expected = {"2025-03"} if "accessors" in test else set(TREES)
        assert seen == expected, test


def test_implementation_without_internals_is_skipped(pytester: pytest.Pytester) -> None:
    """The fixture skips an implementation lacking ``internals``, naming the capability."""
    pytester.makepyfile(nointernals=NO_INTERNALS_SOURCE)
    pytester.syspathinsert()
    pytester.makepyfile(
        test_uses_harness="""
        def test_needs_internals(vma_harness):
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest("--anonvma-impl=nointernals:NoInternalsMM", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*implementation lacks capability 'internals'*"])


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_summary_line_counts_like_the_c_harness(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    """Skipped tests do not run; a failure and an expected failure both count as failed."""
    pytester.makepyfile(test_harness_fake=FAKE_HARNESS_SOURCE, test_other="def test_x(): pass")
    result = pytester.runpytest("--anonvma-harness-summary", *workers)
    result.assert_outcomes(passed=3, failed=1, skipped=1, xfailed=1)
    assert _summary(result) == (4, 2, 2)


def test_no_summary_line_without_the_option(pytester: pytest.Pytester) -> None:
    """The closing line is printed only on request."""
    pytester.makepyfile(test_harness_fake="def test_ok(): pass")
    result = pytester.runpytest()
    assert not any(SUMMARY.match(line) for line in result.outlines)


def test_harness_counts_ignores_other_modules() -> None:
    """Only reports of harness modules (or of the harness tier) are counted."""

    def report(nodeid: str, when: str, outcome: str) -> pytest.TestReport:
        return pytest.TestReport(nodeid, ("x", 0, "x"), {}, outcome, None, when)  # type: ignore[arg-type]

    stats = {
        "passed": [
            report(
                "conformance/test_harness_merge.py::test_a[reference-2025-03]", "call", "passed"
            ),
            report("tests/test_other.py::test_b", "call", "passed"),
        ],
        "failed": [report("conformance/test_harness_vma.py::test_c", "call", "failed")],
    }
    assert harness_counts(stats) == (2, 1, 1)
