"""The HTML report page: its structure (read with an HTML parser), its drawings, a render in
headless Chromium, and the matrix and causes on pytest-html's page.

Expected behaviour: issue 11 item 4 (a colour-coded matrix with implementations as columns and
tiers as rows linking to their failures; the causes with counts linking to their failures;
each failure collapsible with an anchor, its story and its page states and layouts drawn; the
run's metadata; skip and xfail reasons; self-contained, readable without JavaScript).
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_anonvma.layout import Layout, parse_layout, render_layout
from pytest_anonvma.report import ItemInfo, ResultCollector
from pytest_anonvma.report_html import cell_colour, render_html, summary_fragment
from pytest_anonvma.report_pictures import Picture, pictures_from_text, pictures_of

#: a curated case's failure text: a page-state mismatch in the runner's words
PAGES_STORY = """case 'fork-keeps-markers' failed on 'impl-a' (design rfc-v1) at c.toml:22
  about:  markers survive fork
  source: mm/memory.c: copy_pte_range

  steps:
      20 | pages 0..1 = . G
      21 | fork as child
  >   22 | in child: pages 0..1 = . G    <-- failed here

  page states of pages 0..1 in child:
    expected  . G
    actual    . .
                ^
"""


def layout_story() -> str:
    """A curated case's layout mismatch, its pictures drawn by the layout module itself."""
    pictures = render_layout([("expected", parse_layout("AABBB  CC")),
                              ("actual", Layout(parse_layout("AAAAA  CC").extents, 12))])
    indented = "\n".join(f"  {line}" for line in pictures.splitlines())
    return (f"case 'merge' failed on 'impl-b' at c.toml:30\n  steps:\n  >   30 | layout "
            f"\"AABBB  CC\"    <-- failed here\n\n  VMA layout of the arena:\n{indented}\n")


#: a generated case's differential findings
GENERATED_STORY = """generated case gen-1-0 (seed 1) failed on 'impl-a' (finding: x):
  differential: page states in child differ: page 4 is . (reference G), page 6 is P (reference G)
  differential: VMA layout in child is 'AA B', the reference's is 'AAAB'
"""


def phase(nodeid: str, when: str, outcome: str, impl: str, tier: str,
          props: tuple[tuple[str, Any], ...] = (), **extra: Any) -> pytest.TestReport:
    """A phase report with the plugin's user properties."""
    rep = pytest.TestReport(
        nodeid=nodeid, location=("t.py", 0, nodeid), keywords={}, outcome=outcome,  # type: ignore[arg-type]
        longrepr=extra.pop("longrepr", None), when=when,  # type: ignore[arg-type]
        user_properties=[("anonvma_impl", impl), ("anonvma_tier", tier),
                         ("anonvma_case", nodeid.rpartition("::")[2]), *props],
    )
    for key, value in extra.items():
        setattr(rep, key, value)
    return rep


def add(c: ResultCollector, nodeid: str, impl: str, tier: str, call: str = "passed",
        props: tuple[tuple[str, Any], ...] = (), **extra: Any) -> None:
    """One test's setup, call and teardown."""
    c.expect([nodeid])
    c.start(nodeid)
    c.add_report(phase(nodeid, "setup", "passed", impl, tier))
    c.add_report(phase(nodeid, "call", call, impl, tier, props, **extra))
    c.add_report(phase(nodeid, "teardown", "passed", impl, tier))


def fail(c: ResultCollector, name: str, impl: str, tier: str, story: str, cause: str) -> None:
    """A failing test with the story, cause and rerun line the plugin attaches."""
    nodeid = f"t.py::test_case[{impl}-{name}]"
    props = (("anonvma_detail", story), ("anonvma_cause", cause),
             ("anonvma_rerun", f"pytest -p anonvma --anonvma-impl={impl} -k {name}"))
    add(c, nodeid, impl, tier, "failed", props)


def sample() -> ResultCollector:
    """Three implementations; impl-a fails twice with one cause and once with another,
    impl-b once; passes, skips, an xfail; impl-c runs nothing but skips."""
    c = ResultCollector(["impl-a", "impl-b", "impl-c"])
    fail(c, "fork-keeps-markers", "impl-a", "guard", PAGES_STORY, "guard: pages after fork")
    fail(c, "fork-keeps-more", "impl-a", "guard", PAGES_STORY, "guard: pages after fork")
    fail(c, "gen-1-0", "impl-a", "generated", GENERATED_STORY, "generated: x (fork)")
    fail(c, "merge", "impl-b", "layout", layout_story(), "layout: layout after mprotect")
    for impl in ("impl-a", "impl-b"):
        add(c, f"t.py::test_case[{impl}-ok]", impl, "guard")
        add(c, f"t.py::test_case[{impl}-lay]", impl, "layout")
    skipped = ("t.py", 1, "Skipped: needs era 6.18")
    for impl in ("impl-a", "impl-c"):
        add(c, f"t.py::test_case[{impl}-new]", impl, "guard", "skipped", longrepr=skipped)
    add(c, "t.py::test_case[impl-b-known]", "impl-b", "patch", "skipped",
        longrepr=("t.py", 1, "xfail"), wasxfail="documented finding: lost flag")
    c.close(None, lambda nodeid: None)
    return c


