"""pytest plugin of the harness port: the ``vma_harness`` and ``harness_tree`` fixtures and the
harness summary line.

Registered by the ``anonvma`` plugin. A test asks for ``vma_harness`` to get the
:class:`~pytest_anonvma.harness.protocol.VMAInternals` of a fresh MM of the implementation under
test (the plugin's ``anonvma_impl`` fixture). A test carrying ``anonvma_era(*eras)`` runs once
per era, the era in its id after the implementation (``test_simple_merge[reference-2025-03]``),
unless it parametrizes ``harness_era`` itself (to pair an era with other parameters); it is
skipped, naming both eras, for an implementation of another era. ``harness_tree`` is the ported
kernel tree of the test's era. Implementations without the ``internals`` capability are skipped.
With ``--anonvma-harness-summary`` the run ends, like the C harness, with
``N tests run, M passed, K failed.`` over the harness tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pytest

from pytest_anonvma.harness.protocol import VMAInternals
from pytest_anonvma.harness.trees import TREES, Tree
from pytest_anonvma.options import SETTINGS_KEY

__all__ = ["harness_era", "harness_tree", "vma_harness"]

#: the capability an implementation needs for the harness port
CAPABILITY = "internals"
#: module names of the harness port
MODULE_PREFIX = "test_harness"


def _parametrizes(metafunc: pytest.Metafunc, name: str) -> bool:
    """Does the test's own ``parametrize`` marker give ``name``?"""
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = names.split(",")
        if name in (str(n).strip() for n in names):
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run harness tests once per era of their ``anonvma_era`` marker, the era in the id."""
    if "harness_era" not in metafunc.fixturenames or _parametrizes(metafunc, "harness_era"):
        return
    marker = metafunc.definition.get_closest_marker("anonvma_era")
    eras = [str(era) for era in marker.args] if marker is not None else []
    if eras:
        metafunc.parametrize("harness_era", eras, ids=eras, indirect=True)


@pytest.fixture
def harness_era(request: pytest.FixtureRequest) -> str | None:
    """The kernel era the harness test was ported from (None if it has no ``anonvma_era``)."""
    param = getattr(request, "param", None)
    return str(param) if param is not None else None


@pytest.fixture
def harness_tree(harness_era: str | None) -> Tree:
    """The ported kernel tree of the test's era (:data:`~pytest_anonvma.harness.trees.TREES`)."""
    if harness_era not in TREES:
        known = ", ".join(TREES)
        pytest.fail(f"harness_tree: the test's era {harness_era!r} is not a ported tree ({known})")
    return TREES[harness_era]


@pytest.fixture
def vma_harness(anonvma_impl: Any, harness_era: str | None) -> Iterator[VMAInternals]:
    """The mm/vma.c internals of a fresh MM of the implementation under test (closed after)."""
    capabilities: frozenset[str] = getattr(anonvma_impl, "capabilities", frozenset())
    if CAPABILITY not in capabilities:
        pytest.skip(f"implementation lacks capability {CAPABILITY!r}")
    mm = anonvma_impl.factory()
    try:
        era = getattr(mm, "era", None)
        if harness_era is not None and era != harness_era:
            pytest.skip(
                f"harness test from era {harness_era}; implementation "
                f"{getattr(anonvma_impl, 'name', '?')!r} models era {era}"
            )
        internals = getattr(mm, "internals", None)
        if internals is None:
            pytest.skip(f"implementation lacks capability {CAPABILITY!r}")
        yield internals
    finally:
        close = getattr(mm, "close", None)
        if close is not None:
            close()


def _is_harness_report(report: pytest.TestReport) -> bool:
    if ("anonvma_tier", "harness") in getattr(report, "user_properties", ()):
        return True
    module = PurePosixPath(report.nodeid.split("::", 1)[0]).name
    return module.startswith(MODULE_PREFIX)


def harness_counts(stats: dict[str, list[Any]]) -> tuple[int, int, int]:
    """(run, passed, failed) over the harness tests of a terminal reporter's ``stats``.

    A test runs unless it was skipped; it failed if any phase failed or errored, or if it
    failed as expected (the C harness has no expected failures: a failure is a failure).
    """
    outcome: dict[str, str] = {}
    for reports in stats.values():
        for report in reports:
            if not isinstance(report, pytest.TestReport) or not _is_harness_report(report):
                continue
            nodeid = report.nodeid
            if report.failed or (hasattr(report, "wasxfail") and report.skipped):
                outcome[nodeid] = "failed"
            elif report.passed and report.when == "call":
                outcome.setdefault(nodeid, "passed")
    run = len(outcome)
    failed = sum(1 for value in outcome.values() if value == "failed")
    return run, run - failed, failed


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """``N tests run, M passed, K failed.`` for the harness tests, on request."""
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None or not settings.harness_summary:
        return
    if hasattr(config, "workerinput"):  # xdist worker: the controller reports
        return
    run, passed, failed = harness_counts(terminalreporter.stats)
    terminalreporter.write_line(f"{run} tests run, {passed} passed, {failed} failed.")
