"""The two kernel trees the harness port follows, and the steps they spell differently.

``tools/testing/vma/vma.c`` at 6ab2d9c7 (v6.14, with the RFC's patch 1) and ``tests/merge.c``,
``tests/vma.c``, ``tests/mmap.c`` at 334fbe73 (the latest tree) share their tests up to the
spelling of flags and of a few steps, which :class:`Tree` names. Each ported test runs once per
tree, the tree's era in its id (``test_simple_expand[reference-2025-03]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_anonvma.constants import ERA_6_18, ERA_2025_03
from pytest_anonvma.harness.helpers import (
    vma_set_dummy_anon_vma,
    vmg_set_range,
    vmg_set_range_anon_vma,
)
from pytest_anonvma.harness.protocol import VMAInternals

__all__ = ["LATEST", "TREES", "V6_14", "Tree"]


@dataclass(frozen=True)
class Tree:
    """A ported tree: its era, its commit, and the steps the two trees spell differently."""

    #: the merge rules of the tree's mm/vma.c: the era of the implementations its tests run on
    era: str
    #: the torvalds/linux commit of ``tools/testing/vma`` and ``mm/vma.c`` ported
    commit: str
    #: the latest tree (tests/*.c: sticky flags, ``vmg.target``); False for v6.14
    latest: bool

    def set_expand_vma(self, vmg: Any, vma: Any) -> None:
        """Name the VMA ``vma_expand`` grows: ``vmg.middle`` (v6.14), ``vmg.target`` (latest)."""
        if self.latest:
            vmg.target = vma
        else:
            vmg.middle = vma

    def set_range_anon_vma(
        self, h: VMAInternals, vmg: Any, start: int, end: int, pgoff: int, flags: int
    ) -> None:
        """The range of a merge whose VMA holds the dummy anon_vma: the latest tree also hands
        the merge that anon_vma (``vmg_set_range_anon_vma``); v6.14 sets the range alone."""
        if self.latest:
            vmg_set_range_anon_vma(h, vmg, start, end, pgoff, flags, h.dummy_anon_vma)
        else:
            vmg_set_range(h, vmg, start, end, pgoff, flags)

    def give_dummy_anon_vma(self, h: VMAInternals, vma: Any) -> None:
        """Give ``vma`` the dummy anon_vma: with a one-link chain (``vma_set_dummy_anon_vma``,
        latest) or the pointer alone (``vma_set_anon_vma``, the RFC's v6.14)."""
        if self.latest:
            vma_set_dummy_anon_vma(h, vma)
        else:
            h.vma_set_anon_vma(vma, h.dummy_anon_vma)


#: v6.14 with the RFC's patch 1 (era 2025-03) and the latest tree (era 6.18)
V6_14 = Tree(era=ERA_2025_03, commit="6ab2d9c7", latest=False)
LATEST = Tree(era=ERA_6_18, commit="334fbe73", latest=True)
#: the ported trees by era, in era order
TREES: dict[str, Tree] = {tree.era: tree for tree in (V6_14, LATEST)}
