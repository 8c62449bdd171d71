"""The HTML conformance report: one self-contained page, readable without JavaScript.

From the top: the verdict (and why the run is incomplete, if it is), the matrix (a column per
implementation, a row per tier, each cell coloured by its conformance figure and linking to the
list of its failures), the failure causes (each linking to its failures), every failure as a
collapsible section (its anchor, facts, rerun line, page states and VMA layouts drawn, the case
story), the per-cell failure lists, skip and xfail reasons, the slowest tests and the run's
metadata. No script, no network: the styles are inline. :func:`summary_fragment` is the matrix
and causes alone, for pages made by others (pytest-html).
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_anonvma.layout import LayoutError, parse_layout
from pytest_anonvma.report import (
    AGAINST,
    OUTCOMES,
    TOTALS,
    CaseResult,
    Counts,
    ResultCollector,
    _status_items,
    _total_of,
)
from pytest_anonvma.report_pictures import UNKNOWN, Picture, pictures_of

__all__ = ["STYLE", "cell_colour", "render_html", "summary_fragment"]

_esc = html.escape

#: the outcomes listed with their reasons (not failures, not passes)
REASON_OUTCOMES = {
    "skipped": "Skipped",
    "xfailed": "Expected failures (xfailed)",
    "xpassed": "Passed though expected to fail (xpassed)",
}
#: a cell at or above this figure (and below 100%) is amber, below it red
AMBER_FROM = 90.0
#: how many of the slowest tests are listed
SLOWEST = 15
#: page states by their character: (CSS class, what it is)
PAGE_STATES = {
    ".": ("pg-empty", "empty"),
    "P": ("pg-present", "present"),
    "G": ("pg-guard", "guard marker"),
    UNKNOWN: ("pg-unknown", "not shown"),
}

STYLE = """
.anonvma{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328}
.anonvma h1{font-size:1.6em;margin:.2em 0}
.anonvma h2{font-size:1.3em;margin:1.6em 0 .5em;border-bottom:1px solid #d0d7de}
.anonvma h3{font-size:1.05em;margin:1.2em 0 .4em}
.anonvma code,.anonvma pre{font:13px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,monospace}
.anonvma a{color:#0550ae}
.anonvma .verdict{font-size:1.1em;margin:.3em 0 1em}
.anonvma nav a{margin-right:1.2em}
.anonvma table{border-collapse:collapse;margin:.4em 0}
.anonvma th,.anonvma td{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top}
.anonvma thead th{background:#f6f8fa}
.anonvma .scroll{overflow-x:auto;max-width:100%}
.anonvma .num{text-align:right;font-variant-numeric:tabular-nums}
.anonvma .matrix td{min-width:9em;padding:0}
.anonvma .matrix td>a,.anonvma .matrix td>span{display:block;padding:5px 8px;color:inherit;
 text-decoration:none}
.anonvma .matrix td>a:hover{outline:2px solid #0550ae}
.anonvma .matrix b{font-size:1.15em}
.anonvma .matrix small{display:block;color:#424a53}
.anonvma .matrix tr.sum th,.anonvma .matrix tr.sum td{border-top:3px double #8c959f}
.anonvma .c-green{background:#d1f4dc}.anonvma .c-amber{background:#fff1b8}
.anonvma .c-red{background:#ffd6d3}.anonvma .c-grey{background:#eaeef2;color:#57606a}
.anonvma .legend span{display:inline-block;padding:0 .6em;margin-right:.4em;border-radius:3px}
.anonvma .incomplete{border:2px solid #cf222e;background:#ffebe9;padding:8px;margin:1em 0}
.anonvma .sig{color:#57606a}
.anonvma .cause-group{margin-top:1.4em}
.anonvma details.failure{border:1px solid #d0d7de;border-radius:6px;margin:.35em 0;
 background:#fff}
.anonvma details.failure>summary{padding:5px 8px;cursor:pointer;background:#f6f8fa;
 border-radius:6px}
.anonvma details.failure[open]>summary{border-bottom:1px solid #d0d7de;border-radius:6px 6px 0 0}
.anonvma details.failure>div{padding:6px 12px 10px}
.anonvma :target{box-shadow:0 0 0 3px #f0b400}
.anonvma .badge{display:inline-block;padding:0 .5em;border-radius:1em;font-size:.85em;
 color:#fff;background:#cf222e}
.anonvma .badge.crashed{background:#8250df}.anonvma .badge.interrupted{background:#9a6700}
.anonvma table.facts th{text-align:left;background:#f6f8fa;font-weight:600}
.anonvma p.facts{color:#424a53;margin:.3em 0}
.anonvma pre.story{background:#f6f8fa;padding:8px;white-space:pre-wrap;
 overflow-wrap:anywhere;border-radius:4px}
.anonvma pre.story .failed{background:#ffd6d3;font-weight:bold}
.anonvma pre.story .expected{color:#116329}.anonvma pre.story .actual{color:#a40e26}
.anonvma .cmd{background:#f6f8fa;padding:1px 4px;overflow-wrap:anywhere}
.anonvma figure{margin:.6em 0}
.anonvma figcaption{font-weight:600;margin-bottom:.2em}
.anonvma .grid{display:grid;gap:2px 0;align-items:center;width:max-content}
.anonvma .grid .lbl{padding-right:.6em;font-size:.9em;color:#424a53}
.anonvma .grid .ruler{font:11px ui-monospace,monospace;color:#57606a;text-align:center}
.anonvma .pg{height:26px;text-align:center;font:bold 14px/26px ui-monospace,monospace;
 border:1px solid #8c959f;margin-right:-1px}
.anonvma .pg-empty{background:#fff;color:#8c959f}
.anonvma .pg-present{background:#54aeff;color:#fff}
.anonvma .pg-guard{background:#e16f24;color:#fff}
.anonvma .pg-unknown{background:#eaeef2;color:#8c959f}
.anonvma .pg.diff{outline:3px solid #cf222e;outline-offset:-3px}
.anonvma .axis{height:1px;border-top:1px dashed #afb8c1}
.anonvma .vma{height:26px;text-align:center;border:2px solid #0969da;background:#ddf4ff;
 border-radius:5px;margin:0 1px;font:bold 14px/26px ui-monospace,monospace}
.anonvma .vma.diff{border-color:#cf222e;background:#ffebe9}
.anonvma .links{display:flex;flex-wrap:wrap;gap:.2em .9em;list-style:none;padding:0}
.anonvma details.reasons>summary{cursor:pointer;font-weight:600;margin:.4em 0}
.anonvma details.reason{margin:.2em 0 .2em 1.2em}
.anonvma details.reason>summary{cursor:pointer}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


class _Ids:
    """Unique element ids: the failures' own anchors first, then the page's others."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)

    def new(self, base: str) -> str:
        slug, n = _slug(base), 2
        name = slug
        while name in self.taken:
            name, n = f"{slug}-{n}", n + 1
        self.taken.add(name)
        return name


def cell_colour(counts: Counts) -> str:
    """The matrix colour of a cell: green at 100%, amber from :data:`AMBER_FROM`, red below,
    grey when nothing ran."""
    pct = counts.conformant
    if pct is None:
        return "grey"
    if pct >= 100.0:
        return "green"
    return "amber" if pct >= AMBER_FROM else "red"


def _counts_text(counts: Counts) -> str:
    parts = [f"{getattr(counts, o)} {o}" for o in OUTCOMES if getattr(counts, o)]
    return " · ".join(parts) or "no tests"


def _failed(counts: Counts) -> int:
    return sum(getattr(counts, o) for o in AGAINST)


def _cell(counts: Counts, target: str | None) -> str:
    pct = counts.conformant
    figure = "—" if pct is None else f"{pct:.1f}%"
    inner = f"<b>{figure}</b><small>{_esc(_counts_text(counts))}</small>"
    colour = f"c-{cell_colour(counts)}"
    if target and _failed(counts):
        return f"<td class='{colour}'><a href='#{_esc(target)}'>{inner}</a></td>"
    return f"<td class='{colour}'><span>{inner}</span></td>"


def _impl_heading(name: str, meta: Mapping[str, Any]) -> str:
    about = meta.get("designs", {}).get(name) if isinstance(meta.get("designs"), dict) else None
    sub = ""
    if isinstance(about, dict):
        sub = f"<small>{_esc(' · '.join(f'{k} {v}' for k, v in about.items()))}</small>"
    return f"<th scope='col'>{_esc(name)}{sub}</th>"


def _matrix(collector: ResultCollector, meta: Mapping[str, Any],
            targets: Mapping[tuple[str, str], str] | None) -> str:
    """The matrix table: tiers as rows (then the sums), implementations as columns."""
    matrix = collector.matrix()
    if not matrix:
        return "<p>No implementation test ran.</p>"
    impls = list(matrix)
    rows = list(next(iter(matrix.values())))
    head = "<th scope='col'>tier</th>" + "".join(_impl_heading(i, meta) for i in impls)
    body = []
    for row in rows:
        cls = " class='sum'" if row in TOTALS else ""
        cells = "".join(
            _cell(matrix[impl][row], (targets or {}).get((impl, row))) for impl in impls
        )
        body.append(f"<tr{cls}><th scope='row'>{_esc(row)}</th>{cells}</tr>")
    legend = (
        "<p class='legend'>Cells: percent passed of the tests that ran, then the counts; "
        f"<span class='c-green'>100%</span><span class='c-amber'>{AMBER_FROM:g}% or more</span>"
        f"<span class='c-red'>below {AMBER_FROM:g}%</span><span class='c-grey'>nothing ran</span>"
        + (" A coloured cell with failures links to their list.</p>" if targets else "</p>")
    )
    return (
        f"{legend}<div class='scroll'><table class='matrix'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _causes(collector: ResultCollector, groups: Mapping[str, str] | None) -> str:
    """The causes table: count, summary and signature, implementations, shortest reproducer;
    with ``groups`` (cause signature -> id) the counts and summaries link to the failures."""
    causes = collector.causes()
    if not causes:
        return "<p>No failures.</p>"
    rows = []
    for cause in causes:
        target = (groups or {}).get(cause.signature)
        count, what = str(cause.count), _esc(cause.summary)
        if target:
            count = f"<a href='#{_esc(target)}'>{count}</a>"
            what = f"<a href='#{_esc(target)}'>{what}</a>"
        short = cause.shortest
        name = f"<code>{_esc(short.test_id)}</code>"
        if groups is not None:
            name = f"<a href='#{_esc(short.anchor)}'>{name}</a>"
        rerun = f"<br><code class='cmd'>{_esc(short.rerun)}</code>" if short.rerun else ""
        rows.append(
            f"<tr><td class='num'>{count}</td><td>{what}<br><code class='sig'>"
            f"{_esc(cause.signature)}</code></td><td>{_esc(', '.join(cause.implementations))}"
            f"</td><td>{name}{rerun}</td></tr>"
        )
    head = "".join(f"<th scope='col'>{h}</th>" for h in
                   ("failures", "cause", "implementations", "shortest reproducer"))
    return (f"<div class='scroll'><table class='causes'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


# --- pictures --------------------------------------------------------------------------------


def _ruler(first: int, width: int, row: int) -> list[str]:
    return [f"<span class='ruler' style='grid-row:{row};grid-column:{i + 2}'>{first + i}</span>"
            for i in range(width)]


def _label(text: str, row: int) -> str:
    return f"<span class='lbl' style='grid-row:{row};grid-column:1'>{_esc(text)}</span>"


def _pages_rows(picture: Picture) -> list[str]:
    width = picture.width
    rows = [cells.ljust(width, UNKNOWN) for _, cells in picture.rows]
    differ = {i for i in range(width)
              if len({r[i] for r in rows if r[i] != UNKNOWN}) > 1}
    out = []
    for n, ((label, _), cells) in enumerate(zip(picture.rows, rows, strict=True), start=2):
        out.append(_label(label, n))
        for i, state in enumerate(cells):
            cls, what = PAGE_STATES.get(state, ("pg-unknown", f"state {state!r}"))
            mark = " diff" if i in differ else ""
            out.append(
                f"<span class='pg {cls}{mark}' style='grid-row:{n};grid-column:{i + 2}' "
                f"title='page {picture.first + i}: {_esc(what)}'>{_esc(state)}</span>"
            )
    return out


def _extents(cells: str) -> tuple[tuple[int, int], ...] | None:
    try:
        return parse_layout(cells).extents if cells.strip() else ()
    except LayoutError:
        return None


def _layout_rows(picture: Picture) -> list[str] | None:
    extents = [_extents(cells) for _, cells in picture.rows]
    if any(e is None for e in extents):
        return None
    first_row = set(extents[0] or ())
    out = []
    for n, ((label, cells), vmas) in enumerate(zip(picture.rows, extents, strict=True), start=2):
        out.append(_label(label, n))
        out.append(f"<span class='axis' style='grid-row:{n};grid-column:2/-1'></span>")
        for start, end in vmas or ():
            mark = " diff" if (start, end) not in first_row else ""
            pages = f"pages {start}..{end - 1}" if end - start > 1 else f"page {start}"
            out.append(
                f"<span class='vma{mark}' style='grid-row:{n};grid-column:{start + 2}/{end + 2}' "
                f"title='VMA {_esc(cells[start])}: {pages}'>{_esc(cells[start])}</span>"
            )
    return out


def _picture(picture: Picture) -> str:
    """A picture drawn: a ruler of page numbers, then one labelled row of cells or boxes each;
    a picture whose rows do not read as a layout is shown as text."""
    drawn = _pages_rows(picture) if picture.kind == "pages" else _layout_rows(picture)
    if drawn is None:
        text = "\n".join(f"{label:>10}  {cells}" for label, cells in picture.rows)
        return f"<figure><figcaption>{_esc(picture.title)}</figcaption><pre>{_esc(text)}</pre>" \
               "</figure>"
    width = max(picture.width, 1)
    grid = [_label("page", 1), *_ruler(picture.first, width, 1), *drawn]
    return (
        f"<figure><figcaption>{_esc(picture.title)}</figcaption><div class='scroll'>"
        f"<div class='grid' style='grid-template-columns:max-content repeat({width},30px)'>"
        f"{''.join(grid)}</div></div></figure>"
    )


def _legend() -> str:
    swatches = "".join(
        f"<span class='pg {cls}' style='display:inline-block;width:30px'>{_esc(ch)}</span> "
        f"{_esc(what)} " for ch, (cls, what) in PAGE_STATES.items()
    )
    return (f"<p class='legend'>Pages: {swatches}· a red frame marks where the rows differ; "
            "a VMA is a blue box along the address axis.</p>")


# --- failures --------------------------------------------------------------------------------


def _story(text: str) -> str:
    """The failure text with the failing step and the expected/actual lines marked."""
    lines = []
    for line in text.rstrip().splitlines():
        stripped = line.lstrip()
        cls = ("failed" if stripped.startswith(">") and "|" in stripped
               else "expected" if stripped.startswith(("expected ", "reference "))
               else "actual" if stripped.startswith("actual ") else "")
        lines.append(f"<span class='{cls}'>{_esc(line)}</span>" if cls else _esc(line))
    return "<pre class='story'>" + "\n".join(lines) + "</pre>"


def _failure(result: CaseResult, cause: str) -> str:
    """One failure, collapsed: the summary line, then its facts, rerun line, pictures, story."""
    facts = [("implementation", result.implementation), ("tier", result.tier),
             ("took", f"{result.duration:.3f} s"), ("cause", cause)]
    shown = " · ".join(f"{k} <code>{_esc(v)}</code>" for k, v in facts if v)
    rerun = (f"<p>rerun: <code class='cmd'>{_esc(result.rerun)}</code></p>"
             if result.rerun else "")
    return (
        f"<details class='failure' id='{_esc(result.anchor)}'><summary>"
        f"<span class='badge {_esc(result.outcome)}'>{_esc(result.outcome)}</span> "
        f"<code>{_esc(result.test_id)}</code> — {_esc(result.reason)}</summary><div>"
        f"<p class='facts'>{shown}<br>node id <code>{_esc(result.nodeid)}</code></p>{rerun}"
        f"{''.join(map(_picture, pictures_of(result)))}"
        f"{_story(result.detail or result.reason)}</div></details>"
    )


def _cause_groups(collector: ResultCollector, ids: _Ids) -> list[tuple[str, str, str,
                                                                     list[CaseResult]]]:
    """``(id, title, signature, failures)`` per cause, then any failure without one."""
    groups = []
    placed: set[str] = set()
    for cause in collector.causes():
        title = f"{cause.count} × {cause.summary}"
        groups.append((ids.new(f"cause-{cause.signature}"), title, cause.signature,
                       list(cause.results)))
        placed.update(r.nodeid for r in cause.results)
    rest = [r for r in collector.failures() if r.nodeid not in placed]
    if rest:
        groups.append((ids.new("cause-other"), f"{len(rest)} × other failures", "", rest))
    return groups


def _failures(groups: Sequence[tuple[str, str, str, list[CaseResult]]]) -> str:
    out = []
    for gid, title, signature, results in groups:
        impls = ", ".join(dict.fromkeys(r.implementation for r in results))
        sig = f"<code class='sig'>{_esc(signature)}</code> · " if signature else ""
        out.append(f"<section class='cause-group' id='{_esc(gid)}'><h3>{_esc(title)}</h3>"
                   f"<p>{sig}{_esc(impls)}</p>")
        out += [_failure(r, signature) for r in results]
        out.append("</section>")
    return _legend() + "".join(out) if out else "<p>No failures.</p>"


def _filtered(collector: ResultCollector, targets: Mapping[tuple[str, str], str]) -> str:
    """For each matrix cell with failures, the links to them; a total's cell links to the
    lists of the tiers it adds up."""
    by_cell: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for result in collector.failures():
        by_cell[(result.implementation, result.tier)].append(result)
    out = []
    for (impl, row), target in targets.items():
        if row in TOTALS:
            parts = [(tier, t) for (i, tier), t in targets.items()
                     if i == impl and _total_of(tier) == row and tier not in TOTALS]
            links = "".join(f"<li><a href='#{_esc(t)}'>{_esc(tier)} "
                            f"({len(by_cell[(impl, tier)])})</a></li>" for tier, t in parts)
            count = sum(len(by_cell[(impl, tier)]) for tier, _ in parts)
        else:
            links = "".join(
                f"<li><a href='#{_esc(r.anchor)}'><code>{_esc(r.case)}</code></a></li>"
                for r in by_cell[(impl, row)])
            count = len(by_cell[(impl, row)])
        out.append(f"<div id='{_esc(target)}'><h3>{_esc(impl)} · {_esc(row)}: "
                   f"{count} failure(s)</h3><ul class='links'>{links}</ul></div>")
    return "".join(out) or "<p>No failures.</p>"


def _cell_targets(collector: ResultCollector, ids: _Ids) -> dict[tuple[str, str], str]:
    """An id (``impl-tier``) for every matrix cell with failures, the totals' included."""
    return {
        (impl, row): ids.new(f"{impl}-{row}")
        for impl, rows in collector.matrix().items()
        for row, counts in rows.items()
        if _failed(counts)
    }


# --- reasons, durations, metadata -----------------------------------------------------------


def _reasons(results: Sequence[CaseResult]) -> str:
    """Per outcome (skipped, xfailed, xpassed): a collapsible list of its reasons with counts,
    most frequent first, each opening on its tests."""
    out = []
    for outcome, title in REASON_OUTCOMES.items():
        by_reason: dict[str, list[CaseResult]] = defaultdict(list)
        for result in results:
            if result.outcome == outcome:
                by_reason[result.reason or "(no reason given)"].append(result)
        if not by_reason:
            continue
        total = sum(map(len, by_reason.values()))
        items = []
        for reason, tests in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            impls = ", ".join(dict.fromkeys(t.implementation for t in tests))
            names = "".join(f"<li><code>{_esc(t.test_id)}</code></li>" for t in tests)
            items.append(f"<details class='reason'><summary><b>{len(tests)}</b> × "
                         f"{_esc(reason)} <span class='sig'>({_esc(impls)})</span></summary>"
                         f"<ul>{names}</ul></details>")
        out.append(f"<details class='reasons'><summary>{_esc(title)}: {total} test(s), "
                   f"{len(by_reason)} reason(s)</summary>{''.join(items)}</details>")
    return "".join(out) or "<p>No test was skipped or expected to fail.</p>"


def _slowest(results: Sequence[CaseResult]) -> str:
    slow = sorted(results, key=lambda r: -r.duration)[:SLOWEST]
    rows = "".join(
        f"<tr><td class='num'>{r.duration:.3f} s</td><td><code>{_esc(r.test_id)}</code></td>"
        f"<td>{_esc(r.outcome)}</td></tr>" for r in slow
    )
    return (f"<details class='reasons'><summary>The {len(slow)} slowest tests</summary>"
            f"<table><tbody>{rows}</tbody></table></details>")


def _value(value: Any) -> str:
    """A metadata value: a list as lines, a mapping as a small table, else text."""
    if isinstance(value, Mapping):
        rows = "".join(f"<tr><th>{_esc(str(k))}</th><td>{_value(v)}</td></tr>"
                       for k, v in value.items())
        return f"<table>{rows}</table>" if rows else "—"
    if isinstance(value, (list, tuple)):
        return "<br>".join(_esc(str(v)) for v in value) or "—"
    return _esc(str(value)) if value not in (None, "") else "—"


#: metadata shown first, by key, with its label; other keys follow under their own names
META_ORDER = {"version": "plugin version", "seed": "seed", "rerun": "rerun",
              "implementations": "implementations", "designs": "designs and eras",
              "duration": "duration"}


def _meta(collector: ResultCollector, meta: Mapping[str, Any]) -> str:
    """The run's metadata as a table: plugin version, seed, rerun, implementations (with design
    and era), whether the run is complete, its duration, then the rest of ``meta``."""
    rows: list[tuple[str, str]] = []
    for key, label in META_ORDER.items():
        if key not in meta:
            continue
        value = meta[key]
        if key == "version":
            value = f"{meta.get('plugin', 'pytest-anonvma')} {value}"
        if key == "duration" and isinstance(value, (int, float)):
            value = f"{value:.1f} s"
        shown = _value(value)
        rows.append((label, f"<code class='cmd'>{shown}</code>" if key == "rerun" else shown))
    rows.append(("complete", "yes" if collector.complete
                 else _esc(collector.incomplete_reason())))
    test_time = sum(r.duration for r in collector.results.values())
    rows.append(("time in tests", f"{test_time:.1f} s (the sum of every test's duration)"))
    rows += [(key, _value(value)) for key, value in meta.items()
             if key not in META_ORDER and key != "plugin"]
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='facts'><tbody>{body}</tbody></table>"


def _verdict(collector: ResultCollector) -> str:
    total = Counts()
    for result in collector.results.values():
        total.add(result.outcome)
    failures = _failed(total)
    causes = len(collector.causes())
    pct = total.conformant
    figure = "no test ran" if pct is None else f"{pct:.1f}% conformant"
    told = (f"{failures} failure(s) from {causes} cause(s)" if failures else "no failures")
    return (f"<p class='verdict'><b>{_esc(figure)}</b>: {told}; {_esc(_counts_text(total))}, "
            f"across {len(collector.matrix())} implementation(s).</p>")


def _banner(collector: ResultCollector) -> str:
    status = _status_items(collector)
    if not status:
        return ""
    items = "".join(f"<li>{_esc(line)}</li>" for line in status[1:])
    return f"<div class='incomplete'><strong>{_esc(status[0])}</strong><ul>{items}</ul></div>"


_NAV = (("matrix", "Matrix"), ("causes", "Causes"), ("failures", "Failures"),
        ("by-cell", "Failures by cell"), ("reasons", "Skips and xfails"), ("run", "Run"))


def render_html(collector: ResultCollector, meta: Mapping[str, Any]) -> str:
    """The report page (see the module's docstring); an incomplete run says so first."""
    ids = _Ids([r.anchor for r in collector.failures()] + [key for key, _ in _NAV])
    targets = _cell_targets(collector, ids)
    groups = _cause_groups(collector, ids)
    signatures = {signature: gid for gid, _, signature, _ in groups if signature}
    nav = "".join(f"<a href='#{key}'>{title}</a>" for key, title in _NAV)
    sections = [
        ("matrix", "Conformance matrix", _matrix(collector, meta, targets)),
        ("causes", f"Failure causes ({len(collector.causes())})",
         _causes(collector, signatures)),
        ("failures", f"Failures ({len(collector.failures())}), by cause", _failures(groups)),
        ("by-cell", "Failures by implementation and tier", _filtered(collector, targets)),
        ("reasons", "Skips and expected failures",
         _reasons(collector.sorted_results()) + _slowest(collector.sorted_results())),
        ("run", "The run", _meta(collector, meta)),
    ]
    body = "".join(f"<section id='{key}'><h2>{_esc(title)}</h2>{content}</section>"
                   for key, title, content in sections)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>pytest-anonvma conformance report</title><style>{STYLE}"
        "body{margin:1.5em 2em;max-width:110em}</style></head>"
        "<body class='anonvma'><h1>pytest-anonvma conformance report</h1>"
        f"{_banner(collector)}{_verdict(collector)}<nav>{nav}</nav>{body}</body></html>\n"
    )


def summary_fragment(collector: ResultCollector, meta: Mapping[str, Any]) -> str:
    """The matrix and the causes, without links, for a page made by another tool (its own
    styles scoped under ``.anonvma``)."""
    return (
        f"<div class='anonvma'><style>{STYLE}</style>"
        f"<h2>anonvma conformance</h2>{_banner(collector)}{_verdict(collector)}"
        f"{_matrix(collector, meta, None)}<h3>Failure causes</h3>{_causes(collector, None)}"
        "</div>"
    )