META = {"plugin": "pytest-anonvma", "version": "9.9", "seed": 1234,
        "implementations": ["impl-a", "impl-b", "impl-c"],
        "designs": {"impl-a": {"design": "rfc-v1", "era": "2025-03"}},
        "rerun": "pytest -p anonvma --anonvma-impl=impl-a,impl-b,impl-c --anonvma-seed=1234"}

VOID = {"meta", "br", "link", "img", "input", "hr", "col", "wbr", "source"}


class Page(HTMLParser):
    """The parsed page: elements (tag, attrs, ancestors' indexes), text per element, and
    whether every element closed in order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], tuple[int, ...]]] = []
        self.text: dict[int, list[str]] = {}
        self.open: list[int] = []
        self.errors: list[str] = []
        self.feed(text)
        self.close()
        if self.open:
            self.errors.append(f"unclosed: {[self.elements[i][0] for i in self.open]}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}, tuple(self.open)))
        if tag not in VOID:
            self.open.append(len(self.elements) - 1)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.elements[self.open[-1]][0] != tag:
            self.errors.append(f"</{tag}> closes nothing open")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for i in self.open:
            self.text.setdefault(i, []).append(data)

    def find(self, tag: str, cls: str | None = None, within: int | None = None) -> list[int]:
        """Indexes of the elements ``tag`` (with class ``cls``, inside element ``within``)."""
        return [i for i, (t, attrs, up) in enumerate(self.elements)
                if t == tag and (cls is None or cls in attrs.get("class", "").split())
                and (within is None or within in up)]

    def by_id(self) -> dict[str, int]:
        """Element index by id."""
        return {a["id"]: i for i, (_, a, _) in enumerate(self.elements) if "id" in a}

    def words(self, i: int) -> str:
        return "".join(self.text.get(i, []))

    def links(self, within: int) -> list[str]:
        """The fragment links inside an element, without the ``#``."""
        return [self.elements[i][1]["href"][1:] for i in self.find("a", within=within)]


@pytest.fixture(scope="module")
def page() -> Page:
    return Page(render_html(sample(), META))


def section(page: Page, name: str) -> int:
    return page.by_id()[name]


def test_page_is_well_formed_and_self_contained(page: Page) -> None:
    """Every element closes in order, ids are unique, and nothing loads from elsewhere: no
    script, no stylesheet link, no URL but in-page fragments."""
    assert page.errors == []
    ids = [a["id"] for _, a, _ in page.elements if "id" in a]
    assert len(ids) == len(set(ids))
    assert not page.find("script") and not page.find("link") and not page.find("img")
    for tag, attrs, _ in page.elements:
        for key in ("href", "src", "action"):
            assert attrs.get(key, "#").startswith("#"), (tag, attrs)
    assert page.elements[0][0] == "html" and page.elements[0][1]["lang"] == "en"


def test_matrix_has_a_column_per_implementation(page: Page) -> None:
    """Implementations are the columns (in selection order), tiers then totals the rows; each
    cell's colour follows its figure."""
    table = page.find("table", "matrix")[0]
    heads = [page.words(i) for i in page.find("th", within=page.find("thead", within=table)[0])]
    assert heads[0] == "tier"
    assert [h.split("design")[0] for h in heads[1:]] == ["impl-a", "impl-b", "impl-c"]
    assert "design rfc-v1 · era 2025-03" in heads[1]
    rows = page.find("tr", within=page.find("tbody", within=table)[0])
    names = [page.words(page.find("th", within=r)[0]) for r in rows]
    assert names == ["guard", "layout", "patch", "generated", "curated total", "generated total"]
    for row in rows:
        assert len(page.find("td", within=row)) == 3
    guard = [page.elements[i][1]["class"] for i in page.find("td", within=rows[0])]
    # impl-a: 1 of 3 guard tests passed; impl-b: 1 of 1; impl-c: only a skip
    assert guard == ["c-red", "c-green", "c-grey"]
    assert "33.3%" in page.words(page.find("td", within=rows[0])[0])


