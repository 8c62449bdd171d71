"""Fixtures of the plugin's meta-tests."""

from __future__ import annotations

import pytest
from plugin_helpers import BUGGY_SOURCE, TOY_SOURCE


@pytest.fixture
def toy(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with ``toyimpl.py`` importable and a root ``conftest.py`` (so xdist workers,
    which start from a frozen sys.path, import it too)."""
    pytester.makepyfile(toyimpl=TOY_SOURCE)
    pytester.makeconftest("")
    pytester.syspathinsert()
    return pytester


@pytest.fixture
def buggy(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester with ``buggy.py`` (``BUGGY_SOURCE``: the reference with small bugs) importable,
    and a terminal wide enough that pytest does not cut the short summary line."""
    pytester.makepyfile(buggy=BUGGY_SOURCE)
    pytester.makeconftest("")
    pytester.syspathinsert()
    monkeypatch.setenv("COLUMNS", "400")
    return pytester


@pytest.fixture(autouse=True)
def _quiet_inner_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest runs leave pytest-benchmark out: with xdist active it warns in every run
    that benchmarks are disabled, which is noise for these tests. (Set after pytester's own
    setup, which clears PYTEST_ADDOPTS.)"""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:benchmark")
