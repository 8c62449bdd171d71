"""The kernel's userland VMA test harness (``tools/testing/vma``) ported to pytest.

:mod:`~pytest_anonvma.harness.protocol` is the mm/vma.c-level API a model provides
(``VMAInternals``; it imports no implementation); :mod:`~pytest_anonvma.harness.helpers` holds the
harness's helper functions under their kernel names; :mod:`~pytest_anonvma.harness.trees` names
the two ported kernel trees; :mod:`~pytest_anonvma.harness.scenarios` holds the ported tests'
bodies, one module per kernel test file; :mod:`~pytest_anonvma.harness.fixtures` is a pytest
plugin (registered by the ``anonvma`` plugin) giving the ``vma_harness`` and ``harness_tree``
fixtures and the ``--anonvma-harness-summary`` closing line. The ported tests are the bundled
suite's ``test_harness_merge``, ``test_harness_mmap`` and ``test_harness_vma``.

Importing this package registers the helpers and the scenarios for pytest's assert rewriting
(before either is imported), so a failing scenario explains itself like a failing test however
the suite is run.
"""

from __future__ import annotations

import pytest

#: the modules of library code whose asserts are the tests' assertions
REWRITTEN_MODULES = ("pytest_anonvma.harness.helpers", "pytest_anonvma.harness.scenarios")

pytest.register_assert_rewrite(*REWRITTEN_MODULES)

from pytest_anonvma.harness import helpers as _helpers  # noqa: E402  (rewritten: see above)
from pytest_anonvma.harness.helpers import *  # noqa: E402, F403  (the helpers are this API)

__all__ = list(_helpers.__all__)
