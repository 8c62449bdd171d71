"""The kernel harness's ASCII layout notation: one character a page, one letter a VMA.

::

    0123456789
    AA*B  DD

Each character is one page from a base address. Equal adjacent letters are one VMA; a space or
``.`` is unmapped; ``*`` is a label like any other, by convention the range an operation targets
(``AA*B``: VMA A, the new range, VMA B). Labels are arbitrary, so two layouts are equal when they
cut the same pages into the same VMAs.
A ruler line of hex digits may precede the cells and is ignored.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_anonvma.constants import PAGE_SIZE

__all__ = ["Layout", "LayoutError", "layout_of", "parse_layout", "render_layout"]

_HOLE = " ."
_LABELS = string.ascii_uppercase + string.ascii_lowercase + string.digits
_RULER = re.compile(r"^[0-9a-fA-F]+$")


class LayoutError(ValueError):
    """A diagram that cannot be read (the message names the column)."""


@dataclass(frozen=True)
class Layout:
    """VMA extents in pages relative to a base: a tuple of ``(first_page, end_page)``.

    Compare with ``==`` against another Layout or a diagram string; on failure pytest shows both
    pictures one above the other (see ``pytest_assertrepr_compare`` in the plugin).
    """

    extents: tuple[tuple[int, int], ...]
    width: int

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = parse_layout(other)
        if not isinstance(other, Layout):
            return NotImplemented
        return self.extents == other.extents

    def __hash__(self) -> int:
        return hash(self.extents)

    def diagram(self, width: int | None = None) -> str:
        """The cells line, labelling VMAs A, B, C... in address order."""
        width = max(self.width, width or 0, *(end for _, end in self.extents), 0)
        cells = [" "] * width
        for i, (first, end) in enumerate(self.extents):
            label = _LABELS[i % len(_LABELS)]
            for page in range(first, end):
                cells[page] = label
        return "".join(cells).rstrip()

    def picture(self, width: int | None = None) -> str:
        """Ruler and cells, two lines, like the harness's comments."""
        width = max(self.width, width or 0, *(end for _, end in self.extents), 1)
        ruler = "".join("0123456789abcdef"[i % 16] for i in range(width))
        return f"{ruler}\n{self.diagram(width)}"

    def __str__(self) -> str:
        return self.diagram()


def parse_layout(diagram: str) -> Layout:
    """Read a diagram (optionally with a ruler line) into a :class:`Layout`."""
    lines = [ln for ln in diagram.splitlines() if ln.strip()]
    if len(lines) > 1 and _RULER.match(lines[0].strip()):
        lines = lines[1:]
    if len(lines) != 1:
        raise LayoutError(
            f"layout {diagram!r}: expected one line of cells (plus an optional ruler)"
        )
    cells = lines[0].rstrip()
    extents: list[tuple[int, int]] = []
    seen: set[str] = set()
    current = ""
    for col, ch in enumerate(cells):
        if ch in _HOLE:
            current = ""
            continue
        if not ((ch.isalnum() and ch.isascii()) or ch == "*"):
            raise LayoutError(f"layout {cells!r}: column {col}: {ch!r} is not a VMA label")
        if ch == current:
            extents[-1] = (extents[-1][0], col + 1)
            continue
        if ch in seen:
            raise LayoutError(f"layout {cells!r}: column {col}: label {ch!r} used for two VMAs")
        seen.add(ch)
        extents.append((col, col + 1))
        current = ch
    return Layout(tuple(extents), len(cells))


def layout_of(vmas: Iterable[Any], base: int, npages: int | None = None) -> Layout:
    """The layout of VMAs (anything with ``start``/``end`` or ``vm_start``/``vm_end``).

    Only VMAs inside ``[base, base + npages pages)`` are shown; parts outside are clipped.
    """
    limit = base + npages * PAGE_SIZE if npages is not None else None
    extents = []
    for vma in vmas:
        start = getattr(vma, "start", None)
        start = vma.vm_start if start is None else start
        end = getattr(vma, "end", None)
        end = vma.vm_end if end is None else end
        if end <= base or (limit is not None and start >= limit):
            continue
        start = max(start, base)
        if limit is not None:
            end = min(end, limit)
        extents.append(((start - base) // PAGE_SIZE, (end - base) // PAGE_SIZE))
    extents.sort()
    return Layout(tuple(extents), npages or 0)


def render_layout(layouts: Sequence[tuple[str, Layout]]) -> str:
    """Several labelled layouts one above the other under a shared ruler."""
    width = max((max((e for _, e in lay.extents), default=0) for _, lay in layouts), default=0)
    width = max(width, *(lay.width for _, lay in layouts), 1)
    pad = max(len(label) for label, _ in layouts)
    ruler = "".join("0123456789abcdef"[i % 16] for i in range(width))
    rows = [f"{'':{pad}}  {ruler}"]
    rows += [f"{label:{pad}}  {lay.diagram(width)}" for label, lay in layouts]
    return "\n".join(rows)
