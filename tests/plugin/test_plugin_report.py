"""Folding phase reports into outcomes, the matrix figures, and the terminal rendering.

Expected behaviour: issue 3 ("Report": passed / failed / xfailed / skipped and % conformant per
implementation and tier); the folding follows pytest's report semantics (an error in setup or
teardown is a failure of the test, an xfail is a skip carrying ``wasxfail``).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_anonvma.report import Counts, ResultCollector, render_terminal


def report(nodeid: str, when: str, outcome: str, tier: str = "guard", impl: str = "ref",
           longrepr: Any = None, **extra: Any) -> pytest.TestReport:
    """A phase report as pytest makes it, with the plugin's user properties."""
    rep = pytest.TestReport(
        nodeid=nodeid, location=("t.py", 0, nodeid), keywords={}, outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr, when=when,  # type: ignore[arg-type]
        user_properties=[("anonvma_impl", impl), ("anonvma_tier", tier),
                         ("anonvma_case", nodeid)],
    )
    for key, value in extra.items():
        setattr(rep, key, value)
    return rep


def run(collector: ResultCollector, nodeid: str, *phases: tuple[str, str, dict[str, Any]]) -> None:
    """Feed setup/call/teardown reports of one test."""
    for when, outcome, extra in phases:
        collector.add_report(report(nodeid, when, outcome, **extra))


OK: dict[str, Any] = {}


def test_folding_and_matrix() -> None:
    """Each test gets one outcome; errors count as failures; skips are excluded from %."""
    c = ResultCollector(["ref"])
    run(c, "t.py::a", ("setup", "passed", OK), ("call", "passed", OK), ("teardown", "passed", OK))
    run(c, "t.py::b", ("setup", "passed", OK),
        ("call", "failed", {"longrepr": "AssertionError: boom\nmore"}),
        ("teardown", "passed", OK))
    run(c, "t.py::c", ("setup", "skipped", {"longrepr": ("t.py", 1, "Skipped: lacks 'fork'")}),
        ("teardown", "passed", OK))
    run(c, "t.py::d", ("setup", "passed", OK),
        ("call", "skipped", {"wasxfail": "known", "longrepr": ("t.py", 1, "x")}),
        ("teardown", "passed", OK))
    run(c, "t.py::e", ("setup", "passed", OK), ("call", "passed", OK),
        ("teardown", "failed", {"longrepr": "RuntimeError: close failed"}))
    run(c, "t.py::f", ("setup", "failed", {"longrepr": "RuntimeError: cannot create"}),
        ("teardown", "passed", OK))
    got = {r.nodeid: (r.outcome, r.reason) for r in c.sorted_results()}
    assert got == {
        "t.py::a": ("passed", ""),
        "t.py::b": ("failed", "AssertionError: boom"),
        "t.py::c": ("skipped", "lacks 'fork'"),
        "t.py::d": ("xfailed", "known"),
        "t.py::e": ("failed", "error in teardown: RuntimeError: close failed"),
        "t.py::f": ("failed", "error in setup: RuntimeError: cannot create"),
    }
    assert c.matrix()["ref"]["guard"] == Counts(passed=1, failed=3, xfailed=1, skipped=1)


def test_conformant_figure() -> None:
    """% conformant = passed / (passed + failed + xfailed); nothing run gives no figure."""
    assert Counts(passed=3, failed=1).conformant == 75.0
    assert Counts(passed=1, xfailed=1, skipped=5).conformant == 50.0
    assert Counts(skipped=2).conformant is None
    assert Counts(passed=2, failed=1).as_dict()["conformant_percent"] == 66.7


def test_terminal_matrix() -> None:
    """Rows per implementation and tier (known tiers in order, then others), plus a total."""
    c = ResultCollector(["ref", "base"])
    for impl, tier, outcome in [("base", "patch", "failed"), ("ref", "patch", "passed"),
                                ("ref", "guard", "passed"), ("ref", "zz", "passed")]:
        c.add_report(report(f"t.py::{impl}-{tier}", "call", outcome, tier=tier, impl=impl))
    assert render_terminal(c) == [
        "implementation  tier   passed  failed  xfailed  skipped  conformant",
        "ref             guard       1       0        0        0      100.0%",
        "                patch       1       0        0        0      100.0%",
        "                zz          1       0        0        0      100.0%",
        "                total       3       0        0        0      100.0%",
        "base            guard       0       0        0        0           -",
        "                patch       0       1        0        0        0.0%",
        "                zz          0       0        0        0           -",
        "                total       0       1        0        0        0.0%",
    ]


def test_reports_without_properties_are_ignored() -> None:
    """Tests not run against an implementation are not part of the matrix."""
    c = ResultCollector(["ref"])
    c.add_report(pytest.TestReport("t.py::x", ("t.py", 0, "x"), {}, "passed", None, "call"))
    assert render_terminal(c) == []
