"""Layout helpers for tests: build VMAs from a diagram, check an MM against one, explain a diff.

The diagrams are the kernel harness's notation (see :mod:`pytest_anonvma.layout`): one character
a page from a base address, one letter a VMA, space or ``.`` unmapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_anonvma.constants import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
)
from pytest_anonvma.contract import MM
from pytest_anonvma.layout import Layout, LayoutError, layout_of, parse_layout, render_layout

__all__ = ["LayoutTool", "explain_layout_comparison", "layout_difference"]


def _cells(diagram: str) -> str:
    """The cells line of a diagram (the last non-blank line; a ruler, if any, comes first)."""
    return [line for line in diagram.splitlines() if line.strip()][-1]


def _as_layout(value: Any) -> Layout | None:
    if isinstance(value, Layout):
        return value
    if isinstance(value, str):
        try:
            return parse_layout(value)
        except LayoutError:
            return None
    return None


@dataclass(frozen=True)
class LayoutTool:
    """Diagram helpers bound to a base address (the ``vma_layout`` fixture's value)."""

    #: address of the diagrams' column 0
    base: int
    #: how many pages from ``base`` a layout looks at (VMAs beyond are ignored)
    window: int

    def build(
        self,
        mm: MM,
        diagram: str,
        *,
        prot: int = PROT_READ | PROT_WRITE,
        prots: Mapping[str, int] | None = None,
        flags: int = MAP_PRIVATE | MAP_ANONYMOUS,
    ) -> dict[str, int]:
        """Map one anonymous VMA per label of ``diagram``; returns ``{label: start address}``.

        Adjacent VMAs with the same protection would merge, so give neighbours different
        protections through ``prots`` (``{"B": PROT_READ}``); a build whose result does not match
        the diagram raises ``LayoutError`` saying so.
        """
        wanted = parse_layout(diagram)
        cells = _cells(diagram)
        starts: dict[str, int] = {}
        for first, end in wanted.extents:
            label = cells[first]
            addr = self.base + first * PAGE_SIZE
            mm.mmap(addr, (end - first) * PAGE_SIZE, (prots or {}).get(label, prot),
                    flags | MAP_FIXED)
            starts[label] = addr
        got = self.of(mm, wanted.width)
        if got != wanted:
            raise LayoutError(
                "building the layout did not give the diagram (adjacent VMAs with equal "
                "protection merge: pass prots={...}):\n"
                + render_layout([("wanted", wanted), ("built", got)])
            )
        return starts

    def of(self, mm: MM, npages: int | None = None) -> Layout:
        """The MM's layout from ``base``: ``npages`` wide, else every VMA in the window."""
        found = layout_of(mm.vmas(), self.base, npages or self.window)
        return Layout(found.extents, npages or 0)

    def check(self, mm: MM, expected: str | Layout) -> None:
        """Assert the MM's layout is ``expected``; the error shows both diagrams stacked."""
        __tracebackhide__ = True
        want = expected if isinstance(expected, Layout) else parse_layout(expected)
        got = self.of(mm)
        if got != want:
            raise AssertionError(
                "VMA layout differs:\n" + render_layout([("expected", want), ("actual", got)])
            )

    def page(self, index: int) -> int:
        """The address of diagram column ``index``."""
        return self.base + index * PAGE_SIZE


def explain_layout_comparison(op: str, left: Any, right: Any) -> list[str] | None:
    """``pytest_assertrepr_compare`` lines for ``Layout == Layout-or-diagram`` (else None)."""
    if op != "==" or not (isinstance(left, Layout) or isinstance(right, Layout)):
        return None
    lhs, rhs = _as_layout(left), _as_layout(right)
    if lhs is None or rhs is None:
        return None
    return [
        f"{lhs.diagram()!r} == {rhs.diagram()!r}",
        "VMA layouts differ (labels do not matter, the cuts do):",
        *render_layout([("left", lhs), ("right", rhs)]).splitlines(),
    ]


def layout_difference(expected: Layout, actual: Layout) -> str:
    """Two layouts' difference in one line: each one's cells (harness notation, equal width)
    and VMA count, e.g. ``expected 'AAABB' (2 VMAs), got 'AAAAA' (1 VMA)``."""
    ends = [end for _, end in expected.extents + actual.extents]
    width = max(expected.width, actual.width, *ends)

    def shown(layout: Layout) -> str:
        count = len(layout.extents)
        return f"{layout.diagram(width).ljust(width)!r} ({count} VMA{'' if count == 1 else 's'})"

    return f"expected {shown(expected)}, got {shown(actual)}"
