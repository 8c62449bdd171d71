"""Folding phase reports into outcomes, the matrix figures, and the terminal rendering.

Expected behaviour: issue 3 ("Report": passed / failed / xfailed / skipped and % conformant per
implementation and tier); the folding follows pytest's report semantics (an error in setup or
teardown is a failure of the test, an xfail is a skip carrying ``wasxfail``); issue 10 item 1
(a test is passed only when its call passed; a crash or an interrupt is a failure of its own
kind, and a run that did not finish says so in every format).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import phase_report as report

from pytest_anonvma.outputs import OUTPUT_ERROR
from pytest_anonvma.report import (
    Counts,
    ItemInfo,
    ResultCollector,
    guess_info,
    render_html,
    render_json,
    render_markdown,
    render_terminal,
    write_report,
)


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
    """Rows per implementation and tier (known tiers in order, then others), plus the total of
    the curated tiers (the generated ones have their own: see test_plugin_causes)."""
    c = ResultCollector(["ref", "base"])
    for impl, tier, outcome in [("base", "patch", "failed"), ("ref", "patch", "passed"),
                                ("ref", "guard", "passed"), ("ref", "zz", "passed")]:
        c.add_report(report(f"t.py::{impl}-{tier}", "call", outcome, tier=tier, impl=impl))
    assert render_terminal(c) == [
        "implementation  tier           passed  failed  crashed  interrupted  xfailed  xpassed"
        "  skipped  conformant",
        "ref             guard               1       0        0            0        0        0"
        "        0      100.0%",
        "                patch               1       0        0            0        0        0"
        "        0      100.0%",
        "                zz                  1       0        0            0        0        0"
        "        0      100.0%",
        "                curated total       3       0        0            0        0        0"
        "        0      100.0%",
        "base            guard               0       0        0            0        0        0"
        "        0           -",
        "                patch               0       1        0            0        0        0"
        "        0        0.0%",
        "                zz                  0       0        0            0        0        0"
        "        0           -",
        "                curated total       0       1        0            0        0        0"
        "        0        0.0%",
    ]


def test_reports_without_properties_are_ignored() -> None:
    """Tests not run against an implementation are not part of the matrix."""
    c = ResultCollector(["ref"])
    c.add_report(pytest.TestReport("t.py::x", ("t.py", 0, "x"), {}, "passed", None, "call"))
    assert render_terminal(c) == []


def crash_report(nodeid: str, message: str = "worker 'gw0' crashed while running it") -> Any:
    """The report xdist's controller makes for a test whose worker died: no properties."""
    return pytest.TestReport(nodeid, (nodeid, None, nodeid), {}, "failed", message,
                             "???")  # type: ignore[arg-type]


def no_guess(nodeid: str) -> ItemInfo | None:
    """A ``guess`` for :meth:`ResultCollector.close` that knows nothing."""
    return None


def test_passed_only_when_the_call_passed() -> None:
    """A test whose setup passed but whose call never reported (Ctrl-C, a dead process) is
    interrupted, counted against conformance, and the run is incomplete (issue 10, item 1)."""
    c = ResultCollector(["ref"])
    c.expect(["t.py::a", "t.py::b", "t.py::c"])
    for nodeid in ("t.py::a", "t.py::b"):
        c.start(nodeid)
    run(c, "t.py::a", ("setup", "passed", OK), ("call", "passed", OK), ("teardown", "passed", OK))
    run(c, "t.py::b", ("setup", "passed", OK))
    c.close("KeyboardInterrupt", no_guess)
    got = {r.nodeid: (r.outcome, r.reason) for r in c.sorted_results()}
    assert got == {
        "t.py::a": ("passed", ""),
        "t.py::b": ("interrupted", "started, never finished (the run stopped: KeyboardInterrupt)"),
    }
    assert c.never_reported == ["t.py::b", "t.py::c"]
    assert not c.complete
    assert c.matrix()["ref"]["curated total"] == Counts(passed=1, interrupted=1)
    assert c.matrix()["ref"]["curated total"].conformant == 50.0
    assert c.incomplete_reason() == (
        "INCOMPLETE RUN: 1 interrupted; 2 never reported; stopped: KeyboardInterrupt"
    )


def test_an_unfinished_failure_stays_a_failure() -> None:
    """A test that failed its call keeps that verdict if its teardown never reported."""
    c = ResultCollector(["ref"])
    c.start("t.py::a")
    run(c, "t.py::a", ("setup", "passed", OK), ("call", "failed", {"longrepr": "boom"}))
    c.close(None, no_guess)
    assert [(r.outcome, r.reason) for r in c.sorted_results()] == [("failed", "boom")]
    assert c.never_reported == ["t.py::a"] and not c.complete


