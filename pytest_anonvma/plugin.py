"""The pytest plugin ``anonvma`` (``pytest -p anonvma``): hooks only; the work is elsewhere.

Importing this module stays light: no model engine, no case files. Options: ``options``;
implementation choice: ``selection``; bundled suite: ``suite``; expected failures: ``xfails``;
time limits: ``timeouts``; report: ``report``; fixtures: ``fixtures``.
"""

from __future__ import annotations

import importlib.util
import random
import warnings
from collections.abc import Generator
from typing import Any

import pytest

from pytest_anonvma import __version__
from pytest_anonvma.fixtures import IMPLEMENTATIONS_KEY, per_test_seed
from pytest_anonvma.layout_tools import explain_layout_comparison
from pytest_anonvma.options import SETTINGS_KEY, Settings, add_options, read_settings
from pytest_anonvma.report import ResultCollector, failure_detail, render_terminal, write_report
from pytest_anonvma.selection import Implementation, missing_method, select_implementations
from pytest_anonvma.suite import bundled_suite_dir, include_bundled_suite
from pytest_anonvma.timeouts import time_limit
from pytest_anonvma.xfails import (
    StaleXfailWarning,
    XfailEntry,
    XfailFileError,
    find_entry,
    match_keys,
    read_xfail_file,
)

__all__ = ["AnonvmaPlugin"]

