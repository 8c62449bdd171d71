"""Scenarios of the kernel's userland VMA tests (``tools/testing/vma``), written once for both
ported trees (:mod:`pytest_anonvma.harness.trees`).

One module per kernel test file of the latest tree: :mod:`.merge` (``tests/merge.c``),
:mod:`.mmap` (``tests/mmap.c``), :mod:`.vma` (``tests/vma.c``); v6.14's single ``vma.c`` maps
onto them by test name. The bundled suite's ``conformance/test_harness_{merge,mmap,vma}.py`` run
each scenario once per tree. A scenario where the trees' steps differ takes the
:class:`~pytest_anonvma.harness.trees.Tree`.

Every C ``ASSERT_*`` has an ``assert`` here in the same order; where the C repeats a block with
other numbers, a table of those numbers drives one loop. The C comments' diagrams are checked as
layouts, following the VMA bounds the C asserts where a diagram is off by a page. This package
is library code that tests call, so :mod:`pytest_anonvma.harness` registers it for pytest's
assert rewriting: a failing scenario explains itself like a failing test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from pytest_anonvma.constants import PAGE_SIZE
from pytest_anonvma.harness.helpers import alloc_and_link_vma, cleanup_mm, harness_layout
from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.model.mm_types import VM_MAYREAD, VM_MAYWRITE, VM_READ, VM_WRITE

__all__ = ["FLAGS", "Merge", "link_vmas", "prev_took_the_anon_vma"]

#: ``VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE``, the flags of every harness VMA
FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE

#: a harness merge helper: ``merge_new`` or ``merge_existing``
Merge = Callable[[VMAInternals, Any], Any]


def link_vmas(
    h: VMAInternals, diagram: str, flags: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Allocate and link one VMA per letter of ``diagram`` (one character a page from address 0,
    pgoff its first page, as in every harness setup), in address order: the VMAs by letter.
    ``flags`` gives each letter's flags (default: :data:`FLAGS` for all)."""
    vmas: dict[str, Any] = {}
    for label, cells in itertools.groupby(enumerate(diagram), key=lambda cell: cell[1]):
        pages = [page for page, _ in cells]
        if label != " ":
            start, end = pages[0] * PAGE_SIZE, (pages[-1] + 1) * PAGE_SIZE
            vma_flags = FLAGS if flags is None else flags[label]
            vmas[label] = alloc_and_link_vma(h, start, end, pages[0], vma_flags)
    return vmas


def prev_took_the_anon_vma(
    h: VMAInternals, vma: Any, vma_prev: Any, end: int, layout: str, left: int
) -> None:
    """The latest tree's outcome of the tests beyond the C harness: the operation returned
    ``vma`` = prev, grown to ``end``, holding the dummy anon_vma it cloned; the layout after
    (as long as the picture) and ``left`` VMAs freed by the cleanup."""
    assert vma is vma_prev
    assert vma_prev.vm_end == end
    assert h.vma_anon_vma(vma_prev) is h.dummy_anon_vma
    assert h.dummy_anon_vma.was_cloned
    assert harness_layout(h, len(layout)) == layout
    assert cleanup_mm(h) == left
