"""One report per cause: failures grouped by cause signature, the shortest reproducer of each,
and the matrix's curated and generated totals.

Expected behaviour: issue 11 item 2. Every failure has a cause signature (what failed, not
where: no page numbers or addresses), the terminal summary lists each cause once with its count,
the implementations it hits and its shortest reproducer with a rerun line, the JSON and Markdown
reports carry the same grouping, the headline totals curated tiers and generated cases apart,
and a test listed as an expected failure that passes (not strictly) is ``xpassed``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from plugin_helpers import literal, read_json
from plugin_helpers import phase_report as report

from pytest_anonvma.report import (
    Counts,
    ResultCollector,
    render_causes,
    render_json,
    render_markdown,
    render_terminal,
)


def fail(collector: ResultCollector, nodeid: str, cause: str, impl: str = "ref",
         length: int | None = None, tier: str = "generated", summary: str = "lost") -> None:
    """Feed a test whose call failed with the plugin's failure properties."""
    props: list[tuple[str, Any]] = [("anonvma_cause", cause), ("anonvma_summary", summary),
                                    ("anonvma_rerun", f"pytest '{nodeid}'")]
    if length is not None:
        props.append(("anonvma_length", length))
    for when, outcome in (("setup", "passed"), ("call", "failed"), ("teardown", "passed")):
        rep = report(nodeid, when, outcome, tier=tier, impl=impl, longrepr="boom")
        if when == "call":
            rep.user_properties += props
        rep.duration = 0.5
        collector.add_report(rep)


def grouped() -> ResultCollector:
    """Five failures of three causes across two implementations, one test passing."""
    c = ResultCollector(["ref", "base"])
    fork = "generated: fork-lost-guard-marker (fork)"
    fail(c, "t.py::g[base-2]", fork, impl="base", length=3)
    fail(c, "t.py::g[ref-1]", fork, length=5)
    fail(c, "t.py::g[ref-0]", fork, length=3)
    fail(c, "t.py::c[ref-x]", "guard: pages mismatch after fork", tier="guard", length=4,
         summary="page 1 in child: expected G, got .")
    fail(c, "t.py::c[ref-y]", "guard: mprotect raised", tier="guard", length=2)
    c.add_report(report("t.py::ok[ref]", "call", "passed"))
    return c


def test_causes_group_by_signature() -> None:
    """Most frequent first, then by signature; the implementations in selection order; the
    shortest reproducer has the fewest steps, ties broken by node id."""
    causes = grouped().causes()
    assert [(c.signature, c.count) for c in causes] == [
        ("generated: fork-lost-guard-marker (fork)", 3),
        ("guard: mprotect raised", 1),
        ("guard: pages mismatch after fork", 1),
    ]
    fork = causes[0]
    assert fork.implementations == ("ref", "base")
    assert fork.shortest.nodeid == "t.py::g[base-2]"
    assert [r.nodeid for r in fork.results] == ["t.py::g[ref-0]", "t.py::g[ref-1]",
                                                 "t.py::g[base-2]"]
    assert causes[2].summary == "page 1 in child: expected G, got ."
    result = fork.shortest
    assert (result.length, result.rerun, result.duration) == (3, "pytest 't.py::g[base-2]'", 1.5)
    assert result.anchor.startswith("f-") and result.anchor != causes[1].shortest.anchor


def test_crashes_and_unlabelled_failures_have_causes() -> None:
    """A crash has the cause "TIER: crashed"; a failure without the plugin's properties is
    named by its tier and phase."""
    c = ResultCollector(["ref"])
    c.add_report(report("t.py::a[ref]", "setup", "failed", longrepr="boom"))
    c.crash("t.py::b[ref]", "worker died")
    c.describe("t.py::b[ref]", c.infos.get("t.py::a[ref]") or next(iter(c.infos.values())))
    c.close(None, lambda nodeid: None)
    assert sorted(x.signature for x in c.causes()) == ["guard: crashed", "guard: failed in setup"]


def test_terminal_causes_section() -> None:
    """One entry per cause: count, signature, implementations; in words; the shortest
    reproducer with its length; its rerun line."""
    lines = render_causes(grouped())
    assert lines[:4] == [
        "3 x generated: fork-lost-guard-marker (fork) -- on ref, base",
        "    lost",
        "    shortest: g[base-2] (3 steps)",
        "    rerun: pytest 't.py::g[base-2]'",
    ]
    assert len(lines) == 12
    assert render_causes(ResultCollector(["ref"])) == []


