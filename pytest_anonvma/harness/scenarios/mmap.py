"""Scenario of ``tools/testing/vma/tests/mmap.c`` (latest tree) and of the same test in v6.14's
``tools/testing/vma/vma.c``: anonymous ``__mmap_region`` calls and the merges they make.

Run by ``conformance/test_harness_mmap.py``.
"""

from __future__ import annotations

import pytest

from pytest_anonvma.harness.helpers import cleanup_mm
from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.harness.scenarios import FLAGS


def scenario_mmap_region_basic(h: VMAInternals) -> None:
    """Four anonymous mmap_region calls leave two VMAs with the right page offsets
    (``tests/mmap.c`` in the latest tree)."""
    assert h.mmap_region(0x300000, 0x3000, FLAGS, 0x300) == 0x300000
    assert h.mmap_region(0x250000, 0x3000, FLAGS, 0x250) == 0x250000
    # Merges into 0x300000, now of length 0x6000.
    assert h.mmap_region(0x303000, 0x3000, FLAGS, 0x303) == 0x303000
    # Merges into 0x250000, now starting at 0x24d000.
    assert h.mmap_region(0x24D000, 0x3000, FLAGS, 0x24D) == 0x24D000
    assert h.map_count == 2

    for vma in h.vmas():
        if vma.vm_start == 0x300000:
            assert vma.vm_end == 0x306000
            assert vma.vm_pgoff == 0x300
        elif vma.vm_start == 0x24D000:
            assert vma.vm_end == 0x253000
            assert vma.vm_pgoff == 0x24D
        else:
            pytest.fail(f"unexpected VMA {vma!r}")

    cleanup_mm(h)
