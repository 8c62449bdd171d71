"""The case files of a run: the user's (``--anonvma-cases``) beside the bundled ones, and each
malformed case file as one failing test of its own.

The user's cases run exactly as the bundled ones do: as ``test_case[IMPL-ID]`` of the bundled
``test_cases.py`` (after the bundled cases, in the order the paths were given, a folder's files
sorted), with their tiers and needs, under the xfail and skip files, in the report. Case files
written by ``--anonvma-save-failures``, the explorer and ``soak --out`` are such files.

A malformed user file is ``FILE::malformed``, a test failing with its problems (``file:line:
message`` each), while the other files run. A user file reusing the id of a case already in the
run (a bundled case while the bundled cases run, or an earlier user file's) is malformed in the
same way, naming where the id is first defined, as a bundled file reusing an id is. Not a usage
error: one file would stop the whole run. Not a prefix on the id: an id would then depend on what
else is loaded, and the xfail and skip entries and rerun lines naming it would stop matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_anonvma.cases.corpus import BUNDLED_CASES, Corpus, load_corpus
from pytest_anonvma.suite import beside_case_module, include_case_module, named_path

__all__ = [
    "RUN_CASES_KEY",
    "MalformedCase",
    "MalformedCaseError",
    "MalformedCaseFile",
    "RunCases",
    "UserCaseFiles",
    "add_user_cases",
    "case_files",
    "malformed_file",
    "user_case_file",
]


@dataclass(frozen=True)
class RunCases:
    """Which cases the bundled ``test_cases.py`` runs."""

    #: its own cases (the bundled corpus) too
    bundled: bool
    #: the ``--anonvma-cases`` cases, and the problems of the malformed files
    user: Corpus


#: the run's :class:`RunCases` (absent when no ``--anonvma-cases`` are given)
RUN_CASES_KEY = pytest.StashKey[RunCases]()


class MalformedCaseFile(pytest.File):
    """A case file that failed to load: one test that fails with its problems."""

    problems: list[str]

    def collect(self) -> Iterator[pytest.Item]:
        """The file's single test, ``FILE::malformed``."""
        item = MalformedCase.from_parent(self, name="malformed")
        item.problems = self.problems
        yield item


class MalformedCase(pytest.Item):
    """Fails with the problems of its case file (``file:line: message`` each)."""

    problems: list[str]

    def runtest(self) -> None:
        """Fail, naming every problem."""
        raise MalformedCaseError("\n".join(self.problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        """The problems alone, no traceback."""
        if isinstance(excinfo.value, MalformedCaseError):
            return f"malformed case file (its cases do not run):\n{excinfo.value}"
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the problems are."""
        return self.path, 0, f"malformed case file {self.path.name}"


class MalformedCaseError(Exception):
    """The problems of a malformed case file."""


def user_case_file(config: pytest.Config, case: object) -> str | None:
    """The file (as given) a ``--anonvma-cases`` case comes from; None for anything else (a
    bundled case, or not a case)."""
    run = config.stash.get(RUN_CASES_KEY, None)
    found = [user.path for user in run.user.cases if user is case] if run is not None else []
    return found[0] if found else None


def malformed_file(file_path: Path, parent: pytest.Collector,
                   corpus: Corpus) -> MalformedCaseFile | None:
    """The :class:`MalformedCaseFile` of ``file_path`` if ``corpus`` could not load it. Its id
    is the path from the root folder, or as the corpus names it for a file outside the root
    (pytest would make it empty: the file is a path of the command line)."""
    if file_path.suffix != ".toml":
        return None
    for name, problems in corpus.errors.items():
        if Path(name).resolve() == file_path.resolve():
            inside = file_path.resolve().is_relative_to(parent.config.rootpath.resolve())
            node = MalformedCaseFile.from_parent(parent, path=file_path,
                                                 nodeid=None if inside else name)
            node.problems = [str(problem) for problem in problems]
            return node
    return None


def case_files(paths: Iterable[Path], leave_out: Path | None = None) -> list[Path]:
    """The ``.toml`` files of ``paths`` in order (a folder's regular files, searched
    recursively, sorted), each once, without those under ``leave_out``."""
    seen: set[Path] = set()
    if leave_out is not None:
        seen.update(leave_out.resolve().rglob("*.toml"))
    files = []
    for path in paths:
        found = sorted(f for f in path.rglob("*.toml") if f.is_file()) if path.is_dir() else [path]
        for file in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                files.append(file)
    return files


class UserCaseFiles:
    """The plugin part for ``--anonvma-cases`` (registered as ``anonvma.casefiles``): collects
    the malformed user files, leaves the rest of the bundled suite out while ``test_cases.py``
    runs the user's cases alone, and names the case files in the header."""

    def __init__(self, paths: tuple[Path, ...], bundled: Corpus | None,
                 named: frozenset[Path] = frozenset()) -> None:
        self.paths = paths
        #: the paths named on the command line (resolved): collected whatever they are
        self.named = named
        #: does ``test_cases.py`` run the bundled cases too
        self.bundled = bundled is not None
        #: the cases the user's files add and the problems of the malformed ones
        self.corpus = load_corpus(
            case_files(paths, BUNDLED_CASES if bundled is not None else None),
            known=bundled.cases if bundled is not None else (),
        )

    def pytest_collect_file(self, file_path: Path,
                            parent: pytest.Collector) -> pytest.Collector | None:
        """A :class:`MalformedCaseFile` for each user case file that could not be loaded."""
        return malformed_file(file_path, parent, self.corpus)

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Leave out the bundled suite's other modules while only the user's cases run."""
        if not self.bundled and beside_case_module(collection_path, self.named):
            return True
        return None

    @pytest.hookimpl(tryfirst=True)  # pytest shows the lines of the first hooks last
    def pytest_report_header(self) -> str:
        """How many cases the user's files add (after the plugin's own lines)."""
        corpus = self.corpus
        malformed = f", {len(corpus.errors)} malformed" if corpus.errors else ""
        paths = " ".join(str(path) for path in self.paths)
        return (f"anonvma: --anonvma-cases: {_count(len(corpus.cases), 'case')} from "
                f"{_count(len(corpus.files), 'file')}{malformed} ({paths})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def add_user_cases(config: pytest.Config, paths: tuple[Path, ...], bundled_suite: bool,
                   no_bundled: bool) -> None:
    """Add the cases of ``paths`` to the run (``bundled_suite``: the bundled suite is in it):
    the bundled ``test_cases.py`` is collected, runs them (and its own cases unless
    ``no_bundled`` or it is in the run for them alone), and each malformed file is collected
    as ``FILE::malformed``."""
    named_paths = config.args_source == pytest.Config.ArgsSource.ARGS
    named = frozenset(map(named_path, config.args)) if named_paths else frozenset()
    own = include_case_module(config, bundled_suite, no_bundled)
    plugin = UserCaseFiles(paths, load_corpus() if own else None, named)
    config.stash[RUN_CASES_KEY] = RunCases(own, plugin.corpus)
    config.args = [*config.args, *plugin.corpus.errors]
    config.pluginmanager.register(plugin, "anonvma.casefiles")