def test_json_and_markdown_carry_the_causes() -> None:
    """The JSON report lists the causes with their tests; Markdown links the shortest
    reproducer to its failure's anchor."""
    c = grouped()
    data = json.loads(render_json(c, {}))
    first = data["causes"][0]
    assert first["signature"] == "generated: fork-lost-guard-marker (fork)"
    assert (first["count"], first["implementations"]) == (3, ["ref", "base"])
    assert first["shortest"]["nodeid"] == "t.py::g[base-2]"
    assert first["shortest"]["length"] == 3
    assert first["tests"] == ["t.py::g[ref-0]", "t.py::g[ref-1]", "t.py::g[base-2]"]
    case = next(x for x in data["cases"] if x["nodeid"] == "t.py::g[base-2]")
    assert case["cause"] == first["signature"] and case["duration"] == 1.5
    md = render_markdown(c, {})
    anchor = c.causes()[0].shortest.anchor
    assert "## Failure causes (3)" in md
    assert f"(#{anchor})" in md and f'<a id="{anchor}"></a>' in md


def test_totals_split_curated_and_generated() -> None:
    """The headline totals the curated tiers and the generated ones apart."""
    c = grouped()
    row = c.matrix()["ref"]
    assert row["curated total"] == Counts(passed=1, failed=2)
    assert row["generated total"] == Counts(failed=2)
    assert "total" not in row
    assert [line.split()[0] for line in render_terminal(c)[1:]] == [
        "ref", "generated", "curated", "generated",
        "base", "generated", "curated", "generated"]


def test_non_strict_xpass_is_xpassed() -> None:
    """A non-strict expected failure that passes is ``xpassed``: not a failure, its own
    column, and it conforms."""
    c = ResultCollector(["ref"])
    for when in ("setup", "call", "teardown"):
        c.add_report(report("t.py::a", when, "passed",
                            **({"wasxfail": "maybe"} if when == "call" else {})))
    (result,) = c.sorted_results()
    assert (result.outcome, result.reason) == ("xpassed", "passed, expected to fail: maybe")
    assert c.matrix()["ref"]["guard"] == Counts(xpassed=1)
    assert c.matrix()["ref"]["guard"].conformant == 100.0
    assert c.failures() == [] and c.causes() == []


def test_one_bug_one_cause(buggy: pytest.Pytester) -> None:
    """Many generated failures of one fork bug print one cause, with its count, the
    implementation and the shortest reproducer's rerun line; the JSON report agrees."""
    out = buggy.path / "r.json"
    result = buggy.runpytest(
        "-p", "anonvma", "-p", "no:cacheprovider", "--anonvma-impl=buggy:ForkBug",
        "--anonvma-seed=7", "--anonvma-generated=12", "-k", "test_generated",
        f"--anonvma-report={out}")
    data = read_json(out)
    failed = [c for c in data["cases"] if c["outcome"] == "failed"]
    assert len(failed) >= 3
    signature = "generated: fork-lost-guard-marker (fork)"
    assert {c["cause"] for c in failed} == {signature}
    (cause,) = data["causes"]
    assert cause["count"] == len(failed) and cause["implementations"] == ["buggy:ForkBug"]
    shortest = cause["shortest"]
    assert shortest["length"] == min(c["length"] for c in failed)
    assert shortest["rerun"].startswith("pytest -p anonvma --anonvma-impl=buggy:ForkBug "
                                        "--anonvma-seed=7 --anonvma-generated=12 ")
    result.stdout.fnmatch_lines([
        "*= anonvma failure causes =*",
        f"{len(failed)} x {signature} -- on buggy:ForkBug",
        "    fork child * lost the parent's guard marker(s) at page(s) *",
        f"    shortest: {literal(shortest['test_id'])} (*-min, {shortest['length']} steps)",
        f"    rerun: {literal(shortest['rerun'])}",
        "*= anonvma conformance =*",
    ])
    assert data["matrix"]["buggy:ForkBug"]["generated total"]["failed"] == len(failed)
