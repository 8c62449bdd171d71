"""The conformance report: per-test outcomes gathered from test reports, the matrix, renderers.

Every test that runs against an implementation carries ``user_properties`` (``anonvma_impl``,
``anonvma_tier``, ``anonvma_case``, and ``anonvma_detail`` on a failing report). They survive
xdist, so the controller (or the serial process) rebuilds everything from
``pytest_runtest_logreport`` alone.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_anonvma.xfails import match_keys

__all__ = [
    "OUTCOMES",
    "TIERS",
    "CaseResult",
    "Counts",
    "ResultCollector",
    "failure_detail",
    "render_html",
    "render_json",
    "render_markdown",
    "render_terminal",
    "write_report",
]

#: the conformance tiers in report order; tests of other tiers are listed after them
TIERS = ("guard", "layout", "patch", "harness")
OUTCOMES = ("passed", "failed", "xfailed", "skipped")


@dataclass
class CaseResult:
    """The outcome of one test against one implementation."""

    nodeid: str
    #: the node id without the module path (does not depend on the install location)
    test_id: str
    implementation: str
    tier: str
    case: str
    #: one of OUTCOMES
    outcome: str = "passed"
    #: one line: the skip or xfail reason, or the failure's first line
    reason: str = ""
    #: the full failure text (a case failure's steps and layout diagrams)
    detail: str = ""


@dataclass
class Counts:
    """Outcome counts of one implementation and tier."""

    passed: int = 0
    failed: int = 0
    xfailed: int = 0
    skipped: int = 0

    def add(self, outcome: str) -> None:
        """Count one outcome."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def conformant(self) -> float | None:
        """Percent passed among the tests that ran (skips excluded); None if none ran."""
        ran = self.passed + self.failed + self.xfailed
        return 100.0 * self.passed / ran if ran else None

    def as_dict(self) -> dict[str, Any]:
        """Counts and the rounded conformance figure."""
        data: dict[str, Any] = asdict(self)
        pct = self.conformant
        data["conformant_percent"] = None if pct is None else round(pct, 1)
        return data


def _properties(report: pytest.TestReport) -> dict[str, Any]:
    return {key: value for key, value in report.user_properties if key.startswith("anonvma_")}


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@dataclass
class ResultCollector:
    """Folds the setup/call/teardown reports of each test into one :class:`CaseResult`."""

    implementations: list[str]
    results: dict[str, CaseResult] = field(default_factory=dict)

    def add_report(self, report: pytest.TestReport) -> None:
        """Take one phase's report (ignored unless it belongs to an implementation's test)."""
        props = _properties(report)
        if "anonvma_impl" not in props:
            return
        result = self.results.get(report.nodeid)
        if result is None:
            result = self.results[report.nodeid] = CaseResult(
                nodeid=report.nodeid,
                test_id=match_keys(report.nodeid)[-1],
                implementation=str(props["anonvma_impl"]),
                tier=str(props.get("anonvma_tier", "other")),
                case=str(props.get("anonvma_case", "")),
            )
        if result.outcome == "failed":
            return
        wasxfail = getattr(report, "wasxfail", None)
        if report.failed:
            detail = str(props.get("anonvma_detail") or report.longreprtext)
            phase = "" if report.when == "call" else f"error in {report.when}: "
            result.outcome, result.detail = "failed", detail
            result.reason = phase + (detail.strip().splitlines() or ["failed"])[0]
        elif report.skipped:
            result.outcome = "xfailed" if wasxfail is not None else "skipped"
            result.reason = str(wasxfail) if wasxfail is not None else _skip_reason(report)
        elif report.when == "call":
            result.outcome = "passed"
            result.reason = "" if wasxfail is None else f"passed, expected to fail: {wasxfail}"

    def sorted_results(self) -> list[CaseResult]:
        """Every result, by implementation (in selection order) then node id."""
        order = {name: i for i, name in enumerate(self.implementations)}
        return sorted(
            self.results.values(),
            key=lambda r: (order.get(r.implementation, len(order)), r.implementation, r.nodeid),
        )

    def tiers(self) -> list[str]:
        """The tiers seen: the known ones in order, then others alphabetically."""
        seen = {r.tier for r in self.results.values()}
        return [t for t in TIERS if t in seen] + sorted(seen - set(TIERS))

    def matrix(self) -> dict[str, dict[str, Counts]]:
        """``{implementation: {tier: Counts, ..., "total": Counts}}`` for the tiers seen."""
        tiers = self.tiers()
        matrix: dict[str, dict[str, Counts]] = {}
        for result in self.sorted_results():
            row = matrix.setdefault(
                result.implementation, {**{t: Counts() for t in tiers}, "total": Counts()}
            )
            row[result.tier].add(result.outcome)
            row["total"].add(result.outcome)
        return matrix

    def failures(self) -> list[CaseResult]:
        """The failed results, in report order."""
        return [r for r in self.sorted_results() if r.outcome == "failed"]