def test_failures_are_collapsible_with_anchors_linked_from_matrix_and_causes(page: Page) -> None:
    """Each failure is a <details> with a <summary> and its result's anchor; every failure is
    reached from its matrix cell (through the cell's list) and from its cause."""
    c = sample()
    ids = page.by_id()
    anchors = {r.anchor for r in c.failures()}
    failures = page.find("details", "failure")
    assert {page.elements[i][1]["id"] for i in failures} == anchors
    for i in failures:
        assert page.find("summary", within=i)
    matrix = section(page, "matrix")
    reached = set()
    for target in page.links(matrix):
        reached.update(page.links(ids[target]))
    assert anchors <= reached
    causes = section(page, "causes")
    by_cause = set()
    for target in page.links(causes):
        group = ids[target]
        by_cause.update(page.elements[i][1]["id"] for i in page.find("details", within=group))
        by_cause.add(target)
    assert anchors <= by_cause
    counts = [page.words(i) for i in page.find("td", "num", within=causes)]
    assert counts == ["2", "1", "1"]
    for tag, attrs, _ in page.elements:
        if tag == "a":
            assert attrs["href"][1:] in ids, attrs


def test_cell_ids_name_the_implementation_and_tier(page: Page) -> None:
    """A matrix cell's failures are listed under ``#IMPL-TIER``."""
    ids = page.by_id()
    assert "impl-a-guard" in ids and "impl-b-layout" in ids
    assert len(page.links(ids["impl-a-guard"])) == 2


def test_page_states_and_layouts_are_drawn(page: Page) -> None:
    """The pictures are drawn as cells and boxes, not only as text: the page states with a
    guard cell and the differing page marked; the layouts as one box per VMA spanning its
    pages."""
    ids = page.by_id()
    c = sample()
    first = ids[c.failures()[0].anchor]
    cells = page.find("span", "pg", within=first)
    classes = [page.elements[i][1]["class"] for i in cells]
    assert classes == ["pg pg-empty", "pg pg-guard diff", "pg pg-empty", "pg pg-empty diff"]
    merge = ids[next(r.anchor for r in c.failures() if r.implementation == "impl-b")]
    boxes = [(page.words(i), page.elements[i][1]["style"])
             for i in page.find("span", "vma", within=merge)]
    assert boxes == [("A", "grid-row:2;grid-column:2/4"), ("B", "grid-row:2;grid-column:4/7"),
                     ("C", "grid-row:2;grid-column:9/11"), ("A", "grid-row:3;grid-column:2/7"),
                     ("B", "grid-row:3;grid-column:9/11")]
    story = page.find("pre", "story", within=first)[0]
    assert "<-- failed here" in page.words(page.find("span", "failed", within=story)[0])


def test_pictures_read_from_failure_text() -> None:
    """The runner's and the oracles' words become pictures; a result carrying structured
    pictures is drawn from those."""
    assert pictures_from_text(PAGES_STORY) == [
        Picture("page states in child", "pages", 0, (("expected", ".G"), ("actual", "..")))]
    assert pictures_from_text(layout_story()) == [Picture(
        "VMA layout", "layout", 0, (("expected", "AABBB  CC   "), ("actual", "AAAAA  BB   ")))]
    assert pictures_from_text(GENERATED_STORY) == [
        Picture("VMA layout in child", "layout", 0, (("reference", "AAAB"), ("actual", "AA B"))),
        Picture("page states in child (the pages that differ)", "pages", 4,
                (("reference", "G?G"), ("actual", ".?P"))),
    ]
    assert pictures_from_text("assert 1 == 2") == []
    carried = Picture("p", "pages", 3, (("a", "GG"),))

    carrier = SimpleNamespace(pictures=[carried.as_dict(), {"kind": "nonsense"}],
                              detail=PAGES_STORY)
    assert pictures_of(carrier) == [carried]


def test_skip_and_xfail_reasons_grouped(page: Page) -> None:
    """Skips and xfails are listed by reason with counts, collapsed."""
    reasons = section(page, "reasons")
    groups = [page.words(page.find("summary", within=i)[0])
              for i in page.find("details", "reason", within=reasons)]
    assert groups == ["2 × needs era 6.18 (impl-a, impl-c)",
                      "1 × documented finding: lost flag (impl-b)"]


def test_run_metadata_table(page: Page) -> None:
    """Version, seed, rerun command, designs and whether the run is complete, as a table."""
    run = section(page, "run")
    rows = {page.words(page.find("th", within=r)[0]): page.words(page.find("td", within=r)[0])
            for r in page.find("tr", within=run) if page.find("th", within=r)}
    assert rows["plugin version"] == "pytest-anonvma 9.9"
    assert rows["seed"] == "1234"
    assert rows["rerun"] == META["rerun"]
    assert rows["complete"] == "yes"
    assert "rfc-v1" in rows["designs and eras"]


