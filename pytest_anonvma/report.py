"""The conformance report: per-test outcomes gathered from test reports, the matrix, renderers.

Every test that runs against an implementation carries ``user_properties`` (``anonvma_impl``,
``anonvma_tier``, ``anonvma_case``, and ``anonvma_detail`` on a failing report). They survive
xdist, so the controller (or the serial process) rebuilds everything from
``pytest_runtest_logreport``, plus what the plugin tells the collector about the run: the tests
collected (:meth:`ResultCollector.expect`), started (:meth:`~ResultCollector.start`) and which
implementation each belongs to (:meth:`~ResultCollector.describe`), so that a test whose
process died (an xdist crash report carries no properties) or that an interrupt cut short gets
a true outcome, and a run that did not finish says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pytest_anonvma.outputs import OUTPUT_ERROR
from pytest_anonvma.tiers import GENERATED_TIERS, TIERS
from pytest_anonvma.xfails import match_keys

__all__ = [
    "AGAINST",
    "OUTCOMES",
    "REPORT_SUFFIXES",
    "TOTALS",
    "CaseResult",
    "Cause",
    "Counts",
    "ItemInfo",
    "ResultCollector",
    "case_name",
    "guess_info",
    "render_causes",
    "render_html",
    "render_json",
    "render_markdown",
    "render_terminal",
    "write_report",
]


@dataclass
class Counts:
    """Outcome counts of one implementation and tier; the fields are the outcomes (OUTCOMES).

    ``crashed``: the test's process died (a crashed xdist worker, a time limit that had to end
    the process). ``interrupted``: the run stopped (Ctrl-C, ``-x``, ``pytest.exit``) before the
    test finished. Both count against conformance, like ``failed``. ``xpassed``: a test listed
    as an expected failure (not strictly) passed; it conforms, like ``passed``.
    """

    passed: int = 0
    failed: int = 0
    crashed: int = 0
    interrupted: int = 0
    xfailed: int = 0
    xpassed: int = 0
    skipped: int = 0

    def add(self, outcome: str) -> None:
        """Count one outcome."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def conformant(self) -> float | None:
        """Percent passed (or xpassed) among the tests that ran (skips excluded); None if
        none ran."""
        ran = sum(getattr(self, outcome) for outcome in OUTCOMES if outcome != "skipped")
        return 100.0 * (self.passed + self.xpassed) / ran if ran else None

    def as_dict(self) -> dict[str, Any]:
        """Counts and the rounded conformance figure."""
        data: dict[str, Any] = asdict(self)
        pct = self.conformant
        data["conformant_percent"] = None if pct is None else round(pct, 1)
        return data


#: every outcome of a test, in report order
OUTCOMES = tuple(f.name for f in fields(Counts))
#: the outcomes of tests that did not finish: they make the run incomplete
UNFINISHED = ("crashed", "interrupted")
#: the outcomes that count against conformance (listed with their details in the reports)
AGAINST = ("failed", *UNFINISHED)


class ItemInfo(NamedTuple):
    """Which implementation, tier and case a test belongs to."""

    implementation: str
    tier: str
    case: str


def case_name(name: str, params: str, impl_name: str) -> str:
    """A test's name with its parameters' id (``params``) less the implementation's part."""
    rest = params.removeprefix(impl_name).removeprefix("-")
    return f"{name}[{rest}]" if rest else name


def guess_info(nodeid: str, impl_names: list[str]) -> ItemInfo | None:
    """The implementation of a test from its id alone (``name[IMPL-...]``: the plugin puts the
    implementation's id first), for a test whose process died before the controller learnt
    about it; the tier is then unknown ("other"). None if no implementation matches."""
    name, bracket, params = nodeid.rpartition("::")[2].partition("[")
    params = params.removesuffix("]")
    for impl in sorted(impl_names, key=len, reverse=True):
        if bracket and (params == impl or params.startswith(f"{impl}-")):
            return ItemInfo(impl, "other", case_name(name, params, impl))
    return None


