"""Scenarios of ``tools/testing/vma/tests/vma.c`` (latest tree) and of the same test in v6.14's
``tools/testing/vma/vma.c``: ``copy_vma``, the VMA copy under mremap.

Run by ``conformance/test_harness_vma.py``. The ``vma_flags_*`` tests of ``tests/vma.c`` check
the C bitmap type ``vma_flags_t``, which a model with integer ``vm_flags`` does not have: they
are not ported (docs/harness.md).
"""

from __future__ import annotations

from pytest_anonvma.harness.helpers import (
    alloc_and_link_vma,
    cleanup_mm,
    harness_layout,
    vma_set_dummy_anon_vma,
)
from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.harness.scenarios import FLAGS, prev_took_the_anon_vma
from pytest_anonvma.harness.trees import Tree


def scenario_copy_vma(h: VMAInternals) -> None:
    """copy_vma backwards to a free spot makes a new VMA; next to a compatible VMA it merges
    (``tests/vma.c`` in the latest tree)."""

    # Move backwards, no merge.
    vma = alloc_and_link_vma(h, 0x3000, 0x5000, 3, FLAGS)
    vma_new = h.copy_vma(vma, 0, 0x2000, 0)
    assert vma_new is not vma
    assert vma_new in h.vmas()  # vma_assert_attached (latest tree)
    assert vma_new.vm_start == 0
    assert vma_new.vm_end == 0x2000
    assert vma_new.vm_pgoff == 0
    assert harness_layout(h, 5) == "NN VV"
    cleanup_mm(h)

    # Move next to another VMA and merge with it.
    vma = alloc_and_link_vma(h, 0, 0x2000, 0, FLAGS)
    vma_next = alloc_and_link_vma(h, 0x6000, 0x8000, 6, FLAGS)
    vma_new = h.copy_vma(vma, 0x4000, 0x2000, 4)
    assert vma_new in h.vmas()  # vma_assert_attached (latest tree)
    assert vma_new is vma_next
    assert harness_layout(h, 8) == "VV  NNNN"
    cleanup_mm(h)


# -- beyond the C harness: the anon_vma rule the trees differ on ---------------------------------


def scenario_copy_vma_faulted_next_to_unfaulted(h: VMAInternals, tree: Tree) -> None:
    """Not in the C harness. copy_vma (mremap) of a VMA with an anon_vma next to a compatible
    prev without one.

    v6.14 makes a new VMA: its ``is_mergeable_anon_vma`` refuses the merge (mm/vma.c @6ab2d9c7),
    and the copy clones the source's anon_vma. The latest tree expands prev, which takes the
    source's anon_vma (``vma_merge_copied_range`` and ``vma_expand``'s ``dup_anon_vma`` from
    ``copied_from``, mm/vma.c @334fbe73).
    """
    vma_prev = alloc_and_link_vma(h, 0, 0x2000, 0, FLAGS)
    vma = alloc_and_link_vma(h, 0x6000, 0x8000, 6, FLAGS)
    vma_set_dummy_anon_vma(h, vma)
    vma_new = h.copy_vma(vma, 0x2000, 0x2000, 2)
    if tree.latest:
        prev_took_the_anon_vma(h, vma_new, vma_prev, 0x4000, "PPPP  VV", 2)
    else:
        assert vma_new is not None
        assert vma_new is not vma_prev
        assert vma_new.vm_start == 0x2000
        assert vma_new.vm_end == 0x4000
        assert h.vma_anon_vma(vma_new) is h.dummy_anon_vma  # anon_vma_clone of the source
        assert h.vma_anon_vma(vma_prev) is None
        assert harness_layout(h, 8) == "PPNN  VV"
        assert cleanup_mm(h) == 3
