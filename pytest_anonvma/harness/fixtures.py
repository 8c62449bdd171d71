"""pytest plugin of the harness port: the ``vma_harness`` fixture and the harness summary line.

Registered by the ``anonvma`` plugin. A test asks for ``vma_harness`` to get the
:class:`~pytest_anonvma.internals.VMAInternals` of a fresh MM of the implementation under test
(the plugin's ``anonvma_impl`` fixture). Tests carrying ``anonvma_era(era)`` get the era in their
id and are skipped, naming both eras, for an implementation of another era; implementations
without the ``internals`` capability are skipped. With ``--anonvma-harness-summary`` the run
ends, like the C harness, with ``N tests run, M passed, K failed.`` over the harness tests.
Importing it registers the bundled suite's shared scenarios (``harness_common``) for pytest's
assert rewriting, as their tests' own modules are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pytest

from pytest_anonvma.internals import VMAInternals

__all__ = ["harness_era", "vma_harness"]

#: the capability an implementation needs for the harness port
CAPABILITY = "internals"
#: module names of the harness port
MODULE_PREFIX = "test_harness"
#: the bundled suite's module of scenarios both eras run: no test module, so pytest rewrites its
#: asserts (explaining a failure, with layout pictures) only when told to
SCENARIOS_MODULE = "pytest_anonvma.conformance.harness_common"

pytest.register_assert_rewrite(SCENARIOS_MODULE)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Put the era of the test's ``anonvma_era`` marker into the ids of harness tests."""
    if "harness_era" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("anonvma_era")
    eras = [str(era) for era in marker.args] if marker is not None and marker.args else []
    if len(eras) == 1:
        metafunc.parametrize("harness_era", eras, ids=eras, indirect=True)


@pytest.fixture
def harness_era(request: pytest.FixtureRequest) -> str | None:
    """The kernel era the harness test was ported from (None if it has no ``anonvma_era``)."""
    param = getattr(request, "param", None)
    return str(param) if param is not None else None


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
    if not config.getoption("anonvma_harness_summary", default=False):
        return
    if hasattr(config, "workerinput"):  # xdist worker: the controller reports
        return
    run, passed, failed = harness_counts(terminalreporter.stats)
    terminalreporter.write_line(f"{run} tests run, {passed} passed, {failed} failed.")