@dataclass
class CaseResult:
    """The outcome of one test against one implementation."""

    nodeid: str
    #: the node id without the module path (does not depend on the install location)
    test_id: str
    implementation: str
    tier: str
    case: str
    #: one of OUTCOMES; a test is "interrupted" until a phase gives it an outcome
    outcome: str = "interrupted"
    #: one line: the skip or xfail reason, or the failure's first line
    reason: str = ""
    #: the full failure text (a case failure's steps and layout diagrams)
    detail: str = ""
    #: the operations a generated case ran (its ``anonvma_steps`` property); None for others
    steps: int | None = None
    #: a failure's cause signature: what failed, not where ("guard: pages mismatch after fork")
    cause: str = ""
    #: the shell command that reruns this test alone (failures)
    rerun: str = ""
    #: seconds spent in setup, call and teardown together
    duration: float = 0.0
    #: steps of the case that reproduces a case failure (for a generated case, its shrunk
    #: case); None if the failure is not a case's
    length: int | None = None
    #: the id of the shrunk case a generated failure prints ("" for others)
    reproducer: str = ""

    @property
    def anchor(self) -> str:
        """A stable HTML id for this test: ``f-`` and a short hash of its node id."""
        return "f-" + hashlib.sha1(self.nodeid.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Cause:
    """The failures that share one cause signature."""

    #: what failed, not where, e.g. "generated: fork-lost-guard-marker (fork)"
    signature: str
    #: one line in words: the shortest reproducer's failure
    summary: str
    #: every failure with this cause, in report order
    results: tuple[CaseResult, ...]

    @property
    def count(self) -> int:
        """How many failures have this cause."""
        return len(self.results)

    @property
    def implementations(self) -> tuple[str, ...]:
        """The implementations it hits, in selection (report) order."""
        return tuple(dict.fromkeys(r.implementation for r in self.results))

    @property
    def shortest(self) -> CaseResult:
        """The shortest reproducer: the failure with the fewest steps (ties: node id)."""
        return min(self.results, key=_reproducer_order)


def _reproducer_order(result: CaseResult) -> tuple[float, str]:
    return (math.inf if result.length is None else result.length, result.nodeid)


def _properties(report: pytest.TestReport) -> dict[str, Any]:
    return {key: value for key, value in report.user_properties if key.startswith("anonvma_")}


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _first_line(text: str, default: str) -> str:
    return (text.strip().splitlines() or [default])[0]


#: the matrix's totals: over the curated tiers, over the generated ones
TOTALS = ("curated total", "generated total")


def _total_of(tier: str) -> str:
    """The total a tier counts towards."""
    return TOTALS[1] if tier in GENERATED_TIERS else TOTALS[0]


#: the phases pytest reports; xdist's report for a crashed worker has another ``when`` ("???")
_PHASES = ("setup", "call", "teardown")


@dataclass
class ResultCollector:
    """Folds the setup/call/teardown reports of each test into one :class:`CaseResult`.

    A test is ``passed`` only when its call phase passed. A test that never reported its
    teardown is unfinished: :meth:`close` makes it ``interrupted`` (or ``crashed`` if its
    process died) and lists it in :attr:`never_reported`.
    """

    implementations: list[str]
    results: dict[str, CaseResult] = field(default_factory=dict)
    #: implementation, tier and case of each implementation test, by node id
    infos: dict[str, ItemInfo] = field(default_factory=dict)
    #: node ids collected, started and finished (teardown or crash reported)
    expected: dict[str, None] = field(default_factory=dict)
    started: dict[str, None] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    #: the message of each test whose process died, by node id (any test, not only ours)
    crashes: dict[str, str] = field(default_factory=dict)
    #: files the tests could not write (``--anonvma-export-c``, ``--anonvma-save-failures``)
    output_errors: dict[str, None] = field(default_factory=dict)
    #: why the run stopped early (set by :meth:`close`), None if it was not stopped
    stopped: str | None = None
    #: collected or started tests that never finished (set by :meth:`close`)
    never_reported: list[str] = field(default_factory=list)

    def describe(self, nodeid: str, info: ItemInfo) -> None:
        """Record which implementation, tier and case the test ``nodeid`` belongs to."""
        self.infos[nodeid] = info

    def expect(self, nodeids: list[str]) -> None:
        """Record the collected tests: each must finish for the run to be complete."""
        self.expected.update(dict.fromkeys(nodeids))

    def start(self, nodeid: str) -> None:
        """Record that a test started."""
        self.started[nodeid] = None

    def crash(self, nodeid: str, message: str) -> None:
        """Record that the process running ``nodeid`` died (``message`` says how)."""
        self.crashes[nodeid] = message
        self.finished.add(nodeid)

    def add_report(self, report: pytest.TestReport) -> None:
        """Take one phase's report: an implementation test's, or any test's crash report."""
        if report.when not in _PHASES:
            if report.failed:
                self.crash(report.nodeid, str(report.longrepr))
            return
        if report.when == "teardown":
            self.finished.add(report.nodeid)
        props = _properties(report)
        if "anonvma_impl" not in props:
            return
        for key, value in report.user_properties:
            if key == OUTPUT_ERROR:
                self.output_errors[str(value)] = None
        info = ItemInfo(str(props["anonvma_impl"]), str(props.get("anonvma_tier", "other")),
                        str(props.get("anonvma_case", "")))
        self.describe(report.nodeid, info)
        result = self._result(report.nodeid, info)
        if "anonvma_steps" in props:
            result.steps = int(props["anonvma_steps"])
        result.duration += report.duration
        if result.outcome == "failed":
            return
        wasxfail = getattr(report, "wasxfail", None)
        if report.failed:
            self._fail(result, report, props)
        elif report.skipped:
            result.outcome = "xfailed" if wasxfail is not None else "skipped"
            result.reason = str(wasxfail) if wasxfail is not None else _skip_reason(report)
        elif report.when == "call":
            result.outcome = "passed" if wasxfail is None else "xpassed"
            result.reason = "" if wasxfail is None else f"passed, expected to fail: {wasxfail}"

    @staticmethod
    def _fail(result: CaseResult, report: pytest.TestReport, props: Mapping[str, Any]) -> None:
        """A failed phase: its story, summary, cause and rerun line (the plugin's properties;
        a report without them gives its text and the phase)."""
        detail = str(props.get("anonvma_detail") or report.longreprtext)
        phase = "" if report.when == "call" else f"error in {report.when}: "
        result.outcome, result.detail = "failed", detail
        result.reason = phase + str(props.get("anonvma_summary") or _first_line(detail, "failed"))
        result.cause = str(props.get("anonvma_cause") or f"{result.tier}: failed in {report.when}")
        result.rerun = str(props.get("anonvma_rerun", ""))
        if "anonvma_length" in props:
            result.length = int(props["anonvma_length"])
            result.reproducer = str(props.get("anonvma_reproducer", ""))

    def _result(self, nodeid: str, info: ItemInfo) -> CaseResult:
        result = self.results.get(nodeid)
        if result is None:
            result = self.results[nodeid] = CaseResult(
                nodeid, match_keys(nodeid)[-1], info.implementation, info.tier, info.case
            )
        return result

    def close(self, stopped: str | None, guess: Callable[[str], ItemInfo | None]) -> None:
        """Give every unfinished test its outcome at the end of the run.

        ``stopped``: why the run stopped early, if it did. ``guess``: the implementation, tier
        and case of a test that was never described (its process died before saying).
        """
        self.stopped = stopped
        for nodeid, message in self.crashes.items():
            info = self.infos.get(nodeid) or guess(nodeid)
            if info is not None:
                result = self._result(nodeid, info)
                earlier = f"\n\n{result.detail}" if result.outcome == "failed" else ""
                result.outcome, result.detail = "crashed", message + earlier
                result.reason = _first_line(message, "crashed")
                result.cause = f"{result.tier}: crashed"
        for nodeid in self.started:
            info = self.infos.get(nodeid) or guess(nodeid)
            if nodeid not in self.finished and info is not None:
                self._result(nodeid, info)
        cause = f"the run stopped: {stopped}" if stopped else "no final report"
        for result in self.results.values():
            if result.nodeid not in self.finished and result.outcome != "failed":
                result.outcome = "interrupted"
                result.reason = f"started, never finished ({cause})"
                result.cause = f"{result.tier}: interrupted"
        self.never_reported = [
            nodeid for nodeid in {**self.expected, **self.started} if nodeid not in self.finished
        ]

    @property
    def complete(self) -> bool:
        """Did every collected test finish, without a crash or interrupt (after :meth:`close`)."""
        return not (
            self.never_reported
            or self.crashes
            or any(r.outcome in UNFINISHED for r in self.results.values())
        )

    def incomplete_reason(self) -> str:
        """Why the run is incomplete, in one line ("" if it is complete)."""
        if self.complete:
            return ""
        counts = Counts()
        for result in self.results.values():
            counts.add(result.outcome)
        parts = [
            f"{len(self.crashes)} test(s) crashed" if self.crashes else "",
            f"{counts.interrupted} interrupted" if counts.interrupted else "",
            f"{len(self.never_reported)} never reported" if self.never_reported else "",
            f"stopped: {self.stopped}" if self.stopped else "",
        ]
        return "INCOMPLETE RUN: " + "; ".join(p for p in parts if p)

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

    def totals(self) -> list[str]:
        """The matrix's totals for the tiers seen: ``curated total`` over the curated tiers,
        ``generated total`` over :data:`GENERATED_TIERS`, each if one of its tiers was seen."""
        groups = {_total_of(tier) for tier in self.tiers()}
        return [total for total in TOTALS if total in groups]

    def matrix(self) -> dict[str, dict[str, Counts]]:
        """``{implementation: {tier: Counts, ..., total: Counts}}`` for the tiers seen, with
        the curated and generated tiers totalled apart (:meth:`totals`)."""
        columns = [*self.tiers(), *self.totals()]
        matrix: dict[str, dict[str, Counts]] = {}
        for result in self.sorted_results():
            row = matrix.setdefault(result.implementation, {t: Counts() for t in columns})
            row[result.tier].add(result.outcome)
            row[_total_of(result.tier)].add(result.outcome)
        return matrix

    def causes(self) -> list[Cause]:
        """The failures grouped by cause signature: most frequent first, then by signature."""
        groups: dict[str, list[CaseResult]] = {}
        for result in self.failures():
            groups.setdefault(result.cause or f"{result.tier}: {result.outcome}", []).append(result)
        causes = []
        for signature, results in groups.items():
            shortest = min(results, key=_reproducer_order)
            causes.append(Cause(signature, shortest.reason, tuple(results)))
        return sorted(causes, key=lambda c: (-c.count, c.signature))

    def failures(self) -> list[CaseResult]:
        """The results counted against conformance (failed, crashed, interrupted), in order."""
        return [r for r in self.sorted_results() if r.outcome in AGAINST]


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


#: at most this many unfinished tests are listed by name in the terminal
_LISTED = 10


def _unfinished_lines(collector: ResultCollector) -> list[str]:
    """The incomplete-run line, then the tests without a verdict of their own."""
    reason = collector.incomplete_reason()
    if not reason:
        return []
    lines = [reason]
    unfinished = [r for r in collector.sorted_results() if r.outcome in UNFINISHED]
    lines += [f"{r.outcome.upper()} {r.nodeid}: {r.reason}" for r in unfinished[:_LISTED]]
    listed = {r.nodeid for r in unfinished}
    never = [n for n in collector.never_reported if n not in listed]
    lines += [f"NEVER REPORTED {nodeid}" for nodeid in never[:_LISTED]]
    hidden = max(0, len(unfinished) - _LISTED) + max(0, len(never) - _LISTED)
    if hidden:
        lines.append(f"... and {hidden} more (all of them in --anonvma-report)")
    return lines


def render_terminal(collector: ResultCollector) -> list[str]:
    """The matrix as aligned text lines, after the incomplete-run lines if it is incomplete
    (empty if no implementation test ran and the run is complete)."""
    rows = _table_rows(collector.matrix())
    lines = _unfinished_lines(collector)
    if not rows:
        return lines
    table = [_HEADER, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEADER))]
    for row in table:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