#: the plugin module the vma helper's harness port provides, registered when installed
HARNESS_FIXTURES = "pytest_anonvma.harness.fixtures"
MARKERS = (
    "anonvma_needs(*capabilities): skip for implementations lacking any of the capabilities",
    "anonvma_era(*eras): skip for implementations modelling another kernel era",
    "anonvma_tier(name): the conformance tier of a test (guard, layout, patch, harness)",
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Declare ``pytest_anonvma_implementations`` (see :mod:`pytest_anonvma.hookspecs`)."""
    from pytest_anonvma import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every ``--anonvma-*`` option and the ``anonvma_impl`` ini key."""
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Register the explorer's hypothesis profiles before hypothesis loads
    ``--hypothesis-profile=anonvma-...`` (its plugin does so at configure time)."""
    profile = config.getoption("hypothesis_profile", None)
    if isinstance(profile, str) and profile.startswith("anonvma-"):
        from pytest_anonvma.generate.profiles import register_profiles

        register_profiles()


def pytest_configure(config: pytest.Config) -> None:
    """Validate options, choose implementations and paths, register fixtures and state."""
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if config.option.help:
        return
    settings = read_settings(config)
    config.stash[SETTINGS_KEY] = settings
    config.stash[IMPLEMENTATIONS_KEY] = select_implementations(config, settings.impl_specs)
    bundled = include_bundled_suite(config, settings.conformance)
    try:
        entries = _xfail_entries(config, settings, bundled)
    except XfailFileError as exc:
        raise pytest.UsageError(str(exc)) from None
    from pytest_anonvma import fixtures

    config.pluginmanager.register(fixtures, "anonvma.fixtures")
    if _importable(HARNESS_FIXTURES):
        config.pluginmanager.import_plugin(HARNESS_FIXTURES)
    plugin = AnonvmaPlugin(config, settings, entries, bundled)
    config.pluginmanager.register(plugin, "anonvma.session")


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: Any, right: Any) -> Any:
    """Failed ``Layout == diagram`` assertions show both diagrams one above the other."""
    return explain_layout_comparison(op, left, right)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _xfail_entries(
    config: pytest.Config, settings: Settings, bundled: bool
) -> dict[str | None, list[XfailEntry]]:
    """Entries by the implementation they apply to (None: every test)."""
    entries: dict[str | None, list[XfailEntry]] = {None: []}
    for path in settings.xfail_files:
        entries[None] += read_xfail_file(path)
    if bundled:
        lists = bundled_suite_dir() / "xfail"
        for impl in config.stash[IMPLEMENTATIONS_KEY]:
            path = lists / f"{impl.name}.txt"
            if impl.bundled and path.is_file():
                entries[impl.name] = read_xfail_file(path, f"bundled xfail/{path.name}")
    return entries


def _impl_of(item: pytest.Item) -> Implementation | None:
    callspec = getattr(item, "callspec", None)
    impl = callspec.params.get("anonvma_impl") if callspec is not None else None
    return impl if isinstance(impl, Implementation) else None


def _tier_of(item: pytest.Item) -> str:
    marker = item.get_closest_marker("anonvma_tier")
    if marker is not None and marker.args:
        return str(marker.args[0])
    module = getattr(item, "module", None)
    name = getattr(module, "__name__", "").rsplit(".", 1)[-1]
    return "harness" if name.startswith("test_harness") else "other"


def _case_of(item: pytest.Item, impl: Implementation) -> str:
    """The test's name without the implementation's part of the id."""
    callspec = getattr(item, "callspec", None)
    rest = callspec.id.removeprefix(impl.name).removeprefix("-") if callspec else ""
    name = getattr(item, "originalname", item.name)
    return f"{name}[{rest}]" if rest else name


class AnonvmaPlugin:
    """The run's state and hooks, registered by ``pytest_configure`` as ``anonvma.session``."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        xfail_entries: dict[str | None, list[XfailEntry]],
        bundled: bool,
    ) -> None:
        self.config = config
        #: is the bundled conformance suite part of this run
        self.bundled = bundled
        self.settings = settings
        self.impls: list[Implementation] = config.stash[IMPLEMENTATIONS_KEY]
        self.xfail_entries = xfail_entries
        #: ``where`` of every entry that matched a collected test; None until known
        self.xfail_matched: set[str] | None = None
        self.is_worker = hasattr(config, "workerinput")
        self.collector = ResultCollector([impl.name for impl in self.impls])
        self.stale: list[XfailEntry] = []

    # -- session header and xdist hand-over ------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """Implementations, seed and plugin version."""
        s = self.settings
        names = ", ".join(impl.name for impl in self.impls)
        lines = [
            f"anonvma: pytest-anonvma {__version__}; implementations: {names}",
            f"anonvma: seed {s.seed} ({s.seed_source}; rerun with --anonvma-seed={s.seed})",
        ]
        if self.bundled:
            lines.append(f"anonvma: bundled conformance suite: {bundled_suite_dir()}")
        return lines

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Hand the controller's seed to each xdist worker."""
        node.workerinput["anonvma_seed"] = self.settings.seed
        node.workerinput["anonvma_seed_source"] = self.settings.seed_source

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """Collect the xfail entries a worker matched (stale entries are found here)."""
        matched = getattr(node, "workeroutput", {}).get("anonvma_xfail_matched")
        if matched is not None:
            self.xfail_matched = (self.xfail_matched or set()) | set(matched)

    # -- collection ------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize every test using ``anonvma_impl`` over the selected implementations."""
        if "anonvma_impl" in metafunc.fixturenames:
            metafunc.parametrize(
                "anonvma_impl",
                self.impls,
                ids=[impl.name for impl in self.impls],
                indirect=True,
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Tag implementation tests for the report and apply expected-failure entries.

        Runs before ``-k``/``-m`` deselection, so an entry for a deselected test is not stale.
        """
        matched: set[str] = set()
        every = [e for entries in self.xfail_entries.values() for e in entries]
        for item in items:
            impl = _impl_of(item)
            keys = match_keys(item.nodeid)
            matched.update(e.where for e in every if e.matches(keys))
            candidates = self.xfail_entries[None] + (
                self.xfail_entries.get(impl.name, []) if impl else []
            )
            entry = find_entry(candidates, item.nodeid)
            if entry is not None:
                item.add_marker(
                    pytest.mark.xfail(reason=f"{entry.reason} [{entry.where}]", strict=entry.strict)
                )
            if impl is not None:
                item.user_properties += [
                    ("anonvma_impl", impl.name),
                    ("anonvma_tier", _tier_of(item)),
                    ("anonvma_case", _case_of(item, impl)),
                ]
        self.xfail_matched = matched
        if self.is_worker:
            self.config.workeroutput["anonvma_xfail_matched"] = sorted(matched)  # type: ignore[attr-defined]

    # -- running -----------------------------------------------------------------------------

    def _limit(self, item: pytest.Item, phase: str) -> Any:
        impl = _impl_of(item)
        seconds = 0.0 if impl is None or self.config.option.usepdb else self.settings.timeout
        name = impl.name if impl else "?"
        return time_limit(
            seconds,
            f"implementation {name!r} did not finish the {phase} of {item.name} within "
            f"{seconds:g}s (--anonvma-timeout={seconds:g})",
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        """Skip for missing capabilities or another era, seed ``random``, then set up."""
        impl = _impl_of(item)
        with self._limit(item, "setup"):
            if impl is not None:
                _check_applicable(item, impl)
                random.seed(per_test_seed(self.settings.seed, item.name))
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """Run the test under the time limit; a missing MM method fails with its name."""
        impl = _impl_of(item)
        with self._limit(item, "call"):
            try:
                return (yield)
            except Exception as exc:
                message = missing_method(exc, impl) if impl is not None else None
                if message is None:
                    raise
                failure = pytest.fail.Exception(message)
                raise failure.with_traceback(exc.__traceback__) from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        """Tear down under the time limit (closing an MM may hang too)."""
        with self._limit(item, "teardown"):
            return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Attach the failure text (a case failure's steps and diagrams) for the report."""
        report = yield
        if report.failed and _impl_of(item) is not None:
            detail = failure_detail(call.excinfo) if call.excinfo else str(report.longrepr)
            report.user_properties.append(("anonvma_detail", detail))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold each report into the results (on the controller or a serial run)."""
        if not self.is_worker:
            self.collector.add_report(report)

    # -- end of run --------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Warn about stale expected-failure entries and write ``--anonvma-report``."""
        if self.is_worker:
            return
        if self.xfail_matched is not None:
            self.stale = [
                e
                for entries in self.xfail_entries.values()
                for e in entries
                if e.where not in self.xfail_matched
            ]
        for entry in self.stale:
            warning = StaleXfailWarning(
                f"expected-failure entry {entry.pattern!r} matches no collected test"
            )
            _record_warning(self.config, warning, entry.source, entry.line)
        if self.settings.report is not None:
            write_report(self.settings.report, self.collector, self.report_meta())

    def report_meta(self) -> dict[str, Any]:
        """The run's identity for the report: version, seed, implementations, stale entries."""
        return {
            "plugin": "pytest-anonvma",
            "version": __version__,
            "seed": self.settings.seed,
            "implementations": [impl.name for impl in self.impls],
            "stale_xfail_entries": [f"{e.pattern} ({e.where})" for e in self.stale],
        }

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The conformance matrix: implementation x tier."""
        if self.is_worker:
            return
        lines = render_terminal(self.collector)
        if not lines:
            return
        terminalreporter.section("anonvma conformance")
        for line in lines:
            terminalreporter.write_line(line)
        s = self.settings
        specs = ",".join(impl.name for impl in self.impls)
        terminalreporter.write_line(
            f"seed {s.seed}: rerun with --anonvma-impl={specs} --anonvma-seed={s.seed}"
        )
        if s.report is not None:
            terminalreporter.write_line(f"report written to {s.report}")


def _check_applicable(item: pytest.Item, impl: Implementation) -> None:
    """Skip when the implementation lacks a needed capability or models another era.

    If making the implementation's probe MM fails, nothing is skipped: the test itself will
    fail when it makes one.
    """
    if impl.probe_error is not None:
        return
    lacking = impl.lacking(str(a) for m in item.iter_markers("anonvma_needs") for a in m.args)
    if lacking is not None:
        pytest.skip(lacking)
    for marker in item.iter_markers("anonvma_era"):
        eras = [str(a) for a in marker.args]
        if eras and impl.era not in eras:
            pytest.skip(
                f"needs era {' or '.join(eras)}; implementation {impl.name!r} models {impl.era}"
            )


def _record_warning(config: pytest.Config, warning: Warning, filename: str, lineno: int) -> None:
    """Show ``warning`` at ``filename:lineno`` in the warnings summary (callable at session end,
    also on the xdist controller)."""
    message = warnings.WarningMessage(warning, type(warning), filename, lineno)
    config.hook.pytest_warning_recorded.call_historic(
        kwargs={"warning_message": message, "when": "runtest", "nodeid": "", "location": None}
    )
