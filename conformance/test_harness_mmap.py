"""The kernel's mmap tests, ported: ``tools/testing/vma/tests/mmap.c`` (latest tree, era 6.18)
and ``test_mmap_region_basic`` of v6.14's ``tools/testing/vma/vma.c`` (era 2025-03).

Each test runs once per tree, the era in its id; its body is the scenario of the same name in
:mod:`pytest_anonvma.harness.scenarios.mmap`.
"""

from __future__ import annotations

import pytest

from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.harness.scenarios import mmap
from pytest_anonvma.harness.trees import TREES

pytestmark = [
    pytest.mark.anonvma_era(*TREES),
    pytest.mark.anonvma_tier("harness"),
    pytest.mark.anonvma_needs("internals"),
]


def test_mmap_region_basic(vma_harness: VMAInternals) -> None:
    """Four anonymous mmap_region calls leave two VMAs with the right page offsets."""
    mmap.scenario_mmap_region_basic(vma_harness)
