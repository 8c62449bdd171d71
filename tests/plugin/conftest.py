"""Fixtures of the plugin's meta-tests."""

from __future__ import annotations

import pytest
from plugin_helpers import TOY_SOURCE


@pytest.fixture
def toy(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with ``toyimpl.py`` importable and a root ``conftest.py`` (so xdist workers,
    which start from a frozen sys.path, import it too)."""
    pytester.makepyfile(toyimpl=TOY_SOURCE)
    pytester.makeconftest("")
    pytester.syspathinsert()
    return pytester
