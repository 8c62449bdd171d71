"""The kernel's userland VMA test harness (``tools/testing/vma``) ported to pytest.

:mod:`pytest_anonvma.harness.helpers` holds the harness's helper functions under their kernel
names; :mod:`pytest_anonvma.harness.fixtures` is a pytest plugin (registered by the ``anonvma``
plugin) giving the ``vma_harness`` fixture and the ``--anonvma-harness-summary`` closing line.
The ported tests are ``pytest_anonvma.conformance.test_harness_v6_14`` and ``..._6_18``.
"""

from __future__ import annotations

from pytest_anonvma.harness.helpers import (
    alloc_and_link_vma,
    alloc_vma,
    cleanup_mm,
    dummy_close,
    expand_existing,
    harness_layout,
    merge_existing,
    merge_new,
    reset_dummy_anon_vma,
    try_merge_new_vma,
    vma_set_dummy_anon_vma,
    vma_write_started,
    vmg_set_range,
    vmg_set_range_anon_vma,
)

__all__ = [
    "alloc_and_link_vma",
    "alloc_vma",
    "cleanup_mm",
    "dummy_close",
    "expand_existing",
    "harness_layout",
    "merge_existing",
    "merge_new",
    "reset_dummy_anon_vma",
    "try_merge_new_vma",
    "vma_set_dummy_anon_vma",
    "vma_write_started",
    "vmg_set_range",
    "vmg_set_range_anon_vma",
]
