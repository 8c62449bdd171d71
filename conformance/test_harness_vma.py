"""The kernel's VMA tests, ported: ``test_copy_vma`` of ``tools/testing/vma/tests/vma.c``
(latest tree, era 6.18) and of v6.14's ``tools/testing/vma/vma.c`` (era 2025-03).

Each test runs once per tree, the era in its id; its body is the scenario of the same name in
:mod:`pytest_anonvma.harness.scenarios.vma`. The ``vma_flags_*`` tests of ``tests/vma.c`` check
the C bitmap type ``vma_flags_t``, which a model with integer ``vm_flags`` does not have: they
are not ported (docs/harness.md).
"""

from __future__ import annotations

import pytest

from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.harness.scenarios import vma
from pytest_anonvma.harness.trees import TREES, Tree

pytestmark = [
    pytest.mark.anonvma_era(*TREES),
    pytest.mark.anonvma_tier("harness"),
    pytest.mark.anonvma_needs("internals"),
]


def test_copy_vma(vma_harness: VMAInternals) -> None:
    """copy_vma backwards to a free spot makes a new VMA; next to a compatible VMA it merges."""
    vma.scenario_copy_vma(vma_harness)


def test_copy_vma_faulted_next_to_unfaulted(vma_harness: VMAInternals, harness_tree: Tree) -> None:
    """Not in the C harness: copy_vma of a VMA with an anon_vma next to a compatible prev without
    one; v6.14's anon_vma rule makes a new VMA, the latest tree expands prev."""
    vma.scenario_copy_vma_faulted_next_to_unfaulted(vma_harness, harness_tree)
