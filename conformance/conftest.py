"""Collection of the bundled suite: each malformed case file is one failing test of its own, so
the other files' cases still load and run (a collection error would stop the whole run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_anonvma.casefiles import malformed_file

from .bundled import bundled_corpus


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A :class:`~pytest_anonvma.casefiles.MalformedCaseFile` (``FILE::malformed``) for each
    ``.toml`` file the corpus could not load."""
    return malformed_file(file_path, parent, bundled_corpus())