def _pct(counts: Counts) -> str:
    pct = counts.conformant
    return "-" if pct is None else f"{pct:.1f}%"


def _table_rows(matrix: Mapping[str, Mapping[str, Counts]]) -> list[list[str]]:
    rows = []
    for impl, tiers in matrix.items():
        for i, (tier, counts) in enumerate(tiers.items()):
            rows.append(
                [impl if i == 0 else "", tier]
                + [str(getattr(counts, o)) for o in OUTCOMES]
                + [_pct(counts)]
            )
    return rows


_HEADER = ["implementation", "tier", *OUTCOMES, "conformant"]


def render_terminal(collector: ResultCollector) -> list[str]:
    """The matrix as aligned text lines (empty if no implementation test ran)."""
    rows = _table_rows(collector.matrix())
    if not rows:
        return []
    table = [_HEADER, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEADER))]
    lines = []
    for row in table:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def render_json(collector: ResultCollector, meta: Mapping[str, Any]) -> str:
    """Meta data, the matrix and every test's outcome and reason, as JSON."""
    data = {
        **meta,
        "tiers": collector.tiers(),
        "matrix": {
            impl: {tier: c.as_dict() for tier, c in row.items()}
            for impl, row in collector.matrix().items()
        },
        "cases": [asdict(r) for r in collector.sorted_results()],
    }
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _meta_lines(meta: Mapping[str, Any]) -> list[str]:
    return [f"{key}: {value}" for key, value in meta.items()]


def render_markdown(collector: ResultCollector, meta: Mapping[str, Any]) -> str:
    """The matrix as a Markdown table, then each failing test with its full message."""
    out = ["# pytest-anonvma conformance report", ""]
    out += [f"- {line}" for line in _meta_lines(meta)] + [""]
    out += ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    out += ["| " + " | ".join(row) + " |" for row in _table_rows(collector.matrix())]
    failures = collector.failures()
    out += ["", f"## Failures ({len(failures)})", ""]
    for result in failures:
        out += [f"### `{result.test_id}`", "", f"`{result.nodeid}`", "", "```"]
        out += [result.detail.rstrip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"


def render_html(collector: ResultCollector, meta: Mapping[str, Any]) -> str:
    """A self-contained page: the matrix, then each failing test with its full message."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in _HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
        for row in _table_rows(collector.matrix())
    )
    failures = collector.failures()
    sections = "".join(
        f"<h3><code>{esc(r.test_id)}</code></h3><p><code>{esc(r.nodeid)}</code></p>"
        f"<pre>{esc(r.detail.rstrip())}</pre>"
        for r in failures
    )
    meta_items = "".join(f"<li>{esc(line)}</li>" for line in _meta_lines(meta))
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        "<title>pytest-anonvma conformance report</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:2px 8px;text-align:right}"
        "td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}"
        "pre{background:#f4f4f4;padding:8px;overflow-x:auto}</style></head><body>"
        f"<h1>pytest-anonvma conformance report</h1><ul>{meta_items}</ul>"
        f"<table><tr>{head}</tr>{body}</table>"
        f"<h2>Failures ({len(failures)})</h2>{sections}</body></html>\n"
    )


_RENDERERS = {".json": render_json, ".html": render_html, ".md": render_markdown}


def write_report(path: Path, collector: ResultCollector, meta: Mapping[str, Any]) -> None:
    """Write the report in the format the suffix names (.json, .html, .md)."""
    render = _RENDERERS[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(collector, meta), encoding="utf-8")


def failure_detail(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The text a report shows for a failure: an AssertionError's message, else the exception."""
    exc = excinfo.value
    if isinstance(exc, AssertionError) and str(exc):
        return str(exc)
    return excinfo.exconly()

