"""The page states and VMA layouts of a failure, as data the HTML report draws.

A failure carries its pictures as text: a curated case's mismatch (``page states of pages
0..1 in child:`` then ``expected`` and ``actual`` lines of states; ``VMA layout of the arena:``
then labelled rows in the layout notation of :mod:`pytest_anonvma.layout`) and a generated
case's differential findings (``page states in child differ: page 4 is . (reference G)``;
``VMA layout is 'AA B', the reference's is 'AAAB'``). :func:`pictures_from_text` reads them
back; a result that carries structured pictures (``CaseResult.pictures``, a list of
:meth:`Picture.as_dict` dicts) is drawn from those instead (:func:`pictures_of`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KINDS", "UNKNOWN", "Picture", "pictures_from_text", "pictures_of"]

#: what a picture shows: page states (one character a page) or VMA extents (layout notation)
KINDS = ("pages", "layout")
#: the page state drawn for a page the text does not tell
UNKNOWN = "?"


@dataclass(frozen=True)
class Picture:
    """One comparison to draw: labelled rows over the same pages, from page ``first``.

    A ``pages`` row is one state character a page (``.`` empty, ``P`` present, ``G`` guard
    marker, :data:`UNKNOWN` not told); a ``layout`` row is a line of cells in the layout
    notation (equal adjacent letters are one VMA, a space or ``.`` is no VMA).
    """

    title: str
    kind: str
    first: int
    rows: tuple[tuple[str, str], ...]

    @property
    def width(self) -> int:
        """The number of pages drawn (the longest row)."""
        return max((len(cells) for _, cells in self.rows), default=0)

    def as_dict(self) -> dict[str, Any]:
        """The picture as JSON-ready data (what ``CaseResult.pictures`` holds)."""
        return {"title": self.title, "kind": self.kind, "first": self.first,
                "rows": [list(row) for row in self.rows]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Picture | None:
        """The picture in ``data`` (:meth:`as_dict`'s form); None if it is not one."""
        try:
            rows = tuple((str(label), str(cells)) for label, cells in data["rows"])
            picture = cls(str(data["title"]), str(data["kind"]), int(data["first"]), rows)
        except (KeyError, TypeError, ValueError):
            return None
        return picture if picture.kind in KINDS and rows else None


_PAGES = re.compile(
    r"^(?P<indent>\s*)page states of pages (?P<first>\d+)\.\.\d+(?P<where> in \S+)?:\n"
    r"\s*expected +(?P<expected>\S(?: \S)*)\n\s*actual +(?P<actual>\S(?: \S)*)",
    re.M,
)
_LAYOUT = re.compile(r"^\s*VMA layout of the arena(?P<where> in \S+)?:\n(?P<ruler> *[0-9a-f]+)\n",
                     re.M)
_REPR = r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
_LAYOUT_DIFF = re.compile(
    rf"VMA layout(?P<where> in \S+)? is {_REPR}, the reference's is {_REPR}"
)
_PAGES_DIFF = re.compile(r"page states(?P<where> in \S+)? differ: (?P<pages>[^\n]*)")
_PAGE_DIFF = re.compile(r"page (\d+) is (\S) \(reference (\S)\)")


def _pages_pictures(text: str) -> list[Picture]:
    """A curated case's ``pages`` mismatch: expected and actual states from page ``first``."""
    return [
        Picture(
            f"page states{m['where'] or ''}", "pages", int(m["first"]),
            (("expected", m["expected"].replace(" ", "")),
             ("actual", m["actual"].replace(" ", ""))),
        )
        for m in _PAGES.finditer(text)
    ]


def _layout_pictures(text: str) -> list[Picture]:
    """A curated case's ``layout`` mismatch: the rows under the ruler, cut at its column."""
    pictures = []
    for m in _LAYOUT.finditer(text):
        ruler = m["ruler"]
        column = len(ruler) - len(ruler.lstrip())
        rows = []
        for line in text[m.end():].splitlines():
            label = line[:column].strip()
            if not label or " " in label:
                break
            rows.append((label, line[column:].rstrip().ljust(len(ruler) - column)))
        if rows:
            pictures.append(Picture(f"VMA layout{m['where'] or ''}", "layout", 0, tuple(rows)))
    return pictures


def _differential_pictures(text: str) -> list[Picture]:
    """A generated case's differential findings: layouts and the pages that differ."""
    pictures = [
        Picture(f"VMA layout{m['where'] or ''}", "layout", 0,
                (("reference", ast.literal_eval(m[3])), ("actual", ast.literal_eval(m[2]))))
        for m in _LAYOUT_DIFF.finditer(text)
    ]
    for m in _PAGES_DIFF.finditer(text):
        pages = {int(p): (got, want) for p, got, want in _PAGE_DIFF.findall(m["pages"])}
        if not pages:
            continue
        first, last = min(pages), max(pages)
        span = range(first, last + 1)
        want = "".join(pages[p][1] if p in pages else UNKNOWN for p in span)
        got = "".join(pages[p][0] if p in pages else UNKNOWN for p in span)
        title = f"page states{m['where'] or ''} (the pages that differ)"
        pictures.append(Picture(title, "pages", first, (("reference", want), ("actual", got))))
    return pictures


def pictures_from_text(text: str) -> list[Picture]:
    """Every picture a failure's text shows, in the order the readers find them."""
    return _pages_pictures(text) + _layout_pictures(text) + _differential_pictures(text)


def pictures_of(result: Any) -> list[Picture]:
    """A result's pictures: its structured ``pictures`` if it carries any, else read from its
    failure text (``detail``)."""
    carried = getattr(result, "pictures", None)
    if carried:
        return [p for p in map(Picture.from_dict, carried) if p is not None]
    return pictures_from_text(str(getattr(result, "detail", "")))
