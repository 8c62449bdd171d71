"""The kernel's userland VMA test harness (``tools/testing/vma``) ported to pytest.

:mod:`pytest_anonvma.harness.helpers` holds the harness's helper functions under their kernel
names; :mod:`pytest_anonvma.harness.fixtures` is a pytest plugin (registered by the ``anonvma``
plugin) giving the ``vma_harness`` fixture and the ``--anonvma-harness-summary`` closing line.
The ported tests are ``pytest_anonvma.conformance.test_harness_v6_14`` and ``..._6_18``.
"""

from __future__ import annotations

from pytest_anonvma.harness import helpers as _helpers
from pytest_anonvma.harness.helpers import *  # noqa: F403  (the helpers are this package's API)

__all__ = list(_helpers.__all__)