def test_crash_reports_without_properties() -> None:
    """xdist's report for a crashed worker has no ``anonvma_*`` properties: it is matched to
    the test by node id (described at collection, or guessed), counted as crashed, and a
    crashed test that is not an implementation's still makes the run incomplete."""
    c = ResultCollector(["ref"])
    c.describe("t.py::described", ItemInfo("ref", "guard", "described"))
    c.start("t.py::started")
    run(c, "t.py::started", ("setup", "passed", {"tier": "patch"}))
    for nodeid in ("t.py::started", "t.py::described", "t.py::guessed", "t.py::other"):
        c.add_report(crash_report(nodeid, f"worker 'gw0' crashed while running {nodeid!r}"))
    c.close(None, lambda n: ItemInfo("ref", "other", "g") if n.endswith("guessed") else None)
    got = {r.nodeid: (r.outcome, r.tier) for r in c.sorted_results()}
    assert got == {
        "t.py::described": ("crashed", "guard"),
        "t.py::guessed": ("crashed", "other"),
        "t.py::started": ("crashed", "patch"),
    }
    assert c.sorted_results()[0].reason == "worker 'gw0' crashed while running 't.py::described'"
    assert c.never_reported == []
    assert list(c.crashes) == ["t.py::started", "t.py::described", "t.py::guessed", "t.py::other"]
    assert not c.complete
    assert c.matrix()["ref"]["curated total"] == Counts(crashed=3)


def test_renderers_say_incomplete() -> None:
    """JSON records ``complete``/``never_reported``; Markdown, HTML and the terminal put
    "INCOMPLETE RUN" first and list the unfinished tests among the failures."""
    c = ResultCollector(["ref"])
    c.expect(["t.py::a", "t.py::b"])
    c.start("t.py::a")
    run(c, "t.py::a", ("setup", "passed", OK))
    c.add_report(crash_report("t.py::a"))
    c.close(None, no_guess)
    data = json.loads(render_json(c, {"seed": 1}))
    assert data["complete"] is False
    assert data["never_reported"] == ["t.py::b"]
    assert data["crashed"] == ["t.py::a"]
    assert data["cases"][0]["outcome"] == "crashed"
    assert data["matrix"]["ref"]["curated total"]["crashed"] == 1
    reason = "INCOMPLETE RUN: 1 test(s) crashed; 1 never reported"
    assert data["incomplete_reason"] == reason
    md = render_markdown(c, {})
    assert md.splitlines()[2] == f"**{reason}**"
    assert "### `a` (crashed)" in md and "- NEVER REPORTED t.py::b" in md
    page = render_html(c, {})
    assert f"<div class='incomplete'><strong>{reason}</strong>" in page
    assert render_terminal(c)[:3] == [
        reason,
        "CRASHED t.py::a: worker 'gw0' crashed while running it",
        "NEVER REPORTED t.py::b",
    ]


def test_complete_run_says_nothing_more() -> None:
    """A run where every collected test finished is complete; no extra lines anywhere."""
    c = ResultCollector(["ref"])
    c.expect(["t.py::a"])
    c.start("t.py::a")
    run(c, "t.py::a", ("setup", "passed", OK), ("call", "passed", OK), ("teardown", "passed", OK))
    c.close(None, no_guess)
    assert c.complete and c.incomplete_reason() == ""
    assert json.loads(render_json(c, {}))["complete"] is True
    assert "INCOMPLETE" not in render_markdown(c, {}) + render_html(c, {})
    assert render_terminal(c)[0].startswith("implementation")


def test_output_errors_are_collected() -> None:
    """Files a test could not write travel in its ``user_properties`` (also under xdist)."""
    c = ResultCollector(["ref"])
    note = (OUTPUT_ERROR, "t.py::a: could not save the C reproducer: No space left on device")
    for when in ("call", "teardown"):
        rep = report("t.py::a", when, "passed")
        rep.user_properties.append(note)
        c.add_report(rep)
    assert list(c.output_errors) == [note[1]]


def test_write_report_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A report that cannot be written leaves no file (neither the target nor a temporary
    one) and raises the OSError; an earlier report stays as it was."""
    c = ResultCollector(["ref"])
    target = tmp_path / "r.json"
    write_report(target, c, {"run": 1})
    before = target.read_text()

    def disk_full(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_report(target, c, {"run": 2})
    assert target.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_write_report_through_a_symlink(tmp_path: Path) -> None:
    """A report path that is a symbolic link is written at its target (the link stays)."""
    real = tmp_path / "real" / "r.md"
    real.parent.mkdir()
    link = tmp_path / "r.md"
    link.symlink_to(real)
    write_report(link, ResultCollector(["ref"]), {})
    assert link.is_symlink() and real.read_text().startswith("# pytest-anonvma")


def test_guess_info_from_the_node_id() -> None:
    """Without collection data, the implementation is the longest name the parameters' id
    starts with (names may contain '-' and prefix each other); other tests are not guessed."""
    names = ["rfc", "rfc-v1", "toy:MM"]
    assert guess_info("c/test_cases.py::test_case[rfc-v1-gap-x]", names) == (
        ItemInfo("rfc-v1", "other", "test_case[gap-x]"))
    assert guess_info("t.py::test_map[rfc]", names) == ItemInfo("rfc", "other", "test_map")
    assert guess_info("t.py::test_map[toy:MM-3]", names) == ItemInfo("toy:MM", "other",
                                                                     "test_map[3]")
    assert guess_info("t.py::test_map[rfcx]", names) is None
    assert guess_info("t.py::test_plain", names) is None