#: at most this many causes are listed in the terminal
_CAUSES_LISTED = 20


def _reproducer_text(result: CaseResult) -> str:
    """A reproducer's test id, and its shrunk case and length when known."""
    about = [result.reproducer] if result.reproducer else []
    about += [f"{result.length} steps"] if result.length is not None else []
    return result.test_id + (f" ({', '.join(about)})" if about else "")


def render_causes(collector: ResultCollector) -> list[str]:
    """One entry per failure cause, most frequent first: its count, signature and the
    implementations it hits, then in words, its shortest reproducer and how to rerun it
    (empty if nothing failed)."""
    causes = collector.causes()
    lines = []
    for cause in causes[:_CAUSES_LISTED]:
        shortest = cause.shortest
        lines += [
            f"{cause.count} x {cause.signature} -- on {', '.join(cause.implementations)}",
            f"    {cause.summary}",
            f"    shortest: {_reproducer_text(shortest)}",
        ]
        if shortest.rerun:
            lines.append(f"    rerun: {shortest.rerun}")
    if len(causes) > _CAUSES_LISTED:
        lines.append(f"... and {len(causes) - _CAUSES_LISTED} more causes (all of them in "
                     "--anonvma-report)")
    return lines


def _cause_data(cause: Cause) -> dict[str, Any]:
    shortest = cause.shortest
    return {
        "signature": cause.signature,
        "summary": cause.summary,
        "count": cause.count,
        "implementations": list(cause.implementations),
        "shortest": {
            "nodeid": shortest.nodeid,
            "test_id": shortest.test_id,
            "reproducer": shortest.reproducer,
            "length": shortest.length,
            "rerun": shortest.rerun,
        },
        "tests": [r.nodeid for r in cause.results],
    }


