"""The pytest plugin ``anonvma`` (``pytest -p anonvma``): hooks only; the work is elsewhere.

Importing this module stays light: no model engine, no case files. Options: ``options``;
implementation choice: ``selection``; bundled suite: ``suite``; expected failures: ``xfails``;
time limits: ``timeouts``; report: ``report``; fixtures: ``fixtures``.
"""

from __future__ import annotations

import importlib.util
import os
import random
import warnings
from collections.abc import Generator
from typing import Any

import pytest

from pytest_anonvma import __version__
from pytest_anonvma.fixtures import IMPLEMENTATIONS_KEY, per_test_seed
from pytest_anonvma.layout_tools import explain_layout_comparison
from pytest_anonvma.options import SETTINGS_KEY, Settings, add_options, read_settings
from pytest_anonvma.report import (
    ItemInfo,
    ResultCollector,
    case_name,
    guess_info,
    render_causes,
    render_terminal,
    write_report,
)
from pytest_anonvma.selection import Implementation, missing_method, select_implementations
from pytest_anonvma.skips import read_skip_files, skip_marker
from pytest_anonvma.suite import bundled_suite_dir, include_bundled_suite
from pytest_anonvma.tiers import TIERS
from pytest_anonvma.timeouts import time_limit
from pytest_anonvma.xfails import (
    ENTRY_KEY,
    DocumentedFailure,
    StaleXfailWarning,
    XfailEntry,
    XfailFileError,
    documented_or_not,
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
    f"anonvma_tier(name): the conformance tier of a test ({', '.join(TIERS)})",
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
    config.stash[IMPLEMENTATIONS_KEY] = select_implementations(
        config, settings.impl_specs, settings.timeout
    )
    bundled = include_bundled_suite(config, settings.conformance, settings.no_bundled)
    if settings.case_paths:
        from pytest_anonvma.casefiles import add_user_cases

        add_user_cases(config, settings.case_paths, bundled, settings.no_bundled)
    try:
        entries = _xfail_entries(config, settings, bundled)
        skips = read_skip_files(settings.skip_files)
    except XfailFileError as exc:
        raise pytest.UsageError(str(exc)) from None
    from pytest_anonvma import fixtures

    config.pluginmanager.register(fixtures, "anonvma.fixtures")
    if _importable(HARNESS_FIXTURES):
        config.pluginmanager.import_plugin(HARNESS_FIXTURES)
    if _importable("pytest_html"):
        config.pluginmanager.import_plugin("pytest_anonvma.report_pytest_html")
    plugin = AnonvmaPlugin(config, settings, entries, bundled, skips)
    config.pluginmanager.register(plugin, "anonvma.session")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Under an entry naming its failure (``finding=``/``line=``), only that failure is
    xfailed: any other becomes a plain failure saying what the entry expects. With
    ``--runxfail`` the failure is shown as it is."""
    entry = None if item.config.option.runxfail else item.stash.get(ENTRY_KEY, None)
    try:
        return (yield)
    except (Exception, pytest.fail.Exception) as exc:
        if entry is None:
            raise
        raise documented_or_not(entry, exc) from exc


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: Any, right: Any) -> Any:
    """Failed ``Layout == diagram`` assertions show both diagrams one above the other."""
    return explain_layout_comparison(op, left, right)


#: the ``--tb`` styles under which a case failure keeps pytest's own report (its short summary
#: line still says the failure in words): the full traceback, or nothing
_OWN_TRACEBACK = ("long", "no")


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
    name = getattr(item, "originalname", item.name)
    return case_name(name, callspec.id if callspec else "", impl.name)


class AnonvmaPlugin:
    """The run's state and hooks, registered by ``pytest_configure`` as ``anonvma.session``."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        xfail_entries: dict[str | None, list[XfailEntry]],
        bundled: bool,
        skips: list[XfailEntry] | None = None,
    ) -> None:
        self.config = config
        #: is the bundled conformance suite part of this run
        self.bundled = bundled
        self.settings = settings
        self.impls: list[Implementation] = config.stash[IMPLEMENTATIONS_KEY]
        self.xfail_entries = xfail_entries
        #: ``--anonvma-skip-file`` entries: their tests do not run
        self.skips = skips or []
        #: ``where`` of every entry that matched a collected test; None until known
        self.xfail_matched: set[str] | None = None
        self.is_worker = hasattr(config, "workerinput")
        self.collector = ResultCollector([impl.name for impl in self.impls])
        self.stale: list[XfailEntry] = []
        opt = config.option
        #: do tests run (not --collect-only, --setup-only, --setup-plan): outcomes are tracked
        self.tracking = not (opt.collectonly or opt.setuponly or opt.setupplan)
        #: why the run was interrupted (KeyboardInterrupt, pytest.exit, xdist stopping)
        self.interrupted: str | None = None
        #: the one line saying why the report could not be written
        self.report_error: str | None = None
        #: the terminal's stderr, duplicated now (output capture is off during configure), for
        #: the last words of a process the time limit must end
        self.stderr = os.dup(2)

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
        output = getattr(node, "workeroutput", {})
        matched = output.get("anonvma_xfail_matched")
        if matched is not None:
            self.xfail_matched = (self.xfail_matched or set()) | set(matched)
        for nodeid, info in output.get("anonvma_items", {}).items():
            self.collector.describe(nodeid, ItemInfo(*info))

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
        every = [e for entries in self.xfail_entries.values() for e in entries] + self.skips
        for item in items:
            impl = _impl_of(item)
            keys = match_keys(item.nodeid)
            matched.update(e.where for e in every if e.matches(keys))
            candidates = self.xfail_entries[None] + (
                self.xfail_entries.get(impl.name, []) if impl else []
            )
            entry = find_entry(candidates, item.nodeid)
            if entry is not None:
                raises = DocumentedFailure if entry.precise else None
                reason = f"{entry.reason} [{entry.where}]"
                item.add_marker(
                    pytest.mark.xfail(reason=reason, strict=entry.strict, raises=raises)
                )
                if entry.precise:
                    item.stash[ENTRY_KEY] = entry
            skip = find_entry(self.skips, item.nodeid)
            if skip is not None:
                item.add_marker(skip_marker(skip))
            if impl is not None:
                info = ItemInfo(impl.name, _tier_of(item), _case_of(item, impl))
                item.user_properties += [
                    ("anonvma_impl", info.implementation),
                    ("anonvma_tier", info.tier),
                    ("anonvma_case", info.case),
                ]
                self.collector.describe(item.nodeid, info)
        self.xfail_matched = matched
        if self.is_worker:
            # the controller needs the items of a test whose worker crashes before reporting
            workeroutput = self.config.workeroutput  # type: ignore[attr-defined]
            workeroutput["anonvma_xfail_matched"] = sorted(matched)
            workeroutput["anonvma_items"] = {
                nodeid: tuple(info) for nodeid, info in self.collector.infos.items()
            }

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Expect every collected test to finish (a serial run)."""
        if self.tracking and not self.is_worker:
            self.collector.expect([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Expect every test a worker collected to finish (the xdist controller)."""
        if self.tracking:
            self.collector.expect(ids)

    # -- running -----------------------------------------------------------------------------

    def _limit(self, item: pytest.Item, phase: str) -> Any:
        impl = _impl_of(item)
        seconds = 0.0 if impl is None or self.config.option.usepdb else self.settings.timeout
        name = impl.name if impl else "?"
        message = (
            f"implementation {name!r} did not finish the {phase} of {item.name} within "
            f"{seconds:g}s (--anonvma-timeout={seconds:g})"
        )
        return time_limit(
            seconds,
            message,
            test_id=item.nodeid,
            stderr=self.stderr,
            on_kill=lambda: self._ended_by_time_limit(item.nodeid, message),
        )

    def _ended_by_time_limit(self, nodeid: str, message: str) -> None:
        """The time limit is about to end this process (on its watchdog thread). A serial run
        records the test as crashed, writes the report (incomplete) and shows the matrix; an
        xdist worker has nothing to do: the controller reports its crash."""
        if self.is_worker or not self.tracking:
            return
        self.collector.crash(nodeid, f"{message}; the process was ended")
        self._finish_results("the time limit ended the process")
        lines = render_terminal(self.collector) + self._output_lines()
        os.write(self.stderr, "".join(f"{line}\n" for line in lines).encode(errors="replace"))

    def _guess_info(self, nodeid: str) -> ItemInfo | None:
        """A test's implementation from its node id (see :func:`guess_info`)."""
        return guess_info(nodeid, [impl.name for impl in self.impls])

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
        """Tell the report about a failure (see :meth:`_tell_failure`)."""
        report = yield
        impl = _impl_of(item)
        if report.failed and impl is not None:
            self._tell_failure(item, impl, call, report)
        return report

    def _tell_failure(
        self, item: pytest.Item, impl: Implementation, call: pytest.CallInfo[None],
        report: pytest.TestReport,
    ) -> None:
        """A case failure shows its story in place of the traceback (unless ``--tb=long`` or
        ``-vv`` asks for the traceback), with a rerun line; pytest's short summary shows it in
        one line of words. Every failure carries its story, summary, cause signature and rerun
        command in ``user_properties`` for the reports (they survive xdist)."""
        from pytest_anonvma import story as stories

        name = getattr(item, "originalname", item.name)
        excinfo = call.excinfo
        if excinfo is None:  # a strict XPASS: the test passed, its entry says it fails
            text = str(report.longrepr)
            told = stories.Story(text, text, f"passed, listed as failing, in {name}")
        else:
            told = stories.case_story(excinfo.value) or stories.plain_story(excinfo, name)
        tier = _tier_of(item)
        cause = told.cause if report.when == "call" else f"error in {report.when}: {told.cause}"
        rerun = stories.rerun_command(item, impl.name)
        report.user_properties += [
            ("anonvma_detail", told.text),
            ("anonvma_summary", told.summary),
            ("anonvma_cause", f"{tier}: {cause}"),
            ("anonvma_rerun", rerun),
        ]
        if told.length is not None:
            report.user_properties += [("anonvma_length", told.length),
                                       ("anonvma_reproducer", told.reproducer)]
        opt = self.config.option
        if told.length is None or opt.tbstyle in _OWN_TRACEBACK or opt.verbose >= 2:
            crash = getattr(report.longrepr, "reprcrash", None)
            if told.length is not None and crash is not None:
                crash.message = told.summary
            return
        path, lineno = item.location[0], (item.location[1] or 0) + 1
        # a generated or explored case's report has its rerun line already
        text = told.text if told.reproducer else f"{told.text}\n\nrerun: {rerun}"
        if opt.tbstyle == "line":  # pytest prints the crash line: file, line, the summary
            text = ""
        report.longrepr = stories.story_repr(text, told.summary, path, lineno)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        """Note each test that starts (on the controller or a serial run)."""
        if self.tracking and not self.is_worker:
            self.collector.start(nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold each report into the results (on the controller or a serial run)."""
        if self.tracking and not self.is_worker:
            self.collector.add_report(report)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Note why the run was interrupted (Ctrl-C, ``pytest.exit``, xdist stopping)."""
        text = str(excinfo.value)
        self.interrupted = f"{excinfo.typename}: {text}" if text else excinfo.typename

    # -- end of run --------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Warn about stale expected-failure entries, give unfinished tests their outcome,
        write ``--anonvma-report``, and make sure an incomplete run (a crash, an interrupt, a
        test that never reported) or a lost output does not exit 0."""
        if self.is_worker:
            return
        if self.xfail_matched is not None:
            self.stale = [
                e
                for entries in [*self.xfail_entries.values(), self.skips]
                for e in entries
                if e.where not in self.xfail_matched
            ]
        for entry in self.stale:
            kind = "skip" if entry in self.skips else "expected-failure"
            warning = StaleXfailWarning(f"{kind} entry {entry.pattern!r} matches no collected test")
            _record_warning(self.config, warning, entry.source, entry.line)
        stopped = self.interrupted or session.shouldstop or session.shouldfail
        self._finish_results(str(stopped) if stopped else None)
        if not self._checks_implementations():
            return
        if not self.collector.complete and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = (
                pytest.ExitCode.INTERRUPTED
                if self.collector.never_reported
                else pytest.ExitCode.TESTS_FAILED
            )
        lost = self.report_error is not None or self.collector.output_errors
        if lost and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def _finish_results(self, stopped: str | None) -> None:
        """Give unfinished tests their outcome and write ``--anonvma-report``; a report that
        cannot be written leaves no file and is one line (``report_error``), not a traceback."""
        self.collector.close(stopped, self._guess_info)
        path = self.settings.report
        if path is not None:
            try:
                write_report(path, self.collector, self.report_meta())
            except OSError as exc:
                self.report_error = (
                    f"could not write the report {str(path)!r} (--anonvma-report): "
                    f"{exc.strerror or exc}"
                )

    def report_meta(self) -> dict[str, Any]:
        """The run's identity for the report: version, seed, implementations, stale entries."""
        return {
            "plugin": "pytest-anonvma",
            "version": __version__,
            "seed": self.settings.seed,
            "implementations": [impl.name for impl in self.impls],
            "designs": {impl.name: {"design": impl.design, "era": impl.era}
                        for impl in self.impls if impl.broken is None},
            "rerun": "pytest -p anonvma --anonvma-impl="
                     f"{','.join(i.name for i in self.impls)} --anonvma-seed={self.settings.seed}",
            "stale_xfail_entries": [f"{e.pattern} ({e.where})" for e in self.stale],
        }

    def _checks_implementations(self) -> bool:
        """Does the run test an implementation (the plugin is loaded in every run where it is
        installed; a run without such tests keeps pytest's own verdict and summary)."""
        return bool(self.collector.infos)

    def _output_lines(self) -> list[str]:
        """The files the run could not write, then where the report went."""
        errors = list(self.collector.output_errors)
        lines = [f"could not write {len(errors)} file(s):", *errors] if errors else []
        if self.report_error is not None:
            lines.append(self.report_error)
        elif self.settings.report is not None and self.collector.results:
            state = "" if self.collector.complete else " (INCOMPLETE RUN)"
            lines.append(f"report written to {self.settings.report}{state}")
        return lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The failure causes (one entry per cause signature), then the conformance matrix
        (implementation x tier), headed by "INCOMPLETE RUN" if the run did not finish, and the
        files it could not write."""
        if self.is_worker:
            return
        if not self._checks_implementations():
            return
        causes = render_causes(self.collector)
        if causes:
            terminalreporter.section("anonvma failure causes", red=True)
            for line in causes:
                terminalreporter.write_line(line)
        lines = render_terminal(self.collector)
        outputs = self._output_lines()
        if not lines and not outputs:
            return
        complete = self.collector.complete
        title = "anonvma conformance" + ("" if complete else ": INCOMPLETE RUN")
        terminalreporter.section(title, red=not complete)
        for line in lines:
            terminalreporter.write_line(line)
        s = self.settings
        specs = ",".join(impl.name for impl in self.impls)
        terminalreporter.write_line(
            f"seed {s.seed}: rerun with --anonvma-impl={specs} --anonvma-seed={s.seed}"
        )
        for line in outputs:
            terminalreporter.write_line(line, red=line.startswith("could not"))

    def pytest_unconfigure(self) -> None:
        """Close the duplicate of the terminal's stderr."""
        os.close(self.stderr)


def _check_applicable(item: pytest.Item, impl: Implementation) -> None:
    """Skip when the implementation lacks a needed capability or models another era; fail,
    with one short line, when the implementation cannot be used at all."""
    if impl.broken is not None:
        pytest.fail(impl.broken, pytrace=False)
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
