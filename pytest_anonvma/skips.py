"""Skip files (``--anonvma-skip-file``): tests that do not run at all, such as those of a model
that hangs (an expected failure would still spend the time limit on each).

The format is the expected-failure file's (:mod:`pytest_anonvma.xfails`): a node id or a prefix
of one a line, then the reason; ``#`` comments. An entry cannot say which failure it expects
(``finding=``, ``line=``) or that the test may pass (``?``): a test that does not run has
neither a failure nor an outcome. A listed test is reported as skipped with the reason and the
entry's ``file:line``; an entry that matches no collected test warns as a stale one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from pytest_anonvma.xfails import XfailEntry, XfailFileError, read_xfail_file

__all__ = ["OPTION", "read_skip_files", "skip_marker"]

OPTION = "--anonvma-skip-file"


def _check(entry: XfailEntry) -> XfailEntry:
    if entry.precise:
        field = "finding=" if entry.finding else "line="
        raise XfailFileError(f"{OPTION}: {entry.where}: {field} names a failure, and a skipped "
                             "test does not run (use --anonvma-xfail-file for that)")
    if not entry.strict:
        raise XfailFileError(f"{OPTION}: {entry.where}: '?' (may pass) has no meaning for a "
                             "test that does not run")
    return entry


def read_skip_files(paths: Iterable[Path]) -> list[XfailEntry]:
    """The entries of every skip file, in order; a bad file or entry raises
    :class:`~pytest_anonvma.xfails.XfailFileError` naming the option and ``file:line``."""
    return [_check(entry) for path in paths for entry in read_xfail_file(path, option=OPTION)]


def skip_marker(entry: XfailEntry) -> pytest.MarkDecorator:
    """The marker skipping a test an entry lists (before any of its setup); the reason ends
    with the entry's ``file:line``."""
    where = entry.where
    return pytest.mark.skip(reason=entry.reason if where in entry.reason
                            else f"{entry.reason} [{where}]")