def _run_status(collector: ResultCollector) -> dict[str, Any]:
    """Whether the run finished, and what did not."""
    return {
        "complete": collector.complete,
        "incomplete_reason": collector.incomplete_reason(),
        "stopped": collector.stopped,
        "never_reported": list(collector.never_reported),
        "crashed": list(collector.crashes),
        "output_errors": list(collector.output_errors),
    }


def render_json(collector: ResultCollector, meta: Mapping[str, Any]) -> str:
    """Meta data, whether the run was complete, the matrix, the failure causes and every
    test's outcome and reason, as JSON."""
    data = {
        **meta,
        **_run_status(collector),
        "tiers": collector.tiers(),
        "matrix": {
            impl: {tier: c.as_dict() for tier, c in row.items()}
            for impl, row in collector.matrix().items()
        },
        "causes": [_cause_data(cause) for cause in collector.causes()],
        "cases": [asdict(r) for r in collector.sorted_results()],
    }
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _meta_lines(meta: Mapping[str, Any]) -> list[str]:
    return [f"{key}: {value}" for key, value in meta.items()]


def _status_items(collector: ResultCollector) -> list[str]:
    """The lines shown at the top of a page when the run is incomplete or lost outputs."""
    items = _unfinished_lines(collector)
    items += [f"could not write: {error}" for error in collector.output_errors]
    return items


