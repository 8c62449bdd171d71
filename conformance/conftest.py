"""Collection of the bundled suite: each malformed case file is a collection error of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from .bundled import bundled_corpus


class MalformedCaseFile(pytest.File):
    """A case file that failed to load: collecting it raises its problems."""

    problems: list[str]

    def collect(self) -> list[pytest.Item]:
        """Raise the file's problems (``file:line: message`` each) as a collection error."""
        raise self.CollectError("malformed case file:\n" + "\n".join(self.problems))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A :class:`MalformedCaseFile` for each ``.toml`` file the corpus could not load."""
    if file_path.suffix != ".toml":
        return None
    errors = bundled_corpus().errors
    for name, problems in errors.items():
        if Path(name).resolve() == file_path.resolve():
            node = MalformedCaseFile.from_parent(parent, path=file_path)
            node.problems = [str(problem) for problem in problems]
            return node
    return None