def test_cell_colours() -> None:
    """Green at 100%, amber from 90%, red below, grey when nothing ran."""
    c = ResultCollector(["x"])
    for name, outcome in [("a", "passed")] * 9 + [("b", "failed")]:
        add(c, f"t.py::t[x-{name}{len(c.results)}]", "x", "guard", outcome)
    add(c, "t.py::t[x-s]", "x", "layout", "skipped", longrepr=("t.py", 1, "Skipped: no"))
    add(c, "t.py::t[x-p]", "x", "patch")
    matrix = c.matrix()["x"]
    assert [cell_colour(matrix[t]) for t in ("guard", "layout", "patch")] == [
        "amber", "grey", "green"]


def test_empty_and_incomplete_runs() -> None:
    """A run without implementation tests still renders; an unfinished one says so first."""
    empty = Page(render_html(ResultCollector(["x"]), {}))
    assert empty.errors == [] and "No implementation test ran." in "".join(
        "".join(v) for v in empty.text.values())
    c = ResultCollector(["x"])
    c.describe("t.py::t[x-a]", ItemInfo("x", "guard", "t[a]"))
    c.start("t.py::t[x-a]")
    c.close("KeyboardInterrupt", lambda nodeid: None)
    text = render_html(c, {})
    assert "<div class='incomplete'><strong>INCOMPLETE RUN" in text
    assert Page(text).errors == []


def test_summary_fragment_has_no_dangling_links() -> None:
    """The fragment for another tool's page has the matrix and causes but links to nothing
    (the failures are not on that page)."""
    fragment = Page(summary_fragment(sample(), META))
    assert fragment.errors == [] and not fragment.find("a")
    assert fragment.find("table", "matrix") and fragment.find("table", "causes")


# --- a render in headless Chromium -----------------------------------------------------------


def png_pixels(data: bytes) -> list[bytes]:
    """The pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), each as its bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    size = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * size
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 2:
            line = bytearray((v + up) & 0xFF for v, up in zip(line, prev, strict=True))
        for x in range(stride if kind not in (0, 2) else 0):
            a = line[x - size] if x >= size else 0
            b, c = prev[x], prev[x - size] if x >= size else 0
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2}.get(kind)
            if pred is None:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            line[x] = (line[x] + pred) & 0xFF
        rows.append(line)
        prev = line
    return [bytes(row[x:x + 3]) for row in rows[::4] for x in range(0, stride, size * 4)]


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="headless Chromium is not installed (Debian package 'chromium')")
def test_page_renders_in_chromium(tmp_path: Path) -> None:
    """Chromium draws the page: the screenshot has the matrix colours and text, not a blank."""
    html_file = tmp_path / "r.html"
    html_file.write_text(render_html(sample(), META), encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1000,800", html_file.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    pixels = png_pixels(shot.read_bytes())
    white = sum(p == b"\xff\xff\xff" for p in pixels)
    assert len(set(pixels)) > 30
    assert white < 0.97 * len(pixels)
    # the matrix's red, amber and green cells are on screen
    for colour in (b"\xff\xd6\xd3", b"\xd1\xf4\xdc"):
        assert colour in pixels, colour


# --- pytest-html -----------------------------------------------------------------------------

USER_TESTS = '''
def test_ok(anonvma_impl):
    pass


def test_bad(anonvma_impl):
    assert False, "page states of pages 0..1:\\n  expected  . G\\n  actual    . ."
'''


def test_report_file_links_real_failures(toy: pytest.Pytester) -> None:
    """A real run's --anonvma-report page: the failures' anchors are linked from the matrix
    and the causes."""
    toy.makepyfile(test_user=USER_TESTS)
    out = toy.path / "r.html"
    toy.runpytest("-p", "no:cacheprovider", "--anonvma-impl=toyimpl:ToyMM",
                  f"--anonvma-report={out}", "test_user.py")
    page = Page(out.read_text(encoding="utf-8"))
    assert page.errors == []
    (failure,) = page.find("details", "failure")
    anchor = page.elements[failure][1]["id"]
    ids = page.by_id()
    cell_lists = [t for t in page.links(section(page, "matrix"))]
    assert any(anchor in page.links(ids[t]) for t in cell_lists)
    assert page.find("span", "pg-guard", within=failure)


@pytest.mark.skipif(importlib.util.find_spec("pytest_html") is None,
                    reason="pytest-html is not installed (the 'test' extra installs it)")
def test_pytest_html_page_gets_matrix_and_causes(toy: pytest.Pytester) -> None:
    """With pytest-html, its page carries the matrix and causes before its own summary."""
    toy.makepyfile(test_user=USER_TESTS)
    out = toy.path / "ph.html"
    toy.runpytest_subprocess("-p", "no:cacheprovider", "--anonvma-impl=toyimpl:ToyMM",
                             f"--html={out}", "--self-contained-html", "test_user.py",
                             timeout=120)
    text = out.read_text(encoding="utf-8")
    assert "<h2>anonvma conformance</h2>" in text
    assert "class='matrix'" in text and "class='causes'" in text