def render_markdown(collector: ResultCollector, meta: Mapping[str, Any]) -> str:
    """The matrix as a Markdown table, the failure causes, then each failing test with its
    full message; an incomplete run says so first."""
    out = ["# pytest-anonvma conformance report", ""]
    status = _status_items(collector)
    if status:
        out += [f"**{status[0]}**", ""] + [f"- {line}" for line in status[1:]] + [""]
    out += [f"- {line}" for line in _meta_lines(meta)] + [""]
    out += ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    out += ["| " + " | ".join(row) + " |" for row in _table_rows(collector.matrix())]
    causes = collector.causes()
    out += ["", f"## Failure causes ({len(causes)})", ""]
    for cause in causes:
        shortest = cause.shortest
        out += [f"- **{cause.count}** x `{cause.signature}` on "
                f"{', '.join(cause.implementations)}: {cause.summary}  ",
                f"  shortest: [`{_reproducer_text(shortest)}`](#{shortest.anchor})"
                + (f"; rerun: `{shortest.rerun}`" if shortest.rerun else "")]
    failures = collector.failures()
    out += ["", f"## Failures ({len(failures)})", ""]
    for result in failures:
        out += [f'<a id="{result.anchor}"></a>', "",
                f"### `{result.test_id}` ({result.outcome})", "", f"`{result.nodeid}`", "",
                f"cause: `{result.cause}`", "",
                "```", result.detail.rstrip() or result.reason, "```", ""]
        if result.rerun:
            out += ["```sh", result.rerun, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def render_html(collector: ResultCollector, meta: Mapping[str, Any]) -> str:
    """The HTML page: :func:`pytest_anonvma.report_html.render_html` (imported when called,
    as that module builds on this one)."""
    from pytest_anonvma.report_html import render_html as render_page

    return render_page(collector, meta)


_RENDERERS = {".json": render_json, ".html": render_html, ".md": render_markdown}
#: the report formats, by file suffix
REPORT_SUFFIXES = tuple(_RENDERERS)


def write_report(path: Path, collector: ResultCollector, meta: Mapping[str, Any]) -> None:
    """Write the report in the format the suffix names (.json, .html, .md).

    All or nothing: the text goes to a temporary file in the same folder, renamed over ``path``
    when complete; on an error (``OSError``, raised) no partial file is left.
    """
    text = _RENDERERS[path.suffix.lower()](collector, meta)
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
